//! Collector authentication: a bearer token per collector, stored as its SHA-256.
//!
//! A collector opens its stream with `authorization: Bearer <token>` and, optionally,
//! `x-scepwatch-collector: <name>` (which makes a wrong token show up in the logs under the
//! collector's name). The ingestor keeps only the SHA-256 of each token and compares digests in
//! constant time, without an early exit, against every configured collector.
//!
//! Why SHA-256 and not a password hash (argon2, bcrypt): the tokens are long random secrets
//! (≥ 32 bytes from a CSPRNG), not passwords a person chose. Guessing one from its digest means
//! searching 2^256 values; a slow hash adds nothing to that, and it would cost tens of
//! milliseconds of CPU on every stream opened, which 1,000 collectors reconnecting at once turn
//! into an outage. `hash-token` refuses tokens shorter than [`MIN_TOKEN_LEN`].

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;

/// Metadata key naming the collector (optional).
pub const COLLECTOR_HEADER: &str = "x-scepwatch-collector";

/// Shortest token `hash-token` accepts, in bytes.
pub const MIN_TOKEN_LEN: usize = 32;

/// SHA-256 of a collector token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    /// The digest of `token`.
    pub fn of(token: &str) -> Self {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }

    /// Parses 64 hexadecimal digits (either case).
    pub fn from_hex(hex: &str) -> Result<Self, BadDigest> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return Err(BadDigest(hex.len()));
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = nibble(pair[0]).ok_or(BadDigest(hex.len()))?;
            let lo = nibble(pair[1]).ok_or(BadDigest(hex.len()))?;
            *o = hi << 4 | lo;
        }
        Ok(TokenDigest(out))
    }

    /// Lower-case hex, the form the configuration holds.
    pub fn to_hex(&self) -> String {
        scepwatch_proto::event_id_hex(&self.0)
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &TokenDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({})", self.to_hex())
    }
}

/// A `token_sha256` value that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("must be the 64 hex digits of a SHA-256 (`scepwatch-ingestor hash-token` prints it), got {0} characters or a non-hex digit")]
pub struct BadDigest(usize);

impl<'de> Deserialize<'de> for TokenDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TokenDigest::from_hex(s.trim()).map_err(serde::de::Error::custom)
    }
}

/// The stored form of a token typed or piped in: strips one trailing newline (`echo`), refuses
/// short tokens.
pub fn hash_token_input(input: &str) -> Result<TokenDigest, WeakToken> {
    let token = input
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(input);
    if token.len() < MIN_TOKEN_LEN {
        return Err(WeakToken(token.len()));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(WeakToken(token.len()));
    }
    Ok(TokenDigest::of(token))
}

/// A token too short (or with whitespace) to be a random secret.
#[derive(Debug, thiserror::Error)]
#[error("a token must be at least {MIN_TOKEN_LEN} characters of a random secret without spaces (got {0}); make one with `openssl rand -base64 32`")]
pub struct WeakToken(usize);

/// Why a stream was refused. Every variant ends as gRPC `UNAUTHENTICATED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` metadata.
    #[error("missing `authorization: Bearer <token>` metadata")]
    MissingToken,
    /// `authorization` is not `Bearer <token>`.
    #[error("`authorization` metadata must be `Bearer <token>`")]
    Malformed,
    /// `x-scepwatch-collector` names no configured collector.
    #[error("unknown collector `{0}`")]
    UnknownCollector(String),
    /// The token is not the named collector's.
    #[error("wrong token for collector `{0}`")]
    WrongToken(String),
    /// No collector name was given and the token is nobody's.
    #[error("the token matches no configured collector")]
    UnknownToken,
}

impl AuthError {
    /// Metric label of the reason.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::Malformed => "malformed_token",
            AuthError::UnknownCollector(_) => "unknown_collector",
            AuthError::WrongToken(_) => "wrong_token",
            AuthError::UnknownToken => "unknown_token",
        }
    }
}

/// The configured collectors and their token digests.
#[derive(Debug, Clone)]
pub struct Authenticator {
    collectors: Vec<(Arc<str>, TokenDigest)>,
}

impl Authenticator {
    /// From (name, digest) pairs.
    pub fn new(collectors: impl IntoIterator<Item = (String, TokenDigest)>) -> Self {
        Authenticator {
            collectors: collectors
                .into_iter()
                .map(|(n, d)| (Arc::from(n), d))
                .collect(),
        }
    }

    /// Names of the configured collectors.
    pub fn names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.collectors.iter().map(|(n, _)| n)
    }

    /// The collector the stream's metadata authenticates.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Arc<str>, AuthError> {
        let header = metadata
            .get("authorization")
            .ok_or(AuthError::MissingToken)?;
        let value = header.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthError::Malformed);
        }
        let claimed = match metadata.get(COLLECTOR_HEADER) {
            Some(v) => Some(v.to_str().map_err(|_| AuthError::Malformed)?),
            None => None,
        };
        self.check(claimed, token)
    }

    /// Checks `token` (and the claimed name, if any).
    pub fn check(&self, claimed: Option<&str>, token: &str) -> Result<Arc<str>, AuthError> {
        let digest = TokenDigest::of(token);
        // Compare against every collector, keeping the match without branching early, so the
        // time taken does not depend on which (if any) collector matched.
        let mut found: Option<&Arc<str>> = None;
        for (name, stored) in &self.collectors {
            if stored.matches(&digest) {
                found = Some(name);
            }
        }
        match (claimed, found) {
            (Some(claimed), Some(name)) if &**name == claimed => Ok(name.clone()),
            (Some(claimed), _) => {
                if self.collectors.iter().any(|(n, _)| &**n == claimed) {
                    Err(AuthError::WrongToken(claimed.to_owned()))
                } else {
                    Err(AuthError::UnknownCollector(truncate(claimed)))
                }
            }
            (None, Some(name)) => Ok(name.clone()),
            (None, None) => Err(AuthError::UnknownToken),
        }
    }
}

/// Names from the network are cut before they reach logs.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "q8Zr0mW3xv9KfJ2pL7tYc4NbH6sDgA1eUoRiVkXz5Ew=";

    fn auth() -> Authenticator {
        Authenticator::new([
            ("ndes01".to_string(), TokenDigest::of(TOKEN)),
            (
                "ndes02".to_string(),
                TokenDigest::of("another-long-random-token-for-ndes02-xxxxxxxx"),
            ),
        ])
    }

    fn md(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut m = MetadataMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn digest_is_sha256_hex_of_the_token() {
        // sha256("test")
        assert_eq!(
            TokenDigest::of("test").to_hex(),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        let d = TokenDigest::of(TOKEN);
        assert_eq!(TokenDigest::from_hex(&d.to_hex()).unwrap(), d);
        assert_eq!(
            TokenDigest::from_hex(&d.to_hex().to_uppercase()).unwrap(),
            d
        );
        assert!(TokenDigest::from_hex("abc").is_err());
        assert!(TokenDigest::from_hex(&"g".repeat(64)).is_err());
    }

    #[test]
    fn hash_token_input_strips_one_newline_and_refuses_short_tokens() {
        assert_eq!(
            hash_token_input(&format!("{TOKEN}\n")).unwrap(),
            TokenDigest::of(TOKEN)
        );
        assert_eq!(
            hash_token_input(&format!("{TOKEN}\r\n")).unwrap(),
            TokenDigest::of(TOKEN)
        );
        assert_eq!(hash_token_input(TOKEN).unwrap(), TokenDigest::of(TOKEN));
        assert!(hash_token_input("password123\n").is_err());
        assert!(hash_token_input(&format!("{TOKEN} {TOKEN}")).is_err());
    }

    #[test]
    fn bearer_token_authenticates_its_collector() {
        let a = auth();
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(
            &*a.authenticate(&md(&[("authorization", &bearer)])).unwrap(),
            "ndes01"
        );
        assert_eq!(
            &*a.authenticate(&md(&[
                ("authorization", &bearer),
                (COLLECTOR_HEADER, "ndes01")
            ]))
            .unwrap(),
            "ndes01"
        );
        let lower = format!("bearer {TOKEN}");
        assert!(a.authenticate(&md(&[("authorization", &lower)])).is_ok());
    }

    #[test]
    fn refusals_say_why() {
        let a = auth();
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(a.authenticate(&md(&[])), Err(AuthError::MissingToken));
        assert_eq!(
            a.authenticate(&md(&[("authorization", TOKEN)])),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            a.authenticate(&md(&[("authorization", "Basic dXNlcjpwYXNz")])),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            a.authenticate(&md(&[(
                "authorization",
                "Bearer wrong-token-wrong-token-wrong-token"
            )])),
            Err(AuthError::UnknownToken)
        );
        assert_eq!(
            a.authenticate(&md(&[
                ("authorization", &bearer),
                (COLLECTOR_HEADER, "ndes02")
            ])),
            Err(AuthError::WrongToken("ndes02".into()))
        );
        assert_eq!(
            a.authenticate(&md(&[
                ("authorization", &bearer),
                (COLLECTOR_HEADER, "ndes99")
            ])),
            Err(AuthError::UnknownCollector("ndes99".into()))
        );
    }
}
