//! Opening log files without getting in the writer's way.
//!
//! IIS renames and deletes its own logs (and an administrator's cleanup task deletes old ones).
//! On Windows a handle opened without `FILE_SHARE_DELETE` makes both fail, and one without
//! `FILE_SHARE_WRITE` stops IIS from appending, so files are opened sharing read, write and
//! delete. A file deleted while open stays readable through the handle (Windows marks it
//! delete-pending until the last handle closes), which is how a deleted file is drained. The
//! tailer closes handles of files that stopped growing after `idle_close`, so a delete-pending
//! name does not linger.
//!
//! Elsewhere a plain read-only open has those properties already.

use std::fs::File;
use std::io;
use std::path::Path;

/// `FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE`.
#[cfg(windows)]
const SHARE_ALL: u32 = 0x1 | 0x2 | 0x4;

/// Open `path` for reading, letting others read, write, rename and delete it meanwhile.
pub fn open_shared(path: &Path) -> io::Result<File> {
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .share_mode(SHARE_ALL)
            .open(path)
    }
    #[cfg(not(windows))]
    {
        File::open(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file can be renamed and deleted while the handle is open, and the handle still reads
    /// what was written.
    #[test]
    fn open_file_can_be_renamed_and_deleted() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("u_ex261127.log");
        std::fs::write(
            &a,
            b"#Software: Microsoft Internet Information Services 10.0\n",
        )
        .unwrap();
        let mut f = open_shared(&a).unwrap();
        let b = dir.path().join("u_ex261127.log.1");
        std::fs::rename(&a, &b).unwrap();
        std::fs::remove_file(&b).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert!(s.starts_with("#Software"));
    }
}
