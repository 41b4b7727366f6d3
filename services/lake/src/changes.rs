//! What a table's versions hold and what they changed, read from the Delta log: the files of a
//! version, and the files that commits since a version added with new rows. Compaction's
//! commits add files with `dataChange: false` (their rows were already in the table), so a
//! reader that keeps up by version folds every row exactly once, however the files are merged.

use std::ops::RangeInclusive;

use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::logstore::{LogStoreRef, get_actions};
use futures::{StreamExt as _, TryStreamExt as _};

use crate::error::{Error, Result};
use crate::lake::{DataFile, Lake};
use crate::travel::AsOf;

/// Commits read from the store at once when catching up.
const READ_AHEAD: usize = 8;

/// The files a reader at some version must read to reach a newer one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The version they reach.
    pub version: u64,
    /// Files with rows new since the reader's version, or every file of `version` when
    /// `whole`, in path order.
    pub files: Vec<DataFile>,
    /// Whether `files` are the whole table: the reader had no version, or the log no longer
    /// holds every commit since it (older than the log's retention), so it starts again.
    pub whole: bool,
}

/// Every data file of `table`, in path order.
pub(crate) fn files_of(table: &DeltaTable) -> Result<Vec<DataFile>> {
    let mut files: Vec<DataFile> = table
        .snapshot()?
        .log_data()
        .iter()
        .map(|f| DataFile {
            path: f.path().into_owned(),
            size: f.size().max(0) as u64,
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The version of a loaded table (a table is never read before its first commit).
pub(crate) fn version_of(table: &DeltaTable) -> u64 {
    table.version().unwrap_or_default()
}

/// The files a reader at `since` must read to reach the latest version of `table` (see
/// [`Lake::changes`]).
pub(crate) async fn changes(lake: &Lake, table: &str, since: Option<u64>) -> Result<Changes> {
    let stored = lake.table(table);
    // The whole table is loaded with its files; changes are read from the log alone.
    let whole = || async {
        let latest = stored.refresh().await?;
        Ok(Changes {
            version: version_of(&latest),
            files: files_of(&latest)?,
            whole: true,
        })
    };
    let version = stored.latest_version().await?;
    let Some(since) = since.filter(|&since| since <= version) else {
        return whole().await;
    };
    let commits = read_commits(&stored.current().log_store(), since + 1..=version).await?;
    let mut files = Vec::new();
    for actions in commits {
        // A commit cleaned from the log: what happened since `since` is no longer known.
        let Some(actions) = actions else {
            return whole().await;
        };
        files.extend(actions.into_iter().filter_map(|action| match action {
            Action::Add(add) if add.data_change => Some(DataFile {
                path: add.path,
                size: add.size.max(0) as u64,
            }),
            _ => None,
        }));
    }
    files.sort();
    Ok(Changes {
        version,
        files,
        whole: false,
    })
}

/// The actions of the commits `versions` of a table's log, read a few at a time; `None` for a
/// commit no longer in the log (cleaned after its retention).
pub(crate) async fn read_commits(
    store: &LogStoreRef,
    versions: RangeInclusive<u64>,
) -> Result<Vec<Option<Vec<Action>>>> {
    futures::stream::iter(versions)
        .map(|v| {
            let store = store.clone();
            async move {
                let bytes = store.read_commit_entry(v).await?;
                bytes
                    .map(|bytes| get_actions(v, &bytes))
                    .transpose()
                    .map_err(Error::from)
            }
        })
        .buffered(READ_AHEAD)
        .try_collect()
        .await
}

/// `table` as it was at `at` ([`Error::NoVersion`] when that cannot be read).
pub(crate) async fn table_at(lake: &Lake, table: &str, at: AsOf) -> Result<DeltaTable> {
    let name = table;
    let mut table = lake.table(name).current();
    let loaded = match at {
        AsOf::Version(version) => table.load_version(version).await,
        AsOf::Time(time) => table.load_with_datetime(time).await,
    };
    loaded.map_err(|e| Error::no_version(name, at, &e))?;
    // delta-rs answers a time before the first commit with the first version.
    if let AsOf::Time(time) = at {
        let version = version_of(&table);
        let committed = table.snapshot()?.snapshot().version_timestamp(version);
        if committed.is_none_or(|c| c > time.timestamp_millis()) {
            return Err(Error::no_version(
                name,
                at,
                &"before the table's first commit",
            ));
        }
    }
    Ok(table)
}
