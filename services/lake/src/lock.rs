//! The writer lock: one ingest worker at a time writes a lake, since two would race compaction
//! against each other's files. Taken once when the worker starts.

use std::os::fd::AsRawFd;
use std::path::Path;

use crate::durable::{FILE_MODE, clear_stale_staging};
use crate::error::{Error, Result};

/// Exclusive right to write a lake, held by one ingest worker at a time (an `flock` on
/// `lake/LOCK`, released when dropped or when the process dies).
#[derive(Debug)]
pub struct WriterLock {
    _file: std::fs::File,
}

/// Takes the writer lock of the lake at `root`, or fails at once when another process holds
/// it; then clears what a dead writer left in staging.
pub(crate) fn lock_for_writing(root: &Path) -> Result<WriterLock> {
    let path = root.join("LOCK");
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .open(&path)
    }
    .map_err(Error::io(&path))?;
    // SAFETY: flock(2) on a descriptor we own; no memory is shared with the kernel.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !locked {
        return Err(Error::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another ingest worker is writing this lake",
            ),
        });
    }
    clear_stale_staging(root);
    Ok(WriterLock { _file: file })
}
