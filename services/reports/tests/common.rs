//! A hand-checked quarter (Q1 2024) of two departments, and late events that restate it.

use std::sync::Arc;

use chrono::Utc;
use parwatch_lake::{Commit, Lake, LakeLocation, StoredEvent};
use parwatch_metrics::Projector;
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{ActivityStatus, AgencyKind, Channel, Outcome, TaskStatus};
use parwatch_scoring::Models;

pub(crate) const A: &str = "000.00.16.H02";
pub(crate) const B: &str = "000.00.17.H02";

/// Numbers events across the groups of one test: ids `e<n>`, stream sequence `n`.
#[derive(Default)]
pub(crate) struct Events {
    n: u64,
    pub(crate) out: Vec<StoredEvent<'static>>,
}

impl Events {
    fn push(&mut self, event: TestEvent) {
        self.n += 1;
        self.out.push(StoredEvent {
            event: event.id(format!("e{}", self.n)).source("test").build(),
            stream_seq: self.n,
        });
    }

    /// A dossier: received through `channel` on `received` (due `due`), resolved on `resolved`;
    /// `late` on that day when given, `apology` on that day when given.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dossier(
        &mut self,
        agency: &str,
        id: &str,
        channel: Channel,
        (received, due): (&str, &str),
        resolved: Option<&str>,
        late: Option<&str>,
        apology: Option<&str>,
        digitized: bool,
    ) {
        let at = |day: &str| format!("{day}T09:00:00+07:00");
        let due = format!("{due}T17:00:00+07:00");
        self.push(
            TestEvent::received(channel)
                .at(at(received).as_str())
                .due(due.as_str())
                .agency(agency)
                .dossier(id),
        );
        if let Some(day) = late {
            self.push(
                TestEvent::late()
                    .at(at(day).as_str())
                    .due(due.as_str())
                    .agency(agency)
                    .dossier(id),
            );
        }
        if let Some(day) = apology {
            self.push(
                TestEvent::apology()
                    .at(at(day).as_str())
                    .agency(agency)
                    .dossier(id),
            );
        }
        if let Some(day) = resolved {
            self.push(
                TestEvent::resolved(Outcome::Approved)
                    .digitized(digitized)
                    .at(at(day).as_str())
                    .agency(agency)
                    .dossier(id),
            );
        }
    }

    /// Every criterion of `year`'s department rubric appraised at `share` of its maximum.
    pub(crate) fn appraised(&mut self, agency: &str, year: i32, share: f64) {
        let models = Models::builtin();
        let rubric = models.rubric(AgencyKind::Department, year).unwrap();
        for (c, k) in rubric.criteria() {
            self.push(
                TestEvent::par_score(year, &c.code, &k.code, share * k.max, k.max)
                    .field("agency_kind", AgencyKind::Department.as_str())
                    .at(format!("{year}-03-15T09:00:00+07:00").as_str())
                    .agency(agency),
            );
        }
    }

    /// `agency` merged into `into` from `on`, decided a month before.
    pub(crate) fn merged(&mut self, agency: &str, into: &str, on: &str) {
        self.push(
            TestEvent::merged(into, on)
                .at("2024-05-01T09:00:00+07:00")
                .agency(agency),
        );
    }

    fn take(&mut self) -> Vec<StoredEvent<'static>> {
        std::mem::take(&mut self.out)
    }
}

/// The quarter as first published. Province, Q1 2024: received 7 (counter 3, online 3,
/// postal 1); resolved 7, on time 4, late 3; late files 3, apologised 1, not 2; digitised 3;
/// plan activities 1 of 2 done; tasks 1 of 2 on time. A ranks first on the 2024 PAR Index
/// (up from second in 2023), B second (down one).
pub(crate) fn quarter(events: &mut Events) -> Vec<StoredEvent<'static>> {
    use Channel::{Counter, Online, Postal};
    events.dossier(
        A,
        "A1",
        Counter,
        ("2024-01-10", "2024-01-20"),
        Some("2024-01-15"),
        None,
        None,
        true,
    );
    events.dossier(
        A,
        "A2",
        Online,
        ("2024-01-12", "2024-01-22"),
        Some("2024-02-01"),
        Some("2024-01-23"),
        Some("2024-01-21"),
        false,
    );
    events.dossier(
        A,
        "A3",
        Postal,
        ("2024-02-05", "2024-02-15"),
        Some("2024-02-10"),
        None,
        None,
        true,
    );
    events.dossier(
        A,
        "A4",
        Online,
        ("2024-03-03", "2024-03-13"),
        Some("2024-03-20"),
        Some("2024-03-14"),
        None,
        false,
    );
    events.dossier(
        B,
        "B1",
        Counter,
        ("2024-01-05", "2024-01-15"),
        Some("2024-01-10"),
        None,
        None,
        false,
    );
    events.dossier(
        B,
        "B2",
        Online,
        ("2024-02-02", "2024-02-12"),
        Some("2024-02-11"),
        None,
        None,
        true,
    );
    events.dossier(
        B,
        "B3",
        Counter,
        ("2024-03-01", "2024-03-10"),
        Some("2024-03-25"),
        Some("2024-03-11"),
        None,
        false,
    );
    let due = |day: &str| format!("{day}T17:00:00+07:00");
    events.push(
        TestEvent::plan_activity("KH-1", ActivityStatus::Done)
            .due(due("2024-02-28").as_str())
            .at("2024-02-20T09:00:00+07:00")
            .agency(A),
    );
    events.push(
        TestEvent::plan_activity("KH-2", ActivityStatus::Planned)
            .due(due("2024-03-29").as_str())
            .at("2024-03-01T09:00:00+07:00")
            .agency(A),
    );
    events.push(
        TestEvent::task("NV-1", TaskStatus::Completed)
            .due(due("2024-03-15").as_str())
            .completed_at("2024-03-10T09:00:00+07:00")
            .at("2024-03-10T09:00:00+07:00")
            .agency(B),
    );
    events.push(
        TestEvent::task("NV-2", TaskStatus::Assigned)
            .due(due("2024-03-20").as_str())
            .at("2024-03-01T09:00:00+07:00")
            .agency(B),
    );
    events.appraised(A, 2023, 0.7);
    events.appraised(B, 2023, 0.8);
    events.appraised(A, 2024, 0.9);
    events.appraised(B, 2024, 0.8);
    events.take()
}

/// Late events restating the quarter, ingested after publication: B's apology for B3 (sent
/// in April), and a counter dossier B4 received on 28 March that reached ParWatch late.
pub(crate) fn late_events(events: &mut Events) -> Vec<StoredEvent<'static>> {
    events.push(
        TestEvent::apology()
            .at("2024-04-02T09:00:00+07:00")
            .agency(B)
            .dossier("B3"),
    );
    events.dossier(
        B,
        "B4",
        Channel::Counter,
        ("2024-03-28", "2024-04-10"),
        None,
        None,
        None,
        false,
    );
    events.take()
}

/// A lake in a fresh folder.
pub(crate) fn lake() -> (tempfile::TempDir, Lake) {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::local(tmp.path()).unwrap()).unwrap();
    (tmp, lake)
}

/// Commits `events` as one set of files.
pub(crate) fn write(lake: &Lake, events: Vec<StoredEvent<'static>>) {
    let commit = Commit {
        events,
        rejected: vec![],
    };
    lake.write(&commit, Utc::now(), &mut Default::default())
        .unwrap();
}

/// A projector caught up with `lake`.
pub(crate) fn projector(lake: &Lake) -> Arc<Projector> {
    let projector = Arc::new(Projector::new(lake.clone()));
    projector.catch_up(&mut |_, _| {}).unwrap();
    projector
}
