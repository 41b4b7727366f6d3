//! The object store of a local lake: object_store's `LocalFileSystem`, except that what follows
//! an offset in a table's `_delta_log/` is found by asking for the next versions' files by name.
//!
//! `LocalFileSystem` lists a whole folder to list what follows an offset (an S3 listing starts
//! there), and a table's log gains a commit at every flush, up to two a second under traffic,
//! kept 30 days. Every refresh of a table (each SQL statement's, each commit's) would read every
//! name in the log: 0.48 s to learn that nothing changed, 1.16 s to load one new commit, in a
//! log of 200,000 commits (Python `deltalake`, the same delta-rs and object_store, this
//! machine). Versions are consecutive, so the files after version `v` are `v+1.json`,
//! `v+1.checkpoint.parquet`, … up to the first version without a commit, and
//! `_last_checkpoint`: a few `stat`s whatever the log's length. These are the only files
//! delta-rs writes into a log (no multi-part or UUID checkpoints, no `.crc`); a listing this
//! cannot answer (an offset without the version before it, or far behind) is the whole one.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use deltalake::logstore::object_store::local::LocalFileSystem;
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{
    CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt as _, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    RenameOptions, Result,
};
use futures::stream::{self, BoxStream, StreamExt as _};

/// The name of a table's log folder.
const LOG: &str = "_delta_log";

/// How many versions past the offset are asked for by name before listing the folder instead.
const MAX_PROBES: u64 = 1_000;

/// `LocalFileSystem` with listings of a log after an offset by name (see the module).
#[derive(Debug, Default)]
pub(crate) struct LocalLog {
    inner: Arc<LocalFileSystem>,
}

impl fmt::Display for LocalLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalLog({})", self.inner)
    }
}

/// The version an offset in a log folder starts at: `prefix` is a `_delta_log` folder and
/// `offset` a file name in it starting with 20 digits.
fn log_version(prefix: Option<&Path>, offset: &Path) -> Option<u64> {
    let prefix = prefix?;
    if prefix.filename() != Some(LOG) {
        return None;
    }
    let name = offset
        .as_ref()
        .strip_prefix(prefix.as_ref())?
        .strip_prefix('/')?;
    let digits = name.get(..20)?;
    if name.contains('/') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl LocalLog {
    /// `path`'s metadata, `None` when there is no such file.
    async fn meta(&self, path: &Path) -> Result<Option<ObjectMeta>> {
        match self.inner.head(path).await {
            Ok(meta) => Ok(Some(meta)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The log's files after `offset` (which starts with version `from`), by name; `None` when
    /// the names cannot tell (no commit `from - 1`, so the log may not be consecutive from
    /// there, or more than [`MAX_PROBES`] versions).
    async fn after(&self, log: &Path, offset: &Path, from: u64) -> Result<Option<Vec<ObjectMeta>>> {
        let file = |name: String| Path::from(format!("{log}/{name}"));
        let before = from.checked_sub(1).map(|v| file(format!("{v:020}.json")));
        let Some(before) = before else {
            return Ok(None);
        };
        if self.meta(&before).await?.is_none() {
            return Ok(None);
        }
        let mut found = Vec::new();
        for version in from.. {
            if version - from >= MAX_PROBES {
                return Ok(None);
            }
            let commit = self.meta(&file(format!("{version:020}.json"))).await?;
            let checkpoint = self
                .meta(&file(format!("{version:020}.checkpoint.parquet")))
                .await?;
            if commit.is_none() && checkpoint.is_none() {
                break;
            }
            found.extend(commit.into_iter().chain(checkpoint));
        }
        found.extend(self.meta(&file("_last_checkpoint".to_owned())).await?);
        found.retain(|meta| meta.location > *offset);
        found.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(Some(found))
    }
}

#[async_trait]
impl ObjectStore for LocalLog {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let (Some(from), Some(log)) = (log_version(prefix, offset), prefix) else {
            return self.inner.list_with_offset(prefix, offset);
        };
        let store = Self {
            inner: Arc::clone(&self.inner),
        };
        let (log, offset) = (log.clone(), offset.clone());
        stream::once(async move {
            let listed: Vec<Result<ObjectMeta>> = match store.after(&log, &offset, from).await {
                Ok(Some(found)) => found.into_iter().map(Ok).collect(),
                Ok(None) => {
                    store
                        .inner
                        .list_with_offset(Some(&log), &offset)
                        .collect()
                        .await
                }
                Err(e) => vec![Err(e)],
            };
            stream::iter(listed)
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt as _;

    use super::*;

    /// Locations listed after `offset` in `log`, sorted.
    async fn listed(store: &dyn ObjectStore, log: &Path, offset: &str) -> Vec<String> {
        let offset = Path::from(format!("{log}/{offset}"));
        let mut names: Vec<String> = store
            .list_with_offset(Some(log), &offset)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        names.sort();
        names
    }

    /// A log of commits 0–29 with checkpoints at 10 and 20, then the first 5 commits cleaned up
    /// and a stray file: every offset lists what `LocalFileSystem` lists (but the stray file,
    /// which only the full listing sees), by name where a commit precedes the offset.
    #[tokio::test]
    async fn a_log_after_an_offset_is_what_the_folder_lists() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("events").join(LOG);
        std::fs::create_dir_all(&dir).unwrap();
        for v in 5..30 {
            std::fs::write(dir.join(format!("{v:020}.json")), b"{}\n").unwrap();
        }
        for v in [10, 20] {
            std::fs::write(dir.join(format!("{v:020}.checkpoint.parquet")), b"x").unwrap();
        }
        std::fs::write(dir.join("_last_checkpoint"), b"{\"version\":20}").unwrap();
        let log = Path::from_filesystem_path(&dir).unwrap();
        let (ours, plain) = (LocalLog::default(), LocalFileSystem::new());
        for offset in [0, 4, 5, 6, 10, 11, 20, 21, 29, 30, 31, 100] {
            for suffix in ["", ".json", ".checkpoint.parquet"] {
                let offset = format!("{offset:020}{suffix}");
                assert_eq!(
                    listed(&ours, &log, &offset).await,
                    listed(&plain, &log, &offset).await,
                    "{offset}"
                );
            }
        }
        // A name the log never holds: seen only where the folder is listed (no commit 4).
        std::fs::write(dir.join("00000000000000000025.crc"), b"").unwrap();
        let names = listed(&ours, &log, "00000000000000000021").await;
        assert!(!names.iter().any(|n| n.ends_with(".crc")), "{names:?}");
        let names = listed(&ours, &log, "00000000000000000005").await;
        assert!(names.iter().any(|n| n.ends_with(".crc")), "{names:?}");
        // Other folders and offsets: the plain listing.
        let table = Path::from_filesystem_path(tmp.path().join("events")).unwrap();
        let all: Vec<ObjectMeta> = ours.list(Some(&table)).try_collect().await.unwrap();
        assert_eq!(all.len(), 25 + 2 + 1 + 1);
    }

    /// A lake's refreshes go through it: a stray commit file five versions ahead, which the
    /// whole listing would show (a log with a gap, refused), is never asked for.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lake_refreshes_without_listing_its_log() {
        use crate::{Commit, EVENTS_TABLE, Lake, LakeLocation, QueryEngine};
        use parwatch_proto::Channel;
        use parwatch_proto::testing::TestEvent;

        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
        let engine = QueryEngine::new(&lake).unwrap();
        let write = |i: u64| {
            let lake = lake.clone();
            tokio::task::spawn_blocking(move || {
                let event = TestEvent::received(Channel::Online)
                    .id(format!("e{i}"))
                    .dossier(format!("D{i}"))
                    .build();
                let commit = Commit::of_event(event, i + 1);
                lake.write(&commit, chrono::Utc::now(), &mut Default::default())
            })
        };
        write(0).await.unwrap().unwrap();
        let version = lake.stats(EVENTS_TABLE).version;
        let stray = tmp
            .path()
            .join(format!("events/{LOG}/{:020}.json", version + 5));
        std::fs::write(&stray, b"not a commit\n").unwrap();
        for i in 1..4 {
            write(i).await.unwrap().unwrap();
            let out = engine.sql("SELECT count(*) FROM events").await.unwrap();
            let count = out.batches[0]
                .column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .unwrap()
                .value(0);
            assert_eq!(count, i as i64 + 1);
        }
        assert_eq!(lake.stats(EVENTS_TABLE).version, version + 3);
    }
}
