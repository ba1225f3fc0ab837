//! SCEP endpoint IDs.
//!
//! Servers behind one SCEP URL (a load balancer, an application proxy publication) form one
//! endpoint, and every event of an endpoint carries the same ID, which is also its Kafka key.
//! The ID is the URL normalised: scheme and host lower-cased, default port dropped, query and
//! fragment dropped, the `/pkiclient.exe` suffix and trailing slashes removed, path lower-cased
//! (IIS paths are case-insensitive). A URL without a scheme is taken as `https`.

/// Suffix some clients append to the mscep.dll path.
const PKICLIENT_SUFFIX: &str = "/pkiclient.exe";

/// The endpoint ID of a SCEP URL, e.g.
/// `HTTPS://NDES-contoso.msappproxy.net:443/certsrv/mscep/mscep.dll/pkiclient.exe?operation=GetCACaps`
/// → `https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll`.
///
/// Returns `None` when `url` has no host.
pub fn normalize(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = match url.find("://") {
        Some(i) => (url[..i].to_ascii_lowercase(), &url[i + 3..]),
        None => ("https".to_string(), url),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    // Drop userinfo.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return None;
    }
    let mut host = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    if let Some(p) = default_port {
        if host.ends_with(p) {
            host.truncate(host.len() - p.len());
        }
    }
    let mut path = path.to_ascii_lowercase();
    while path.ends_with('/') {
        path.pop();
    }
    if path.ends_with(PKICLIENT_SUFFIX) {
        path.truncate(path.len() - PKICLIENT_SUFFIX.len());
    }
    Some(format!("{scheme}://{host}{path}"))
}

/// The host part of an endpoint ID or URL, lower-cased.
pub fn host(url: &str) -> Option<String> {
    let n = normalize(url)?;
    let after = n.split_once("://").map(|(_, r)| r).unwrap_or(&n);
    let authority = after.split('/').next().unwrap_or(after);
    let host = match authority.rfind(':') {
        // Leave bracketed IPv6 literals whole.
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    };
    Some(host.to_string())
}

/// True when the URL is published through Microsoft Entra application proxy.
pub fn is_app_proxy(url: &str) -> bool {
    host(url).is_some_and(|h| h.ends_with(".msappproxy.net"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_port_query_and_pkiclient() {
        assert_eq!(
            normalize("HTTPS://NDES-contoso.msappproxy.net:443/certsrv/mscep/mscep.dll/pkiclient.exe?operation=GetCACaps&message=ca").as_deref(),
            Some("https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll")
        );
        assert_eq!(
            normalize("https://ndes.contoso.com/certsrv/mscep/mscep.dll/").as_deref(),
            Some("https://ndes.contoso.com/certsrv/mscep/mscep.dll")
        );
        assert_eq!(
            normalize("ndes.contoso.com:8443/CertSrv/mscep/mscep.dll").as_deref(),
            Some("https://ndes.contoso.com:8443/certsrv/mscep/mscep.dll")
        );
        assert_eq!(normalize("https:///x"), None);
        assert_eq!(normalize(""), None);
    }

    #[test]
    fn app_proxy_by_host() {
        assert!(is_app_proxy(
            "https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
        ));
        assert!(!is_app_proxy(
            "https://contoso.com/certsrv/mscep/mscep.dll?x=msappproxy.net"
        ));
        assert_eq!(host("https://[::1]:8443/x").as_deref(), Some("[::1]"));
    }
}
