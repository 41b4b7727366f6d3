//! A process writes its commits without loading the table after each, and keeps the figures
//! of its own commits: they equal what a fresh load of the log says, across compactions
//! landed between its commits, and its 100th version writes a checkpoint as delta-rs would.

use std::future::IntoFuture as _;
use std::time::Duration;

use parwatch_lake::{
    Commit, CompactionPolicy, EVENTS_TABLE, Lake, LakeLocation, StoredEvent, TableStats,
};
use parwatch_proto::Channel;
use parwatch_proto::testing::TestEvent;

/// A commit of `n` events from stream sequence `first` on.
fn commit(first: u64, n: u64) -> Commit<'static> {
    let events = (first..first + n)
        .map(|i| StoredEvent {
            event: TestEvent::received(Channel::Online)
                .id(format!("e{i}"))
                .at(format!("2024-0{}-1{}T09:00:00+07:00", 1 + i % 9, i % 10).as_str())
                .source("t")
                .agency(format!("A{}", i % 7))
                .dossier(format!("D{i}"))
                .build(),
            stream_seq: i,
        })
        .collect();
    Commit {
        events,
        rejected: vec![],
    }
}

/// The figures, but when they were committed (this process's clock, or the log's).
fn figures(stats: TableStats) -> TableStats {
    TableStats {
        committed_at: None,
        ..stats
    }
}

#[test]
fn figures_kept_over_own_commits_equal_a_fresh_load_and_checkpoints_are_written() {
    let tmp = tempfile::tempdir().unwrap();
    let location = LakeLocation::local(tmp.path()).unwrap();
    let lake = Lake::open(&location).unwrap();
    let fresh = || figures(Lake::open(&location).unwrap().stats(EVENTS_TABLE));
    let compacting = CompactionPolicy {
        max_files: 8,
        idle: Duration::ZERO,
        retention: Duration::ZERO,
    };
    let (mut next, mut compactions) = (1, 0);
    // Version 0 created the table; commits 1–99 follow, compactions among them.
    while lake.stats(EVENTS_TABLE).version < 99 {
        lake.write(
            &commit(next, 10),
            chrono::Utc::now(),
            &mut Default::default(),
        )
        .unwrap();
        next += 10;
        let kept = lake.stats(EVENTS_TABLE);
        assert_eq!(kept.position, Some(next - 1));
        let (version, files) = (kept.version, kept.files);
        if version % 20 == 0 {
            assert_eq!(figures(kept), fresh(), "at version {version}");
        }
        if files >= 12 && version < 95 {
            compactions += lake.compact(&compacting).unwrap().compactions;
            // The next commit lands after the compaction's, which it reads first.
        }
    }
    assert!(compactions >= 3, "{compactions} compactions");
    assert_eq!(figures(lake.stats(EVENTS_TABLE)), fresh());
    let stats = lake.stats(EVENTS_TABLE);
    assert_eq!(stats.rows, next - 1, "every event counted once");
    assert_eq!(stats.files, lake.files(EVENTS_TABLE).unwrap().len());
    assert_eq!(lake.partitions(1).unwrap()[0].position, Some(next - 1));
    assert_eq!(
        lake.commit_conflicts(),
        0,
        "a compaction is not another writer"
    );
    let log = tmp.path().join("events/_delta_log");
    assert!(
        log.join(format!("{:020}.checkpoint.parquet", 99)).exists(),
        "the 100th version is checkpointed"
    );
    assert!(log.join("_last_checkpoint").exists());
    assert_eq!(
        lake.load_index().unwrap().event_count(),
        (next - 1) as usize
    );
}

/// Another writer changes the table's properties (a metadata commit): this process's next
/// commit over it is refused as delta-rs would refuse it, not fenced, and its retry lands once.
#[test]
fn a_commit_over_a_metadata_change_fails_and_its_retry_lands_once() {
    let tmp = tempfile::tempdir().unwrap();
    let location = LakeLocation::local(tmp.path()).unwrap();
    let lake = Lake::open(&location).unwrap();
    lake.write(&commit(1, 10), chrono::Utc::now(), &mut Default::default())
        .unwrap();
    let other = lake.delta_table(EVENTS_TABLE).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let properties = [(
        "delta.logRetentionDuration".to_owned(),
        "interval 40 days".to_owned(),
    )];
    runtime
        .block_on(
            other
                .set_tbl_properties()
                .with_properties(properties.into())
                .into_future(),
        )
        .unwrap();
    let mut progress = Default::default();
    let err = lake
        .write(&commit(11, 10), chrono::Utc::now(), &mut progress)
        .unwrap_err();
    assert!(!matches!(err, parwatch_lake::Error::Fenced(_)), "{err}");
    assert!(err.to_string().contains("metadata"), "{err}");
    lake.write(&commit(11, 10), chrono::Utc::now(), &mut progress)
        .unwrap();
    assert_eq!(progress.files, 1, "the file uploaded once");
    let stats = lake.stats(EVENTS_TABLE);
    assert_eq!((stats.rows, stats.position), (20, Some(20)));
    assert_eq!(
        figures(stats),
        figures(Lake::open(&location).unwrap().stats(EVENTS_TABLE))
    );
}
