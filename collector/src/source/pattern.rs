//! The `include` patterns of a source and the folder walk that applies them.
//!
//! A pattern is a path relative to the source's root, `/` or `\` separated, whose components
//! may hold `*` (any run of characters) and `?` (one character), within that component only:
//! `W3SVC*/u_ex*.log`, `httperr*.log`, `*.evtx`. Names compare ASCII case-insensitively on
//! every platform, as Windows compares them. Nothing else (no `**`, no classes) is needed for
//! the folders the collector reads.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Why an `include` pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Nothing to match.
    #[error("pattern is empty")]
    Empty,
    /// Starts at a root or drive: patterns are relative to the source's root.
    #[error("pattern {0:?} is absolute; patterns are relative to the source's root")]
    Absolute(String),
    /// An empty, `.` or `..` component.
    #[error("pattern {0:?} has an empty, `.` or `..` component")]
    BadComponent(String),
}

/// A compiled `include` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<String>,
}

impl Pattern {
    /// Compile `text`.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        let bytes = text.as_bytes();
        let drive = bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic();
        if text.starts_with('/') || text.starts_with('\\') || drive {
            return Err(PatternError::Absolute(text.to_string()));
        }
        let parts: Vec<String> = text.split(['/', '\\']).map(str::to_string).collect();
        if parts.iter().any(|p| p.is_empty() || p == "." || p == "..") {
            return Err(PatternError::BadComponent(text.to_string()));
        }
        Ok(Pattern { parts })
    }

    /// Whether `rel` (components of a path relative to the root) matches.
    pub fn matches(&self, rel: &[&str]) -> bool {
        rel.len() == self.parts.len()
            && self
                .parts
                .iter()
                .zip(rel)
                .all(|(p, n)| component_matches(p, n))
    }
}

/// `*` and `?` glob match of one path component, ASCII case-insensitive.
pub fn component_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    // Where the last `*` was, and the name position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c.eq_ignore_ascii_case(&n[ni]) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A file the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `root` joined with the matching relative path.
    pub path: PathBuf,
    /// Size in bytes.
    pub len: u64,
    /// Modification time, when the platform gives one.
    pub modified: Option<SystemTime>,
}

/// The regular files under `root` that match any of `patterns`, sorted by path. Folders that
/// cannot be listed below the root are reported in `errors` and skipped; the root itself not
/// being listable is the returned error.
///
/// Size and modification time come from the folder listing, except for files the listing says
/// were modified at or after `hot_since` (or does not date), which are asked directly: on
/// Windows the listing's size and time of a file another process is writing lag behind (they
/// are updated when the writer closes or flushes it), and asking costs an open per file, too
/// much to do for years of old logs every round.
pub fn walk(
    root: &Path,
    patterns: &[Pattern],
    hot_since: Option<SystemTime>,
    errors: &mut Vec<(PathBuf, io::Error)>,
) -> io::Result<Vec<Found>> {
    let mut found = BTreeMap::new();
    // Listing the root once tells whether it is there at all.
    fs::read_dir(root)?;
    for pattern in patterns {
        walk_parts(root, &pattern.parts, hot_since, &mut found, errors);
    }
    Ok(found.into_values().collect())
}

fn walk_parts(
    dir: &Path,
    parts: &[String],
    hot_since: Option<SystemTime>,
    found: &mut BTreeMap<PathBuf, Found>,
    errors: &mut Vec<(PathBuf, io::Error)>,
) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            // A folder removed between two listings is not a problem.
            if e.kind() != io::ErrorKind::NotFound {
                errors.push((dir.to_path_buf(), e));
            }
            return;
        }
    };
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        if !component_matches(first, &name.to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        let listed = match entry.file_type() {
            // Followed to what it names.
            Ok(t) if t.is_symlink() => fs::metadata(&path),
            _ => entry.metadata(),
        };
        let Ok(mut meta) = listed else { continue };
        let hot = match (hot_since, meta.modified()) {
            (Some(since), Ok(m)) => m >= since,
            _ => true,
        };
        if hot && meta.is_file() {
            match fs::metadata(&path) {
                Ok(m) => meta = m,
                Err(_) => continue,
            }
        }
        if rest.is_empty() {
            if meta.is_file() {
                found.insert(
                    path.clone(),
                    Found {
                        path,
                        len: meta.len(),
                        modified: meta.modified().ok(),
                    },
                );
            }
        } else if meta.is_dir() {
            walk_parts(&path, rest, hot_since, found, errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_within_one_component() {
        assert!(component_matches("u_ex*.log", "u_ex261127.log"));
        assert!(component_matches("u_ex*.log", "U_EX261127.LOG"));
        assert!(component_matches("W3SVC*", "W3SVC1"));
        assert!(component_matches("httperr?.log", "httperr1.log"));
        assert!(!component_matches("httperr?.log", "httperr12.log"));
        assert!(component_matches("*", "anything"));
        assert!(component_matches("*.evtx", ".evtx"));
        assert!(!component_matches("*.evtx", "a.evtx.tmp"));
        assert!(component_matches("a*b*c", "aXbYbZc"));
        assert!(!component_matches("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn patterns_are_relative() {
        assert!(Pattern::parse("W3SVC*/u_ex*.log").is_ok());
        assert!(Pattern::parse(r"W3SVC*\u_ex*.log").is_ok());
        assert!(matches!(
            Pattern::parse("/var/log/*.log"),
            Err(PatternError::Absolute(_))
        ));
        assert!(matches!(
            Pattern::parse(r"C:\logs\*.log"),
            Err(PatternError::Absolute(_))
        ));
        assert!(matches!(
            Pattern::parse("../x"),
            Err(PatternError::BadComponent(_))
        ));
        assert!(matches!(Pattern::parse(""), Err(PatternError::Empty)));
        let p = Pattern::parse("W3SVC*/u_ex*.log").unwrap();
        assert!(p.matches(&["W3SVC2", "u_ex261128.log"]));
        assert!(!p.matches(&["u_ex261128.log"]));
    }
}
