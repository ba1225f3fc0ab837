//! Rows 14, 15, 16: how far the device got, from its own log; and the device-side facts other
//! rules need (did it call the SCEP URL, which HTTP answers did it get, which errors).

use scepwatch_proto::v1::{AndroidStep, IosStep, ScepOperation};

use super::catalog;
use super::{contains_ci, operation_name, AttemptView, DeviceEvent, DevicePayload, Finding};
use crate::model::Platform;

/// An HTTP answer the device logged.
#[derive(Debug, Clone, Copy)]
pub struct HttpAnswer<'a> {
    /// HTTP status code.
    pub status: u32,
    /// The record that shows it.
    pub event: &'a DeviceEvent,
}

fn leading_status(text: &str) -> u32 {
    let digits: String = text
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    match digits.parse::<u32>() {
        Ok(n) if (100..=599).contains(&n) => n,
        _ => 0,
    }
}

/// HTTP status of a device record, 0 when it shows none.
pub fn http_status(e: &DeviceEvent) -> u32 {
    match &e.payload {
        DevicePayload::Android(a) => {
            if a.http_status_code != 0 {
                a.http_status_code
            } else {
                leading_status(&a.http_status)
            }
        }
        DevicePayload::Ios(i) => i.http_status_code,
        DevicePayload::Windows(_) => 0,
    }
}

/// Every HTTP answer the device logged, in time order.
pub fn http_answers<'a>(view: &'a AttemptView<'_>) -> Vec<HttpAnswer<'a>> {
    view.device_events
        .iter()
        .filter_map(|e| {
            let status = http_status(e);
            (status != 0).then_some(HttpAnswer { status, event: e })
        })
        .collect()
}

/// The error text of a device record, if it is an error.
pub fn error_text(e: &DeviceEvent) -> Option<&str> {
    match &e.payload {
        DevicePayload::Android(a) if !a.error.is_empty() => Some(&a.error),
        DevicePayload::Android(a) if a.step() == AndroidStep::Error => Some(&e.evidence.excerpt),
        DevicePayload::Ios(i) if !i.error.is_empty() => Some(&i.error),
        DevicePayload::Ios(i) if i.step() == IosStep::Error => Some(&e.evidence.excerpt),
        _ => None,
    }
}

/// True when the device shows an HTTP answer from something (a status, or an error page text).
pub fn got_http_answer(view: &AttemptView<'_>) -> bool {
    !http_answers(view).is_empty()
        || view.device_events.iter().any(|e| {
            error_text(e)
                .is_some_and(|t| contains_ci(t, "be displayed") || contains_ci(t, "gatewaytimeout"))
        })
}

/// The first record where the device called the SCEP URL (Android "Sending ... to", iOS "Performing
/// synchronous URL request", Windows event 36 naming the NDES URL).
pub fn first_contact<'a>(view: &'a AttemptView<'_>) -> Option<&'a DeviceEvent> {
    view.device_events.iter().find(|e| match &e.payload {
        DevicePayload::Android(a) => matches!(
            a.step(),
            AndroidStep::Sending | AndroidStep::Received | AndroidStep::SendingPkiMessage
        ),
        DevicePayload::Ios(i) => i.step() == IosStep::UrlRequest || !i.url.is_empty(),
        DevicePayload::Windows(w) => !w.ndes_url.is_empty(),
    })
}

/// One line describing what the device logged, for timelines and explanations.
pub fn step_label(e: &DeviceEvent) -> String {
    match &e.payload {
        DevicePayload::Android(a) => match a.step() {
            AndroidStep::RequestsPending => format!("There are {} requests", a.request_count),
            AndroidStep::EnrollStart => {
                if a.model_name.is_empty() {
                    "Trying to enroll certificate request".to_string()
                } else {
                    format!("Trying to enroll certificate request {}", a.model_name)
                }
            }
            AndroidStep::Sending => format!("Sending {}", op_or_request(a.operation())),
            AndroidStep::Received => {
                let status = if a.http_status.is_empty() {
                    a.http_status_code.to_string()
                } else {
                    a.http_status.clone()
                };
                format!("Received '{status}' for {}", op_or_request(a.operation()))
            }
            AndroidStep::Encoding => {
                let mut s = format!(
                    "Encoding {}",
                    if a.message_type.is_empty() {
                        "pkiMessage"
                    } else {
                        &a.message_type
                    }
                );
                if !a.transaction_id.is_empty() {
                    s.push_str(&format!(" (transId {})", a.transaction_id));
                }
                s
            }
            AndroidStep::Signing => {
                if a.signer_dn.is_empty() {
                    "Signing pkiMessage".to_string()
                } else {
                    format!("Signing pkiMessage with the key of {}", a.signer_dn)
                }
            }
            AndroidStep::SendingPkiMessage => "Sending the signed request (CMSSignedData)".into(),
            AndroidStep::Error => format!("Error: {}", error_text(e).unwrap_or("(no text)")),
            AndroidStep::Unspecified => "Android SCEP log line".to_string(),
        },
        DevicePayload::Ios(i) => match i.step() {
            IosStep::UrlRequest => format!("URL request {}", op_or_request(i.operation())),
            IosStep::RetrieveIssued => "Attempting to retrieve issued certificate".to_string(),
            IosStep::SendingCsrGet => "Sending CSR via GET".to_string(),
            IosStep::SendingCsrPost => "Sending CSR via POST".to_string(),
            IosStep::Error => {
                let mut s = format!("Error: {}", error_text(e).unwrap_or("(no text)"));
                if i.http_status_code != 0 {
                    s.push_str(&format!(" (HTTP {})", i.http_status_code));
                }
                s
            }
            IosStep::Unspecified => "iOS SCEP log line".to_string(),
        },
        DevicePayload::Windows(w) => {
            let mut s = "SCEP certificate request generated".to_string();
            if !w.ndes_url.is_empty() {
                s.push_str(&format!(" for {}", w.ndes_url));
            }
            s
        }
    }
}

fn op_or_request(op: ScepOperation) -> &'static str {
    operation_name(op)
}

/// Rows 14–16: how far the device got, listing the steps it logged.
pub fn progress(view: &AttemptView<'_>, out: &mut Vec<Finding>) {
    if view.device_events.is_empty() {
        return;
    }
    let code = match view.platform {
        Platform::Android => catalog::ANDROID_PROGRESS,
        Platform::Ios => catalog::IOS_PROGRESS,
        Platform::Windows => catalog::WINDOWS_REQUEST,
        Platform::Unknown => return,
    };
    let device = view.device_host.as_deref().unwrap_or("the device");
    let seen = if view.platform == Platform::Windows {
        windows_seen(view, device)
    } else {
        let steps: Vec<String> = dedup_labels(view.device_events.iter().map(step_label));
        let last = steps.last().cloned().unwrap_or_default();
        let errors = view.device_events.iter().filter_map(error_text).count();
        let mut s = format!("{device} logged: {}. Last step: {last}.", steps.join("; "));
        if errors > 0 {
            s.push_str(&format!(
                " It logged {errors} error(s) from its SCEP stack."
            ));
        }
        s
    };
    let evidence = key_events(view)
        .into_iter()
        .map(|e| {
            let mut ev = e.evidence.clone();
            ev.note = step_label(e);
            ev
        })
        .collect();
    let first = view
        .device_events
        .first()
        .map(|e| e.time_us)
        .unwrap_or(view.start_us);
    let last = view
        .device_events
        .last()
        .map(|e| e.time_us)
        .unwrap_or(view.end_us);
    out.push(
        Finding::new(code, seen)
            .with_evidence(evidence)
            .with_occurrences(view.device_events.len() as u64, first, last),
    );
}

fn windows_seen(view: &AttemptView<'_>, device: &str) -> String {
    let mut parts = Vec::new();
    for e in &view.device_events {
        if let DevicePayload::Windows(w) = &e.payload {
            let mut fields = Vec::new();
            for (name, value) in [
                ("NDES URL", &w.ndes_url),
                ("EKU", &w.enhanced_key_usage),
                ("container", &w.container_name),
                ("KSP", &w.ksp_setting),
                ("store", &w.store_location),
            ] {
                if !value.is_empty() {
                    fields.push(format!("{name} {value}"));
                }
            }
            parts.push(format!(
                "{}: certificate request generated ({})",
                super::when(e.time_us),
                fields.join(", ")
            ));
        }
    }
    format!("{device} logged event 36: {}.", parts.join("; "))
}

/// Consecutive duplicate labels folded as "label (×n)".
fn dedup_labels(labels: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for l in labels {
        match out.last_mut() {
            Some((prev, n)) if *prev == l => *n += 1,
            _ => out.push((l, 1)),
        }
    }
    out.into_iter()
        .map(|(l, n)| if n > 1 { format!("{l} (×{n})") } else { l })
        .collect()
}

/// The records that best show the device's progress: the catalog's key lines, then errors, then
/// the last record.
fn key_events<'a>(view: &'a AttemptView<'_>) -> Vec<&'a DeviceEvent> {
    let mut out: Vec<&DeviceEvent> = Vec::new();
    let push = |e: &'a DeviceEvent, out: &mut Vec<&'a DeviceEvent>| {
        if !out.iter().any(|x| std::ptr::eq(*x, e)) {
            out.push(e);
        }
    };
    for e in &view.device_events {
        let key = match &e.payload {
            DevicePayload::Android(a) => matches!(
                a.step(),
                AndroidStep::RequestsPending
                    | AndroidStep::Received
                    | AndroidStep::Signing
                    | AndroidStep::SendingPkiMessage
                    | AndroidStep::Error
            ),
            DevicePayload::Ios(i) => {
                i.operation() == ScepOperation::GetCaCert
                    || i.operation() == ScepOperation::PkiOperation
                    || matches!(
                        i.step(),
                        IosStep::RetrieveIssued
                            | IosStep::SendingCsrGet
                            | IosStep::SendingCsrPost
                            | IosStep::Error
                    )
            }
            DevicePayload::Windows(_) => true,
        };
        if key {
            push(e, &mut out);
        }
    }
    if let Some(last) = view.device_events.last() {
        push(last, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::catalog;
    use crate::rule::fixture::*;

    #[test]
    fn android_progress_lists_the_guide_steps() {
        let case = Case::android(vec![
            android_requests(at(5, 16, 8), 1),
            android_sending(at(5, 16, 9), ScepOperation::GetCaCaps),
            android_received(at(5, 16, 14), ScepOperation::GetCaCaps, "200 OK", 200),
            android_encoding(at(5, 16, 21), "251E592A777C82996C7CF96F3AAADCF996FC31FF"),
            android_signing(at(5, 16, 21), "CN=user"),
            android_sending_pki(at(5, 16, 22)),
        ]);
        let got = case.run();
        let f = only(&got, catalog::ANDROID_PROGRESS);
        assert!(f.seen.contains("There are 1 requests"), "{}", f.seen);
        assert!(
            f.seen.contains("Received '200 OK' for GetCACaps"),
            "{}",
            f.seen
        );
        assert!(f
            .seen
            .contains("Signing pkiMessage with the key of CN=user"));
        assert!(f.seen.contains("Last step: Sending the signed request"));
        assert!(!f.evidence.is_empty());
    }

    #[test]
    fn ios_progress_lists_the_guide_steps() {
        let case = Case::ios(vec![
            ios_url(at(18, 30, 53), ScepOperation::GetCaCert),
            ios_url(at(18, 30, 54), ScepOperation::GetCaCaps),
            ios_step(at(18, 30, 55), IosStep::RetrieveIssued),
            ios_step(at(18, 30, 55), IosStep::SendingCsrGet),
            ios_url(at(18, 30, 56), ScepOperation::PkiOperation),
        ]);
        let got = case.run();
        let f = only(&got, catalog::IOS_PROGRESS);
        assert!(f.seen.contains("URL request GetCACert"));
        assert!(f.seen.contains("Sending CSR via GET"));
        assert!(f.seen.contains("Last step: URL request PKIOperation"));
    }

    #[test]
    fn windows_event_36_names_the_ndes_url() {
        let case = Case::windows(vec![windows_36(
            at(9, 0, 0),
            "https://ndes.contoso.com/certsrv/mscep/mscep.dll/pkiclient.exe",
        )]);
        let got = case.run();
        let f = only(&got, catalog::WINDOWS_REQUEST);
        assert!(f
            .seen
            .contains("NDES URL https://ndes.contoso.com/certsrv/mscep/mscep.dll"));
        assert!(f.seen.contains("EKU (1.3.6.1.5.5.7.3.2)"));
    }

    #[test]
    fn server_only_attempt_has_no_device_progress() {
        let mut case = Case::server_only(vec![server_part(
            "ndes01",
            "ios",
            vec![class(ScepOperation::GetCaCert, 200, 0, 0, 1, at(1, 0, 0))],
        )]);
        case.platform = Platform::Unknown;
        assert!(none_of(&case.run(), catalog::IOS_PROGRESS));
        assert!(none_of(&case.run(), catalog::ANDROID_PROGRESS));
    }

    #[test]
    fn http_status_is_read_from_text_when_code_missing() {
        let e = android_received(
            at(1, 0, 0),
            ScepOperation::GetCaCaps,
            "504 Gateway Timeout",
            0,
        );
        assert_eq!(http_status(&e), 504);
        let e = android_received(at(1, 0, 0), ScepOperation::GetCaCaps, "OK", 0);
        assert_eq!(http_status(&e), 0);
    }
}
