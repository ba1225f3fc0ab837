//! User-agent families: the only part of the user agent both sides of an attempt can agree on.

use crate::model::Platform;

/// The family of a SCEP client's user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UaFamily {
    /// "Dalvik/2.1.0 (Linux; U; Android ...)" (jscep in the Company Portal).
    Android,
    /// "profiled/1.0 CFNetwork/... Darwin/..." and other Apple clients.
    Ios,
    /// "Mozilla/4.0 (compatible; Win32; NDES client)" and other Windows clients.
    Windows,
    /// Anything else (browsers, monitoring, the prober).
    Other,
}

impl UaFamily {
    /// "android", "ios", "windows" or "other".
    pub fn name(self) -> &'static str {
        match self {
            UaFamily::Android => "android",
            UaFamily::Ios => "ios",
            UaFamily::Windows => "windows",
            UaFamily::Other => "other",
        }
    }

    /// The family a device platform's requests show in IIS.
    pub fn of_platform(p: Platform) -> UaFamily {
        match p {
            Platform::Android => UaFamily::Android,
            Platform::Ios => UaFamily::Ios,
            Platform::Windows => UaFamily::Windows,
            Platform::Unknown => UaFamily::Other,
        }
    }
}

fn has(ua: &[u8], needle: &[u8]) -> bool {
    ua.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The family of `user_agent` (case-insensitive; Android is tested first because Android user
/// agents also name Linux and sometimes "Mozilla").
pub fn family(user_agent: &str) -> UaFamily {
    let ua = user_agent.as_bytes();
    if has(ua, b"Dalvik") || has(ua, b"Android") {
        UaFamily::Android
    } else if has(ua, b"profiled")
        || has(ua, b"CFNetwork")
        || has(ua, b"Darwin")
        || has(ua, b"iPhone")
        || has(ua, b"iPad")
    {
        UaFamily::Ios
    } else if has(ua, b"NDES client") || has(ua, b"Win32") || has(ua, b"Windows") {
        UaFamily::Windows
    } else {
        UaFamily::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_user_agents() {
        assert_eq!(
            family("Dalvik/2.1.0 (Linux; U; Android 5.0; P01M Build/LRX21V)"),
            UaFamily::Android
        );
        assert_eq!(
            family("profiled/1.0 CFNetwork/811.5.4 Darwin/16.6.0"),
            UaFamily::Ios
        );
        assert_eq!(
            family("Mozilla/4.0 (compatible; Win32; NDES client)"),
            UaFamily::Windows
        );
        assert_eq!(family("curl/8.0"), UaFamily::Other);
        assert_eq!(family(""), UaFamily::Other);
    }
}
