//! A commit is written as one file per day, its rows ordered by type, agency and time, each
//! row's columns still its own event's.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{TimestampMicrosecondType, UInt64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parwatch_lake::{Commit, EVENTS_TABLE, Lake, StoredEvent};
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
fn each_day_is_one_file_ordered_by_type_agency_and_time() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(tmp.path()).unwrap();
    let commit = Commit {
        events: (0..500).map(event).collect(),
        rejected: vec![],
    };
    lake.write(&commit, chrono::Utc::now(), &mut Default::default())
        .unwrap();

    let files = lake.files(EVENTS_TABLE).unwrap();
    assert_eq!(files.len(), 2, "two days, two files: {files:?}");
    let mut seen = Vec::new();
    for file in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let mut keys = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let column = |name: &str| batch.column_by_name(name).unwrap().clone();
            let (ty, agency, id, dossier) = (
                column("type"),
                column("agency_code"),
                column("event_id"),
                column("dossier_id"),
            );
            let (at, seq) = (column("occurred_at"), column("stream_seq"));
            let at = at.as_primitive::<TimestampMicrosecondType>();
            let seq = seq.as_primitive::<UInt64Type>();
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
                assert!(!ty.is_null(row));
                keys.push((
                    ty.as_string::<i32>().value(row).to_owned(),
                    agency.as_string::<i32>().value(row).to_owned(),
                    at.value(row),
                ));
                seen.push(i);
            }
        }
        // The file's name records the lowest and highest stream sequence of its rows.
        let seqs = &seen[seen.len() - keys.len()..];
        let (lo, hi) = (
            100 + seqs.iter().min().unwrap(),
            100 + seqs.iter().max().unwrap(),
        );
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&format!("part-{lo:020}-{hi:020}-")),
            "{name} for sequences {lo}..={hi}"
        );
        let days: std::collections::HashSet<i64> = keys
            .iter()
            .map(|k| (k.2 / 1_000_000 + 7 * 3600).div_euclid(86_400))
            .collect();
        assert_eq!(days.len(), 1, "one local day per file");
        // Types in the contract's order, agencies by name, then time.
        let rank = |t: &str| match t {
            "dossier.received" => 0,
            "dossier.late" => 1,
            _ => 2,
        };
        let sorted = keys
            .windows(2)
            .all(|w| (rank(&w[0].0), &w[0].1, w[0].2) <= (rank(&w[1].0), &w[1].1, w[1].2));
        assert!(sorted, "rows of {} out of order", file.display());
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..500).collect::<Vec<_>>(), "every event once");
}
