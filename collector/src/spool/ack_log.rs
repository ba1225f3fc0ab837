//! The acknowledged head, persisted as an append-only log of checksummed entries.
//!
//! ```text
//! header (12 bytes): magic "SCWSPACK" | version u32
//! entry  (12 bytes): sequence u64 | CRC-32 of the sequence's 8 bytes
//! ```
//!
//! An acknowledgement appends one entry (one `fdatasync` under [`Fsync::Always`]); on open the
//! last entry that checks out wins, so a torn last entry only loses that acknowledgement (its
//! records are sent again, which the ingestor recognises by their event IDs). The log is
//! rewritten with a single entry at open and whenever it reaches [`COMPACT_AFTER`] entries:
//! written to a temporary file, synced, renamed over the log, then the directory synced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{sync_dir, Fsync};

/// Name of the log in the spool directory.
pub(super) const ACK_LOG: &str = "ack.log";
/// Name of the temporary file the log is rewritten through.
pub(super) const ACK_LOG_TMP: &str = "ack.log.tmp";
const MAGIC: [u8; 8] = *b"SCWSPACK";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 12;
const ENTRY_LEN: usize = 12;
/// Entries after which the log is rewritten with one entry (48 KiB of log).
pub(super) const COMPACT_AFTER: u32 = 4096;

/// What the log on disk said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Loaded {
    /// The highest acknowledged sequence found, if any.
    pub acked: Option<u64>,
    /// The log existed but had a bad header, a bad entry or a partial entry.
    pub damaged: bool,
}

/// Reads the log in `dir` (a missing log is an empty one).
pub(super) fn load(dir: &Path) -> io::Result<Loaded> {
    let path = dir.join(ACK_LOG);
    let mut bytes = Vec::new();
    match File::open(&path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes)?;
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Ok(Loaded {
                acked: None,
                damaged: false,
            })
        }
        Err(err) => return Err(err),
    }
    Ok(decode(&bytes))
}

fn decode(bytes: &[u8]) -> Loaded {
    let header_ok =
        bytes.len() >= HEADER_LEN && bytes[..8] == MAGIC && bytes[8..12] == VERSION.to_le_bytes();
    if !header_ok {
        return Loaded {
            acked: None,
            damaged: true,
        };
    }
    let mut acked: Option<u64> = None;
    let mut damaged = false;
    for entry in bytes[HEADER_LEN..].chunks(ENTRY_LEN) {
        if entry.len() < ENTRY_LEN {
            damaged = true;
            break;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&entry[..8]);
        let crc = u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]);
        if crc32fast::hash(&seq) != crc {
            damaged = true;
            break;
        }
        let seq = u64::from_le_bytes(seq);
        acked = Some(acked.map_or(seq, |a| a.max(seq)));
    }
    Loaded { acked, damaged }
}

fn entry(seq: u64) -> [u8; ENTRY_LEN] {
    let mut bytes = [0u8; ENTRY_LEN];
    bytes[..8].copy_from_slice(&seq.to_le_bytes());
    bytes[8..].copy_from_slice(&crc32fast::hash(&seq.to_le_bytes()).to_le_bytes());
    bytes
}

/// The open log, appended to by acknowledgements.
pub(super) struct AckLog {
    dir: PathBuf,
    fsync: Fsync,
    /// `None` after a failed rewrite left no log open; the next write rewrites it.
    file: Option<File>,
    entries: u32,
}

impl AckLog {
    /// Replaces the log in `dir` with one holding `acked` and opens it for appending.
    pub fn create(dir: &Path, acked: Option<u64>, fsync: Fsync) -> io::Result<AckLog> {
        let mut log = AckLog {
            dir: dir.to_path_buf(),
            fsync,
            file: None,
            entries: 0,
        };
        log.rewrite(acked)?;
        Ok(log)
    }

    /// The path of the log.
    pub fn path(&self) -> PathBuf {
        self.dir.join(ACK_LOG)
    }

    /// Persists `seq` as the acknowledged head.
    pub fn record(&mut self, seq: u64) -> io::Result<()> {
        if self.entries >= COMPACT_AFTER {
            return self.rewrite(Some(seq));
        }
        let Some(file) = self.file.as_mut() else {
            return self.rewrite(Some(seq));
        };
        file.write_all(&entry(seq))?;
        if self.fsync == Fsync::Always {
            file.sync_data()?;
        }
        self.entries += 1;
        Ok(())
    }

    fn rewrite(&mut self, acked: Option<u64>) -> io::Result<()> {
        let tmp = self.dir.join(ACK_LOG_TMP);
        let path = self.path();
        let mut bytes = Vec::with_capacity(HEADER_LEN + ENTRY_LEN);
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        if let Some(seq) = acked {
            bytes.extend_from_slice(&entry(seq));
        }
        {
            let mut file = File::create(&tmp)?;
            file.write_all(&bytes)?;
            if self.fsync == Fsync::Always {
                file.sync_all()?;
            }
        }
        // Windows refuses to rename over a file this process holds open: close it first.
        self.file = None;
        fs::rename(&tmp, &path)?;
        if self.fsync == Fsync::Always {
            sync_dir(&self.dir)?;
        }
        self.file = Some(OpenOptions::new().append(true).open(&path)?);
        self.entries = u32::from(acked.is_some());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_good_entry_wins_and_a_torn_entry_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            load(dir.path()).unwrap(),
            Loaded {
                acked: None,
                damaged: false
            }
        );
        let mut log = AckLog::create(dir.path(), None, Fsync::Never).unwrap();
        assert_eq!(load(dir.path()).unwrap().acked, None);
        log.record(3).unwrap();
        log.record(9).unwrap();
        drop(log);
        assert_eq!(
            load(dir.path()).unwrap(),
            Loaded {
                acked: Some(9),
                damaged: false
            }
        );

        let path = dir.path().join(ACK_LOG);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&entry(12)[..7]);
        fs::write(&path, &bytes).unwrap();
        assert_eq!(
            load(dir.path()).unwrap(),
            Loaded {
                acked: Some(9),
                damaged: true
            }
        );

        // A flipped byte in the last entry: that entry is not believed.
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(HEADER_LEN + 2 * ENTRY_LEN);
        bytes[HEADER_LEN + ENTRY_LEN] ^= 0x04;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(
            load(dir.path()).unwrap(),
            Loaded {
                acked: Some(3),
                damaged: true
            }
        );
    }

    #[test]
    fn the_log_is_rewritten_after_compact_after_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AckLog::create(dir.path(), Some(0), Fsync::Never).unwrap();
        for seq in 1..=u64::from(COMPACT_AFTER) + 10 {
            log.record(seq).unwrap();
        }
        let len = fs::metadata(dir.path().join(ACK_LOG)).unwrap().len();
        assert!(len <= (HEADER_LEN + 11 * ENTRY_LEN) as u64, "{len}");
        assert_eq!(
            load(dir.path()).unwrap().acked,
            Some(u64::from(COMPACT_AFTER) + 10)
        );
        assert!(!dir.path().join(ACK_LOG_TMP).exists());
    }
}
