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
//!
//! Also here: the guard that keeps a write from landing in a partition while compaction swaps
//! it, and the listing of a table's files. Functions take the lake's root directory; `lake.rs`
//! and compaction call them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;

use crate::durable::{create_dirs, create_file, sync_dir};
use crate::error::{Error, Result};

/// Directory of every table's generations, beside the tables.
const GENERATIONS: &str = "generations";
/// How long a replaced generation is kept for queries that started before the swap.
pub(crate) const GRACE: Duration = Duration::from_secs(600);
/// Suffix of the marker that retires a generation root.
const RETIRED: &str = "retired";

static GENERATION_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Held by writes and by compaction of a partition, so neither sees the other half done.
/// Clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartitionGuard(Arc<Mutex<()>>);

impl PartitionGuard {
    /// Waits for the guard and holds it until the result is dropped.
    pub(crate) fn hold(&self) -> MutexGuard<'_, ()> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Directory of one table of the lake at `root`.
pub(crate) fn table_dir(root: &Path, table: &str) -> PathBuf {
    root.join(table)
}

/// The directory new files of a partition go to (through its symlink), creating the
/// partition when it is new. Call with the [`PartitionGuard`] held.
pub(crate) fn partition_dir(
    root: &Path,
    table: &str,
    column: &str,
    day: NaiveDate,
) -> Result<PathBuf> {
    let name = format!("{column}={day}");
    let link = table_dir(root, table).join(&name);
    match std::fs::symlink_metadata(&link) {
        Ok(_) => Ok(link),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let generation = new_generation(root, table, &name)?;
            point(root, &link, &generation)?;
            Ok(link)
        }
        Err(e) => Err(Error::io(&link)(e)),
    }
}

/// Creates `generations/<table>/<new id>/<name>/`.
pub(crate) fn new_generation(root: &Path, table: &str, name: &str) -> Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = GENERATION_COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = format!("g{nanos:x}-{}-{n}", std::process::id());
    let tables = root.join(GENERATIONS).join(table);
    let dir = tables.join(&id).join(name);
    create_dirs(&dir).map_err(Error::io(&dir))?;
    // Every new directory entry is made durable before a symlink may point at it.
    for synced in [tables.join(&id), tables.clone(), root.join(GENERATIONS)] {
        sync_dir(&synced)?;
    }
    Ok(dir)
}

/// Points the symlink `link` at `target` atomically (a new symlink renamed over it).
pub(crate) fn point(root: &Path, link: &Path, target: &Path) -> Result<()> {
    let table_dir = link.parent().expect("a partition is inside its table");
    let relative = Path::new("..").join(
        target
            .strip_prefix(root)
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
pub(crate) fn generation_roots(root: &Path, table: &str) -> Result<Vec<PathBuf>> {
    let mut roots = Vec::new();
    for link in partition_links(&table_dir(root, table))? {
        // A partition swapped or created between listing and resolving is still whole.
        if let Ok(real) = std::fs::canonicalize(&link)
            && let Some(generation) = real.parent()
        {
            roots.push(generation.to_path_buf());
        }
    }
    roots.sort();
    Ok(roots)
}

/// Marks the generation root `root` as replaced; it is deleted once [`GRACE`] has passed.
pub(crate) fn retire(root: &Path) -> Result<()> {
    let marker = retired_marker(root);
    create_file(&marker).map(drop).map_err(Error::io(&marker))
}

/// Deletes generations retired more than [`GRACE`] ago, and retires generations no
/// partition points to (left by a crash between writing and swapping). Call with the
/// [`PartitionGuard`] held.
pub(crate) fn collect_generations(root: &Path, table: &str) -> Result<usize> {
    let tables = root.join(GENERATIONS).join(table);
    let Ok(entries) = std::fs::read_dir(&tables) else {
        return Ok(0);
    };
    let live: std::collections::HashSet<PathBuf> =
        generation_roots(root, table)?.into_iter().collect();
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
                let generation = path.with_extension("");
                std::fs::remove_dir_all(&generation)
                    .or_else(|e| {
                        if e.kind() == std::io::ErrorKind::NotFound {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(Error::io(&generation))?;
                std::fs::remove_file(&path).map_err(Error::io(&path))?;
                removed += 1;
            }
        } else if path.is_dir()
            && !live.contains(&std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()))
            && !retired_marker(&path).exists()
        {
            retire(&path)?;
        }
    }
    Ok(removed)
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

/// Every `*.parquet` file under `dir`, recursively, in path order.
pub(crate) fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(Error::io(&dir))? {
            let path = entry.map_err(Error::io(&dir))?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
