//! The projections by Delta version: a past version answers as the projection did then (with
//! late events restating an old bucket since), and a projector restored far behind, whose
//! added files compaction merged and vacuum removed, folds every event again, each once.

use chrono::{DateTime, Utc};
use parwatch_lake::{AsOf, CompactionPolicy, EVENTS_TABLE};
use parwatch_metrics::{Bucket, Error, Projector, Rollups, metric};

use crate::common::{date, event, lake_with, projector, values};

/// The hand-checked plans and tasks of `governance.golden`, split at 1 April 2024: on 2 April
/// a plan activity done in March is reopened, which restates March.
fn before_and_after() -> (
    Vec<usize>,
    Vec<usize>,
    Vec<parwatch_proto::testing::TestEvent>,
) {
    let specs = crate::golden::events("governance.golden");
    let cut = DateTime::parse_from_rfc3339("2024-04-01T00:00:00+07:00").unwrap();
    let (before, after) = (0..specs.len()).partition(|&i| specs[i].build().occurred_at < cut);
    (before, after, specs)
}

/// What the endpoints read of a projection: March's plan completion of agency A, and the
/// ranking of the first half of 2024.
fn answers(p: &Rollups) -> String {
    let march = values(
        p,
        "plan_completion",
        "2024-03-01",
        "2024-03-31",
        Bucket::Month,
        Some("A"),
    );
    let ranking = p.ranking(
        metric("plan_completion").unwrap(),
        date("2024-01-01"),
        date("2024-06-30"),
    );
    format!("{march:?} {ranking:?}")
}

#[test]
fn a_past_version_answers_as_the_projection_did_then() {
    let (before, after, specs) = before_and_after();
    let (_tmp, lake) = lake_with(vec![before.iter().map(|&i| event(i, &specs[i])).collect()]);
    let projector = projector(&lake);
    let then = projector.version().expect("caught up");
    let said_then = answers(&projector.rollups());
    let committed_then: DateTime<Utc> = Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(50));

    let commit = parwatch_lake::Commit {
        events: after.iter().map(|&i| event(i, &specs[i])).collect(),
        rejected: vec![],
    };
    lake.write(&commit, Utc::now(), &mut Default::default())
        .unwrap();
    projector.catch_up(&mut |_, _| {}).unwrap();
    let now = projector.version().expect("caught up");
    let says_now = answers(&projector.rollups());
    assert!(now > then);
    assert_ne!(says_now, said_then, "the late events restate March");

    for at in [AsOf::Version(then), AsOf::Time(committed_then)] {
        let past = projector.at(at).unwrap();
        assert_eq!(past.version(), Some(then), "{at:?}");
        assert_eq!(answers(&past), said_then, "{at:?}");
    }
    let latest = projector.at(AsOf::Version(now)).unwrap();
    assert_eq!((latest.version(), answers(&latest)), (Some(now), says_now));

    let before_the_lake = AsOf::Time("2000-01-01T00:00:00Z".parse().unwrap());
    for at in [AsOf::Version(now + 100), before_the_lake] {
        match projector.at(at) {
            Err(Error::Lake(parwatch_lake::Error::NoVersion(message))) => {
                assert!(message.contains("has no version"), "{message}")
            }
            other => panic!("{at:?}: {other:?}"),
        }
    }
}

#[test]
fn a_projector_far_behind_folds_every_event_again_once() {
    let (before, after, specs) = before_and_after();
    let (_tmp, lake) = lake_with(vec![before.iter().map(|&i| event(i, &specs[i])).collect()]);
    projector(&lake).save().unwrap();
    // Two more commits, then merged into one file and the originals vacuumed at once.
    let half = after.len() / 2;
    for part in [&after[..half], &after[half..]] {
        let commit = parwatch_lake::Commit {
            events: part.iter().map(|&i| event(i, &specs[i])).collect(),
            rejected: vec![],
        };
        lake.write(&commit, Utc::now(), &mut Default::default())
            .unwrap();
    }
    let policy = CompactionPolicy {
        max_files: 2,
        retention: std::time::Duration::ZERO,
        ..Default::default()
    };
    let compacted = lake.compact(&policy).unwrap();
    assert!(
        compacted.compactions > 0 && compacted.files_deleted > 0,
        "{compacted:?}"
    );

    // The versions before the compaction can no longer be read: a client error, no path.
    match fresh_at_first(&lake) {
        Err(Error::Lake(parwatch_lake::Error::NoVersion(message))) => {
            assert!(!message.contains("/tmp"), "{message}")
        }
        other => panic!("a vacuumed version: {:?}", other.map(|r| r.version())),
    }

    let restored = Projector::load(lake.clone()).unwrap();
    assert!(restored.version().is_some(), "restored from the snapshot");
    restored.catch_up(&mut |_, _| {}).unwrap();
    let fresh = projector(&lake);
    assert_eq!(restored.version(), Some(lake.stats(EVENTS_TABLE).version));
    assert_eq!(restored.rollups().event_count(), specs.len() as u64);
    assert_eq!(answers(&restored.rollups()), answers(&fresh.rollups()));
}

/// The projection of the first commit with events (version 1), by a projector of its own.
fn fresh_at_first(lake: &parwatch_lake::Lake) -> parwatch_metrics::Result<std::sync::Arc<Rollups>> {
    Projector::new(lake.clone()).at(AsOf::Version(1))
}
