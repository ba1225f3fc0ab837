//! Finding the log files in what the user named: files, folders (recursively, in name order) and
//! zip archives (nested up to [`Limits::max_depth`]).
//!
//! Nothing here fails the run: a missing path, an unreadable folder or a corrupt archive becomes
//! a [`Skipped`] entry with a reason, and the walk goes on.
//!
//! Every file gets a *path* relative to the input it was found under (archive entries as
//! `archive.zip!/inner/path`) and a *host*: the first folder below that input, unless that
//! folder is one of the well-known Windows log folders (`inetpub`, `Windows`, `LogFiles`, ...),
//! in which case the input itself is named after the host (`ndes01/inetpub/...` given as
//! `ndes01/`). A file given directly belongs to the folder it sits in.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use super::archive::{
    zip_time_us, zip_to_io, Archive, Budget, EntryInfo, Guarded, LimitExceeded, Limits, SharedFile,
};

/// Folder names that are part of a standard Windows or IIS log layout, never a host name.
const LAYOUT_FOLDERS: &[&str] = &[
    "appdata",
    "certsrv",
    "eventlogs",
    "evtx",
    "httperr",
    "inetpub",
    "logfiles",
    "logs",
    "microsoft",
    "program files",
    "program files (x86)",
    "programdata",
    "system32",
    "temp",
    "users",
    "windows",
    "winevt",
];

/// Where a file's bytes are.
#[derive(Debug, Clone)]
pub enum Location {
    /// A plain file.
    Disk(PathBuf),
    /// An entry of an archive.
    Zip {
        /// The archive.
        archive: Arc<Archive>,
        /// Entry index in it.
        index: usize,
    },
    /// An entry recovered from a truncated archive, decompressed into an anonymous temp file.
    Spilled(SharedFile),
}

/// A seekable byte source.
pub trait ReadSeek: Read + std::io::Seek {}

impl<T: Read + std::io::Seek> ReadSeek for T {}

/// One file to read.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Index of the command-line input it was found under.
    pub input: usize,
    /// Path relative to that input; archive entries as `archive.zip!/inner/path`.
    pub path: String,
    /// Host whose log it is.
    pub host: String,
    /// Where the bytes are.
    pub location: Location,
    /// Size in bytes (declared size for archive entries).
    pub size: u64,
    /// Modification time, microseconds since the epoch.
    pub modified_us: Option<i64>,
}

/// Something named or found that is not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Index of the command-line input.
    pub input: usize,
    /// Path as in [`InputFile::path`] (the input as given for a missing input).
    pub path: String,
    /// Host, when one could be inferred.
    pub host: Option<String>,
    /// Stable reason code (`missing`, `zip.corrupt`, ...).
    pub code: &'static str,
    /// Human-readable detail.
    pub detail: String,
}

/// The result of walking all inputs.
#[derive(Debug, Default)]
pub struct Walk {
    /// Files to read, in walk order.
    pub files: Vec<InputFile>,
    /// Things not read.
    pub skipped: Vec<Skipped>,
}

/// `--host-of PREFIX=HOST`: files whose path (or input) starts with the prefix get that host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOverride {
    /// Path prefix, `/`-separated, matched against the file's path and its input as given.
    pub prefix: String,
    /// Host name to use.
    pub host: String,
}

/// Walks `inputs` in order. Archives are opened (and nested ones spilled to temp files) here, so
/// their entries can be read in parallel later.
pub fn walk(inputs: &[PathBuf], limits: Limits, budget: &Budget, hosts: &[HostOverride]) -> Walk {
    let mut w = Walker {
        limits,
        budget,
        hosts,
        out: Walk::default(),
        entries: 0,
        seen_disk: BTreeSet::new(),
        entries_capped: false,
    };
    for (i, input) in inputs.iter().enumerate() {
        w.input(i, input);
    }
    w.out
}

struct Walker<'a> {
    limits: Limits,
    budget: &'a Budget,
    hosts: &'a [HostOverride],
    out: Walk,
    entries: u64,
    entries_capped: bool,
    seen_disk: BTreeSet<PathBuf>,
}

/// Where a file sits relative to its input: the folders and names leading to it, and the name of
/// the input itself (the host when no folder below it names one).
struct Place {
    input: usize,
    input_text: String,
    root_name: String,
    components: Vec<String>,
}

impl Place {
    fn child(&self, name: &str) -> Place {
        let mut components = self.components.clone();
        components.push(name.to_string());
        self.with(components)
    }

    fn with(&self, components: Vec<String>) -> Place {
        Place {
            input: self.input,
            input_text: self.input_text.clone(),
            root_name: self.root_name.clone(),
            components,
        }
    }

    fn path(&self) -> String {
        self.components.join("/")
    }

    fn host(&self, hosts: &[HostOverride]) -> String {
        let path = self.path();
        for o in hosts {
            let prefix = o.prefix.trim_end_matches('/');
            if path.starts_with(prefix) || self.input_text.trim_end_matches('/').starts_with(prefix)
            {
                return o.host.clone();
            }
        }
        host_of(&self.components, &self.root_name)
    }
}

/// The host of a file at `components` below an input called `root_name`.
pub fn host_of(components: &[String], root_name: &str) -> String {
    if let [first, _, ..] = components {
        let first = first.split('!').next().unwrap_or(first);
        if !is_layout(first) && !first.is_empty() {
            return strip_zip(first).to_string();
        }
    }
    strip_zip(root_name).to_string()
}

fn is_layout(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    LAYOUT_FOLDERS.contains(&lower.as_str()) || lower.starts_with("w3svc")
}

/// The name of `dir`, or of its nearest ancestor that is not a standard log folder
/// (`ndes01/inetpub/logs/LogFiles/W3SVC1` → `ndes01`).
fn host_folder(dir: &Path) -> String {
    dir.ancestors()
        .map(file_name)
        .find(|n| !n.is_empty() && !is_layout(n))
        .unwrap_or_else(|| "localhost".to_string())
}

fn strip_zip(name: &str) -> &str {
    let n = name.len();
    match name.get(n.saturating_sub(4)..) {
        Some(ext) if ext.eq_ignore_ascii_case(".zip") && n > 4 => name.get(..n - 4).unwrap_or(name),
        _ => name,
    }
}

fn is_zip_name(name: &str) -> bool {
    name.len() > 4
        && name
            .get(name.len() - 4..)
            .is_some_and(|e| e.eq_ignore_ascii_case(".zip"))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn modified_us(meta: &fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(d.as_micros()).ok()
}

fn has_zip_magic(path: &Path) -> bool {
    let mut head = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|()| &head == b"PK\x03\x04" || &head == b"PK\x05\x06")
        .unwrap_or(false)
}

impl Walker<'_> {
    fn skip(&mut self, place: &Place, code: &'static str, detail: impl Into<String>) {
        let path = place.path();
        let detail = detail.into();
        tracing::info!(input = %place.input_text, path = %path, code, detail = %detail, "input skipped");
        let host = if place.components.is_empty() {
            None
        } else {
            Some(place.host(self.hosts))
        };
        self.out.skipped.push(Skipped {
            input: place.input,
            path: if path.is_empty() {
                place.input_text.clone()
            } else {
                path
            },
            host,
            code,
            detail,
        });
    }

    fn input(&mut self, i: usize, input: &Path) {
        let input_text = input.to_string_lossy().into_owned();
        let canonical = fs::canonicalize(input).unwrap_or_else(|_| input.to_path_buf());
        let mut place = Place {
            input: i,
            input_text,
            root_name: String::new(),
            components: Vec::new(),
        };
        let meta = match fs::metadata(input) {
            Ok(m) => m,
            Err(e) => {
                let code = if e.kind() == io::ErrorKind::NotFound {
                    "missing"
                } else {
                    "unreadable"
                };
                self.skip(&place, code, e.to_string());
                return;
            }
        };
        if meta.is_dir() {
            place.root_name = host_folder(&canonical);
            self.dir(input, &place);
        } else if meta.is_file() {
            // A file given directly belongs to the folder it sits in.
            place.root_name = canonical
                .parent()
                .map_or_else(|| "localhost".to_string(), host_folder);
            let name = file_name(input);
            if is_zip_name(&name) || has_zip_magic(input) {
                // An archive given directly is its own root: its entries' first folder names
                // the host, else the archive's name does.
                place.root_name = strip_zip(&name).to_string();
                self.disk_archive(input, &place, &name);
            } else {
                let child = place.child(&name);
                self.disk_file(input, &child, &meta);
            }
        } else {
            self.skip(&place, "not_a_file", "neither a file nor a folder");
        }
    }

    fn dir(&mut self, dir: &Path, place: &Place) {
        let entries = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                self.skip(place, "unreadable", e.to_string());
                return;
            }
        };
        let mut children: Vec<(String, PathBuf)> = Vec::new();
        for entry in entries {
            match entry {
                Ok(e) => children.push((e.file_name().to_string_lossy().into_owned(), e.path())),
                Err(e) => self.skip(place, "unreadable", e.to_string()),
            }
        }
        if children.is_empty() {
            self.skip(place, "empty_folder", "folder holds no files");
            return;
        }
        children.sort();
        for (name, path) in children {
            let child = place.child(&name);
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.skip(&child, "unreadable", e.to_string());
                    continue;
                }
            };
            if meta.file_type().is_symlink() {
                match fs::metadata(&path) {
                    // Symlinked folders are not followed: they can loop.
                    Ok(m) if m.is_dir() => {
                        self.skip(&child, "symlink", "symlinked folder not followed")
                    }
                    Ok(m) if m.is_file() => self.file_in_dir(&path, &child, &name, &m),
                    Ok(_) => self.skip(&child, "not_a_file", "neither a file nor a folder"),
                    Err(e) => self.skip(&child, "unreadable", e.to_string()),
                }
            } else if meta.is_dir() {
                self.dir(&path, &child);
            } else if meta.is_file() {
                self.file_in_dir(&path, &child, &name, &meta);
            } else {
                self.skip(&child, "not_a_file", "neither a file nor a folder");
            }
        }
    }

    fn file_in_dir(&mut self, path: &Path, place: &Place, name: &str, meta: &fs::Metadata) {
        if is_zip_name(name) || has_zip_magic(path) {
            self.disk_archive(path, place, name);
        } else {
            self.disk_file(path, place, meta);
        }
    }

    fn disk_file(&mut self, path: &Path, place: &Place, meta: &fs::Metadata) {
        let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !self.seen_disk.insert(canonical) {
            self.skip(place, "duplicate", "the same file was already named");
            return;
        }
        self.out.files.push(InputFile {
            input: place.input,
            path: place.path(),
            host: place.host(self.hosts),
            location: Location::Disk(path.to_path_buf()),
            size: meta.len(),
            modified_us: modified_us(meta),
        });
    }

    /// `place` names the archive itself (its components end with the archive's name, or are
    /// empty for an archive given directly).
    fn disk_archive(&mut self, path: &Path, place: &Place, name: &str) {
        let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let at = if place.components.is_empty() {
            place.with(vec![name.to_string()])
        } else {
            place.with(place.components.clone())
        };
        if !self.seen_disk.insert(canonical) {
            self.skip(&at, "duplicate", "the same archive was already named");
            return;
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                self.skip(&at, "unreadable", e.to_string());
                return;
            }
        };
        match Archive::open(file, at.path(), 1) {
            Ok(a) => {
                // An archive given directly is the root: only its entries' folders name hosts.
                let mut base = place.components.clone();
                if let Some(last) = base.last_mut() {
                    last.push('!');
                }
                self.archive_entries(Arc::new(a), &place.with(base));
            }
            Err(e) => self.salvage(path, &at, place, e.to_string()),
        }
    }

    /// An archive whose central directory cannot be read (typically cut short by a failed
    /// upload): its entries are read in order from their local headers, and each complete one
    /// is decompressed into an anonymous temp file.
    fn salvage(&mut self, path: &Path, at: &Place, place: &Place, why: String) {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return self.skip(at, "unreadable", e.to_string()),
        };
        let mut reader = io::BufReader::new(file);
        let mut base = place.components.clone();
        if let Some(last) = base.last_mut() {
            last.push('!');
        }
        let base = place.with(base);
        let archive_path = at.path();
        let mut recovered = 0u64;
        let mut stopped = String::from("end of data");
        loop {
            let mut entry = match zip::read::read_zipfile_from_stream(&mut reader) {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    stopped = e.to_string();
                    break;
                }
            };
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                break;
            }
            if entry.is_dir() {
                continue;
            }
            let name = match entry.enclosed_name() {
                Some(p) => p
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/"),
                None => entry
                    .name()
                    .map(|n| n.replace('\\', "/"))
                    .unwrap_or_default(),
            };
            let display = format!("{archive_path}!/{name}");
            let mut components = base.components.clone();
            components.extend(name.split('/').map(str::to_string));
            let here = base.with(components);
            if entry.encrypted() {
                self.skipped_at(&here, &display, "zip.encrypted", "encrypted entry".into());
                continue;
            }
            let modified_us = entry.last_modified().and_then(zip_time_us);
            let compressed = entry.compressed_size();
            let spilled = tempfile::tempfile().and_then(|mut tmp| {
                let mut g = Guarded::new(&mut entry, compressed, self.limits, Some(self.budget));
                io::copy(&mut g, &mut tmp).map(|n| (tmp, n))
            });
            let (tmp, size) = match spilled {
                Ok(t) => t,
                Err(e) => {
                    if let Some(l) = LimitExceeded::from_io(&e) {
                        self.skipped_at(&here, &display, l.code(), l.to_string());
                        continue;
                    }
                    stopped = format!("{name} is cut: {e}");
                    break;
                }
            };
            recovered += 1;
            let last = name.rsplit('/').next().unwrap_or(&name);
            if is_zip_name(last) {
                match Archive::open(tmp, display.clone(), 2) {
                    Ok(a) => {
                        let mut inner = here.components.clone();
                        if let Some(l) = inner.last_mut() {
                            l.push('!');
                        }
                        self.archive_entries(Arc::new(a), &here.with(inner));
                    }
                    Err(e) => self.skipped_at(
                        &here,
                        &display,
                        "zip.corrupt",
                        format!("nested archive not readable: {}", zip_to_io(e)),
                    ),
                }
                continue;
            }
            match SharedFile::new(tmp) {
                Ok(shared) => self.out.files.push(InputFile {
                    input: here.input,
                    path: display,
                    host: here.host(self.hosts),
                    location: Location::Spilled(shared),
                    size,
                    modified_us,
                }),
                Err(e) => self.skipped_at(&here, &display, "unreadable", e.to_string()),
            }
        }
        if recovered == 0 {
            self.skip(
                at,
                "zip.corrupt",
                format!("not a readable zip archive: {why}"),
            );
        } else {
            self.skip(
                at,
                "zip.truncated",
                format!(
                    "archive damaged or cut short ({why}); {recovered} entries recovered from \
                     their local headers, reading stopped at: {stopped}"
                ),
            );
        }
    }

    /// Lists the entries of `archive`; `base` holds the components that lead to it (for host
    /// inference), empty for an archive given directly.
    fn archive_entries(&mut self, archive: Arc<Archive>, base: &Place) {
        if archive.is_empty() {
            self.skipped_at(
                base,
                &archive.path,
                "zip.empty",
                "archive holds no files".into(),
            );
            return;
        }
        for index in 0..archive.len() {
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                if !self.entries_capped {
                    self.entries_capped = true;
                    let detail = format!(
                        "more than {} archive entries in all; the rest are not read",
                        self.limits.max_entries
                    );
                    self.skipped_at(base, &archive.path, "zip.too_many_entries", detail);
                }
                return;
            }
            let info = match archive.entry_info(index) {
                Ok(i) => i,
                Err(e) => {
                    let path = format!("{}!/#{index}", archive.path);
                    self.skipped_at(base, &path, "zip.corrupt", e.to_string());
                    continue;
                }
            };
            if !info.is_dir {
                self.archive_entry(&archive, index, &info, base);
            }
        }
    }

    fn skipped_at(&mut self, place: &Place, path: &str, code: &'static str, detail: String) {
        let host = place.host(self.hosts);
        tracing::info!(path, host = %host, code, detail = %detail, "input skipped");
        self.out.skipped.push(Skipped {
            input: place.input,
            path: path.to_string(),
            host: Some(host),
            code,
            detail,
        });
    }

    fn archive_entry(
        &mut self,
        archive: &Arc<Archive>,
        index: usize,
        info: &EntryInfo,
        base: &Place,
    ) {
        let display = format!("{}!/{}", archive.path, info.name);
        let mut components = base.components.clone();
        components.extend(info.name.split('/').map(str::to_string));
        let here = base.with(components);
        if info.encrypted {
            self.skipped_at(
                &here,
                &display,
                "zip.encrypted",
                "encrypted entry (no password)".into(),
            );
            return;
        }
        if info.size > self.limits.max_entry_bytes {
            let detail = format!(
                "declares {} bytes, more than the {}-byte limit",
                info.size, self.limits.max_entry_bytes
            );
            self.skipped_at(&here, &display, "zip.entry_too_large", detail);
            return;
        }
        let name = info.name.rsplit('/').next().unwrap_or(&info.name);
        if is_zip_name(name) {
            if archive.depth >= self.limits.max_depth {
                let detail = format!(
                    "archive nested deeper than {} levels not opened",
                    self.limits.max_depth
                );
                self.skipped_at(&here, &display, "zip.too_deep", detail);
                return;
            }
            let nested = archive
                .spill_entry(index, self.limits, self.budget)
                .and_then(|f| {
                    Archive::open(f, display.clone(), archive.depth + 1)
                        .map_err(super::archive::zip_to_io)
                });
            match nested {
                Ok(a) => {
                    let mut base = here.components.clone();
                    if let Some(last) = base.last_mut() {
                        last.push('!');
                    }
                    self.archive_entries(Arc::new(a), &here.with(base));
                }
                Err(e) => {
                    let code = LimitExceeded::from_io(&e).map_or("zip.corrupt", |l| l.code());
                    self.skipped_at(
                        &here,
                        &display,
                        code,
                        format!("nested archive not readable: {e}"),
                    );
                }
            }
            return;
        }
        self.out.files.push(InputFile {
            input: here.input,
            path: display,
            host: here.host(self.hosts),
            location: Location::Zip {
                archive: Arc::clone(archive),
                index,
            },
            size: info.size,
            modified_us: info.modified_us,
        });
    }
}

impl InputFile {
    /// Runs `f` over the file's bytes (decompressed and guarded for archive entries).
    pub fn read_with<T>(
        &self,
        limits: Limits,
        budget: &Budget,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> io::Result<T> {
        self.read_guarded(limits, Some(budget), f)
    }

    fn read_guarded<T>(
        &self,
        limits: Limits,
        budget: Option<&Budget>,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> io::Result<T> {
        match &self.location {
            Location::Disk(p) => {
                let mut file = File::open(p)?;
                Ok(f(&mut file))
            }
            Location::Zip { archive, index } => archive.read_entry(*index, limits, budget, f),
            Location::Spilled(shared) => {
                let mut r = shared.clone();
                Ok(f(&mut r))
            }
        }
    }

    /// A seekable handle on the file's bytes: the file itself, an archive entry spilled to an
    /// anonymous temp file, or the temp file of a recovered entry.
    pub fn seekable(
        &self,
        limits: Limits,
        budget: &Budget,
    ) -> io::Result<Box<dyn ReadSeek + Send>> {
        Ok(match &self.location {
            Location::Disk(p) => Box::new(File::open(p)?),
            Location::Zip { archive, index } => {
                Box::new(archive.spill_entry(*index, limits, budget)?)
            }
            Location::Spilled(shared) => Box::new(shared.clone()),
        })
    }

    /// Up to `max` first bytes of the file. Not charged to the run's budget (it is read again
    /// in full later), but refused once the budget is spent.
    pub fn head(&self, max: usize, limits: Limits, budget: &Budget) -> io::Result<Vec<u8>> {
        if matches!(self.location, Location::Zip { .. }) && budget.used() > limits.max_total_bytes {
            return Err(io::Error::other(LimitExceeded::Budget {
                limit: limits.max_total_bytes,
            }));
        }
        self.read_guarded(limits, None, |r| {
            let mut buf = Vec::with_capacity(max.min(1 << 16));
            r.take(max as u64).read_to_end(&mut buf).map(|_| buf)
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(p: &str) -> Vec<String> {
        p.split('/').map(str::to_string).collect()
    }

    #[test]
    fn host_is_first_folder_below_the_input() {
        assert_eq!(
            host_of(
                &comps("ndes01/inetpub/logs/LogFiles/W3SVC1/u_ex261120.log"),
                "samples"
            ),
            "ndes01"
        );
        assert_eq!(
            host_of(&comps("inetpub/logs/LogFiles/W3SVC1/u_ex.log"), "ndes01"),
            "ndes01"
        );
        assert_eq!(host_of(&comps("u_ex.log"), "ndes02"), "ndes02");
        assert_eq!(host_of(&comps("W3SVC1/u_ex.log"), "ndes02"), "ndes02");
        assert_eq!(host_of(&comps("phone7.zip!/omadm.log"), "x"), "phone7");
        assert_eq!(host_of(&comps("u_ex.log"), "logs.zip"), "logs");
    }
}
