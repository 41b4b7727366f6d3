//! Rows a newer publisher wrote, holding values this build's contract does not know: the
//! projector counts them per column and value and folds the rest, never guessing.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use parwatch_lake::{EVENTS_TABLE, EventColumn, Lake, LakeLocation, events_schema};
use parwatch_metrics::Projector;
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{ActivityStatus, Channel, ServiceMode};

use crate::common::{event, lake_with, projector};

/// Every row of a lake's `events`, all columns.
fn rows(lake: &Lake) -> RecordBatch {
    let names: Vec<&str> = EventColumn::ALL.iter().map(|c| c.name()).collect();
    let mut batches = Vec::new();
    for file in lake.files(EVENTS_TABLE).unwrap() {
        batches.extend(
            lake.read_file(EVENTS_TABLE, &file.path, &names, None)
                .unwrap(),
        );
    }
    datafusion::arrow::compute::concat_batches(&events_schema(), &batches).unwrap()
}

/// `batch` with `column`'s text replaced by `edit` (given the row's event id and value).
fn edited(
    batch: &RecordBatch,
    column: EventColumn,
    edit: impl Fn(&str, Option<&str>) -> Option<String>,
) -> RecordBatch {
    let ids = batch.column_by_name("event_id").unwrap().as_string::<i32>();
    let old = batch
        .column_by_name(column.name())
        .unwrap()
        .as_string::<i32>();
    let new: StringArray = (0..batch.num_rows())
        .map(|i| edit(ids.value(i), (!old.is_null(i)).then(|| old.value(i))))
        .collect();
    let columns: Vec<ArrayRef> = EventColumn::ALL
        .iter()
        .zip(batch.columns())
        .map(|(c, a)| {
            if *c == column {
                Arc::new(new.clone())
            } else {
                Arc::clone(a)
            }
        })
        .collect();
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

#[test]
fn values_a_newer_publisher_sent_are_counted_not_folded_nor_dropped() {
    let specs = [
        TestEvent::received(Channel::Online)
            .online_mode(ServiceMode::Full)
            .dossier("D-fax"),
        TestEvent::received(Channel::Online)
            .online_mode(ServiceMode::Partial)
            .dossier("D-hybrid"),
        TestEvent::received(Channel::Counter).dossier("D-counter"),
        TestEvent::received(Channel::Postal).dossier("D-fax-2"),
        TestEvent::plan_activity("PA-1", ActivityStatus::Done),
        TestEvent::plan_activity("PA-2", ActivityStatus::Planned),
    ];
    let written: Vec<_> = specs.iter().enumerate().map(|(i, s)| event(i, s)).collect();
    let (_tmp, today) = lake_with(vec![written]);
    // The same rows as a newer publisher's build stored them: two fax receipts, a `hybrid`
    // online mode, and a plan activity `paused`.
    let newer = edited(
        &rows(&today),
        EventColumn::Channel,
        |id, channel| match id {
            "e0" | "e3" => Some("fax".into()),
            _ => channel.map(str::to_owned),
        },
    );
    let newer = edited(&newer, EventColumn::OnlineMode, |id, mode| match id {
        "e1" => Some("hybrid".into()),
        _ => mode.map(str::to_owned),
    });
    let newer = edited(&newer, EventColumn::Data, |id, data| {
        let data = data.unwrap().to_owned();
        Some(match id {
            "e4" => data.replace("\"done\"", "\"paused\""),
            _ => data,
        })
    });
    let (_tmp, lake) = lake_holding(newer);

    let projector = projector(&lake);
    let p = projector.read();
    let unknown: Vec<_> = p
        .unknown_values()
        .map(|(c, v, n)| (c, v.to_owned(), n))
        .collect();
    assert_eq!(
        unknown,
        [
            ("channel", "fax".to_owned(), 2),
            ("data", "data.status: bad_value".to_owned(), 1),
            ("online_mode", "hybrid".to_owned(), 1),
        ]
    );
    assert_eq!(p.rollups().event_count(), 6, "every row is counted as read");
    let received: Vec<_> = p
        .dossiers()
        .filter(|(_, _, f)| f.received.is_some())
        .map(|(_, d, _)| d)
        .collect();
    assert_eq!(
        received,
        ["D-counter"],
        "only the readable receipt is folded"
    );
    let activities: Vec<_> = p.activities().map(|(_, id, _)| id).collect();
    assert_eq!(activities, ["PA-2"]);
    drop(p);

    // Folding the same file again (a projector started afresh) counts the same, not more.
    let again = Projector::new(lake.clone());
    again.catch_up(&mut |_, _| {}).unwrap();
    let counted_again: Vec<_> = again
        .read()
        .unknown_values()
        .map(|(c, v, n)| (c, v.to_owned(), n))
        .collect();
    assert_eq!(counted_again, unknown);

    // A projector restored from a snapshot folds nothing again, and still reports them.
    projector.save().unwrap();
    let restored = Projector::load(lake.clone()).unwrap();
    assert_eq!(restored.catch_up(&mut |_, _| {}).unwrap(), 0);
    let reported: Vec<_> = restored
        .read()
        .unknown_values()
        .map(|(c, v, n)| (c, v.to_owned(), n))
        .collect();
    assert_eq!(reported, unknown);
}

#[test]
fn a_column_keeps_a_bounded_number_of_distinct_values() {
    let specs: Vec<_> = (0..40)
        .map(|i| TestEvent::received(Channel::Counter).dossier(format!("D-{i}")))
        .collect();
    let written: Vec<_> = specs.iter().enumerate().map(|(i, s)| event(i, s)).collect();
    let (_tmp, today) = lake_with(vec![written]);
    let long = "x".repeat(500);
    let newer = edited(&rows(&today), EventColumn::Channel, |id, _| {
        Some(match id {
            "e0" => long.clone(),
            id => format!("channel-{id}"),
        })
    });
    let (_tmp, lake) = lake_holding(newer);
    let projector = projector(&lake);
    let p = projector.read();
    let unknown: Vec<_> = p.unknown_values().collect();
    assert_eq!(unknown.len(), 17, "16 values and (other): {unknown:?}");
    assert_eq!(unknown.iter().map(|(_, _, n)| n).sum::<u64>(), 40);
    let other = unknown.iter().find(|(_, v, _)| *v == "(other)").unwrap();
    assert_eq!(other.2, 40 - 16);
    assert!(
        unknown
            .iter()
            .all(|(c, v, _)| *c == "channel" && v.len() <= 64)
    );
}

/// A lake whose `events` hold `batch`, appended as another publisher's build would.
fn lake_holding(batch: RecordBatch) -> (tempfile::TempDir, Lake) {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
    lake.append_batch(EVENTS_TABLE, batch, ("newer-publisher", 1))
        .unwrap();
    (tmp, lake)
}
