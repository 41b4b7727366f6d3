//! Builds a real lake from JSON events (validated by the contract) and a projector over it.

use std::sync::Arc;

use chrono::NaiveDate;
use parwatch_lake::{Commit, Lake, StoredEvent};
use parwatch_metrics::Projector;
use serde_json::{Value, json};

/// One event as `(agency, dossier, type, occurred_at, data)`.
pub(crate) type Spec<'a> = (&'a str, &'a str, &'a str, &'a str, Value);

pub(crate) fn event(id: usize, spec: &Spec<'_>) -> StoredEvent {
    let (agency, dossier, ty, at, data) = spec;
    let body = json!({
        "event_id": format!("e{id}"), "type": ty, "schema_version": 1, "occurred_at": at,
        "source": "test", "agency_code": agency, "dossier_id": dossier, "data": data,
    });
    let event = parwatch_proto::validate(
        &format!("par.events.v1.{ty}"),
        &serde_json::to_vec(&body).unwrap(),
    )
    .unwrap_or_else(|r| panic!("{body}: {r}"));
    StoredEvent {
        event,
        stream_seq: id as u64 + 1,
    }
}

/// Writes the events in the given groups (one commit, i.e. one set of files, per group).
pub(crate) fn lake_with(groups: Vec<Vec<StoredEvent>>) -> (tempfile::TempDir, Lake) {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(tmp.path()).unwrap();
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

pub(crate) fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}
