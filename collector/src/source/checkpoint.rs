//! How far each stream has been read: the collector's only state about its sources.
//!
//! One entry per stream, keyed by what its watermarks carry: the source kind and the stream's
//! identity (its content fingerprint and the name of the folder of its path, or its path for
//! documents; see [`super::identity`]). The key is taken from the watermark alone because
//! watermarks are what travel through the spool and come back with the ingestor's
//! acknowledgement. An entry keeps the path where the stream was first seen, because that path
//! is part of the stream's `SourceId` and so of every event ID: a renamed file keeps producing
//! the IDs it produced before, and a resend after a crash is recognisable downstream.
//!
//! The file format has not changed since the folder became part of the key: the key is derived
//! from each entry's fingerprint and path when the file is loaded, so files written before load
//! as they are.
//!
//! Entries only move forward ([`Checkpoints::advance`] takes the maximum), so merging
//! acknowledged checkpoints with what is already spooled, in any order, gives the furthest
//! point taken. The file is JSON, written atomically (temporary file, fsync, rename, and on Unix
//! an fsync of the folder); a file that cannot be read back is an error, never an empty start,
//! because an empty start re-sends every log on the server.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scepwatch_proto::v1::{SourceId, Watermark};
use serde::{Deserialize, Serialize};

use super::identity::folder_key;

/// Value of the `format` field of a checkpoint file.
const FILE_FORMAT: &str = "scepwatch-collector-checkpoints";
/// The only version written and read.
const FILE_VERSION: u32 = 1;
/// Prefix of the key of a stream identified by its path (documents).
const PATH_KEY_PREFIX: &str = "path:";

/// Why checkpoints could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading, writing, syncing or renaming failed.
    #[error("checkpoint file {path}: cannot {action}: {source}")]
    Io {
        /// The file (or temporary file, or folder) concerned.
        path: PathBuf,
        /// What was being done: "read", "write", "sync", "rename".
        action: &'static str,
        /// The I/O error.
        source: io::Error,
    },
    /// The file exists but is not a checkpoint file this version can read.
    #[error("checkpoint file {path} is corrupt (line {line}, column {column}): {reason}; move it away to start over (every source is then read from its start)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Line of the problem (1-based; 0 when unknown).
        line: usize,
        /// Column of the problem (1-based; 0 when unknown).
        column: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Identifies one stream's entry: its source kind and its identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckpointKey {
    /// `SourceId.kind` (the `scepwatch.v1.SourceKind` value).
    pub kind: i32,
    /// The fingerprint (`SourceId.stream`), or `path:` and the path for streams identified by
    /// path.
    pub stream: String,
    /// For streams identified by content, the [`folder_key`] of `SourceId.path` (the folder
    /// the stream was first seen in, and never leaves): files with the same fingerprint in
    /// different site folders are different streams. Empty for streams identified by path.
    pub folder: String,
}

impl CheckpointKey {
    /// The key of the stream `id`.
    pub fn of(id: &SourceId) -> CheckpointKey {
        CheckpointKey::from_parts(id.kind, &id.stream, &id.path)
    }

    fn from_parts(kind: i32, stream: &str, path: &str) -> CheckpointKey {
        if stream.is_empty() {
            CheckpointKey {
                kind,
                stream: format!("{PATH_KEY_PREFIX}{path}"),
                folder: String::new(),
            }
        } else {
            CheckpointKey {
                kind,
                stream: stream.to_string(),
                folder: folder_key(Path::new(path)),
            }
        }
    }
}

/// How far one stream has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCheckpoint {
    /// Where the stream was first seen (`SourceId.path` of its events).
    pub path: String,
    /// `SourceId.stream`: the fingerprint, empty for streams identified by path.
    pub stream: String,
    /// Byte offset read up to; for documents, one past the highest record number (or offset)
    /// taken.
    pub position: u64,
    /// Earliest event time read (0: none yet).
    pub read_from_us: i64,
    /// Latest event time read (0: none yet).
    pub read_up_to_us: i64,
    /// When the stream's file was last known to exist.
    pub last_seen: SystemTime,
}

/// Per-stream read positions, loaded from and saved to one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints {
    entries: BTreeMap<CheckpointKey, StreamCheckpoint>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    format: String,
    version: u32,
    streams: Vec<EntryRepr>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryRepr {
    kind: i32,
    stream: String,
    path: String,
    position: u64,
    read_from_us: i64,
    read_up_to_us: i64,
    last_seen_ms: u64,
}

impl Checkpoints {
    /// No streams.
    pub fn new() -> Checkpoints {
        Checkpoints::default()
    }

    /// The checkpoints in `path`; a missing file is an empty set, an unreadable one an error.
    pub fn load(path: &Path) -> Result<Checkpoints, CheckpointError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Checkpoints::new()),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: path.to_path_buf(),
                    action: "read",
                    source,
                })
            }
        };
        let corrupt = |line, column, reason: String| CheckpointError::Corrupt {
            path: path.to_path_buf(),
            line,
            column,
            reason,
        };
        let repr: FileRepr = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(e.line(), e.column(), e.to_string()))?;
        if repr.format != FILE_FORMAT {
            return Err(corrupt(
                0,
                0,
                format!("format is {:?}, not {FILE_FORMAT:?}", repr.format),
            ));
        }
        if repr.version != FILE_VERSION {
            return Err(corrupt(
                0,
                0,
                format!(
                    "version {} (this collector reads version {FILE_VERSION})",
                    repr.version
                ),
            ));
        }
        let mut out = Checkpoints::new();
        for e in repr.streams {
            let key = CheckpointKey::from_parts(e.kind, &e.stream, &e.path);
            out.merge_entry(
                key,
                StreamCheckpoint {
                    path: e.path,
                    stream: e.stream,
                    position: e.position,
                    read_from_us: e.read_from_us,
                    read_up_to_us: e.read_up_to_us,
                    last_seen: UNIX_EPOCH + Duration::from_millis(e.last_seen_ms),
                },
            );
        }
        Ok(out)
    }

    /// Write the checkpoints to `path` atomically: a temporary file beside it, fsync, rename
    /// over `path`, and on Unix an fsync of the folder so the rename itself is durable.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let repr = FileRepr {
            format: FILE_FORMAT.to_string(),
            version: FILE_VERSION,
            streams: self
                .entries
                .iter()
                .map(|(k, v)| EntryRepr {
                    kind: k.kind,
                    stream: v.stream.clone(),
                    path: v.path.clone(),
                    position: v.position,
                    read_from_us: v.read_from_us,
                    read_up_to_us: v.read_up_to_us,
                    last_seen_ms: v
                        .last_seen
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                })
                .collect(),
        };
        let mut text = serde_json::to_vec_pretty(&repr).map_err(|e| CheckpointError::Io {
            path: path.to_path_buf(),
            action: "encode",
            source: io::Error::other(e),
        })?;
        text.push(b'\n');
        let mut tmp_name = path.as_os_str().to_os_string();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let io_err = |p: &Path, action: &'static str| {
            let p = p.to_path_buf();
            move |source| CheckpointError::Io {
                path: p,
                action,
                source,
            }
        };
        let mut f = File::create(&tmp).map_err(io_err(&tmp, "create"))?;
        f.write_all(&text).map_err(io_err(&tmp, "write"))?;
        f.sync_all().map_err(io_err(&tmp, "sync"))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io_err(path, "rename"))?;
        #[cfg(unix)]
        {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(dir, "sync"))?;
        }
        Ok(())
    }

    /// Take `wm` into account: the position and the latest event time only move forward, the
    /// first path is kept. The entry counts as seen now. A watermark without a source is
    /// ignored.
    pub fn advance(&mut self, wm: &Watermark) {
        self.advance_at(wm, SystemTime::now());
    }

    /// [`Checkpoints::advance`] with an explicit time for "last seen".
    pub fn advance_at(&mut self, wm: &Watermark, now: SystemTime) {
        let Some(id) = &wm.source else { return };
        let key = CheckpointKey::of(id);
        self.merge_entry(
            key,
            StreamCheckpoint {
                path: id.path.clone(),
                stream: id.stream.clone(),
                position: wm.position,
                read_from_us: wm.read_from_us,
                read_up_to_us: wm.read_up_to_us,
                last_seen: now,
            },
        );
    }

    fn merge_entry(&mut self, key: CheckpointKey, new: StreamCheckpoint) {
        match self.entries.get_mut(&key) {
            None => {
                self.entries.insert(key, new);
            }
            Some(e) => {
                e.position = e.position.max(new.position);
                e.read_up_to_us = e.read_up_to_us.max(new.read_up_to_us);
                e.read_from_us = match (e.read_from_us, new.read_from_us) {
                    (0, t) | (t, 0) => t,
                    (a, b) => a.min(b),
                };
                e.last_seen = e.last_seen.max(new.last_seen);
            }
        }
    }

    /// Note that the stream of `key` still exists at `now` (so it is not forgotten).
    pub fn touch(&mut self, key: &CheckpointKey, now: SystemTime) {
        if let Some(e) = self.entries.get_mut(key) {
            e.last_seen = e.last_seen.max(now);
        }
    }

    /// Drop the entries of streams last seen before `t`: files deleted (or rotated out of the
    /// patterns) longer ago than the retention. Returns how many were dropped.
    pub fn forget_older_than(&mut self, t: SystemTime) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.last_seen >= t);
        before - self.entries.len()
    }

    /// The entry of `key`.
    pub fn get(&self, key: &CheckpointKey) -> Option<&StreamCheckpoint> {
        self.entries.get(key)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&CheckpointKey, &StreamCheckpoint)> {
        self.entries.iter()
    }

    /// Number of streams.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no stream has a checkpoint.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wm(stream: &str, path: &str, position: u64, from: i64, to: i64) -> Watermark {
        Watermark {
            source: Some(SourceId {
                collector: "ndes01".into(),
                host: "NDES01".into(),
                kind: 1,
                path: path.into(),
                stream: stream.into(),
            }),
            endpoint_id: String::new(),
            read_from_us: from,
            read_up_to_us: to,
            position,
        }
    }

    #[test]
    fn advance_only_moves_forward() {
        let mut c = Checkpoints::new();
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        c.advance_at(
            &wm("00000000000000aa", "W3SVC1/u_ex261127.log", 500, 10, 20),
            t,
        );
        c.advance_at(&wm("00000000000000aa", "W3SVC1/renamed.log", 300, 5, 15), t);
        let key = CheckpointKey {
            kind: 1,
            stream: "00000000000000aa".into(),
            folder: "w3svc1".into(),
        };
        let e = c.get(&key).unwrap();
        assert_eq!(e.position, 500);
        assert_eq!(e.read_up_to_us, 20);
        assert_eq!(e.read_from_us, 5);
        assert_eq!(e.path, "W3SVC1/u_ex261127.log", "the first path is kept");
    }

    #[test]
    fn same_fingerprint_in_two_folders_is_two_entries() {
        let mut c = Checkpoints::new();
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        c.advance_at(
            &wm("00000000000000aa", "W3SVC1/u_ex261127.log", 500, 10, 20),
            t,
        );
        c.advance_at(
            &wm("00000000000000aa", "W3SVC2/u_ex261127.log", 300, 10, 15),
            t,
        );
        c.advance_at(
            &wm("00000000000000aa", "w3svc2/u_ex261127-1.log", 350, 10, 16),
            t,
        );
        assert_eq!(c.len(), 2);
        let positions: Vec<_> = c
            .iter()
            .map(|(k, e)| (k.folder.as_str(), e.position))
            .collect();
        assert_eq!(positions, vec![("w3svc1", 500), ("w3svc2", 350)]);
    }

    #[test]
    fn documents_are_keyed_by_path() {
        let mut c = Checkpoints::new();
        c.advance(&wm("", "a.evtx", 7, 0, 0));
        c.advance(&wm("", "b.evtx", 9, 0, 0));
        assert_eq!(c.len(), 2);
    }
}
