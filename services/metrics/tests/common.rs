//! Builds a real lake from test events (validated by the contract) and a projector over it.

use std::sync::Arc;

use chrono::NaiveDate;
use parwatch_lake::{Commit, Lake, LakeLocation, StoredEvent};
use parwatch_metrics::{Bucket, Point, Projector, Rollups, metric};
use parwatch_proto::testing::TestEvent;

/// Event `id` of a test: `e<id>`, the stream sequence `id + 1`.
pub(crate) fn event(id: usize, event: &TestEvent) -> StoredEvent<'static> {
    StoredEvent {
        event: event.clone().id(format!("e{id}")).build(),
        stream_seq: id as u64 + 1,
    }
}

/// Writes the events in the given groups (one commit, i.e. one set of files, per group).
pub(crate) fn lake_with(groups: Vec<Vec<StoredEvent<'static>>>) -> (tempfile::TempDir, Lake) {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
    for events in groups {
        let commit = Commit {
            events,
            rejected: vec![],
        };
        lake.write(&commit, chrono::Utc::now(), &mut Default::default())
            .unwrap();
    }
    (tmp, lake)
}

pub(crate) fn projector(lake: &Lake) -> Arc<Projector> {
    let projector = Arc::new(Projector::new(lake.clone()));
    projector.catch_up(&mut |_, _| {}).unwrap();
    projector
}

/// Three orders of `n` events: as listed, scrambled, reversed.
pub(crate) fn arrival_orders(n: usize) -> [Vec<usize>; 3] {
    [
        (0..n).collect(),
        (0..n).map(|i| (i * 7 + 3) % n).collect(),
        (0..n).rev().collect(),
    ]
}

pub(crate) fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// (bucket, value, numerator, denominator) of each point.
pub(crate) type Row = (String, Option<f64>, Option<i64>, Option<i64>);

pub(crate) fn values(
    p: &Rollups,
    name: &str,
    from: &str,
    to: &str,
    bucket: Bucket,
    agency: Option<&str>,
) -> Vec<Row> {
    let series = p
        .series(
            metric(name).unwrap(),
            date(from),
            date(to),
            bucket,
            agency,
            false,
        )
        .unwrap();
    assert_eq!(series.len(), 1);
    series[0]
        .points
        .iter()
        .map(
            |Point {
                 bucket,
                 value,
                 numerator,
                 denominator,
             }| { (bucket.to_string(), *value, *numerator, *denominator) },
        )
        .collect()
}

pub(crate) fn rate(b: &str, n: i64, d: i64) -> Row {
    (
        b.to_owned(),
        (d != 0).then(|| n as f64 / d as f64),
        Some(n),
        Some(d),
    )
}
