//! Durable file writes, the lake's one way to put a file in place: write it to `_staging/`,
//! fsync it, rename it into its directory and fsync the directory. A reader sees the whole
//! file or nothing, and once a write returns, a crash cannot lose it. Table files
//! (`writer.rs`, `compact.rs`) and projection snapshots (`snapshot.rs`) are written this way.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Mode of every file the lake writes (events, rejections, snapshots, markers): the service
/// reads and writes, its group (a backup or reporting account) reads, nobody else. Citizens'
/// raw submissions are in these files.
pub(crate) const FILE_MODE: u32 = 0o640;
/// Mode of every directory the lake makes, the data directory included when it makes it.
pub(crate) const DIR_MODE: u32 = 0o750;

/// Temporary files are written here, outside every table directory, so no reader sees them.
pub(crate) const STAGING: &str = "_staging";

/// `create_dir_all`, making each missing directory with [`DIR_MODE`].
pub(crate) fn create_dirs(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// A new (or truncated) file for writing, with [`FILE_MODE`].
pub(crate) fn create_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// A durable file in staging, not yet in any table.
pub(crate) struct Staged {
    path: PathBuf,
    /// Its size.
    pub(crate) bytes: u64,
}

/// Writes `batch` as `dir/name` atomically and durably: [`stage`], then [`publish`]. Returns
/// the bytes written.
pub(crate) fn durable_write(
    root: &Path,
    dir: &Path,
    name: &str,
    batch: &RecordBatch,
    properties: WriterProperties,
) -> Result<u64> {
    let staged = stage(root, batch, properties)?;
    publish(&staged, dir, name)?;
    Ok(staged.bytes)
}

/// Writes `batch` as a new Parquet file in the staging directory of the lake at `root`,
/// outside every table, and fsyncs it.
pub(crate) fn stage(
    root: &Path,
    batch: &RecordBatch,
    properties: WriterProperties,
) -> Result<Staged> {
    // A unique name, so concurrent writers never share a file.
    let path = root.join(STAGING).join(part_name(0, 0));
    let file = create_file(&path).map_err(Error::io(&path))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
        .map_err(Error::parquet(&path))?;
    writer.write(batch).map_err(Error::parquet(&path))?;
    let file = writer.into_inner().map_err(Error::parquet(&path))?;
    file.sync_all().map_err(Error::io(&path))?;
    let bytes = file.metadata().map_err(Error::io(&path))?.len();
    Ok(Staged { path, bytes })
}

/// Moves a staged file to `dir/name` atomically and makes the move durable: fsyncs the
/// directory (and its parent when it was created). On failure the file is in neither place,
/// so a retry cannot store its rows twice.
pub(crate) fn publish(staged: &Staged, dir: &Path, name: &str) -> Result<()> {
    let discard = |e: Error, path: &Path| {
        let _ = std::fs::remove_file(path);
        e
    };
    let created_dir = !dir.exists();
    create_dirs(dir).map_err(|e| discard(Error::io(dir)(e), &staged.path))?;
    let target = dir.join(name);
    std::fs::rename(&staged.path, &target)
        .map_err(|e| discard(Error::io(&target)(e), &staged.path))?;
    sync_dir(dir).map_err(|e| discard(e, &target))?;
    if created_dir && let Some(parent) = dir.parent() {
        sync_dir(parent).map_err(|e| discard(e, &target))?;
    }
    Ok(())
}

/// Removes staged files left by a writer that died before publishing them (an hour old:
/// no live writer takes that long).
pub(crate) fn clear_stale_staging(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root.join(STAGING)) else {
        return;
    };
    for entry in entries.flatten() {
        let age = entry.metadata().and_then(|m| m.modified()).ok();
        if age
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A unique file name recording the stream sequences it holds.
pub(crate) fn part_name(lo: u64, hi: u64) -> String {
    let unique = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "part-{lo:020}-{hi:020}-{}-{unique}.parquet",
        std::process::id()
    )
}

/// Fsyncs a directory, making the entries made or renamed in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}
