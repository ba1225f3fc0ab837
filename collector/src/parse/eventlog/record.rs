//! One event-log record, whatever shape it came in, and what scepwatch makes of it.
//!
//! Every shape (wevtutil XML, `ConvertTo-Xml`, Event Viewer text, `.evtx`) fills an
//! [`EventRecord`]; [`to_event`] then decides, in one place, which records become events:
//!
//! - Application log, provider `Application Error`, event 1000 → [`AppCrash`];
//! - `Microsoft-Windows-CAPI2/Operational` errors → [`Capi2Event`];
//! - `DeviceManagement-Enterprise-Diagnostics-Provider` event 36 → [`WindowsScepRequest`];
//! - everything else is [`Mapped::Ignored`].
//!
//! Structured data (`EventData`, `UserData`) wins over the rendered message, which is only
//! parsed for what the data lacks: exports without rendering info carry no message, and text
//! copies carry nothing but the message.

use scepwatch_proto::v1::event::Payload;
use scepwatch_proto::v1::{AppCrash, Capi2Event, Capi2Kind, Event, WindowsScepRequest};

use super::timestamp::RecordTime;
use crate::parse::SourceContext;

/// Longest message or field value kept from a record; longer ones are cut.
pub const MAX_TEXT: usize = 64 * 1024;

/// Most `EventData` items or `UserData` elements kept from one record.
pub const MAX_ITEMS: usize = 1024;

/// Longest text kept in a [`Capi2Event`] field.
const MAX_FIELD: usize = 1024;

/// One `<Data>` of `EventData` (or a property value of a `ConvertTo-Xml` record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataItem {
    /// The `Name` attribute; `None` for positional data (older manifests, classic events).
    pub name: Option<String>,
    /// The text content.
    pub value: String,
}

/// One element below `UserData` (CAPI2 events describe their work there as nested XML).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserNode {
    /// Depth below `UserData`: 1 is the provider's root element (`CertGetCertificateChain`).
    pub depth: u16,
    /// Local name of the element.
    pub name: String,
    /// Attributes by local name, in document order.
    pub attributes: Vec<(String, String)>,
    /// Direct text content.
    pub text: String,
}

impl UserNode {
    /// The value of attribute `name` (ASCII case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a record says, in any of the shapes. Empty strings mean "not present".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventRecord {
    /// Log name (`Application`, `Microsoft-Windows-CAPI2/Operational`, ...).
    pub channel: String,
    /// Provider name (`Application Error`, `Microsoft-Windows-CAPI2`, ...).
    pub provider: String,
    /// Event ID without qualifiers.
    pub event_id: Option<u32>,
    /// Level: 1 critical, 2 error, 3 warning, 4 information, 5 verbose.
    pub level: Option<u8>,
    /// `EventRecordID`, the record number within its log.
    pub record_id: Option<u64>,
    /// `TimeCreated`.
    pub time: Option<RecordTime>,
    /// Computer name.
    pub computer: String,
    /// Task display name (`Task Category`, `RenderingInfo/Task`).
    pub task: String,
    /// `EventData` items in document order.
    pub data: Vec<DataItem>,
    /// `UserData` elements in document order.
    pub user_data: Vec<UserNode>,
    /// The rendered message (`RenderingInfo/Message`, `Message` property, text description).
    pub message: String,
}

impl EventRecord {
    /// The level from its display name (`Error`, `Warning`, ...), as Event Viewer prints it.
    pub fn level_from_name(name: &str) -> Option<u8> {
        let n = name.trim();
        [
            ("critical", 1),
            ("error", 2),
            ("warning", 3),
            ("information", 4),
            ("verbose", 5),
        ]
        .into_iter()
        .find(|(k, _)| n.eq_ignore_ascii_case(k))
        .map(|(_, v)| v)
    }
}

/// Why a record that should have become an event could not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordProblem {
    /// The record has no event ID.
    NoEventId,
    /// The record is of interest but says nothing usable about when it happened.
    NoTime,
}

/// What one record became.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// An event of interest.
    Event(Box<Event>),
    /// A well-formed record scepwatch does not look at.
    Ignored,
    /// A record that could not be used.
    Failed(RecordProblem),
}

/// What kind of record this is, before any time is looked at.
enum Kind {
    AppCrash,
    Capi2,
    Scep36,
}

/// Map `record` to an event. `offset` is the record's byte offset in its stream (its
/// position when it has no record ID), `raw` its bytes (for the excerpt), `fallback_time`
/// the time to use when the record carries none (the `.evtx` record header's).
pub fn to_event(
    ctx: &SourceContext,
    record: &EventRecord,
    offset: u64,
    raw: &[u8],
    fallback_time: Option<RecordTime>,
) -> Mapped {
    let Some(event_id) = record.event_id else {
        return Mapped::Failed(RecordProblem::NoEventId);
    };
    let Some(kind) = classify(record, event_id) else {
        return Mapped::Ignored;
    };
    let payload = match kind {
        Kind::AppCrash => Payload::AppCrash(app_crash(record)),
        Kind::Capi2 => match capi2(record, event_id) {
            Some(c) => Payload::Capi2(c),
            None => return Mapped::Ignored,
        },
        Kind::Scep36 => match windows_scep(record) {
            Some(w) => Payload::WindowsScep(w),
            None => return Mapped::Ignored,
        },
    };
    let Some(time) = record.time.or(fallback_time) else {
        return Mapped::Failed(RecordProblem::NoTime);
    };
    let position = record.record_id.unwrap_or(offset);
    let mut event = ctx.envelope(position, time.to_utc(ctx.utc_offset_secs), raw);
    if let Payload::WindowsScep(w) = &payload {
        if let Some(endpoint) = scepwatch_proto::endpoint::normalize(&w.ndes_url) {
            event.endpoint_id = endpoint;
        }
    }
    event.payload = Some(payload);
    Mapped::Event(Box::new(event))
}

fn classify(record: &EventRecord, event_id: u32) -> Option<Kind> {
    let provider = record.provider.as_str();
    let channel = record.channel.as_str();
    let unnamed = provider.is_empty() && channel.is_empty();
    match event_id {
        1000 if provider.eq_ignore_ascii_case("Application Error")
            || (provider.is_empty() && record.message.contains("Faulting application name")) =>
        {
            Some(Kind::AppCrash)
        }
        36 if contains_ci(provider, "DeviceManagement-Enterprise-Diagnostics")
            || contains_ci(channel, "DeviceManagement-Enterprise-Diagnostics")
            || (unnamed && record.message.contains("SCEP:")) =>
        {
            Some(Kind::Scep36)
        }
        _ if contains_ci(provider, "Microsoft-Windows-CAPI2")
            || contains_ci(channel, "Microsoft-Windows-CAPI2") =>
        {
            Some(Kind::Capi2)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Application Error 1000
// ---------------------------------------------------------------------------------------------

/// `EventData` names of event 1000, and their order when the data are positional.
const APP_CRASH_FIELDS: [&str; 9] = [
    "AppName",
    "AppVersion",
    "AppTimeStamp",
    "ModuleName",
    "ModuleVersion",
    "ModuleTimeStamp",
    "ExceptionCode",
    "FaultingOffset",
    "ProcessId",
];

fn app_crash(record: &EventRecord) -> AppCrash {
    let mut values: [String; 9] = Default::default();
    let named = record.data.iter().any(|d| d.name.is_some());
    if named {
        for d in &record.data {
            let Some(name) = &d.name else { continue };
            if let Some(i) = APP_CRASH_FIELDS
                .iter()
                .position(|f| f.eq_ignore_ascii_case(name))
            {
                if let Some(slot) = values.get_mut(i) {
                    slot.clone_from(&d.value);
                }
            }
        }
    } else {
        for (slot, d) in values.iter_mut().zip(&record.data) {
            slot.clone_from(&d.value);
        }
    }
    let [app, app_version, _, module, module_version, _, code, offset, pid] = values;
    let mut crash = AppCrash {
        application: app,
        application_version: app_version,
        module,
        module_version,
        exception_code: hex_code(&code),
        fault_offset: hex_code(&offset),
        process_id: parse_number(&pid).unwrap_or(0),
    };
    fill_crash_from_message(&mut crash, &record.message);
    crash
}

/// Fill what the data lacked from the rendered message:
/// `Faulting application name: w3wp.exe, version: 8.5.9600.16384, time stamp: 0x5215df96`,
/// `Faulting module name: ntdll.dll, version: ...`, `Exception code: 0xc0000005`,
/// `Fault offset: 0x...`, `Faulting process id: 0x...`.
fn fill_crash_from_message(crash: &mut AppCrash, message: &str) {
    if message.is_empty() {
        return;
    }
    if let Some(line) = value_after(message, "Faulting application name:") {
        let (name, version) = name_and_version(line);
        fill(&mut crash.application, name);
        fill(&mut crash.application_version, version);
    }
    if let Some(line) = value_after(message, "Faulting module name:") {
        let (name, version) = name_and_version(line);
        fill(&mut crash.module, name);
        fill(&mut crash.module_version, version);
    }
    if crash.exception_code.is_empty() {
        if let Some(v) = value_after(message, "Exception code:") {
            crash.exception_code = hex_code(first_word(v));
        }
    }
    if crash.fault_offset.is_empty() {
        if let Some(v) = value_after(message, "Fault offset:") {
            crash.fault_offset = hex_code(first_word(v));
        }
    }
    if crash.process_id == 0 {
        if let Some(pid) =
            value_after(message, "Faulting process id:").and_then(|v| parse_number(first_word(v)))
        {
            crash.process_id = pid;
        }
    }
}

/// `w3wp.exe, version: 8.5.9600.16384, time stamp: 0x5215df96` → (`w3wp.exe`, `8.5.9600.16384`).
fn name_and_version(line: &str) -> (&str, &str) {
    let (name, rest) = match find_ci(line, ", version:") {
        Some(i) => (&line[..i], &line[i + ", version:".len()..]),
        None => (line, ""),
    };
    let version = match find_ci(rest, ", time stamp:") {
        Some(i) => &rest[..i],
        None => rest,
    };
    (name.trim(), version.trim())
}

/// `c0000005` or `0xC0000005` → `0xc0000005` (the message's spelling, which the data lack on
/// some systems); anything else as given, trimmed.
fn hex_code(code: &str) -> String {
    let c = code.trim();
    let digits = c
        .strip_prefix("0x")
        .or_else(|| c.strip_prefix("0X"))
        .unwrap_or(c);
    if !digits.is_empty() && digits.len() <= 16 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("0x{}", digits.to_ascii_lowercase())
    } else {
        c.to_string()
    }
}

/// `0x1a2c` (hex) or `6700` (decimal).
fn parse_number(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

// ---------------------------------------------------------------------------------------------
// CAPI2
// ---------------------------------------------------------------------------------------------

/// HRESULTs that say a certificate is outside its validity period.
const TIME_CODES: [&str; 2] = [
    "800B0101", // CERT_E_EXPIRED
    "800B0102", // CERT_E_VALIDITYPERIODNESTING
];

/// HRESULTs of revocation checking.
const REVOCATION_CODES: [&str; 6] = [
    "80092013", // CRYPT_E_REVOCATION_OFFLINE
    "80092012", // CRYPT_E_NO_REVOCATION_CHECK
    "80092010", // CRYPT_E_REVOKED
    "80092014", // CRYPT_E_NOT_IN_REVOCATION_DATABASE
    "800B010C", // CERT_E_REVOKED
    "800B010E", // CERT_E_REVOCATION_FAILURE
];

/// HRESULTs of network retrieval (WinINet / WinHTTP errors, HTTP statuses).
const RETRIEVAL_CODE_PREFIXES: [&str; 2] = [
    "80072", // HRESULT_FROM_WIN32(ERROR_INTERNET_*): name not resolved, cannot connect, timeout
    "80190", // HTTP status wrapped as an HRESULT (0x80190194 = 404)
];

fn capi2(record: &EventRecord, event_id: u32) -> Option<Capi2Event> {
    let nodes = &record.user_data;
    let root = nodes.iter().find(|n| n.depth == 1);
    let result = nodes.iter().find(|n| n.name == "Result");
    let mut error_code = result
        .and_then(|r| r.attribute("value"))
        .map(normalize_hresult)
        .unwrap_or_default();
    if error_code.is_empty() {
        // Revocation events name the error on each status instead.
        if let Some(code) = nodes
            .iter()
            .filter(|n| n.name == "RevocationStatus")
            .find_map(|n| n.attribute("error"))
        {
            error_code = normalize_hresult(code);
        }
    }
    let failed_code = !error_code.is_empty() && error_code.bytes().any(|b| b != b'0');
    let error_level = matches!(record.level, Some(1..=3));
    if !failed_code && !error_level {
        return None;
    }

    let mut result_text = result
        .map(|r| r.text.trim().to_string())
        .unwrap_or_default();
    if result_text.is_empty() && nodes.is_empty() {
        // A text copy without its XML: the description is all there is.
        result_text = record.message.trim().to_string();
    }
    let task = match root {
        Some(r) => r.name.clone(),
        None => record.task.trim().to_string(),
    };
    let url = nodes
        .iter()
        .find(|n| n.name.eq_ignore_ascii_case("URL") && !n.text.trim().is_empty())
        .map(|n| n.text.trim().to_string())
        .unwrap_or_default();
    let certificate = nodes
        .iter()
        .find(|n| n.name == "Certificate" && n.attribute("subjectName").is_some());
    let subject = certificate
        .and_then(|c| c.attribute("subjectName"))
        .unwrap_or_default()
        .to_string();
    let thumbprint = certificate
        .and_then(|c| c.attribute("fileRef"))
        .and_then(thumbprint_of_file_ref)
        .unwrap_or_default();
    let kind = capi2_kind(event_id, &task, &error_code, &result_text, nodes);
    Some(Capi2Event {
        event_id,
        kind: kind as i32,
        task: cut(task, MAX_FIELD),
        result: cut(result_text, MAX_FIELD),
        error_code,
        url: cut(url, MAX_FIELD),
        subject: cut(subject, MAX_FIELD),
        thumbprint,
    })
}

/// The kind of failure: a code or trust flag that says so first, then the task that failed.
fn capi2_kind(
    event_id: u32,
    task: &str,
    code: &str,
    result: &str,
    nodes: &[UserNode],
) -> Capi2Kind {
    let trust_flag = |flag: &str| {
        nodes.iter().any(|n| {
            n.name == "ErrorStatus"
                && n.attribute(flag)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        })
    };
    let retrieval_task = event_id == 53
        || contains_ci(task, "RetrieveObject")
        || contains_ci(task, "Retrieve Object");
    if retrieval_task {
        return Capi2Kind::Retrieval;
    }
    if TIME_CODES.contains(&code)
        || trust_flag("CERT_TRUST_IS_NOT_TIME_VALID")
        || contains_ci(result, "validity period")
    {
        return Capi2Kind::TimeValidity;
    }
    if REVOCATION_CODES.contains(&code)
        || trust_flag("CERT_TRUST_IS_OFFLINE_REVOCATION")
        || trust_flag("CERT_TRUST_REVOCATION_STATUS_UNKNOWN")
        || trust_flag("CERT_TRUST_IS_REVOKED")
        || contains_ci(result, "revocation")
        || matches!(event_id, 41 | 42)
        || contains_ci(task, "Revocation")
    {
        return Capi2Kind::Revocation;
    }
    if RETRIEVAL_CODE_PREFIXES.iter().any(|p| code.starts_with(p)) {
        return Capi2Kind::Retrieval;
    }
    if matches!(event_id, 11 | 30) || contains_ci(task, "Chain") {
        return Capi2Kind::Chain;
    }
    Capi2Kind::Other
}

/// `0x80092013`, `80092013`, ` 80092013 ` → `80092013` (upper-case hex, as CAPI2 prints it).
fn normalize_hresult(code: &str) -> String {
    let c = code.trim();
    let c = c
        .strip_prefix("0x")
        .or_else(|| c.strip_prefix("0X"))
        .unwrap_or(c);
    cut(c.to_ascii_uppercase(), 32)
}

/// CAPI2 names a certificate by the file it would dump it to: `<SHA-1 thumbprint>.cer`.
fn thumbprint_of_file_ref(file_ref: &str) -> Option<String> {
    let stem = file_ref.trim();
    let stem = stem.strip_suffix(".cer").unwrap_or(stem);
    (stem.len() == 40 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| stem.to_ascii_uppercase())
}

// ---------------------------------------------------------------------------------------------
// DeviceManagement event 36
// ---------------------------------------------------------------------------------------------

/// The labels of event 36's message, in message order.
const SCEP_LABELS: [&str; 5] = [
    "Enhanced Key Usage:",
    "NDES URL:",
    "Container Name:",
    "KSP Setting:",
    "Store Location:",
];

fn windows_scep(record: &EventRecord) -> Option<WindowsScepRequest> {
    let mut values: [String; 5] = Default::default();
    let named: Vec<(usize, &DataItem)> = record
        .data
        .iter()
        .filter_map(|d| scep_field_of_name(d.name.as_deref()?).map(|i| (i, d)))
        .collect();
    if named.is_empty() {
        // Positional, or names we do not know: the message's order.
        for (slot, d) in values.iter_mut().zip(&record.data) {
            slot.clone_from(&d.value);
        }
    } else {
        for (i, d) in named {
            if let Some(slot) = values.get_mut(i) {
                slot.clone_from(&d.value);
            }
        }
    }
    for (i, label) in SCEP_LABELS.iter().enumerate() {
        if let (Some(slot), Some(v)) = (
            values.get_mut(i),
            parenthesized_after(&record.message, label),
        ) {
            if slot.trim().is_empty() {
                *slot = v.to_string();
            }
        }
    }
    let [eku, url, container, ksp, store] = values.map(|v| cut(v.trim().to_string(), MAX_FIELD));
    if [&eku, &url, &container, &ksp, &store]
        .iter()
        .all(|v| v.is_empty())
        && !record.message.contains("SCEP")
    {
        return None;
    }
    let message = if record.message.trim().is_empty() {
        // Exports without rendering info: say it as Windows would.
        format!(
            "SCEP: Certificate request generated successfully. Enhanced Key Usage: ({eku}), NDES URL: ({url}), Container Name: ({container}), KSP Setting: ({ksp}), Store Location: ({store})."
        )
    } else {
        cut(record.message.trim().to_string(), MAX_TEXT)
    };
    Some(WindowsScepRequest {
        enhanced_key_usage: eku,
        ndes_url: url,
        container_name: container,
        ksp_setting: ksp,
        store_location: store,
        message,
    })
}

/// Which of event 36's values a `<Data Name=...>` holds, by the words in its name.
fn scep_field_of_name(name: &str) -> Option<usize> {
    let n: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    if n.contains("keyusage") || n.contains("eku") {
        Some(0)
    } else if n.contains("url") {
        Some(1)
    } else if n.contains("container") {
        Some(2)
    } else if n.contains("ksp") || n.contains("provider") {
        Some(3)
    } else if n.contains("store") {
        Some(4)
    } else {
        None
    }
}

/// The value in `LABEL (value)`: up to the `)` that ends the item (followed by `,`, `.`, white
/// space or the end), so URLs with parentheses stay whole.
fn parenthesized_after<'a>(message: &'a str, label: &str) -> Option<&'a str> {
    let i = find_ci(message, label)?;
    let rest = message[i + label.len()..].trim_start();
    let rest = rest.strip_prefix('(')?;
    let bytes = rest.as_bytes();
    let mut end = None;
    for (j, &b) in bytes.iter().enumerate() {
        if b == b')' {
            let next = bytes.get(j + 1);
            if matches!(
                next,
                None | Some(b',' | b'.' | b' ' | b'\r' | b'\n' | b'\t')
            ) {
                end = Some(j);
                break;
            }
        }
        if b == b'\n' {
            break;
        }
    }
    end.map(|j| &rest[..j])
}

// ---------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------

/// The rest of the line after `label` (ASCII case-insensitive), trimmed.
fn value_after<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let i = find_ci(text, label)?;
    let rest = &text[i + label.len()..];
    let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// Byte index of `needle` in `hay`, ignoring ASCII case. `needle` must be ASCII, so the index is
/// always on a character boundary.
pub(crate) fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return Some(0);
    }
    h.windows(n.len()).position(|w| w.eq_ignore_ascii_case(n))
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    find_ci(hay, needle).is_some()
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

fn fill(slot: &mut String, value: &str) {
    if slot.trim().is_empty() && !value.is_empty() {
        *slot = value.to_string();
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use scepwatch_proto::v1::{SourceId, SourceKind};

    fn ctx() -> SourceContext {
        SourceContext::new(
            SourceId {
                collector: "test".into(),
                host: "ndes01".into(),
                kind: SourceKind::EventLog as i32,
                path: "Application".into(),
                stream: String::new(),
            },
            0,
        )
    }

    fn utc_time() -> Option<RecordTime> {
        Some(RecordTime::Utc(1_795_000_000_000_000))
    }

    fn event(record: &EventRecord) -> Event {
        match to_event(&ctx(), record, 7, b"raw", None) {
            Mapped::Event(e) => *e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn crash_record() -> EventRecord {
        EventRecord {
            channel: "Application".into(),
            provider: "Application Error".into(),
            event_id: Some(1000),
            level: Some(2),
            record_id: Some(4242),
            time: utc_time(),
            ..Default::default()
        }
    }

    const CRASH_MESSAGE: &str = "Faulting application name: w3wp.exe, version: 8.5.9600.16384, time stamp: 0x5215df96\nFaulting module name: ntdll.dll, version: 6.3.9600.18821, time stamp: 0x59ba86db\nException code: 0xc0000005\nFault offset: 0x00000000000a4f2f\nFaulting process id: 0x1a2c\n";

    #[test]
    fn crash_from_positional_data() {
        let mut r = crash_record();
        r.data = [
            "w3wp.exe",
            "8.5.9600.16384",
            "5215df96",
            "ntdll.dll",
            "6.3.9600.18821",
            "59ba86db",
            "c0000005",
            "0x00000000000a4f2f",
            "0x1a2c",
        ]
        .into_iter()
        .map(|v| DataItem {
            name: None,
            value: v.into(),
        })
        .collect();
        let e = event(&r);
        assert_eq!(e.position, 4242, "record ID is the position");
        let Some(Payload::AppCrash(c)) = e.payload else {
            panic!()
        };
        assert_eq!(c.application, "w3wp.exe");
        assert_eq!(c.application_version, "8.5.9600.16384");
        assert_eq!(c.module, "ntdll.dll");
        assert_eq!(c.module_version, "6.3.9600.18821");
        assert_eq!(c.exception_code, "0xc0000005");
        assert_eq!(c.fault_offset, "0x00000000000a4f2f");
        assert_eq!(c.process_id, 0x1a2c);
    }

    #[test]
    fn crash_from_named_data_in_any_order() {
        let mut r = crash_record();
        r.data = [
            ("ProcessId", "6700"),
            ("AppName", "w3wp.exe"),
            ("ExceptionCode", "C0000005"),
            ("ModuleName", "ntdll.dll"),
            ("IntegratorReportId", "x"),
        ]
        .into_iter()
        .map(|(n, v)| DataItem {
            name: Some(n.into()),
            value: v.into(),
        })
        .collect();
        let Some(Payload::AppCrash(c)) = event(&r).payload else {
            panic!()
        };
        assert_eq!(c.application, "w3wp.exe");
        assert_eq!(c.module, "ntdll.dll");
        assert_eq!(c.exception_code, "0xc0000005");
        assert_eq!(c.process_id, 6700);
    }

    #[test]
    fn crash_from_message_only() {
        let mut r = crash_record();
        r.record_id = None;
        r.message = CRASH_MESSAGE.into();
        let e = event(&r);
        assert_eq!(e.position, 7, "byte offset without a record ID");
        let Some(Payload::AppCrash(c)) = e.payload else {
            panic!()
        };
        assert_eq!(c.application, "w3wp.exe");
        assert_eq!(c.application_version, "8.5.9600.16384");
        assert_eq!(c.module, "ntdll.dll");
        assert_eq!(c.exception_code, "0xc0000005");
        assert_eq!(c.fault_offset, "0x00000000000a4f2f");
        assert_eq!(c.process_id, 0x1a2c);
    }

    #[test]
    fn other_providers_and_ids_are_ignored() {
        let mut r = crash_record();
        r.provider = "Application Hang".into();
        assert_eq!(to_event(&ctx(), &r, 0, b"", None), Mapped::Ignored);
        let mut r = crash_record();
        r.event_id = Some(1001);
        assert_eq!(to_event(&ctx(), &r, 0, b"", None), Mapped::Ignored);
        let mut r = crash_record();
        r.event_id = None;
        assert_eq!(
            to_event(&ctx(), &r, 0, b"", None),
            Mapped::Failed(RecordProblem::NoEventId)
        );
    }

    #[test]
    fn interesting_record_without_time_fails_unless_a_fallback_is_given() {
        let mut r = crash_record();
        r.time = None;
        assert_eq!(
            to_event(&ctx(), &r, 0, b"", None),
            Mapped::Failed(RecordProblem::NoTime)
        );
        assert!(matches!(
            to_event(&ctx(), &r, 0, b"", utc_time()),
            Mapped::Event(_)
        ));
    }

    #[test]
    fn local_times_take_the_source_offset() {
        let mut c = ctx();
        c.utc_offset_secs = -3 * 3600;
        let mut r = crash_record();
        r.time = Some(RecordTime::Local(0));
        let Mapped::Event(e) = to_event(&c, &r, 0, b"", None) else {
            panic!()
        };
        assert_eq!(e.event_time_us, 3 * 3600 * 1_000_000);
    }

    fn node(depth: u16, name: &str, attrs: &[(&str, &str)], text: &str) -> UserNode {
        UserNode {
            depth,
            name: name.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            text: text.into(),
        }
    }

    fn capi2_record(event_id: u32, nodes: Vec<UserNode>) -> EventRecord {
        EventRecord {
            channel: "Microsoft-Windows-CAPI2/Operational".into(),
            provider: "Microsoft-Windows-CAPI2".into(),
            event_id: Some(event_id),
            level: Some(2),
            time: utc_time(),
            user_data: nodes,
            ..Default::default()
        }
    }

    fn capi2_of(r: &EventRecord) -> Capi2Event {
        match event(r).payload {
            Some(Payload::Capi2(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn capi2_chain_with_offline_revocation() {
        let r = capi2_record(
            11,
            vec![
                node(1, "CertGetCertificateChain", &[], ""),
                node(
                    2,
                    "Certificate",
                    &[
                        ("fileRef", "0123456789abcdef0123456789ABCDEF01234567.cer"),
                        ("subjectName", "ndes01.contoso.com"),
                    ],
                    "",
                ),
                node(
                    3,
                    "ErrorStatus",
                    &[("value", "1000040"), ("CERT_TRUST_IS_OFFLINE_REVOCATION", "true")],
                    "",
                ),
                node(
                    2,
                    "Result",
                    &[("value", "80092013")],
                    "The revocation function was unable to check revocation because the revocation server was offline.",
                ),
            ],
        );
        let c = capi2_of(&r);
        assert_eq!(c.kind, Capi2Kind::Revocation as i32);
        assert_eq!(c.task, "CertGetCertificateChain");
        assert_eq!(c.error_code, "80092013");
        assert_eq!(c.subject, "ndes01.contoso.com");
        assert_eq!(c.thumbprint, "0123456789ABCDEF0123456789ABCDEF01234567");
        assert!(c.result.starts_with("The revocation function"));
    }

    #[test]
    fn capi2_time_validity_beats_chain() {
        let r = capi2_record(
            30,
            vec![
                node(1, "CertVerifyCertificateChainPolicy", &[], ""),
                node(2, "Result", &[("value", "800B0101")], "A required certificate is not within its validity period when verifying against the current system clock or the timestamp in the signed file."),
            ],
        );
        assert_eq!(capi2_of(&r).kind, Capi2Kind::TimeValidity as i32);
    }

    #[test]
    fn capi2_retrieval_keeps_the_url() {
        let r = capi2_record(
            53,
            vec![
                node(1, "CryptRetrieveObjectByUrlWire", &[], ""),
                node(
                    2,
                    "URL",
                    &[("scheme", "http")],
                    "http://crl.contoso.com/pki/ContosoCA.crl",
                ),
                node(
                    2,
                    "Result",
                    &[("value", "80072EE7")],
                    "The server name or address could not be resolved",
                ),
            ],
        );
        let c = capi2_of(&r);
        assert_eq!(c.kind, Capi2Kind::Retrieval as i32);
        assert_eq!(c.url, "http://crl.contoso.com/pki/ContosoCA.crl");
        assert_eq!(c.error_code, "80072EE7");
    }

    #[test]
    fn capi2_unknown_shape_is_other_and_successes_are_ignored() {
        let r = capi2_record(
            99,
            vec![
                node(1, "SomethingNew", &[], ""),
                node(2, "Result", &[("value", "80004005")], "Unspecified error"),
            ],
        );
        assert_eq!(capi2_of(&r).kind, Capi2Kind::Other as i32);

        let mut ok = capi2_record(
            11,
            vec![
                node(1, "CertGetCertificateChain", &[], ""),
                node(2, "Result", &[("value", "0")], ""),
            ],
        );
        ok.level = Some(4);
        assert_eq!(to_event(&ctx(), &ok, 0, b"", None), Mapped::Ignored);
    }

    #[test]
    fn capi2_text_only_uses_task_category_and_description() {
        let mut r = capi2_record(53, Vec::new());
        r.task = "Retrieve Object from Network".into();
        r.message =
            "For more details for this event, please refer to the \"Details\" section".into();
        let c = capi2_of(&r);
        assert_eq!(c.kind, Capi2Kind::Retrieval as i32);
        assert_eq!(c.task, "Retrieve Object from Network");
        assert!(c.result.starts_with("For more details"));
    }

    const SCEP_MESSAGE: &str = "SCEP: Certificate request generated successfully. Enhanced Key Usage: (1.3.6.1.5.5.7.3.2), NDES URL: (https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll/pkiclient.exe), Container Name: (), KSP Setting: (0x2), Store Location: (0x1).";

    fn scep_record() -> EventRecord {
        EventRecord {
            channel: "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin"
                .into(),
            provider: "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider".into(),
            event_id: Some(36),
            level: Some(4),
            time: utc_time(),
            ..Default::default()
        }
    }

    fn scep_of(r: &EventRecord) -> (Event, WindowsScepRequest) {
        let e = event(r);
        match e.payload.clone() {
            Some(Payload::WindowsScep(w)) => (e, w),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scep36_from_message_sets_endpoint() {
        let mut r = scep_record();
        r.message = SCEP_MESSAGE.into();
        let (e, w) = scep_of(&r);
        assert_eq!(w.enhanced_key_usage, "1.3.6.1.5.5.7.3.2");
        assert_eq!(
            w.ndes_url,
            "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll/pkiclient.exe"
        );
        assert_eq!(w.container_name, "");
        assert_eq!(w.ksp_setting, "0x2");
        assert_eq!(w.store_location, "0x1");
        assert_eq!(w.message, SCEP_MESSAGE);
        assert_eq!(
            e.endpoint_id,
            "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
        );
    }

    #[test]
    fn scep36_from_named_and_positional_data() {
        let mut r = scep_record();
        r.data = [
            (
                "NdesUrl",
                "https://ndes.contoso.com/certsrv/mscep/mscep.dll",
            ),
            ("EnhancedKeyUsage", "1.3.6.1.5.5.7.3.2"),
            ("KspSetting", "0x2"),
            ("StoreLocation", "0x1"),
            ("ContainerName", ""),
        ]
        .into_iter()
        .map(|(n, v)| DataItem {
            name: Some(n.into()),
            value: v.into(),
        })
        .collect();
        let (e, w) = scep_of(&r);
        assert_eq!(
            w.ndes_url,
            "https://ndes.contoso.com/certsrv/mscep/mscep.dll"
        );
        assert_eq!(w.ksp_setting, "0x2");
        assert!(w
            .message
            .starts_with("SCEP: Certificate request generated successfully."));
        assert_eq!(
            e.endpoint_id,
            "https://ndes.contoso.com/certsrv/mscep/mscep.dll"
        );

        for d in &mut r.data {
            d.name = None;
        }
        let (_, w) = scep_of(&r);
        assert_eq!(
            w.enhanced_key_usage, "https://ndes.contoso.com/certsrv/mscep/mscep.dll",
            "positional data follow the message's order"
        );
    }

    #[test]
    fn scep36_unparseable_url_keeps_context_endpoint() {
        let mut c = ctx();
        c.endpoint_id = "configured".into();
        let mut r = scep_record();
        r.message =
            "SCEP: Certificate request generated successfully. NDES URL: (), KSP Setting: (0x2)."
                .into();
        let Mapped::Event(e) = to_event(&c, &r, 0, b"", None) else {
            panic!()
        };
        assert_eq!(e.endpoint_id, "configured");
    }

    #[test]
    fn event36_of_other_providers_is_ignored() {
        let mut r = scep_record();
        r.provider = "Microsoft-Windows-Kernel-Power".into();
        r.channel = "System".into();
        r.message = SCEP_MESSAGE.into();
        assert_eq!(to_event(&ctx(), &r, 0, b"", None), Mapped::Ignored);
    }

    #[test]
    fn parenthesized_values() {
        assert_eq!(
            parenthesized_after("A: (x (y)), B: ()", "A:"),
            Some("x (y)")
        );
        assert_eq!(parenthesized_after("A: (x", "A:"), None);
        assert_eq!(parenthesized_after("A: x", "A:"), None);
        assert_eq!(parenthesized_after("é A: (ü).", "a:"), Some("ü"));
    }
}
