//! A commit is written as one file per table, its rows ordered by local day, type, agency and
//! time, each row's columns still its own event's, and named for its stream sequences.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Date32Type, Int64Type, TimestampMicrosecondType};
use parwatch_lake::{Commit, EVENTS_TABLE, Lake, LakeLocation, StoredEvent};
use parwatch_proto::EventType;
use parwatch_proto::testing::TestEvent;
const TYPES: [EventType; 3] = [
    EventType::DossierResolved,
    EventType::DossierLate,
    EventType::DossierReceived,
];

/// Event `i`: its type, agency, day and minute vary with `i` at different periods, so arrival
/// order and file order differ.
fn event(i: u64) -> StoredEvent<'static> {
    let event = TestEvent::new(TYPES[i as usize % 3])
        .id(format!("e{i}"))
        .at(format!("2024-04-0{}T09:{:02}:00+07:00", 1 + i % 2, 59 - i % 60).as_str())
        .source("t")
        .agency(format!("A{}", i % 7))
        .dossier(format!("D{i}"));
    StoredEvent {
        event: event.build(),
        stream_seq: 100 + i,
    }
}

#[test]
fn a_commit_is_one_file_ordered_by_day_type_agency_and_time() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
    let commit = Commit {
        events: (0..500).map(event).collect(),
        rejected: vec![],
    };
    lake.write(&commit, chrono::Utc::now(), &mut Default::default())
        .unwrap();

    let files = lake.files(EVENTS_TABLE).unwrap();
    assert_eq!(files.len(), 1, "one commit, one file: {files:?}");
    let file = &files[0];
    assert!(
        file.path
            .starts_with("data/part-000000000100-000000000599-"),
        "{} for sequences 100..=599",
        file.path
    );
    let columns = [
        "type",
        "agency_code",
        "event_id",
        "dossier_id",
        "occurred_at",
        "stream_seq",
        "event_date",
    ];
    let mut keys = Vec::new();
    let mut seen = Vec::new();
    for batch in lake
        .read_file(EVENTS_TABLE, &file.path, &columns, None)
        .unwrap()
    {
        let column = |name: &str| batch.column_by_name(name).unwrap().clone();
        let (ty, agency, id, dossier) = (
            column("type"),
            column("agency_code"),
            column("event_id"),
            column("dossier_id"),
        );
        let (at, seq, day) = (
            column("occurred_at"),
            column("stream_seq"),
            column("event_date"),
        );
        let at = at.as_primitive::<TimestampMicrosecondType>();
        let seq = seq.as_primitive::<Int64Type>();
        let day = day.as_primitive::<Date32Type>();
        for row in 0..batch.num_rows() {
            let i = seq.value(row) - 100;
            // Every column of the row belongs to the event of its sequence.
            let expected = &commit.events[i as usize].event;
            assert_eq!(id.as_string::<i32>().value(row), expected.event_id);
            assert_eq!(
                dossier.as_string::<i32>().value(row),
                expected.dossier_id.as_deref().unwrap()
            );
            assert_eq!(at.value(row), expected.occurred_at.timestamp_micros());
            // The local date (UTC+7) of the event.
            let local_day = (at.value(row) / 1_000_000 + 7 * 3600).div_euclid(86_400);
            assert_eq!(i64::from(day.value(row)), local_day);
            assert!(!ty.is_null(row));
            keys.push((
                local_day,
                ty.as_string::<i32>().value(row).to_owned(),
                agency.as_string::<i32>().value(row).to_owned(),
                at.value(row),
            ));
            seen.push(i);
        }
    }
    // Days, then types in the contract's order, agencies by name, then time.
    let rank = |t: &str| match t {
        "dossier.received" => 0,
        "dossier.late" => 1,
        _ => 2,
    };
    let sorted = keys.windows(2).all(|w| {
        (w[0].0, rank(&w[0].1), &w[0].2, w[0].3) <= (w[1].0, rank(&w[1].1), &w[1].2, w[1].3)
    });
    assert!(sorted, "rows out of order");
    seen.sort_unstable();
    assert_eq!(seen, (0..500).collect::<Vec<_>>(), "every event once");
}
