//! A small JSON document on disk that several processes share: servers read it (cached until it
//! changes), `parwatch token`/`embed-revoke` change it. Changes are read-modify-write under an
//! advisory lock on `<file>.lock` (so two writers cannot lose each other's change: a concurrent
//! create cannot resurrect a revoked token) and land by atomic rename (so readers, who take no
//! lock, see the old document or the new one, never half of one).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// A file modified this recently is read again even when its metadata looks unchanged: file
/// times come from a coarse clock, so two writes within one tick can leave the same mtime (and
/// a recycled inode number). Racy git's rule, with a wide margin.
const RACY: Duration = Duration::from_secs(1);

/// What identifies one version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// A cached copy: the stamp it was read under, and whether that stamp can be trusted later.
#[derive(Debug)]
struct Cached<T> {
    stamp: Stamp,
    settled: bool,
    value: Arc<T>,
}

/// A JSON document of type `T`, owner-readable only (0600).
#[derive(Debug)]
pub(crate) struct SharedJson<T> {
    path: PathBuf,
    cached: Mutex<Option<Cached<T>>>,
}

impl<T: Serialize + DeserializeOwned + Default> SharedJson<T> {
    /// The document at `path` (a missing file reads as `T::default()`).
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            cached: Mutex::new(None),
        }
    }

    /// Where it is kept.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The current document: read again whenever the file may have changed. A change whose
    /// writer has returned is always seen.
    pub(crate) fn current(&self) -> Result<Arc<T>> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Arc::default()),
            Err(e) => return Err(self.io(e)),
        };
        let stamp = Stamp::of(&meta);
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached.as_ref()
            && c.settled
            && c.stamp == stamp
        {
            return Ok(Arc::clone(&c.value));
        }
        // Read first, then decide whether the stamp seen before reading can be trusted: only
        // if the file had not been touched for a while when we looked.
        let value = Arc::new(self.read()?);
        let settled = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age > RACY);
        *cached = Some(Cached {
            stamp,
            settled,
            value: Arc::clone(&value),
        });
        Ok(value)
    }

    /// Changes the document under the file's lock: reads it, lets `change` edit it, and
    /// writes it back (atomically) when `change` says it changed something.
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut T) -> (bool, R)) -> Result<R> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let lock = self.lock()?;
        let mut doc = self.read()?;
        let (changed, result) = change(&mut doc);
        if changed {
            self.write(&doc)?;
        }
        drop(lock);
        Ok(result)
    }

    /// Takes the exclusive advisory lock (`flock`) of `<file>.lock`, waiting for another
    /// writer to finish; released when the returned file is closed.
    fn lock(&self) -> Result<File> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| self.io(e))?;
        file.lock().map_err(|e| self.io(e))?;
        Ok(file)
    }

    fn read(&self) -> Result<T> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Format {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Replaces the file atomically (write aside, sync, rename), readable by its owner only.
    /// Called with the lock held, so the staging name is ours alone.
    fn write(&self, doc: &T) -> Result<()> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".tmp");
        let staging = PathBuf::from(name);
        let json = serde_json::to_vec_pretty(doc).map_err(|source| Error::Format {
            path: self.path.clone(),
            source,
        })?;
        let mut out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&staging)
            .map_err(|e| self.io(e))?;
        out.write_all(&json)
            .and_then(|()| out.sync_all())
            .map_err(|e| self.io(e))?;
        std::fs::rename(&staging, &self.path).map_err(|e| self.io(e))?;
        // The rename itself must survive a crash too.
        if let Some(dir) = self.path.parent()
            && let Ok(dir) = File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, serde::Deserialize)]
    struct Doc {
        items: Vec<u32>,
    }

    #[test]
    fn every_change_is_seen_at_once_even_within_one_clock_tick() {
        let dir = tempfile::tempdir().unwrap();
        let writer = SharedJson::<Doc>::new(dir.path().join("doc.json"));
        let reader = SharedJson::<Doc>::new(dir.path().join("doc.json"));
        assert!(reader.current().unwrap().items.is_empty());
        for i in 0..200 {
            writer
                .update(|d| {
                    d.items.push(i);
                    (true, ())
                })
                .unwrap();
            assert_eq!(reader.current().unwrap().items.len(), i as usize + 1);
            // Same size, new content: only a fresh read can tell.
            writer
                .update(|d| {
                    d.items[i as usize] = i + 1000;
                    (true, ())
                })
                .unwrap();
            assert_eq!(reader.current().unwrap().items[i as usize], i + 1000);
        }
    }
}
