//! The ClickHouse rows of the analyzer service (`store::rows`).
//!
//! - Every row type lists exactly its table's columns, in order, with the Rust type whose
//!   RowBinary encoding is the column's: checked against the schema's SQL files, and against
//!   `system.columns` of a migrated database on the test server.
//! - Conversions of real events (the parsers' output on `testdata/samples` and on lines as IIS
//!   and the health collector write them), attempts and diagnoses (the engine's output on the
//!   same samples), and of absurd ones (a property test: any event gives a row or a reject).
//! - Round trips through the 18.16 test server (`scripts/clickhouse.sh start`): each row type
//!   inserted by the service's writer (a Native block) and read back equal, and the
//!   per-minute request counts its materialized view derives from the inserted IIS rows.
#![cfg(feature = "service")]

mod support {
    pub mod clickhouse;
}

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use clickhouse::{Client, Row, RowOwned, RowRead};
use proptest::prelude::*;
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;

use scepwatch_analyzer::diagnose::run::{run_with, Correlator, Options};
use scepwatch_analyzer::diagnose::summary::Collector;
use scepwatch_analyzer::diagnose::RunReport;
use scepwatch_analyzer::engine::{Engine, EngineConfig};
use scepwatch_analyzer::model::{Attempt, Diagnosis, Scope};
use scepwatch_analyzer::rule::catalog;
use scepwatch_analyzer::store::migrate::migrate;
use scepwatch_analyzer::store::native::{Block, ColumnType};
use scepwatch_analyzer::store::rows::{
    AttemptRow, DiagnosisRow, EventRejected, EventRow, HealthFactRow, KafkaRecord, ReadAt,
    RejectReason, RejectRow, Rejected, WatermarkRow,
};
use scepwatch_analyzer::store::{RetryPolicy, Writer};
use scepwatch_collector::parse::{self, Format, SourceContext};
use scepwatch_proto::time::{civil_to_us, parse_rfc3339};
use scepwatch_proto::v1::{
    event::Payload, health_fact::Fact, service_state_fact, AndroidScep, AppCrash, Capi2Event,
    CertificateFact, ConnectorInstall, Event, HealthFact, HttpErrRecord, IisAuthenticationFact,
    IisRequest, IosScep, ProbeResult, RequestLimitsFact, ScepMessageInfo, ServiceAccountFact,
    ServiceStateFact, SourceId, Watermark, WindowsScepRequest,
};
use scepwatch_proto::{event_id_hex, SourceKey};
use support::clickhouse::TestDb;

const ENDPOINT: &str = "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll";
const VERSION: u64 = 1_795_200_000_123_456;
const READ: ReadAt = ReadAt {
    partition: 7,
    offset: 52_413,
    batch_sequence: 911,
};
/// Largest microsecond time `DateTime` holds.
const LAST_US: i64 = u32::MAX as i64 * 1_000_000 + 999_999;

// ------------------------------------------------------------------------------------------
// The columns of the schema files, and the Rust side of each row
// ------------------------------------------------------------------------------------------

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema")
}

/// (name, type) of every column of `table` as its `CREATE TABLE` in `analyzer/schema/` lists
/// them; the members of a `Nested` column as `nested.member Array(type)`, as ClickHouse has them.
fn schema_columns(table: &str) -> Vec<(String, String)> {
    let head = format!("CREATE TABLE IF NOT EXISTS {table}\n(\n");
    let mut files: Vec<PathBuf> = std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let sql = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .find(|s| s.contains(&head))
        .unwrap_or_else(|| panic!("no CREATE TABLE {table}"));
    let body = &sql[sql.find(&head).unwrap() + head.len()..];
    let body = &body[..body.find("\n)\nENGINE").unwrap()];
    let mut columns = Vec::new();
    let mut nested: Option<String> = None;
    for line in body.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("--") || line == "(" {
            continue;
        }
        if line == ")" || line == ")," {
            nested = None;
            continue;
        }
        let line = line
            .split(" COMMENT '")
            .next()
            .unwrap()
            .trim_end_matches(',');
        let (name, ty) = line.split_once(' ').unwrap();
        if ty == "Nested" {
            nested = Some(name.to_string());
            continue;
        }
        match &nested {
            Some(n) => columns.push((format!("{n}.{name}"), format!("Array({ty})"))),
            None => columns.push((name.to_string(), ty.to_string())),
        }
    }
    columns
}

/// The shape of the RowBinary value of a ClickHouse type, as [`shape::of`] describes a Rust
/// type: `u32`, `str`, `option(u32)`, `seq(str)`, ...
fn column_shape(ty: &str) -> String {
    let inner = |prefix: &str| ty.strip_prefix(prefix).and_then(|t| t.strip_suffix(')'));
    if let Some(t) = inner("LowCardinality(") {
        return column_shape(t);
    }
    if let Some(t) = inner("Nullable(") {
        return format!("option({})", column_shape(t));
    }
    if let Some(t) = inner("Array(") {
        return format!("seq({})", column_shape(t));
    }
    if ty.starts_with("Enum8(") {
        return "i8".into();
    }
    if ty.starts_with("DateTime") {
        return "u32".into();
    }
    match ty {
        "String" => "str",
        "UInt8" => "u8",
        "UInt16" => "u16",
        "UInt32" => "u32",
        "UInt64" => "u64",
        "Int8" => "i8",
        "Int16" => "i16",
        "Int32" => "i32",
        "Int64" => "i64",
        "Float64" => "f64",
        other => panic!("no shape for {other}"),
    }
    .into()
}

/// A row type's columns as the `clickhouse` crate names them in its INSERT, each with the
/// shape of the value its serde impl reads.
fn row_columns<R: Row + DeserializeOwned>() -> Vec<(String, String)> {
    let shapes = shape::of::<R>();
    assert_eq!(R::COLUMN_NAMES.len(), shapes.len());
    R::COLUMN_NAMES
        .iter()
        .map(|n| n.to_string())
        .zip(shapes)
        .collect()
}

/// Compares a row type with a table's (name, type) list: same names in the same order, and
/// each field's shape the column's (raw bytes are a `String`).
fn assert_row_is_table<R: Row + DeserializeOwned>(table: &str, columns: &[(String, String)]) {
    let rust = row_columns::<R>();
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&rust),
        names(columns),
        "{table}: column names and order"
    );
    for ((name, shape), (_, ty)) in rust.iter().zip(columns) {
        let expected = column_shape(ty);
        let shape = if shape == "bytes" { "str" } else { shape };
        assert_eq!(shape, expected, "{table}.{name}: Rust {shape}, column {ty}");
    }
}

/// Each row type against `columns(table)`.
fn assert_all_rows(columns: impl Fn(&str) -> Vec<(String, String)>) {
    assert_row_is_table::<EventRow>(EventRow::TABLE, &columns(EventRow::TABLE));
    assert_row_is_table::<WatermarkRow>(WatermarkRow::TABLE, &columns(WatermarkRow::TABLE));
    assert_row_is_table::<RejectRow>(RejectRow::TABLE, &columns(RejectRow::TABLE));
    assert_row_is_table::<AttemptRow>(AttemptRow::TABLE, &columns(AttemptRow::TABLE));
    assert_row_is_table::<DiagnosisRow>(DiagnosisRow::TABLE, &columns(DiagnosisRow::TABLE));
    assert_row_is_table::<HealthFactRow>(HealthFactRow::TABLE, &columns(HealthFactRow::TABLE));
}

/// What a serde `Deserialize` impl asks for, field by field: a deserializer that answers every
/// request with a zero value and writes down the request (`u32`, `str`, `bytes`,
/// `option(...)`, `seq(...)`; one element per sequence, `Some` for every option).
mod shape {
    use serde::de::{self, DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};
    use serde::forward_to_deserialize_any;

    type Error = de::value::Error;

    /// The shape of each field of the struct `T`.
    pub fn of<T: DeserializeOwned>() -> Vec<String> {
        let mut fields = Vec::new();
        T::deserialize(Top(&mut fields)).unwrap();
        fields
    }

    struct Top<'a>(&'a mut Vec<String>);

    impl<'de> de::Deserializer<'de> for Top<'_> {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(de::Error::custom("a row is a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            visitor.visit_seq(Fields {
                left: fields.len(),
                out: self.0,
            })
        }
        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    struct Fields<'a> {
        left: usize,
        out: &'a mut Vec<String>,
    }

    impl<'de> SeqAccess<'de> for Fields<'_> {
        type Error = Error;
        fn next_element_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<Option<S::Value>, Error> {
            if self.left == 0 {
                return Ok(None);
            }
            self.left -= 1;
            let mut shape = String::new();
            let value = seed.deserialize(Probe(&mut shape))?;
            self.out.push(shape);
            Ok(Some(value))
        }
    }

    struct One<'a> {
        done: bool,
        out: &'a mut String,
    }

    impl<'de> SeqAccess<'de> for One<'_> {
        type Error = Error;
        fn next_element_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<Option<S::Value>, Error> {
            if self.done {
                return Ok(None);
            }
            self.done = true;
            seed.deserialize(Probe(&mut *self.out)).map(Some)
        }
    }

    struct Probe<'a>(&'a mut String);

    macro_rules! zero {
        ($($method:ident $visit:ident $name:literal $zero:expr;)*) => {$(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                self.0.push_str($name);
                visitor.$visit($zero)
            }
        )*};
    }

    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(de::Error::custom("self-describing value"))
        }
        zero! {
            deserialize_bool visit_bool "bool" false;
            deserialize_i8 visit_i8 "i8" 0;
            deserialize_i16 visit_i16 "i16" 0;
            deserialize_i32 visit_i32 "i32" 0;
            deserialize_i64 visit_i64 "i64" 0;
            deserialize_u8 visit_u8 "u8" 0;
            deserialize_u16 visit_u16 "u16" 0;
            deserialize_u32 visit_u32 "u32" 0;
            deserialize_u64 visit_u64 "u64" 0;
            deserialize_f64 visit_f64 "f64" 0.0;
            deserialize_str visit_string "str" String::new();
            deserialize_string visit_string "str" String::new();
            deserialize_bytes visit_byte_buf "bytes" Vec::new();
            deserialize_byte_buf visit_byte_buf "bytes" Vec::new();
        }
        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let out = self.0;
            out.push_str("option(");
            let value = visitor.visit_some(Probe(&mut *out))?;
            out.push(')');
            Ok(value)
        }
        fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let out = self.0;
            out.push_str("seq(");
            let value = visitor.visit_seq(One {
                done: false,
                out: &mut *out,
            })?;
            out.push(')');
            Ok(value)
        }
        forward_to_deserialize_any! {
            f32 char unit unit_struct newtype_struct tuple tuple_struct map struct enum
            identifier ignored_any
        }
    }
}

#[test]
fn rows_match_the_tables_of_the_schema_files() {
    assert_all_rows(schema_columns);
}

// ------------------------------------------------------------------------------------------
// Real events: the samples through the parsers and the engine
// ------------------------------------------------------------------------------------------

/// The events the parsers made of `testdata/samples`, the watermarks of their sources, and the
/// `diagnose` run's report (attempts, diagnoses, the host → endpoint mapping).
struct Samples {
    events: Vec<Event>,
    watermarks: Vec<Watermark>,
    report: RunReport,
}

/// Passes everything to the engine and keeps a copy of the events and watermarks.
struct Capture {
    engine: Box<Engine>,
    events: Arc<Mutex<Vec<Event>>>,
    watermarks: Arc<Mutex<Vec<Watermark>>>,
}

impl Correlator for Capture {
    fn push(&mut self, event: &Event) {
        self.events.lock().unwrap().push(event.clone());
        Correlator::push(&mut *self.engine, event);
    }
    fn push_batch(&mut self, source: &SourceId, events: &[Event]) {
        self.events.lock().unwrap().extend_from_slice(events);
        Correlator::push_batch(&mut *self.engine, source, events);
    }
    fn watermark(&mut self, watermark: &Watermark) {
        self.watermarks.lock().unwrap().push(watermark.clone());
        Correlator::watermark(&mut *self.engine, watermark);
    }
    fn advance(&mut self, out: &mut Collector) {
        Correlator::advance(&mut *self.engine, out);
    }
    fn finish(self: Box<Self>, out: &mut Collector) -> BTreeMap<String, u64> {
        Correlator::finish(self.engine, out)
    }
}

fn samples() -> &'static Samples {
    static SAMPLES: OnceLock<Samples> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let events = Arc::new(Mutex::new(Vec::new()));
        let watermarks = Arc::new(Mutex::new(Vec::new()));
        let (e, w) = (events.clone(), watermarks.clone());
        let opts = Options {
            inputs: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/samples")],
            threads: 2,
            ..Options::default()
        };
        let report = run_with(
            &opts,
            &mut |_| {},
            Box::new(move |map: &BTreeMap<String, String>| {
                Box::new(Capture {
                    engine: Box::new(Engine::new(EngineConfig {
                        server_endpoints: map
                            .iter()
                            .map(|(h, e)| (h.to_ascii_lowercase(), e.clone()))
                            .collect(),
                        ..EngineConfig::default()
                    })),
                    events: e,
                    watermarks: w,
                }) as Box<dyn Correlator>
            }),
        )
        .unwrap();
        let events = std::mem::take(&mut *events.lock().unwrap());
        let watermarks = std::mem::take(&mut *watermarks.lock().unwrap());
        Samples {
            events,
            watermarks,
            report,
        }
    })
}

impl Samples {
    /// The endpoint the analyzer assigns to an event: its own, else its host's mapping, else
    /// `host:<host>`.
    fn endpoint_of(&self, event: &Event) -> String {
        if !event.endpoint_id.is_empty() {
            return event.endpoint_id.clone();
        }
        let host = event.source.as_ref().map_or("", |s| s.host.as_str());
        self.report
            .mapping
            .iter()
            .find(|m| m.host.eq_ignore_ascii_case(host) && !m.endpoint.is_empty())
            .map_or_else(|| format!("host:{host}"), |m| m.endpoint.clone())
    }

    /// Every event as a row, read from partition 3 at offsets 1000, 1001, ...
    fn event_rows(&self) -> Vec<EventRow> {
        self.events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let read = ReadAt {
                    partition: 3,
                    offset: 1000 + i as i64,
                    batch_sequence: 40 + (i / 100) as u64,
                };
                EventRow::from_event(e, &read, &self.endpoint_of(e), VERSION).unwrap()
            })
            .collect()
    }

    fn health_rows(&self) -> Vec<HealthFactRow> {
        self.events
            .iter()
            .filter_map(|e| HealthFactRow::from_event(e, &self.endpoint_of(e), Vec::new()))
            .collect()
    }
}

fn payload_kind(event: &Event) -> i8 {
    match event.payload.as_ref().unwrap() {
        Payload::Iis(_) => 10,
        Payload::Httperr(_) => 11,
        Payload::AppCrash(_) => 12,
        Payload::Capi2(_) => 13,
        Payload::WindowsScep(_) => 14,
        Payload::ConnectorInstall(_) => 15,
        Payload::Android(_) => 16,
        Payload::Ios(_) => 17,
        Payload::Probe(_) => 18,
        Payload::Health(_) => 19,
    }
}

fn assert_scep_columns(row: &EventRow, m: &ScepMessageInfo) {
    assert_eq!(row.scep_present, 1);
    assert_eq!(row.scep_transaction_id, m.transaction_id);
    assert_eq!(i32::from(row.scep_message_type), m.message_type);
    assert_eq!(row.scep_sender_nonce, event_id_hex(&m.sender_nonce));
    assert_eq!(row.scep_recipient_nonce, event_id_hex(&m.recipient_nonce));
    assert_eq!(i32::from(row.scep_pki_status), m.pki_status);
    assert_eq!(row.scep_fail_info, m.fail_info);
    assert_eq!(row.scep_signer_subject, m.signer_subject);
    assert_eq!(row.scep_complete, u8::from(m.complete));
    assert_eq!(row.scep_bytes_available, m.bytes_available);
    assert_eq!(row.scep_bytes_declared, m.bytes_declared);
    assert_eq!(row.scep_missing, m.missing);
    assert_eq!(row.scep_problem, m.problem);
    let secs = |us: i64| (us != 0).then_some((us / 1_000_000) as u32);
    assert_eq!(row.scep_signer_not_before, secs(m.signer_not_before_us));
    assert_eq!(row.scep_signer_not_after, secs(m.signer_not_after_us));
}

#[test]
fn every_sample_event_becomes_a_row_with_its_payloads_columns() {
    let s = samples();
    assert!(s.events.len() > 500, "{} events", s.events.len());
    let rows = s.event_rows();
    let mut kinds = BTreeSet::new();
    let mut scep_seen = 0;
    for (e, row) in s.events.iter().zip(&rows) {
        let source = e.source.as_ref().unwrap();
        assert_eq!(row.event_id, event_id_hex(&e.id));
        assert_eq!(row.event_id.len(), 32);
        assert_eq!(
            i64::from(row.event_time) * 1_000_000 + i64::from(row.event_time_micros),
            e.event_time_us
        );
        assert_eq!(
            i64::from(row.observed_time) * 1_000_000 + i64::from(row.observed_time_micros),
            e.observed_time_us
        );
        assert_eq!(
            (row.host.as_str(), row.collector.as_str()),
            (source.host.as_str(), "diagnose")
        );
        assert_eq!(i32::from(row.source_kind), source.kind);
        assert_eq!(row.source_path, source.path);
        assert_eq!(row.position, e.position);
        assert_eq!(row.excerpt, e.excerpt);
        assert_eq!(row.endpoint_id, e.endpoint_id);
        assert!(!row.endpoint.is_empty());
        assert_eq!(row.payload_kind, payload_kind(e));
        assert_eq!(row.version, VERSION);
        kinds.insert(row.payload_kind);
        match e.payload.as_ref().unwrap() {
            Payload::Iis(p) => {
                assert_eq!(
                    (row.iis_method.as_str(), row.iis_uri_stem.as_str()),
                    (p.method.as_str(), p.uri_stem.as_str())
                );
                assert_eq!(
                    (row.iis_status, row.iis_substatus, row.iis_win32_status),
                    (p.status, p.substatus, p.win32_status)
                );
                assert_eq!(row.iis_user_agent, p.user_agent);
                assert_eq!(row.iis_client_ip, p.client_ip);
                assert_eq!(row.iis_time_taken_ms, p.time_taken_ms);
                assert_eq!(i32::from(row.iis_target), p.target);
                assert_eq!(i32::from(row.iis_operation), p.operation);
                match &p.scep {
                    Some(m) => {
                        assert_scep_columns(row, m);
                        scep_seen += 1;
                    }
                    None => assert_eq!((row.scep_present, row.scep_fail_info), (0, 0)),
                }
            }
            Payload::Ios(p) => {
                assert_eq!(i32::from(row.ios_step), p.step);
                assert_eq!(row.ios_url, p.url);
                assert_eq!(row.ios_error, p.error);
                match &p.scep {
                    Some(m) => {
                        assert_scep_columns(row, m);
                        scep_seen += 1;
                    }
                    None => assert_eq!(row.scep_present, 0),
                }
            }
            Payload::Httperr(p) => {
                assert_eq!(row.httperr_reason, p.reason);
                assert_eq!(row.httperr_status, p.status);
                assert_eq!(row.httperr_url, p.url);
                assert_eq!(i32::from(row.httperr_target), p.target);
            }
            Payload::AppCrash(p) => {
                assert_eq!(row.crash_application, p.application);
                assert_eq!(row.crash_module, p.module);
                assert_eq!(row.crash_exception_code, p.exception_code);
                assert_eq!(row.crash_process_id, p.process_id);
            }
            Payload::Capi2(p) => {
                assert_eq!(row.capi2_event_id, p.event_id);
                assert_eq!(i32::from(row.capi2_kind), p.kind);
                assert_eq!(row.capi2_url, p.url);
            }
            Payload::ConnectorInstall(p) => {
                assert_eq!(row.install_status, p.status);
                assert_eq!(row.install_completed, u8::from(p.completed));
                assert_eq!(row.install_errors, p.errors);
            }
            Payload::Android(p) => {
                assert_eq!(i32::from(row.android_step), p.step);
                assert_eq!(row.android_url, p.url);
                assert_eq!(row.android_transaction_id, p.transaction_id);
                assert_eq!(row.android_http_status_code, p.http_status_code);
            }
            Payload::WindowsScep(p) => assert_eq!(row.windows_scep_ndes_url, p.ndes_url),
            Payload::Probe(p) => {
                assert_eq!(row.probe_url, p.url);
                assert_eq!(i32::from(row.probe_page), p.page);
                assert_eq!(row.probe_via_app_proxy, u8::from(p.via_app_proxy));
            }
            Payload::Health(h) => assert!(row.health_fact > 0, "{h:?}"),
        }
        // The columns of other payloads keep their zero.
        if row.payload_kind != 10 {
            assert_eq!((row.iis_status, row.iis_target), (0, 0));
        }
        if row.payload_kind != 19 {
            assert_eq!((row.health_fact, row.cert_not_after), (0, None));
        }
    }
    // Every payload kind of the samples (Windows event 36 comes from the MDM zip).
    assert_eq!(
        kinds,
        BTreeSet::from([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]),
        "payload kinds of the samples"
    );
    assert!(scep_seen > 0, "no decoded SCEP message in the samples");
}

#[test]
fn health_rows_of_the_samples_key_each_fact() {
    let s = samples();
    let rows = s.health_rows();
    let health_events: Vec<&Event> = s
        .events
        .iter()
        .filter(|e| matches!(e.payload, Some(Payload::Health(_))))
        .collect();
    assert_eq!(rows.len(), health_events.len());
    let kinds: BTreeSet<i8> = rows.iter().map(|r| r.fact_kind).collect();
    assert_eq!(kinds, BTreeSet::from([1, 2, 3, 4, 5]));
    for (row, e) in rows.iter().zip(&health_events) {
        assert_eq!(row.version, e.event_time_us as u64);
        assert_eq!(row.event_id, event_id_hex(&e.id));
        assert_eq!(row.host, e.source.as_ref().unwrap().host);
        let Some(Payload::Health(HealthFact { fact: Some(fact) })) = &e.payload else {
            unreachable!()
        };
        match fact {
            Fact::Certificate(c) => {
                let role = ["unspecified", "ra_encryption", "ra_signing", "ndes_policy"]
                    .into_iter()
                    .chain(["root_store_intermediate", "other"])
                    .nth(c.role as usize)
                    .unwrap();
                assert_eq!(row.fact_key, format!("{role}/{}", c.thumbprint));
                assert_eq!(
                    row.cert_not_after,
                    Some((c.not_after_us / 1_000_000) as u32)
                );
                assert_eq!(row.cert_enhanced_key_usage, c.enhanced_key_usage);
            }
            Fact::RequestLimits(l) => {
                assert_eq!(row.fact_key, "");
                assert_eq!(row.limits_max_query_string, l.max_query_string);
            }
            Fact::Service(v) => {
                let kind = ["unspecified", "app_pool", "windows_service"][v.kind as usize];
                assert_eq!(row.fact_key, format!("{kind}/{}", v.name));
                assert_eq!(row.service_state, v.state);
            }
            Fact::ServiceAccount(a) => {
                assert_eq!(row.fact_key, a.account);
                assert_eq!(row.account_locked_out, u8::from(a.locked_out));
            }
            Fact::IisAuthentication(a) => {
                assert_eq!(row.fact_key, a.path);
                assert_eq!(
                    row.iis_auth_anonymous_enabled,
                    u8::from(a.anonymous_enabled)
                );
            }
        }
    }
    // The sample key of docs/clickhouse.md.
    assert!(rows.iter().any(|r| r.fact_key == "app_pool/SCEP"));
}

/// Parses `text` as `format` from a source of `host`.
fn parse_text(format: Format, host: &str, path: &str, text: &str) -> Vec<Event> {
    let source = SourceId {
        collector: "ndes01-agent".into(),
        host: host.into(),
        kind: format.source_kind() as i32,
        path: path.into(),
        stream: String::new(),
    };
    let mut ctx = SourceContext::new(source, civil_to_us(2026, 11, 20, 9, 0, 0, 0).unwrap());
    ctx.endpoint_id = ENDPOINT.into();
    let mut events = Vec::new();
    parse::parse_stream(format, &ctx, text.as_bytes(), &mut |e| events.push(e)).unwrap();
    events
}

#[test]
fn an_iis_line_as_iis_writes_it() {
    let log = "#Software: Microsoft Internet Information Services 10.0\r\n\
        #Version: 1.0\r\n\
        #Date: 2026-11-20 08:14:31\r\n\
        #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip \
        cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n\
        2026-11-20 08:14:31 10.20.30.11 GET /certsrv/mscep/mscep.dll/pkiclient.exe \
        operation=GetCACaps&message=ca 443 - 10.20.30.5 \
        profiled/1.0+CFNetwork/811.5.4+Darwin/16.6.0 - 500 0 1346 15\r\n";
    let events = parse_text(
        Format::Iis,
        "NDES01",
        "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex261120.log",
        log,
    );
    assert_eq!(events.len(), 1);
    let row = EventRow::from_event(&events[0], &READ, ENDPOINT, VERSION).unwrap();
    assert_eq!(row.event_time, 1_795_162_471);
    assert_eq!(row.event_time_micros, 0);
    assert_eq!((row.host.as_str(), row.source_kind), ("NDES01", 1));
    assert_eq!(row.payload_kind, 10);
    assert_eq!(
        (row.kafka_partition, row.kafka_offset, row.batch_sequence),
        (7, 52_413, 911)
    );
    assert_eq!(row.iis_server_ip, "10.20.30.11");
    assert_eq!(row.iis_server_port, 443);
    assert_eq!(row.iis_client_ip, "10.20.30.5");
    assert_eq!(row.iis_method, "GET");
    assert_eq!(row.iis_uri_stem, "/certsrv/mscep/mscep.dll/pkiclient.exe");
    assert_eq!(row.iis_uri_query, "operation=GetCACaps&message=ca");
    assert_eq!(
        row.iis_user_agent,
        "profiled/1.0 CFNetwork/811.5.4 Darwin/16.6.0"
    );
    assert_eq!(
        (row.iis_status, row.iis_substatus, row.iis_win32_status),
        (500, 0, 1346)
    );
    assert_eq!(row.iis_time_taken_ms, 15);
    assert_eq!(row.iis_target, 1, "mscep");
    assert_eq!(row.iis_operation, 1, "get_ca_caps");
    assert_eq!(row.iis_query_length, 30);
    assert_eq!(row.scep_present, 0);
    assert_eq!(row.endpoint, ENDPOINT);
}

#[test]
fn health_lines_as_the_health_collector_writes_them() {
    let text = concat!(
        r#"{"time":"2026-11-20T07:00:00Z","fact":"certificate","role":"root_store_intermediate","store":"LocalMachine\\Root","thumbprint":"C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14","subject":"CN=Contoso Issuing CA, DC=contoso, DC=com","issuer":"CN=Contoso Root CA, O=Contoso, C=US","not_before":"2023-05-10T12:00:00Z","not_after":"9999-12-31T23:59:59Z"}"#,
        "\n",
        r#"{"time":"2026-11-20T07:00:00.25Z","fact":"service_account","account":"CONTOSO\\svc-ndes","locked_out":true,"password_expired":false,"password_expires":"2027-01-15T00:00:00Z","disabled":false}"#,
        "\n",
        r#"{"time":"2026-11-20T07:00:00Z","fact":"service","kind":"windows_service","name":"WAPCSvc","display_name":"Microsoft Entra private network connector","state":"Stopped","start_type":"Automatic"}"#,
        "\n",
    );
    let events = parse_text(Format::Health, "ndes02", "health.jsonl", text);
    assert_eq!(events.len(), 3);
    let codes = vec!["health.root_store_intermediate".to_string()];
    let cert = HealthFactRow::from_event(&events[0], ENDPOINT, codes.clone()).unwrap();
    assert_eq!(cert.fact_kind, 1);
    assert_eq!(
        cert.fact_key,
        "root_store_intermediate/C9A14E7B2D5F08E36B1A9C4D7E2F5B0A8C3D6E14"
    );
    assert_eq!(cert.issue_codes, codes);
    assert_eq!(cert.cert_store, "LocalMachine\\Root");
    assert_eq!(cert.cert_not_before, Some(1_683_720_000));
    // Valid until 9999: clamped to the last second DateTime holds.
    assert_eq!(cert.cert_not_after, Some(u32::MAX));
    assert_eq!(
        (cert.host.as_str(), cert.collector.as_str()),
        ("ndes02", "ndes01-agent")
    );
    assert_eq!(cert.observed_time, 1_795_158_000);

    let account = HealthFactRow::from_event(&events[1], ENDPOINT, Vec::new()).unwrap();
    assert_eq!(
        (account.fact_kind, account.fact_key.as_str()),
        (4, "CONTOSO\\svc-ndes")
    );
    assert_eq!(account.observed_time_micros, 250_000);
    assert_eq!(account.version, 1_795_158_000_250_000);
    assert_eq!(
        (account.account_locked_out, account.account_disabled),
        (1, 0)
    );
    assert_eq!(account.account_password_expires, Some(1_799_971_200));

    let service = HealthFactRow::from_event(&events[2], ENDPOINT, Vec::new()).unwrap();
    assert_eq!(
        (service.fact_kind, service.fact_key.as_str()),
        (3, "windows_service/WAPCSvc")
    );
    assert_eq!(service.service_kind, 2);

    // The same facts in `events`.
    let row = EventRow::from_event(&events[0], &READ, ENDPOINT, VERSION).unwrap();
    assert_eq!(
        (row.payload_kind, row.health_fact, row.cert_role),
        (19, 1, 4)
    );
    assert_eq!(row.cert_not_after, Some(u32::MAX));
    assert_eq!(row.cert_thumbprint, cert.cert_thumbprint);
    // Not a health event: no health_facts row.
    let iis = samples()
        .events
        .iter()
        .find(|e| matches!(e.payload, Some(Payload::Iis(_))))
        .unwrap();
    assert!(HealthFactRow::from_event(iis, ENDPOINT, Vec::new()).is_none());
}

// ------------------------------------------------------------------------------------------
// Absurd events: rejected with a reason, never a panic
// ------------------------------------------------------------------------------------------

fn kafka_record() -> KafkaRecord<'static> {
    KafkaRecord {
        topic: "scepwatch.events.v1",
        partition: 7,
        offset: 52_413,
        timestamp_us: 1_795_162_471_481_000,
        key: ENDPOINT,
    }
}

#[test]
fn an_event_time_outside_datetime_is_rejected_with_its_reason() {
    let mut event = samples()
        .events
        .iter()
        .find(|e| matches!(e.payload, Some(Payload::Iis(_))))
        .unwrap()
        .clone();
    for us in [
        -1,
        civil_to_us(1960, 1, 1, 0, 0, 0, 0).unwrap(),
        civil_to_us(2200, 1, 1, 0, 0, 0, 0).unwrap(),
        LAST_US + 1,
        i64::MIN,
        i64::MAX,
    ] {
        event.event_time_us = us;
        let why = EventRow::from_event(&event, &READ, ENDPOINT, VERSION).unwrap_err();
        assert_eq!(why, EventRejected::TimeOutOfRange { event_time_us: us });
        assert_eq!(why.reason(), RejectReason::TimeOutOfRange);
        assert!(HealthFactRow::from_event(&event, ENDPOINT, Vec::new()).is_none());
    }
    // The edges of the range are stored.
    for us in [0, LAST_US] {
        event.event_time_us = us;
        assert!(EventRow::from_event(&event, &READ, ENDPOINT, VERSION).is_ok());
    }
    event.event_time_us = civil_to_us(2200, 1, 1, 0, 0, 0, 0).unwrap();
    let why = EventRow::from_event(&event, &READ, ENDPOINT, VERSION).unwrap_err();
    let reject = RejectRow::new(
        &kafka_record(),
        Rejected::event(2, &event, &why, "ndes01-agent", 911),
        VERSION,
    );
    assert_eq!(reject.reason, "time_out_of_range");
    assert_eq!(reject.event_index, 2);
    assert!(reject.detail.contains(&event.event_time_us.to_string()));
    assert_eq!(reject.event_id, event_id_hex(&event.id));
    assert_eq!(
        (reject.collector.as_str(), reject.batch_sequence),
        ("ndes01-agent", 911)
    );
    assert_eq!(reject.record_key, ENDPOINT);
    assert_eq!(
        (reject.record_time, reject.record_time_micros),
        (1_795_162_471, 481_000)
    );
    assert_eq!(reject.rejected_at, (VERSION / 1_000_000) as u32);
    // The payload is the event alone, as it arrived.
    assert_eq!(Event::decode(reject.payload.as_slice()).unwrap(), event);
}

#[test]
fn an_unknown_payload_and_an_undecodable_record_are_rejected() {
    let mut event = samples().events[0].clone();
    event.payload = None;
    let why = EventRow::from_event(&event, &READ, ENDPOINT, VERSION).unwrap_err();
    assert_eq!(why, EventRejected::PayloadUnknown);
    assert_eq!(why.reason().code(), "payload_unknown");

    let value = b"\x0a\x3ahttps://ndes-contoso\x22\xff\x07";
    let mut record = kafka_record();
    record.timestamp_us = 0;
    let reject = RejectRow::new(
        &record,
        Rejected::record("failed to decode Protobuf message", value),
        VERSION,
    );
    assert_eq!(reject.event_index, -1);
    assert_eq!(reject.reason, "decode");
    assert_eq!(reject.payload, value);
    assert_eq!((reject.record_time, reject.collector.as_str()), (0, ""));
    assert_eq!(reject.event_id, "");
}

#[test]
fn unknown_enum_numbers_are_written_as_zero_and_payload_times_clamp() {
    let source = SourceId {
        collector: "c".into(),
        host: "ndes01".into(),
        kind: 42,
        path: "p".into(),
        stream: String::new(),
    };
    let event = |payload| Event {
        id: scepwatch_proto::event_id(&source, 1).to_vec(),
        source: Some(source.clone()),
        position: 1,
        event_time_us: 1_795_162_471_000_001,
        observed_time_us: -5,
        endpoint_id: String::new(),
        excerpt: String::new(),
        payload: Some(payload),
    };
    let iis = event(Payload::Iis(IisRequest {
        target: 9,
        operation: -1,
        scep: Some(ScepMessageInfo {
            message_type: 18,
            pki_status: 3,
            fail_info: -1,
            signer_not_before_us: -86_400_000_000,
            signer_not_after_us: i64::MAX,
            ..ScepMessageInfo::default()
        }),
        ..IisRequest::default()
    }));
    let row = EventRow::from_event(&iis, &READ, "host:ndes01", VERSION).unwrap();
    assert_eq!(row.source_kind, 0);
    assert_eq!((row.iis_target, row.iis_operation), (0, 0));
    assert_eq!((row.scep_message_type, row.scep_pki_status), (0, 3));
    assert_eq!(row.scep_fail_info, -1);
    assert_eq!(row.scep_signer_not_before, Some(0));
    assert_eq!(row.scep_signer_not_after, Some(u32::MAX));
    assert_eq!(row.scep_signer_subject, "");
    // A collector clock before 1970: the observed time is clamped, the event kept.
    assert_eq!((row.observed_time, row.observed_time_micros), (0, 0));
    assert_eq!(row.event_time_micros, 1);

    let cert = event(Payload::Health(HealthFact {
        fact: Some(Fact::Certificate(CertificateFact {
            role: 77,
            thumbprint: "AB".into(),
            not_before_us: 0,
            not_after_us: 253_402_300_799_000_000,
            ..CertificateFact::default()
        })),
    }));
    let row = EventRow::from_event(&cert, &READ, "host:ndes01", VERSION).unwrap();
    assert_eq!((row.cert_role, row.cert_not_before), (0, None));
    assert_eq!(row.cert_not_after, Some(u32::MAX));
    let fact = HealthFactRow::from_event(&cert, "host:ndes01", Vec::new()).unwrap();
    assert_eq!(fact.fact_key, "unspecified/AB");
    let service = event(Payload::Health(HealthFact {
        fact: Some(Fact::Service(ServiceStateFact {
            kind: 5,
            name: "SCEP".into(),
            ..ServiceStateFact::default()
        })),
    }));
    let fact = HealthFactRow::from_event(&service, "host:ndes01", Vec::new()).unwrap();
    assert_eq!(
        (fact.service_kind, fact.fact_key.as_str()),
        (0, "unspecified/SCEP")
    );
    // A fact of a kind this analyzer does not know: stored as an event, no health_facts row.
    let unknown = event(Payload::Health(HealthFact { fact: None }));
    let row = EventRow::from_event(&unknown, &READ, "host:ndes01", VERSION).unwrap();
    assert_eq!((row.payload_kind, row.health_fact), (19, 0));
    assert!(HealthFactRow::from_event(&unknown, "host:ndes01", Vec::new()).is_none());
}

/// The names and numbers of each `Enum8` column of `table`, from the schema files.
fn schema_enums(table: &str) -> BTreeMap<String, BTreeSet<i64>> {
    schema_columns(table)
        .into_iter()
        .filter_map(|(name, ty)| {
            let inner = ty.strip_prefix("Enum8(")?.strip_suffix(')')?;
            let numbers = inner
                .split(", ")
                .map(|p| p.rsplit_once(" = ").unwrap().1.parse().unwrap())
                .collect();
            Some((name, numbers))
        })
        .collect()
}

/// Every `Enum8` field of `row` holds a number its column lists (else the insert of the whole
/// block would fail).
fn assert_enums_listed<R: Serialize>(table: &str, row: &R) {
    let value = serde_json::to_value(row).unwrap();
    for (column, numbers) in schema_enums(table) {
        let mut values = match &value[&column] {
            serde_json::Value::Array(a) => a.clone(),
            v => vec![v.clone()],
        };
        for v in values.drain(..) {
            let n = v.as_i64().unwrap();
            assert!(numbers.contains(&n), "{table}.{column} = {n}");
        }
    }
}

fn arb_time() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -2_000_000i64..2_000_000,
        0i64..=LAST_US,
        LAST_US - 2_000_000..LAST_US + 2_000_000,
        Just(i64::MIN),
        Just(i64::MAX),
    ]
}

prop_compose! {
    fn arb_event()(
        kind in 0u8..12,
        id in proptest::collection::vec(any::<u8>(), 0..20),
        with_source in any::<bool>(),
        source_kind in prop_oneof![0i32..10, any::<i32>()],
        position in any::<u64>(),
        event_time in arb_time(),
        observed_time in arb_time(),
        times in [arb_time(), arb_time(), arb_time()],
        numbers in [prop_oneof![0i32..25, any::<i32>()], prop_oneof![0i32..25, any::<i32>()],
            prop_oneof![0i32..25, any::<i32>()]],
        counts in any::<[u32; 3]>(),
        text in "\\PC{0,12}",
        flag in any::<bool>(),
    ) -> Event {
        let [n0, n1, n2] = numbers;
        let [t0, t1, t2] = times;
        let scep = flag.then(|| ScepMessageInfo {
            transaction_id: text.clone(),
            message_type: n1,
            pki_status: n2,
            fail_info: n0,
            sender_nonce: id.clone(),
            signer_not_before_us: t0,
            signer_not_after_us: t1,
            missing: vec![text.clone()],
            ..ScepMessageInfo::default()
        });
        let fact = |f| Payload::Health(HealthFact { fact: f });
        let payload = match kind {
            0 => None,
            1 => Some(Payload::Iis(IisRequest { target: n0, operation: n1, status: counts[0],
                uri_stem: text.clone(), scep, ..IisRequest::default() })),
            2 => Some(Payload::Httperr(HttpErrRecord { target: n0, status: counts[0],
                reason: text.clone(), ..HttpErrRecord::default() })),
            3 => Some(Payload::AppCrash(AppCrash { process_id: counts[0],
                module: text.clone(), ..AppCrash::default() })),
            4 => Some(Payload::Capi2(Capi2Event { kind: n0, event_id: counts[0],
                url: text.clone(), ..Capi2Event::default() })),
            5 => Some(Payload::WindowsScep(WindowsScepRequest { message: text.clone(),
                ..WindowsScepRequest::default() })),
            6 => Some(Payload::ConnectorInstall(ConnectorInstall { status: n0, completed: flag,
                errors: vec![text.clone(); (counts[1] % 3) as usize], ..ConnectorInstall::default() })),
            7 => Some(Payload::Android(AndroidScep { step: n0, operation: n1,
                http_status_code: counts[0], ..AndroidScep::default() })),
            8 => Some(Payload::Ios(IosScep { step: n0, operation: n1, scep,
                ..IosScep::default() })),
            9 => Some(Payload::Probe(ProbeResult { page: n0, status: counts[0],
                via_app_proxy: flag, ..ProbeResult::default() })),
            10 => Some(fact(match n2.rem_euclid(6) {
                0 => None,
                1 => Some(Fact::Certificate(CertificateFact { role: n0, thumbprint: text.clone(),
                    not_before_us: t0, not_after_us: t1, ..CertificateFact::default() })),
                2 => Some(Fact::RequestLimits(RequestLimitsFact { max_url: counts[0],
                    ..RequestLimitsFact::default() })),
                3 => Some(Fact::Service(ServiceStateFact { kind: n1, name: text.clone(),
                    ..ServiceStateFact::default() })),
                4 => Some(Fact::ServiceAccount(ServiceAccountFact { account: text.clone(),
                    password_expires_us: t2, locked_out: flag, ..ServiceAccountFact::default() })),
                _ => Some(Fact::IisAuthentication(IisAuthenticationFact { path: text.clone(),
                    windows_enabled: flag, ..IisAuthenticationFact::default() })),
            })),
            _ => Some(fact(Some(Fact::Service(ServiceStateFact {
                kind: service_state_fact::Kind::AppPool as i32, name: "SCEP".into(),
                ..ServiceStateFact::default() })))),
        };
        Event {
            source: with_source.then(|| SourceId {
                collector: text.clone(), host: text.clone(), kind: source_kind,
                path: text.clone(), stream: String::new(),
            }),
            id,
            position,
            event_time_us: event_time,
            observed_time_us: observed_time,
            endpoint_id: text.clone(),
            excerpt: text,
            payload,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any event becomes either a row (time in range, known payload) whose times read back
    /// exactly and whose enums are listed by the schema, or a reject with the matching reason
    /// whose payload decodes back into the event. Never a panic.
    #[test]
    fn any_event_is_a_row_or_a_reject(event in arb_event(), index in -1i32..100) {
        let in_range = (0..=LAST_US).contains(&event.event_time_us);
        match EventRow::from_event(&event, &READ, ENDPOINT, VERSION) {
            Ok(row) => {
                prop_assert!(in_range && event.payload.is_some());
                prop_assert_eq!(
                    i64::from(row.event_time) * 1_000_000 + i64::from(row.event_time_micros),
                    event.event_time_us
                );
                prop_assert!(row.event_time_micros < 1_000_000);
                prop_assert!(row.observed_time_micros < 1_000_000);
                assert_enums_listed(EventRow::TABLE, &row);
            }
            Err(why) => {
                let expected = if in_range {
                    RejectReason::PayloadUnknown
                } else {
                    RejectReason::TimeOutOfRange
                };
                prop_assert_eq!(why.reason(), expected);
                let reject = RejectRow::new(
                    &kafka_record(),
                    Rejected::event(index, &event, &why, "c", 1),
                    VERSION,
                );
                prop_assert_eq!(reject.reason.as_str(), expected.code());
                prop_assert_eq!(Event::decode(reject.payload.as_slice()).unwrap(), event.clone());
            }
        }
        if let Some(fact) = HealthFactRow::from_event(&event, ENDPOINT, Vec::new()) {
            prop_assert!(in_range);
            prop_assert_eq!(fact.version, event.event_time_us as u64);
            assert_enums_listed(HealthFactRow::TABLE, &fact);
        }
    }

    /// Watermarks are never refused: any times are clamped, in order.
    #[test]
    fn any_watermark_is_a_row(from in arb_time(), to in arb_time(), now in arb_time()) {
        let w = Watermark {
            source: None,
            endpoint_id: String::new(),
            read_from_us: from,
            read_up_to_us: to,
            position: 9,
        };
        let row = WatermarkRow::from_watermark(&w, ENDPOINT, now);
        prop_assert_eq!(row.version, u64::try_from(to).unwrap_or(0));
        prop_assert!(row.read_up_to_micros < 1_000_000);
        if from <= to {
            prop_assert!((row.read_from, row.read_from_micros) <= (row.read_up_to, row.read_up_to_micros));
        }
        assert_enums_listed(WatermarkRow::TABLE, &row);
    }
}

#[test]
fn watermark_rows_of_the_samples() {
    let s = samples();
    assert!(!s.watermarks.is_empty());
    for w in &s.watermarks {
        let source = w.source.as_ref().unwrap();
        let row = WatermarkRow::from_watermark(w, ENDPOINT, 1_795_200_000_000_000);
        assert_eq!(row.source_id, format!("{:032x}", SourceKey::of(source).0));
        assert_eq!(row.source_id.len(), 32);
        assert_eq!(row.version, w.read_up_to_us as u64);
        assert_eq!(
            i64::from(row.read_up_to) * 1_000_000 + i64::from(row.read_up_to_micros),
            w.read_up_to_us
        );
        assert_eq!(
            (row.host.as_str(), row.source_path.as_str()),
            (source.host.as_str(), source.path.as_str())
        );
        assert_eq!(i32::from(row.source_kind), source.kind);
        assert_eq!(row.position, w.position);
        assert_eq!(row.updated_at, 1_795_200_000);
    }
}

// ------------------------------------------------------------------------------------------
// Attempts and diagnoses of the samples
// ------------------------------------------------------------------------------------------

#[test]
fn attempt_rows_of_the_samples() {
    let report = &samples().report;
    assert!(!report.attempts.is_empty());
    for a in &report.attempts {
        let row = AttemptRow::from_attempt(a, VERSION, false);
        assert_eq!(row.attempt_id, a.id);
        assert_eq!(row.retracted, 0);
        assert_eq!(
            i64::from(row.start_time) * 1_000_000 + i64::from(row.start_time_micros),
            a.start_us
        );
        assert_eq!(
            i64::from(row.end_time) * 1_000_000 + i64::from(row.end_time_micros),
            a.end_us
        );
        assert_eq!(row.device, a.device);
        assert_eq!(row.diagnosis_codes, a.diagnoses);
        // The report's names, numbered from 1.
        let json = serde_json::to_value(a).unwrap();
        let name_of = |list: &[&str], n: i8| list[n as usize - 1].to_string();
        assert_eq!(
            json["join"],
            name_of(
                &["transaction_id", "fallback", "device_only", "server_only"],
                row.join_method
            )
        );
        assert_eq!(
            json["confidence"],
            name_of(&["low", "medium", "high"], row.confidence)
        );
        assert_eq!(
            json["platform"],
            name_of(&["android", "ios", "windows", "unknown"], row.platform)
        );
        assert_eq!(
            json["severity"],
            name_of(&["info", "warning", "error", "critical"], row.severity)
        );
        // One element per step in every array of the Nested column.
        let n = a.steps.len();
        assert_eq!(
            [
                row.steps_time.len(),
                row.steps_time_micros.len(),
                row.steps_side.len()
            ],
            [n; 3]
        );
        assert_eq!(
            [
                row.steps_host.len(),
                row.steps_what.len(),
                row.steps_event_id.len()
            ],
            [n; 3]
        );
        for (i, step) in a.steps.iter().enumerate() {
            assert_eq!(
                i64::from(row.steps_time[i]) * 1_000_000 + i64::from(row.steps_time_micros[i]),
                step.time_us
            );
            assert_eq!(
                json["steps"][i]["side"],
                name_of(&["device", "server", "probe"], row.steps_side[i])
            );
            assert_eq!(row.steps_what[i], step.what);
            assert_eq!(row.steps_event_id[i], step.event_id);
        }
        assert_enums_listed(AttemptRow::TABLE, &row);
    }
    let retracted = AttemptRow::from_attempt(&report.attempts[0], VERSION + 1, true);
    assert_eq!((retracted.retracted, retracted.version), (1, VERSION + 1));
}

#[test]
fn diagnosis_rows_of_the_samples() {
    let report = &samples().report;
    let codes: BTreeSet<&str> = report.diagnoses.iter().map(|d| d.code.as_str()).collect();
    assert!(codes.len() >= 10, "{codes:?}");
    for d in &report.diagnoses {
        let row = DiagnosisRow::from_diagnosis(d, VERSION, false);
        assert_eq!(row.diagnosis_id, d.id);
        assert_eq!(row.code, d.code);
        assert_eq!(row.fix, catalog::entry(&d.code).unwrap().fix);
        assert_eq!(row.fix, d.fix);
        let (kind, id) = match &d.scope {
            Scope::Attempt(id) => (1, id),
            Scope::Server(id) => (2, id),
            Scope::Endpoint(id) => (3, id),
        };
        assert_eq!((row.scope_kind, &row.scope_id), (kind, id));
        assert_eq!(
            i64::from(row.first_seen) * 1_000_000 + i64::from(row.first_seen_micros),
            parse_rfc3339(&d.first_seen).unwrap()
        );
        assert_eq!(
            i64::from(row.last_seen) * 1_000_000 + i64::from(row.last_seen_micros),
            parse_rfc3339(&d.last_seen).unwrap()
        );
        assert_eq!(row.occurrences, d.occurrences);
        assert_eq!(row.evidence_event_id.len(), d.evidence.len());
        assert_eq!(row.evidence_note.len(), d.evidence.len());
        for (i, e) in d.evidence.iter().enumerate() {
            assert_eq!(row.evidence_event_id[i], e.event_id);
            assert_eq!(
                i64::from(row.evidence_time[i]) * 1_000_000
                    + i64::from(row.evidence_time_micros[i]),
                e.time_us
            );
            assert_eq!(
                (&row.evidence_kind[i], &row.evidence_excerpt[i]),
                (&e.kind, &e.excerpt)
            );
        }
        assert_enums_listed(DiagnosisRow::TABLE, &row);
    }
}

// ------------------------------------------------------------------------------------------
// Round trips through the 18.16 test server
// ------------------------------------------------------------------------------------------

/// A throwaway database with the shipped migrations applied, and a client of it (RowBinary,
/// validation off). `None` when no server answers (outside CI).
async fn migrated(test: &str) -> Option<(TestDb, Client)> {
    let db = TestDb::create(test)?;
    let client = db.client();
    migrate(&client, &db.name, "scepwatch store_rows test")
        .await
        .unwrap();
    Some((db, client))
}

/// Inserts `rows` as the service does: one Native block through the writer.
async fn insert<R: Row + Serialize>(client: &Client, table: &str, rows: &[R]) {
    Writer::new(client.clone(), RetryPolicy::default())
        .insert(table, rows)
        .await
        .unwrap();
}

/// Every row of `table` (after `FINAL`), each column as the row type reads it.
async fn select<R: RowOwned + RowRead>(client: &Client, table: &str, order_by: &str) -> Vec<R> {
    client
        .query(&format!(
            "SELECT ?fields FROM {table} FINAL ORDER BY {order_by}"
        ))
        .fetch_all::<R>()
        .await
        .unwrap()
}

#[tokio::test]
async fn rows_match_system_columns_of_a_migrated_database() {
    let Some((db, _client)) = migrated("rows_match_system_columns").await else {
        return;
    };
    let columns = |table: &str| -> Vec<(String, String)> {
        db.exec(&format!(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() \
             AND table = '{table}' FORMAT TabSeparated"
        ))
        .lines()
        .map(|l| {
            let (n, t) = l.split_once('\t').unwrap();
            (n.to_string(), t.replace("\\'", "'"))
        })
        .collect()
    };
    // system.columns lists a table's columns in their order.
    assert_eq!(columns("events").len(), schema_columns("events").len());
    assert_all_rows(columns);
}

#[tokio::test]
async fn every_row_type_round_trips_through_the_server() {
    let Some((db, client)) = migrated("rows_round_trip").await else {
        return;
    };
    let s = samples();

    let events = s.event_rows();
    insert(&client, EventRow::TABLE, &events).await;
    let mut expected = events.clone();
    expected.sort_by(|a, b| {
        (&a.host, a.event_time, &a.event_id).cmp(&(&b.host, b.event_time, &b.event_id))
    });
    let back: Vec<EventRow> = select(&client, EventRow::TABLE, "host, event_time, event_id").await;
    assert_eq!(back.len(), expected.len());
    for (b, e) in back.iter().zip(&expected) {
        assert_eq!(b, e, "event {}", e.event_id);
    }

    let watermarks: Vec<WatermarkRow> = s
        .watermarks
        .iter()
        .map(|w| WatermarkRow::from_watermark(w, ENDPOINT, 1_795_200_000_000_000))
        .collect();
    // The newest watermark of each source wins (its read_up_to is the version).
    let mut latest: BTreeMap<(String, String), WatermarkRow> = BTreeMap::new();
    for w in &watermarks {
        let key = (w.host.clone(), w.source_id.clone());
        if latest.get(&key).is_none_or(|old| old.version <= w.version) {
            latest.insert(key, w.clone());
        }
    }
    insert(&client, WatermarkRow::TABLE, &watermarks).await;
    let back: Vec<WatermarkRow> = select(&client, WatermarkRow::TABLE, "host, source_id").await;
    let back_versions: Vec<(String, u64)> = back
        .iter()
        .map(|w| (w.source_id.clone(), w.version))
        .collect();
    let expected_versions: Vec<(String, u64)> = latest
        .values()
        .map(|w| (w.source_id.clone(), w.version))
        .collect();
    assert_eq!(back_versions, expected_versions);

    let mut event = s.events[0].clone();
    event.event_time_us = civil_to_us(2200, 1, 1, 0, 0, 0, 0).unwrap();
    let why = EventRow::from_event(&event, &READ, ENDPOINT, VERSION).unwrap_err();
    let rejects = vec![
        RejectRow::new(
            &kafka_record(),
            Rejected::record("failed to decode Protobuf message", b"\x0a\x3a\xff\x00\x07"),
            VERSION,
        ),
        RejectRow::new(
            &kafka_record(),
            Rejected::event(2, &event, &why, "ndes01-agent", 911),
            VERSION,
        ),
    ];
    insert(&client, RejectRow::TABLE, &rejects).await;
    let back: Vec<RejectRow> = select(&client, RejectRow::TABLE, "event_index").await;
    assert_eq!(back, rejects);
    assert_eq!(
        Event::decode(back[1].payload.as_slice()).unwrap(),
        event,
        "raw bytes survive the String column"
    );

    let attempts: Vec<AttemptRow> = s
        .report
        .attempts
        .iter()
        .map(|a: &Attempt| AttemptRow::from_attempt(a, VERSION, false))
        .collect();
    insert(&client, AttemptRow::TABLE, &attempts).await;
    let mut expected = attempts.clone();
    expected.sort_by(|a, b| {
        (&a.endpoint, a.start_time, &a.attempt_id).cmp(&(&b.endpoint, b.start_time, &b.attempt_id))
    });
    let back: Vec<AttemptRow> = select(
        &client,
        AttemptRow::TABLE,
        "endpoint, start_time, attempt_id",
    )
    .await;
    assert_eq!(back, expected);

    let diagnoses: Vec<DiagnosisRow> = s
        .report
        .diagnoses
        .iter()
        .map(|d: &Diagnosis| DiagnosisRow::from_diagnosis(d, VERSION, false))
        .collect();
    insert(&client, DiagnosisRow::TABLE, &diagnoses).await;
    let mut expected = diagnoses.clone();
    expected.sort_by(|a, b| {
        (a.scope_kind, &a.scope_id, &a.code, &a.diagnosis_id).cmp(&(
            b.scope_kind,
            &b.scope_id,
            &b.code,
            &b.diagnosis_id,
        ))
    });
    let back: Vec<DiagnosisRow> = select(
        &client,
        DiagnosisRow::TABLE,
        "scope_kind, scope_id, code, diagnosis_id",
    )
    .await;
    assert_eq!(back, expected);

    // health_facts: the latest observation of each (host, kind, key).
    let health = s.health_rows();
    let mut latest: BTreeMap<(String, i8, String), HealthFactRow> = BTreeMap::new();
    for h in &health {
        let key = (h.host.clone(), h.fact_kind, h.fact_key.clone());
        if latest.get(&key).is_none_or(|old| old.version <= h.version) {
            latest.insert(key, h.clone());
        }
    }
    insert(&client, HealthFactRow::TABLE, &health).await;
    let back: Vec<HealthFactRow> =
        select(&client, HealthFactRow::TABLE, "host, fact_kind, fact_key").await;
    let expected: Vec<HealthFactRow> = latest.into_values().collect();
    assert_eq!(back, expected);

    // The enums read as the schema's names on the server.
    let body = db.exec(
        "SELECT toString(payload_kind), count() FROM events GROUP BY payload_kind \
         ORDER BY payload_kind FORMAT TabSeparated",
    );
    let names: Vec<&str> = body
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "iis",
            "httperr",
            "app_crash",
            "capi2",
            "windows_scep",
            "connector_install",
            "android",
            "ios",
            "probe",
            "health"
        ]
    );
}

#[tokio::test]
async fn per_minute_requests_fill_from_inserted_iis_rows() {
    let Some((db, client)) = migrated("rows_per_minute").await else {
        return;
    };
    let rows: Vec<EventRow> = samples()
        .event_rows()
        .into_iter()
        .filter(|r| r.payload_kind == 10 || r.payload_kind == 11)
        .collect();
    // What the view must hold: distinct events per minute, endpoint, host, log, target, status
    // (HTTP.sys records without a status left out).
    let target = [
        "unspecified",
        "mscep",
        "mscep_admin",
        "cert_registration_svc",
        "other",
    ];
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &rows {
        let (log, t, status) = match r.payload_kind {
            10 => ("iis", r.iis_target, r.iis_status),
            _ if r.httperr_status > 0 => ("httperr", r.httperr_target, r.httperr_status),
            _ => continue,
        };
        let key = format!(
            "{}\t{}\t{}\t{log}\t{}\t{status}",
            r.event_time / 60 * 60,
            r.endpoint,
            r.host,
            target[t as usize]
        );
        expected.entry(key).or_default().insert(r.event_id.clone());
    }
    let expected: Vec<String> = expected
        .into_iter()
        .map(|(k, ids)| format!("{k}\t{}", ids.len()))
        .collect();
    assert!(expected.len() > 50, "{} minutes", expected.len());
    // Inserted twice, as a replay does: the distinct counts do not move.
    insert(&client, EventRow::TABLE, &rows).await;
    insert(&client, EventRow::TABLE, &rows).await;
    let body = db.exec(
        "SELECT toUInt32(minute), endpoint, host, toString(source_kind), toString(target), \
         status, uniqExactMerge(requests) FROM requests_per_minute \
         GROUP BY minute, endpoint, host, source_kind, target, status FORMAT TabSeparated",
    );
    let mut got: Vec<String> = body.lines().map(str::to_owned).collect();
    got.sort();
    assert_eq!(got, expected);
    let total: u64 = got
        .iter()
        .map(|l| l.rsplit('\t').next().unwrap().parse::<u64>().unwrap())
        .sum();
    let requests = rows
        .iter()
        .filter(|r| r.payload_kind == 10 || r.httperr_status > 0)
        .count();
    assert_eq!(total, requests as u64);
}

// ------------------------------------------------------------------------------------------
// The writer's Native blocks on the current ClickHouse engine (chdb)
// ------------------------------------------------------------------------------------------

/// One Native block of `rows` with the types the schema files give `R`'s columns, written to
/// `dir/<table>.native`; the SQL that loads it and checks the row count.
fn native_block<R: Row + Serialize>(dir: &std::path::Path, table: &str, rows: &[R]) -> String {
    let schema = schema_columns(table);
    let types: Vec<ColumnType> = R::COLUMN_NAMES
        .iter()
        .map(|name| {
            let (_, ty) = schema.iter().find(|(n, _)| n == name).unwrap();
            ColumnType::new(name, ty).unwrap()
        })
        .collect();
    let mut block = Block::new(&types[..]);
    for row in rows {
        block.push(row).unwrap();
    }
    let path = dir.join(format!("{table}.native"));
    std::fs::write(&path, block.encode()).unwrap();
    format!(
        "INSERT INTO {table} SELECT * FROM file('{}', 'Native');\n\
         SELECT throwIf(count() != {}) FROM {table};\n",
        path.display(),
        rows.len()
    )
}

/// The 18.16 server is not the only reader of the writer's blocks: production runs current
/// ClickHouse. Every table's block of the sample rows loads into the schema on the current
/// engine embedded in chdb (`scripts/chdb-check.sh`, which installs it the first time), and
/// the `LowCardinality` and `Array` columns read back as written.
#[test]
fn native_blocks_of_every_table_load_into_the_current_engine() {
    let s = samples();
    let dir = tempfile::tempdir().unwrap();
    let events = s.event_rows();
    // Every row inserted stays (current servers collapse the rows of one block by key).
    let mut sql = "SET optimize_on_insert = 0;\n".to_string();
    sql += &native_block(dir.path(), EventRow::TABLE, &events);
    let hosts: BTreeSet<&str> = events.iter().map(|e| e.host.as_str()).collect();
    let agent_bytes: usize = events.iter().map(|e| e.iis_user_agent.len()).sum();
    let missing: usize = events.iter().map(|e| e.scep_missing.len()).sum();
    sql += &format!(
        "SELECT throwIf(uniqExact(host) != {}) FROM events;\n\
         SELECT throwIf(sum(length(iis_user_agent)) != {agent_bytes}) FROM events;\n\
         SELECT throwIf(sum(length(scep_missing)) != {missing}) FROM events;\n",
        hosts.len()
    );
    let watermarks: Vec<WatermarkRow> = s
        .watermarks
        .iter()
        .map(|w| WatermarkRow::from_watermark(w, ENDPOINT, 1_795_200_000_000_000))
        .collect();
    sql += &native_block(dir.path(), WatermarkRow::TABLE, &watermarks);
    let rejects = vec![RejectRow::new(
        &kafka_record(),
        Rejected::record("failed to decode Protobuf message", b"\x0a\x3a\xff\x00\x07"),
        VERSION,
    )];
    sql += &native_block(dir.path(), RejectRow::TABLE, &rejects);
    sql += "SELECT throwIf(payload != unhex('0A3AFF0007')) FROM rejects;\n";
    let attempts: Vec<AttemptRow> = s
        .report
        .attempts
        .iter()
        .map(|a| AttemptRow::from_attempt(a, VERSION, false))
        .collect();
    sql += &native_block(dir.path(), AttemptRow::TABLE, &attempts);
    let diagnoses: Vec<DiagnosisRow> = s
        .report
        .diagnoses
        .iter()
        .map(|d| DiagnosisRow::from_diagnosis(d, VERSION, false))
        .collect();
    let evidence: usize = diagnoses.iter().map(|d| d.evidence_event_id.len()).sum();
    sql += &native_block(dir.path(), DiagnosisRow::TABLE, &diagnoses);
    sql +=
        &format!("SELECT throwIf(sum(length(evidence.event_id)) != {evidence}) FROM diagnoses;\n");
    sql += &native_block(dir.path(), HealthFactRow::TABLE, &s.health_rows());
    let file = dir.path().join("load.sql");
    std::fs::write(&file, sql).unwrap();

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut migrations: Vec<PathBuf> = std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    migrations.sort();
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/chdb-check.sh"))
        .args(&migrations)
        .arg(&file)
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chdb refused a block:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
