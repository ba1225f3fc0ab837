//! Zip archives as input, read with bounds so a hostile archive cannot exhaust memory or disk.
//!
//! An [`Archive`] is opened once (its central directory parsed once) and shared by every worker:
//! each read clones the archive over a [`SharedFile`], which reads by position and so needs no
//! lock. Every decompressed byte passes through a [`Guarded`] reader that enforces the
//! [`Limits`]: a per-entry size cap, a compression-ratio cap past a floor (the zip-bomb shape),
//! and a total budget across the whole run ([`Budget`]).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zip::ZipArchive;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Bounds on what the input walker and the readers accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest uncompressed size of one archive entry.
    pub max_entry_bytes: u64,
    /// Largest compression ratio (uncompressed : compressed) once an entry is past
    /// [`Limits::ratio_floor_bytes`]. Real logs compress about 10–30:1; bombs reach 1000:1.
    pub max_ratio: u64,
    /// Size below which the ratio is not checked (small, repetitive logs compress very well).
    pub ratio_floor_bytes: u64,
    /// Total bytes decompressed from archives over the whole run.
    pub max_total_bytes: u64,
    /// Total archive entries looked at over the whole run.
    pub max_entries: u64,
    /// Deepest archive nesting followed (an archive given on the command line is depth 1).
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_bytes: 4 * GIB,
            max_ratio: 200,
            ratio_floor_bytes: 10 * MIB,
            max_total_bytes: 64 * GIB,
            max_entries: 100_000,
            max_depth: 3,
        }
    }
}

/// The run-wide count of decompressed bytes, checked against [`Limits::max_total_bytes`].
#[derive(Debug, Default)]
pub struct Budget {
    used: AtomicU64,
}

impl Budget {
    /// Bytes decompressed so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn charge(&self, n: u64) -> u64 {
        self.used.fetch_add(n, Ordering::Relaxed) + n
    }
}

/// Why reading an archive entry was stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// The entry is larger than [`Limits::max_entry_bytes`].
    #[error("entry larger than {limit} bytes")]
    EntrySize {
        /// The limit.
        limit: u64,
    },
    /// The entry expands more than [`Limits::max_ratio`] times.
    #[error("compression ratio above {limit}:1 after {read} bytes (zip bomb?)")]
    Ratio {
        /// The limit.
        limit: u64,
        /// Bytes decompressed when it was noticed.
        read: u64,
    },
    /// The run's total budget is spent.
    #[error("total decompression budget of {limit} bytes spent")]
    Budget {
        /// The limit.
        limit: u64,
    },
}

impl LimitExceeded {
    /// Stable reason code for reports.
    pub fn code(&self) -> &'static str {
        match self {
            LimitExceeded::EntrySize { .. } => "zip.entry_too_large",
            LimitExceeded::Ratio { .. } => "zip.ratio_exceeded",
            LimitExceeded::Budget { .. } => "zip.budget_exceeded",
        }
    }

    /// The limit carried by an I/O error, if that is what stopped a read.
    pub fn from_io(e: &io::Error) -> Option<&LimitExceeded> {
        e.get_ref().and_then(|inner| inner.downcast_ref())
    }
}

/// A reader over decompressed archive data that stops with an I/O error carrying
/// [`LimitExceeded`] as soon as a bound is crossed.
pub struct Guarded<'a, R> {
    inner: R,
    read: u64,
    compressed: u64,
    limits: Limits,
    budget: Option<&'a Budget>,
}

impl<'a, R: Read> Guarded<'a, R> {
    /// Wraps `inner`, the decompressed stream of an entry stored in `compressed` bytes. With no
    /// `budget`, the total is checked but not charged (for format sniffing, which reads each
    /// entry's head once more).
    pub fn new(inner: R, compressed: u64, limits: Limits, budget: Option<&'a Budget>) -> Self {
        Guarded {
            inner,
            read: 0,
            compressed,
            limits,
            budget,
        }
    }

    fn check(&self, total: u64) -> Result<(), LimitExceeded> {
        if self.read > self.limits.max_entry_bytes {
            return Err(LimitExceeded::EntrySize {
                limit: self.limits.max_entry_bytes,
            });
        }
        if self.read > self.limits.ratio_floor_bytes
            && self.read / self.compressed.max(1) > self.limits.max_ratio
        {
            return Err(LimitExceeded::Ratio {
                limit: self.limits.max_ratio,
                read: self.read,
            });
        }
        if total > self.limits.max_total_bytes {
            return Err(LimitExceeded::Budget {
                limit: self.limits.max_total_bytes,
            });
        }
        Ok(())
    }
}

impl<R: Read> Read for Guarded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let total = match self.budget {
            Some(b) => b.charge(n as u64),
            None => 0,
        };
        self.check(total).map_err(io::Error::other)?;
        Ok(n)
    }
}

/// A file read by position, so clones read independently without sharing a cursor.
#[derive(Debug, Clone)]
pub struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl SharedFile {
    /// Shares `file`.
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(SharedFile {
            file: Arc::new(file),
            pos: 0,
            len,
        })
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    // seek_read moves the handle's cursor too, but every read here names its offset.
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )),
        }
    }
}

/// One opened zip archive (on disk, or a nested archive spilled to an anonymous temp file).
#[derive(Debug)]
pub struct Archive {
    /// Display path of the archive itself (`logs.zip`, `logs.zip!/inner.zip`).
    pub path: String,
    /// Nesting depth: 1 for an archive on disk.
    pub depth: u32,
    zip: ZipArchive<SharedFile>,
}

/// Metadata of one archive entry, read from the central directory (nothing decompressed).
#[derive(Debug, Clone)]
pub struct EntryInfo {
    /// Entry name with `/` separators, made safe (no absolute paths, no `..` escapes).
    pub name: String,
    /// Declared uncompressed size.
    pub size: u64,
    /// Stored size.
    pub compressed: u64,
    /// A folder entry.
    pub is_dir: bool,
    /// Encrypted (we have no password).
    pub encrypted: bool,
    /// Modification time, microseconds (the zip's local time taken as UTC).
    pub modified_us: Option<i64>,
}

impl Archive {
    /// Opens the archive in `file`, shown as `path`.
    pub fn open(file: File, path: String, depth: u32) -> zip::result::ZipResult<Archive> {
        let zip = ZipArchive::new(SharedFile::new(file)?)?;
        Ok(Archive { path, depth, zip })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.zip.len()
    }

    /// True when the archive has no entries.
    pub fn is_empty(&self) -> bool {
        self.zip.len() == 0
    }

    /// Metadata of entry `index`.
    pub fn entry_info(&self, index: usize) -> zip::result::ZipResult<EntryInfo> {
        let e = self.zip.by_index_data(index)?;
        let name = match e.enclosed_name() {
            Some(p) => p
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/"),
            None => e.name()?.replace('\\', "/"),
        };
        let modified_us = e.last_modified().and_then(zip_time_us);
        Ok(EntryInfo {
            name,
            size: e.size(),
            compressed: e.compressed_size(),
            is_dir: e.is_dir(),
            encrypted: e.encrypted(),
            modified_us,
        })
    }

    /// Runs `f` over the guarded, decompressed stream of entry `index`; `budget` is charged
    /// for every byte unless it is `None`.
    pub fn read_entry<T>(
        &self,
        index: usize,
        limits: Limits,
        budget: Option<&Budget>,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> io::Result<T> {
        let mut zip = self.zip.clone();
        let entry = zip.by_index(index).map_err(zip_to_io)?;
        if entry.size() > limits.max_entry_bytes {
            return Err(io::Error::other(LimitExceeded::EntrySize {
                limit: limits.max_entry_bytes,
            }));
        }
        let compressed = entry.compressed_size();
        let mut guarded = Guarded::new(entry, compressed, limits, budget);
        Ok(f(&mut guarded))
    }

    /// Decompresses entry `index` into an anonymous temporary file (deleted when dropped), for
    /// readers that need `Seek` (nested archives, `.evtx`).
    pub fn spill_entry(&self, index: usize, limits: Limits, budget: &Budget) -> io::Result<File> {
        let mut tmp = tempfile::tempfile()?;
        self.read_entry(index, limits, Some(budget), |r| io::copy(r, &mut tmp))??;
        tmp.seek(SeekFrom::Start(0))?;
        Ok(tmp)
    }
}

/// A zip error as an I/O error, keeping I/O errors as they are.
pub fn zip_to_io(e: zip::result::ZipError) -> io::Error {
    match e {
        zip::result::ZipError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

/// A zip entry's modification time (local time of the archiving machine, taken as UTC) in
/// microseconds since the epoch; `None` for an impossible date.
pub fn zip_time_us(t: zip::DateTime) -> Option<i64> {
    scepwatch_proto::time::civil_to_us(
        i64::from(t.year()),
        u32::from(t.month()),
        u32::from(t.day()),
        u32::from(t.hour()),
        u32::from(t.minute()),
        u32::from(t.second()),
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_stops_on_ratio_past_the_floor() {
        let limits = Limits {
            ratio_floor_bytes: 1000,
            ..Limits::default()
        };
        let budget = Budget::default();
        let data = vec![0u8; 10_000];
        let mut g = Guarded::new(&data[..], 10, limits, Some(&budget));
        let mut out = Vec::new();
        let err = g.read_to_end(&mut out).unwrap_err();
        assert_eq!(
            LimitExceeded::from_io(&err).map(|l| l.code()),
            Some("zip.ratio_exceeded")
        );
        // Below the floor, any ratio passes.
        let mut g = Guarded::new(&data[..900], 1, limits, Some(&budget));
        assert!(g.read_to_end(&mut Vec::new()).is_ok());
    }

    #[test]
    fn guard_stops_on_total_budget() {
        let limits = Limits {
            max_total_bytes: 100,
            ..Limits::default()
        };
        let budget = Budget::default();
        let data = [1u8; 80];
        let mut g = Guarded::new(&data[..], 80, limits, Some(&budget));
        assert!(g.read_to_end(&mut Vec::new()).is_ok());
        let mut g = Guarded::new(&data[..], 80, limits, Some(&budget));
        let err = g.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(
            LimitExceeded::from_io(&err).map(|l| l.code()),
            Some("zip.budget_exceeded")
        );
    }
}
