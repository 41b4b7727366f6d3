//! Partitions as generations: what lets compaction replace a partition's files atomically.
//!
//! `events/event_date=2024-04-01` is a symlink to the partition's current generation,
//! `generations/events/<id>/event_date=2024-04-01/`. New files are written into the current
//! generation; compaction writes a merged file into a new generation and swaps the symlink in
//! one `rename`. Queries resolve every symlink once, when they start, and read the generation
//! directories themselves, so a query sees either all the old files or the merged one, never
//! both and never neither; a replaced generation is deleted only after a grace period, so
//! queries that started before the swap can finish. Other engines read the tables through
//! the symlinks (`events/*/*.parquet`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::writer::{FILE_MODE, Lake, create_dirs, create_file, sync_dir};

/// Directory of every table's generations, beside the tables.
const GENERATIONS: &str = "generations";
/// How long a replaced generation is kept for queries that started before the swap.
pub(crate) const GRACE: Duration = Duration::from_secs(600);
/// Suffix of the marker that retires a generation root.
const RETIRED: &str = "retired";

static GENERATION_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Lake {
    /// The directory new files of a partition go to (through its symlink), creating the
    /// partition when it is new. Call with the write guard held.
    pub(crate) fn partition_dir(
        &self,
        table: &str,
        column: &str,
        day: NaiveDate,
    ) -> Result<PathBuf> {
        let name = format!("{column}={day}");
        let link = self.table_dir(table).join(&name);
        match std::fs::symlink_metadata(&link) {
            Ok(_) => Ok(link),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let generation = self.new_generation(table, &name)?;
                self.point(&link, &generation)?;
                Ok(link)
            }
            Err(e) => Err(Error::io(&link)(e)),
        }
    }

    /// Creates `generations/<table>/<new id>/<name>/`.
    pub(crate) fn new_generation(&self, table: &str, name: &str) -> Result<PathBuf> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let n = GENERATION_COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("g{nanos:x}-{}-{n}", std::process::id());
        let tables = self.root().join(GENERATIONS).join(table);
        let dir = tables.join(&id).join(name);
        create_dirs(&dir).map_err(Error::io(&dir))?;
        // Every new directory entry is made durable before a symlink may point at it.
        for synced in [
            tables.join(&id),
            tables.clone(),
            self.root().join(GENERATIONS),
        ] {
            sync_dir(&synced)?;
        }
        Ok(dir)
    }

    /// Points the symlink `link` at `target` atomically (a new symlink renamed over it).
    pub(crate) fn point(&self, link: &Path, target: &Path) -> Result<()> {
        let table_dir = link.parent().expect("a partition is inside its table");
        let relative = Path::new("..").join(
            target
                .strip_prefix(self.root())
                .expect("generations are inside the lake"),
        );
        let name = link.file_name().expect("named").to_string_lossy();
        let tmp = table_dir.join(format!(".{name}.link"));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&relative, &tmp).map_err(Error::io(&tmp))?;
        std::fs::rename(&tmp, link).map_err(Error::io(link))?;
        sync_dir(table_dir)
    }

    /// The generation root (`generations/<table>/<id>/`) of every partition of a table, as
    /// it is now: one consistent view of the table for a query.
    pub fn generation_roots(&self, table: &str) -> Result<Vec<PathBuf>> {
        let mut roots = Vec::new();
        for link in partition_links(&self.table_dir(table))? {
            // A partition swapped or created between listing and resolving is still whole.
            if let Ok(real) = std::fs::canonicalize(&link)
                && let Some(root) = real.parent()
            {
                roots.push(root.to_path_buf());
            }
        }
        roots.sort();
        Ok(roots)
    }

    /// Marks a generation root as replaced; it is deleted once [`GRACE`] has passed.
    pub(crate) fn retire(&self, root: &Path) -> Result<()> {
        let marker = retired_marker(root);
        create_file(&marker).map(drop).map_err(Error::io(&marker))
    }

    /// Deletes generations retired more than [`GRACE`] ago, and retires generations no
    /// partition points to (left by a crash between writing and swapping). Call with the write
    /// guard held.
    pub(crate) fn collect_generations(&self, table: &str) -> Result<usize> {
        let tables = self.root().join(GENERATIONS).join(table);
        let Ok(entries) = std::fs::read_dir(&tables) else {
            return Ok(0);
        };
        let live: std::collections::HashSet<PathBuf> =
            self.generation_roots(table)?.into_iter().collect();
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == RETIRED) {
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                if age >= GRACE {
                    let root = path.with_extension("");
                    std::fs::remove_dir_all(&root)
                        .or_else(|e| {
                            if e.kind() == std::io::ErrorKind::NotFound {
                                Ok(())
                            } else {
                                Err(e)
                            }
                        })
                        .map_err(Error::io(&root))?;
                    std::fs::remove_file(&path).map_err(Error::io(&path))?;
                    removed += 1;
                }
            } else if path.is_dir()
                && !live.contains(&std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()))
                && !retired_marker(&path).exists()
            {
                self.retire(&path)?;
            }
        }
        Ok(removed)
    }
}

fn retired_marker(root: &Path) -> PathBuf {
    root.with_extension(RETIRED)
}

/// The partition symlinks of a table directory.
pub(crate) fn partition_links(table_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut links = Vec::new();
    for entry in std::fs::read_dir(table_dir).map_err(Error::io(table_dir))? {
        let entry = entry.map_err(Error::io(table_dir))?;
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with('.')
            && entry.file_type().is_ok_and(|t| t.is_symlink())
        {
            links.push(entry.path());
        }
    }
    links.sort();
    Ok(links)
}

/// Exclusive right to write a lake, held by one ingest worker at a time (an `flock` on
/// `lake/LOCK`, released when dropped or when the process dies).
#[derive(Debug)]
pub struct WriterLock {
    _file: std::fs::File,
}

impl Lake {
    /// Takes the writer lock, or fails at once when another process holds it: two writers
    /// would race compaction against each other's files.
    pub fn lock_for_writing(&self) -> Result<WriterLock> {
        use std::os::fd::AsRawFd;
        let path = self.root().join("LOCK");
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
        self.clear_stale_staging();
        Ok(WriterLock { _file: file })
    }
}
