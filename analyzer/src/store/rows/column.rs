//! Conversions of single values into their column types: times, enums, hex.
//!
//! The rules are the schema's conventions (`docs/clickhouse.md`, "Conventions"):
//! `DateTime('UTC')` holds whole seconds from 1970-01-01 00:00:00 to 2106-02-07 06:28:15 (a
//! `u32`), with the microseconds within the second in a `<name>_micros` column where sub-second
//! order matters; `Enum8` columns of protobuf enums hold the protobuf number, 0 for a number the
//! schema does not list.

use scepwatch_proto::time::US_PER_SEC;

/// Microseconds since the epoch as (seconds, microseconds within the second) when the seconds
/// fit a `DateTime` column; `None` outside 1970-01-01 00:00:00 ..= 2106-02-07 06:28:15.
pub(crate) fn split_time(us: i64) -> Option<(u32, u32)> {
    let secs = u32::try_from(us.div_euclid(US_PER_SEC)).ok()?;
    let micros = u32::try_from(us.rem_euclid(US_PER_SEC)).ok()?;
    Some((secs, micros))
}

/// [`split_time`], with a time outside the range clamped to its nearest end: before 1970 gives
/// (0, 0), after 2106-02-07 06:28:15 gives that second and 999999 µs, so clamping never
/// reorders two times.
pub(crate) fn clamp_time(us: i64) -> (u32, u32) {
    split_time(us).unwrap_or(if us < 0 { (0, 0) } else { (u32::MAX, 999_999) })
}

/// Seconds of a time that lives in a `DateTime` column without microseconds, clamped into the
/// range.
pub(crate) fn clamp_secs(us: i64) -> u32 {
    clamp_time(us).0
}

/// A payload time (certificate validity, password expiry) for a `Nullable(DateTime('UTC'))`
/// column: `None` when the event says 0 (absent), else the seconds clamped into the range.
pub(crate) fn payload_time(us: i64) -> Option<u32> {
    (us != 0).then(|| clamp_secs(us))
}

/// A time in microseconds as a `version` (`UInt64`): 0 when negative.
pub(crate) fn version_of(us: i64) -> u64 {
    u64::try_from(us).unwrap_or(0)
}

/// The values an `Enum8` column lists: (name, number), in the schema's order.
pub(crate) type Enum8 = &'static [(&'static str, i8)];

/// The number to write into an `Enum8` column for the protobuf number `n`: `n` when the column
/// lists it, else 0 (the schema's `unspecified` / `none`).
pub(crate) fn enum8(values: Enum8, n: i32) -> i8 {
    values
        .iter()
        .find(|(_, v)| i32::from(*v) == n)
        .map_or(0, |(_, v)| *v)
}

/// The name of the value [`enum8`] writes for `n`.
pub(crate) fn enum8_name(values: Enum8, n: i32) -> &'static str {
    let v = enum8(values, n);
    values
        .iter()
        .find(|(_, x)| *x == v)
        .map_or("", |(name, _)| name)
}

/// `true` / `false` as a `UInt8` column.
pub(crate) fn flag(b: bool) -> u8 {
    u8::from(b)
}

/// Lower-case hex of bytes (event IDs, SCEP nonces).
pub(crate) fn hex(bytes: &[u8]) -> String {
    scepwatch_proto::event_id_hex(bytes)
}

/// `source_kind` (events, watermarks): the report's kind names.
pub(crate) const SOURCE_KIND: Enum8 = &[
    ("unspecified", 0),
    ("iis", 1),
    ("httperr", 2),
    ("event-log", 3),
    ("setup-msi", 4),
    ("android-omadm", 5),
    ("ios-console", 6),
    ("probe", 7),
    ("health", 8),
];

/// `events.payload_kind`: the numbers of the `Event.payload` oneof fields.
pub(crate) const PAYLOAD_KIND: Enum8 = &[
    ("none", 0),
    ("iis", 10),
    ("httperr", 11),
    ("app_crash", 12),
    ("capi2", 13),
    ("windows_scep", 14),
    ("connector_install", 15),
    ("android", 16),
    ("ios", 17),
    ("probe", 18),
    ("health", 19),
];

/// `iis_target`, `httperr_target` (`IisTarget`).
pub(crate) const IIS_TARGET: Enum8 = &[
    ("unspecified", 0),
    ("mscep", 1),
    ("mscep_admin", 2),
    ("cert_registration_svc", 3),
    ("other", 4),
];

/// `iis_operation`, `android_operation`, `ios_operation` (`ScepOperation`).
pub(crate) const SCEP_OPERATION: Enum8 = &[
    ("unspecified", 0),
    ("get_ca_caps", 1),
    ("get_ca_cert", 2),
    ("pki_operation", 3),
    ("get_next_ca_cert", 4),
    ("other", 5),
];

/// `scep_message_type` (`ScepMessageType`, the RFC 8894 numbers).
pub(crate) const SCEP_MESSAGE_TYPE: Enum8 = &[
    ("unspecified", 0),
    ("cert_rep", 3),
    ("renewal_req", 17),
    ("pkcs_req", 19),
    ("cert_poll", 20),
    ("get_cert", 21),
    ("get_crl", 22),
];

/// `scep_pki_status` (`ScepPkiStatus`).
pub(crate) const SCEP_PKI_STATUS: Enum8 = &[
    ("unspecified", 0),
    ("success", 1),
    ("failure", 2),
    ("pending", 3),
];

/// `capi2_kind` (`Capi2Kind`).
pub(crate) const CAPI2_KIND: Enum8 = &[
    ("unspecified", 0),
    ("chain", 1),
    ("revocation", 2),
    ("retrieval", 3),
    ("time_validity", 4),
    ("other", 5),
];

/// `android_step` (`AndroidStep`).
pub(crate) const ANDROID_STEP: Enum8 = &[
    ("unspecified", 0),
    ("requests_pending", 1),
    ("enroll_start", 2),
    ("sending", 3),
    ("received", 4),
    ("encoding", 5),
    ("signing", 6),
    ("sending_pki_message", 7),
    ("error", 8),
];

/// `ios_step` (`IosStep`).
pub(crate) const IOS_STEP: Enum8 = &[
    ("unspecified", 0),
    ("url_request", 1),
    ("retrieve_issued", 2),
    ("sending_csr_get", 3),
    ("sending_csr_post", 4),
    ("error", 5),
];

/// `probe_page` (`ProbePage`).
pub(crate) const PROBE_PAGE: Enum8 = &[
    ("unspecified", 0),
    ("mscep_forbidden", 1),
    ("ndes_general_message", 2),
    ("app_proxy_cannot_display", 3),
    ("gateway_timeout", 4),
    ("service_unavailable", 5),
    ("internal_server_error", 6),
    ("uri_too_long", 7),
    ("other", 8),
    ("no_response", 9),
];

/// `events.health_fact`: the numbers of the `HealthFact.fact` oneof fields.
pub(crate) const HEALTH_FACT: Enum8 = &[
    ("none", 0),
    ("certificate", 1),
    ("request_limits", 2),
    ("service", 3),
    ("service_account", 4),
    ("iis_authentication", 5),
];

/// `health_facts.fact_kind`: [`HEALTH_FACT`] without `none`.
pub(crate) const FACT_KIND: Enum8 = &[
    ("certificate", 1),
    ("request_limits", 2),
    ("service", 3),
    ("service_account", 4),
    ("iis_authentication", 5),
];

/// `cert_role` (`CertRole`).
pub(crate) const CERT_ROLE: Enum8 = &[
    ("unspecified", 0),
    ("ra_encryption", 1),
    ("ra_signing", 2),
    ("ndes_policy", 3),
    ("root_store_intermediate", 4),
    ("other", 5),
];

/// `service_kind` (`ServiceStateFact.Kind`).
pub(crate) const SERVICE_KIND: Enum8 =
    &[("unspecified", 0), ("app_pool", 1), ("windows_service", 2)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_time_keeps_the_datetime_range() {
        assert_eq!(split_time(0), Some((0, 0)));
        assert_eq!(
            split_time(1_795_168_800_691_033),
            Some((1_795_168_800, 691_033))
        );
        assert_eq!(split_time(-1), None);
        let last = i64::from(u32::MAX) * US_PER_SEC + 999_999;
        assert_eq!(split_time(last), Some((u32::MAX, 999_999)));
        assert_eq!(split_time(last + 1), None);
        assert_eq!(split_time(i64::MIN), None);
        assert_eq!(split_time(i64::MAX), None);
    }

    #[test]
    fn clamping_never_reorders() {
        assert_eq!(clamp_time(-1), (0, 0));
        assert_eq!(clamp_time(i64::MIN), (0, 0));
        assert_eq!(clamp_time(i64::MAX), (u32::MAX, 999_999));
        // 9999-12-31T23:59:59Z, a certificate "valid forever".
        assert_eq!(clamp_secs(253_402_300_799_000_000), u32::MAX);
        assert_eq!(payload_time(0), None);
        assert_eq!(payload_time(-5), Some(0));
        assert_eq!(payload_time(1_000_000), Some(1));
    }

    #[test]
    fn unknown_enum_numbers_become_zero() {
        assert_eq!(enum8(SCEP_MESSAGE_TYPE, 19), 19);
        assert_eq!(enum8(SCEP_MESSAGE_TYPE, 18), 0);
        assert_eq!(enum8(SOURCE_KIND, 9), 0);
        assert_eq!(enum8(SOURCE_KIND, -3), 0);
        assert_eq!(enum8(SOURCE_KIND, 256 + 3), 0);
        assert_eq!(enum8_name(CERT_ROLE, 4), "root_store_intermediate");
        assert_eq!(enum8_name(CERT_ROLE, 77), "unspecified");
    }
}
