//! The enum numbers and names the rows write, checked against the schema's SQL, the protobuf
//! names and the JSON report's names.

use scepwatch_proto::v1::{
    service_state_fact, AndroidStep, Capi2Kind, CertRole, IisTarget, IosStep, ProbePage,
    ScepMessageType, ScepOperation, ScepPkiStatus, SourceKind,
};

use super::column::*;
use super::result;
use crate::model::{Confidence, JoinMethod, Platform, Scope, Severity, Side};

const EVENTS_SQL: &str = include_str!("../../../schema/0002_events.sql");
const RESULTS_SQL: &str = include_str!("../../../schema/0003_results.sql");

/// The text of `CREATE TABLE IF NOT EXISTS <table>` up to its `ENGINE`.
fn table_sql(table: &str) -> &'static str {
    let head = format!("CREATE TABLE IF NOT EXISTS {table}\n");
    for sql in [EVENTS_SQL, RESULTS_SQL] {
        if let Some(at) = sql.find(&head) {
            let rest = &sql[at..];
            return &rest[..rest.find("\nENGINE").unwrap()];
        }
    }
    panic!("no table {table}");
}

/// (name, number) of the `Enum8(...)` of `column` in `table` (a Nested member is found by its
/// own name inside the block).
fn schema_enum(table: &str, column: &str) -> Vec<(String, i8)> {
    let sql = table_sql(table);
    let line = sql
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{column} Enum8(")))
        .unwrap_or_else(|| panic!("{table}.{column} is not an Enum8"));
    let inner = &line[line.find("Enum8(").unwrap() + 6..];
    let inner = &inner[..inner.find(')').unwrap()];
    inner
        .split(", ")
        .map(|pair| {
            let (name, n) = pair.split_once(" = ").unwrap();
            (name.trim_matches('\'').to_string(), n.parse().unwrap())
        })
        .collect()
}

fn owned(values: Enum8) -> Vec<(String, i8)> {
    values.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

#[test]
fn enum_lists_are_the_schemas() {
    let cases: &[(&str, &str, Enum8)] = &[
        ("events", "source_kind", SOURCE_KIND),
        ("watermarks", "source_kind", SOURCE_KIND),
        ("events", "payload_kind", PAYLOAD_KIND),
        ("events", "iis_target", IIS_TARGET),
        ("events", "httperr_target", IIS_TARGET),
        ("events", "iis_operation", SCEP_OPERATION),
        ("events", "android_operation", SCEP_OPERATION),
        ("events", "ios_operation", SCEP_OPERATION),
        ("events", "scep_message_type", SCEP_MESSAGE_TYPE),
        ("events", "scep_pki_status", SCEP_PKI_STATUS),
        ("events", "capi2_kind", CAPI2_KIND),
        ("events", "android_step", ANDROID_STEP),
        ("events", "ios_step", IOS_STEP),
        ("events", "probe_page", PROBE_PAGE),
        ("events", "health_fact", HEALTH_FACT),
        ("events", "cert_role", CERT_ROLE),
        ("events", "service_kind", SERVICE_KIND),
        ("health_facts", "fact_kind", FACT_KIND),
        ("health_facts", "cert_role", CERT_ROLE),
        ("health_facts", "service_kind", SERVICE_KIND),
    ];
    for (table, column, values) in cases {
        assert_eq!(
            owned(values),
            schema_enum(table, column),
            "{table}.{column}"
        );
    }
}

/// Protobuf value names without their type prefix, lower case, for every number the list
/// holds; and every value of the protobuf enum is listed.
fn assert_protobuf_names(
    values: Enum8,
    prefix: &str,
    name_of: impl Fn(i32) -> Option<&'static str>,
) {
    for (name, n) in values {
        let proto = name_of(i32::from(*n)).unwrap_or_else(|| panic!("{prefix}: no number {n}"));
        let expected = proto.strip_prefix(prefix).unwrap().to_ascii_lowercase();
        assert_eq!(*name, expected, "{proto}");
    }
    for n in -1..=127 {
        if let Some(proto) = name_of(n) {
            assert!(
                values.iter().any(|(_, v)| i32::from(*v) == n),
                "{proto} ({n}) is not in the schema"
            );
        }
    }
}

#[test]
fn protobuf_enums_keep_their_numbers_and_names() {
    fn name<E: TryFrom<i32>>(n: i32, f: impl Fn(E) -> &'static str) -> Option<&'static str> {
        E::try_from(n).ok().map(f)
    }
    assert_protobuf_names(IIS_TARGET, "IIS_TARGET_", |n| {
        name(n, |e: IisTarget| e.as_str_name())
    });
    assert_protobuf_names(SCEP_OPERATION, "SCEP_OPERATION_", |n| {
        name(n, |e: ScepOperation| e.as_str_name())
    });
    assert_protobuf_names(SCEP_MESSAGE_TYPE, "SCEP_MESSAGE_TYPE_", |n| {
        name(n, |e: ScepMessageType| e.as_str_name())
    });
    assert_protobuf_names(SCEP_PKI_STATUS, "SCEP_PKI_STATUS_", |n| {
        name(n, |e: ScepPkiStatus| e.as_str_name())
    });
    assert_protobuf_names(CAPI2_KIND, "CAPI2_KIND_", |n| {
        name(n, |e: Capi2Kind| e.as_str_name())
    });
    assert_protobuf_names(ANDROID_STEP, "ANDROID_STEP_", |n| {
        name(n, |e: AndroidStep| e.as_str_name())
    });
    assert_protobuf_names(IOS_STEP, "IOS_STEP_", |n| {
        name(n, |e: IosStep| e.as_str_name())
    });
    assert_protobuf_names(PROBE_PAGE, "PROBE_PAGE_", |n| {
        name(n, |e: ProbePage| e.as_str_name())
    });
    assert_protobuf_names(CERT_ROLE, "CERT_ROLE_", |n| {
        name(n, |e: CertRole| e.as_str_name())
    });
    assert_protobuf_names(SERVICE_KIND, "KIND_", |n| {
        name(n, |e: service_state_fact::Kind| e.as_str_name())
    });
    // source_kind: the same numbers, the report's names (Evidence.kind).
    for (name, n) in SOURCE_KIND {
        let proto = SourceKind::try_from(i32::from(*n)).unwrap().as_str_name();
        let expected = proto
            .strip_prefix("SOURCE_KIND_")
            .unwrap()
            .to_ascii_lowercase()
            .replace('_', "-");
        assert_eq!(*name, expected);
    }
}

/// The schema's names of an analyzer enum are the report's (serde) names, numbered from 1 in
/// the Rust order.
fn assert_model_enum<T: serde::Serialize + Ord + Copy>(
    table: &str,
    column: &str,
    all: &[T],
    number: impl Fn(T) -> i8,
) {
    let mut sorted = all.to_vec();
    sorted.sort();
    let from_model: Vec<(String, i8)> = sorted
        .iter()
        .map(|v| {
            let name = serde_json::to_value(v).unwrap();
            (name.as_str().unwrap().to_string(), number(*v))
        })
        .collect();
    let expected: Vec<(String, i8)> = (1..)
        .zip(&from_model)
        .map(|(n, (name, _))| (name.clone(), n))
        .collect();
    assert_eq!(from_model, expected, "{table}.{column}: numbered from 1");
    assert_eq!(from_model, schema_enum(table, column), "{table}.{column}");
}

#[test]
fn analyzer_enums_are_numbered_from_one_with_the_reports_names() {
    use Severity::*;
    let severities = [Info, Warning, Error, Critical];
    for (table, column) in [
        ("attempts", "severity"),
        ("diagnoses", "severity"),
        ("incidents", "severity"),
    ] {
        assert_model_enum(table, column, &severities, result::severity);
    }
    for s in severities {
        assert_eq!(serde_json::to_value(s).unwrap(), s.name());
    }
    assert_model_enum(
        "attempts",
        "join_method",
        &[
            JoinMethod::TransactionId,
            JoinMethod::Fallback,
            JoinMethod::DeviceOnly,
            JoinMethod::ServerOnly,
        ],
        result::join_method,
    );
    assert_model_enum(
        "attempts",
        "confidence",
        &[Confidence::Low, Confidence::Medium, Confidence::High],
        result::confidence,
    );
    assert_model_enum(
        "attempts",
        "platform",
        &[
            Platform::Android,
            Platform::Ios,
            Platform::Windows,
            Platform::Unknown,
        ],
        result::platform,
    );
    assert_model_enum(
        "attempts",
        "side",
        &[Side::Device, Side::Server, Side::Probe],
        result::side,
    );
    // Scope carries its ID: the numbers and the report's `kind` names.
    let scopes = [
        (Scope::Attempt("a".into()), "attempt"),
        (Scope::Server("s".into()), "server"),
        (Scope::Endpoint("e".into()), "endpoint"),
    ];
    let numbered: Vec<(String, i8)> = scopes
        .iter()
        .map(|(s, name)| {
            assert_eq!(serde_json::to_value(s).unwrap()["kind"], *name);
            (name.to_string(), result::scope(s).0)
        })
        .collect();
    assert_eq!(numbered, schema_enum("diagnoses", "scope_kind"));
    assert_eq!(
        numbered[1..].to_vec(),
        schema_enum("incidents", "scope_kind"),
        "incidents.scope_kind uses the numbers of diagnoses.scope_kind"
    );
}
