//! Test events of every type, built from the contract's types (feature `testing`, for
//! dev-dependencies only).
//!
//! [`TestEvent`] starts from valid defaults for its type and takes fluent setters for the
//! envelope (id, time, agency, dossier, source) and the data (typed setters such as
//! [`TestEvent::channel`], or [`TestEvent::field`] for any field). It renders the JSON a
//! publisher sends ([`TestEvent::json`], [`TestEvent::body`], [`TestEvent::subject`]) and the
//! typed [`Event`] the validator makes of it ([`TestEvent::build`]): every event a test uses has
//! passed [`crate::validate`].
//!
//! ```
//! use parwatch_proto::testing::TestEvent;
//! use parwatch_proto::{Channel, Outcome};
//!
//! let received = TestEvent::received(Channel::Online)
//!     .agency("000.00.17.H02")
//!     .dossier("HS-1")
//!     .at("2024-03-31T23:30:00+07:00")
//!     .due("2024-04-02T17:00:00+07:00")
//!     .build();
//! let resolved = TestEvent::resolved(Outcome::Approved).dossier("HS-1").digitized(true).build();
//! assert_eq!(received.dossier_id, resolved.dossier_id);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use crate::event::{
    ActivityStatus, AgencyLevel, Assessor, Channel, Event, EventData, EventType, Outcome, Portal,
    PostalKind, Rating, ServiceMode, SplitTarget, TaskStatus,
};
use crate::time::local_offset;

/// The agency of events that name none.
pub const DEFAULT_AGENCY: &str = "000.00.17.H02";

/// When events happen unless told otherwise (local time).
pub const DEFAULT_AT: &str = "2024-04-01T09:00:00+07:00";

/// The appointment, deadline or due date of events that name none (local time).
pub const DEFAULT_DUE: &str = "2024-04-20T17:00:00+07:00";

/// The procedure of the types that need one (the 766 index's), unless told otherwise.
pub const DEFAULT_PROCEDURE: &str = "1.001234";

/// The decision number of registry events that name none.
pub const DEFAULT_BASIS: &str = "202/2025/QH15";

/// A local date `YYYY-MM-DD` given to a registry constructor.
fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .unwrap_or_else(|e| panic!("{text:?} is not a date YYYY-MM-DD: {e}"))
}

/// An instant given to a setter: RFC 3339 text with an offset (kept as written), or a
/// `DateTime` (written in local time).
pub trait Instant {
    /// The instant, with the offset it is written in.
    fn instant(self) -> DateTime<FixedOffset>;
}

impl Instant for &str {
    fn instant(self) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(self)
            .unwrap_or_else(|e| panic!("{self:?} is not an RFC 3339 timestamp: {e}"))
    }
}

impl Instant for &String {
    fn instant(self) -> DateTime<FixedOffset> {
        self.as_str().instant()
    }
}

impl Instant for DateTime<FixedOffset> {
    fn instant(self) -> DateTime<FixedOffset> {
        self
    }
}

impl Instant for DateTime<Utc> {
    fn instant(self) -> DateTime<FixedOffset> {
        self.with_timezone(&local_offset())
    }
}

/// A valid event under construction; see the [module](self) documentation.
#[derive(Debug, Clone)]
#[must_use]
pub struct TestEvent {
    event_type: EventType,
    event_id: String,
    occurred_at: DateTime<FixedOffset>,
    source: String,
    agency_code: String,
    dossier_id: Option<String>,
    procedure_code: Option<String>,
    data: Map<String, Value>,
    extra: Map<String, Value>,
}

/// Numbers the default event ids, unique within a test binary.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl TestEvent {
    /// An event carrying `data`, with the default envelope: a fresh id `test-N`, occurred at
    /// [`DEFAULT_AT`], agency [`DEFAULT_AGENCY`], source `test`, for dossier types the
    /// dossier `HS-test-N`, and for the types that need a procedure [`DEFAULT_PROCEDURE`].
    pub fn of(data: EventData) -> Self {
        let event_type = data.event_type();
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        TestEvent {
            event_type,
            event_id: format!("test-{n}"),
            occurred_at: DEFAULT_AT.instant(),
            source: "test".to_owned(),
            agency_code: DEFAULT_AGENCY.to_owned(),
            dossier_id: event_type.needs_dossier().then(|| format!("HS-test-{n}")),
            procedure_code: event_type
                .needs_procedure()
                .then(|| DEFAULT_PROCEDURE.to_owned()),
            data: data_json(&data),
            extra: Map::new(),
        }
    }

    /// An event of `event_type` with default data: the shorthand constructor of its type.
    pub fn new(event_type: EventType) -> Self {
        match event_type {
            EventType::DossierReceived => Self::received(Channel::Counter),
            EventType::OnlineApplication => Self::online_application(ServiceMode::Full),
            EventType::PostalSubmission => Self::postal(PostalKind::Dossier),
            EventType::DossierLate => Self::late(),
            EventType::DossierApology => Self::apology(),
            EventType::DossierResolved => Self::resolved(Outcome::Approved),
            EventType::ParScore => Self::par_score(2024, "C1", "C1.1", 1.0, 1.0),
            EventType::PlanActivity => Self::plan_activity("KH-1", ActivityStatus::Planned),
            EventType::DirectiveTask => Self::task("NV-1", TaskStatus::Assigned),
            EventType::AgencyRegistered => {
                Self::registered("Sở Xây dựng", AgencyLevel::Department, "2025-03-01")
            }
            EventType::AgencyRenamed => Self::of(EventData::AgencyRenamed {
                name_vi: "Sở Nội vụ".into(),
                name_en: None,
                effective_date: date("2025-03-01"),
                basis: DEFAULT_BASIS.into(),
            }),
            EventType::AgencyMerged => Self::merged("000.00.18.H02", "2025-03-01"),
            EventType::AgencySplit => Self::split(
                &[("000.00.18.H02", Some(0.5)), ("000.00.19.H02", Some(0.5))],
                "2025-07-01",
            ),
            EventType::AgencyDissolved => Self::of(EventData::AgencyDissolved {
                effective_date: date("2025-07-01"),
                basis: DEFAULT_BASIS.into(),
            }),
            EventType::SupplementRequested => Self::supplement_requested(),
            EventType::SupplementProvided => Self::supplement_provided(),
            EventType::FeeRequested => Self::fee_requested(50_000),
            EventType::FeePaid => Self::fee_paid(50_000, true),
            EventType::ComponentDigitised => Self::digitised("TP-1", false),
            EventType::ResultIssued => Self::result_issued(true),
            EventType::DossierSynced => Self::synced(Portal::National),
            EventType::DossierRated => Self::rated(Rating::Satisfied),
            EventType::PetitionReceived => Self::petition_received("PAKN-1"),
            EventType::PetitionAnswered => Self::petition_answered("PAKN-1"),
            EventType::ProcedureCatalogued => Self::catalogued(),
        }
    }

    /// `supplement.requested`, no reason given.
    pub fn supplement_requested() -> Self {
        Self::of(EventData::SupplementRequested { reason: None })
    }

    /// `supplement.provided`, the appointment not re-set (see [`TestEvent::due`]).
    pub fn supplement_provided() -> Self {
        Self::of(EventData::SupplementProvided { new_due_at: None })
    }

    /// `fee.requested` of `amount_vnd` đồng.
    pub fn fee_requested(amount_vnd: u64) -> Self {
        Self::of(EventData::FeeRequested { amount_vnd })
    }

    /// `fee.paid` of `amount_vnd` đồng, `online` or not, no gateway named.
    pub fn fee_paid(amount_vnd: u64, online: bool) -> Self {
        Self::of(EventData::FeePaid {
            amount_vnd,
            online,
            gateway: None,
        })
    }

    /// `component.digitised` of `component`, `reused` or scanned.
    pub fn digitised(component: &str, reused: bool) -> Self {
        Self::of(EventData::ComponentDigitised {
            component: component.to_owned(),
            reused,
        })
    }

    /// `result.issued`, `electronic` or on paper.
    pub fn result_issued(electronic: bool) -> Self {
        Self::of(EventData::ResultIssued { electronic })
    }

    /// `dossier.synced` to `portal`.
    pub fn synced(portal: Portal) -> Self {
        Self::of(EventData::DossierSynced { portal })
    }

    /// `dossier.rated` with `rating`.
    pub fn rated(rating: Rating) -> Self {
        Self::of(EventData::DossierRated { rating })
    }

    /// `petition.received` `petition_id`, to be handled by [`DEFAULT_DUE`].
    pub fn petition_received(petition_id: &str) -> Self {
        Self::of(EventData::PetitionReceived {
            petition_id: petition_id.to_owned(),
            due_at: default_due(),
        })
    }

    /// `petition.answered` `petition_id`.
    pub fn petition_answered(petition_id: &str) -> Self {
        Self::of(EventData::PetitionAnswered {
            petition_id: petition_id.to_owned(),
        })
    }

    /// `procedure.catalogued` of [`DEFAULT_PROCEDURE`]: published, publicised, complete, fully
    /// online, no fee ([`TestEvent::field`] changes a fact).
    pub fn catalogued() -> Self {
        Self::of(EventData::ProcedureCatalogued {
            published: true,
            publicised: true,
            complete: true,
            online_mode: Some(ServiceMode::Full),
            has_fee: false,
        })
    }

    /// `agency.registered`: an agency named `name_vi` at `level`, from local date `from`
    /// (`YYYY-MM-DD`), on the basis [`DEFAULT_BASIS`].
    pub fn registered(name_vi: &str, level: AgencyLevel, from: &str) -> Self {
        Self::of(EventData::AgencyRegistered {
            name_vi: name_vi.into(),
            name_en: None,
            level,
            parent: None,
            effective_date: date(from),
            basis: DEFAULT_BASIS.into(),
        })
    }

    /// `agency.merged` into `into` from local date `on`, on the basis [`DEFAULT_BASIS`].
    pub fn merged(into: &str, on: &str) -> Self {
        Self::of(EventData::AgencyMerged {
            into: into.into(),
            effective_date: date(on),
            basis: DEFAULT_BASIS.into(),
        })
    }

    /// `agency.split` between `targets` (code, weight) from local date `on`, on the basis
    /// [`DEFAULT_BASIS`].
    pub fn split(targets: &[(&str, Option<f64>)], on: &str) -> Self {
        Self::of(EventData::AgencySplit {
            targets: targets
                .iter()
                .map(|&(code, weight)| SplitTarget {
                    agency_code: code.into(),
                    weight,
                })
                .collect(),
            effective_date: date(on),
            basis: DEFAULT_BASIS.into(),
        })
    }

    /// `dossier.received` through `channel`, due [`DEFAULT_DUE`].
    pub fn received(channel: Channel) -> Self {
        Self::of(EventData::DossierReceived {
            channel,
            due_at: default_due(),
            online_mode: None,
            receiving_agency_code: None,
            area_code: None,
        })
    }

    /// `online.application` in `mode`, no portal named.
    pub fn online_application(mode: ServiceMode) -> Self {
        Self::of(EventData::OnlineApplication { mode, portal: None })
    }

    /// `postal.submission` of `kind`.
    pub fn postal(kind: PostalKind) -> Self {
        Self::of(EventData::PostalSubmission { kind })
    }

    /// `dossier.late`, the missed appointment [`DEFAULT_DUE`].
    pub fn late() -> Self {
        Self::of(EventData::DossierLate {
            due_at: default_due(),
        })
    }

    /// `dossier.apology`, the new appointment [`DEFAULT_DUE`], no letter number.
    pub fn apology() -> Self {
        Self::of(EventData::DossierApology {
            new_due_at: default_due(),
            letter_no: None,
        })
    }

    /// `dossier.resolved` with `outcome`, digitisation not said.
    pub fn resolved(outcome: Outcome) -> Self {
        Self::of(EventData::DossierResolved {
            outcome,
            digitized: None,
        })
    }

    /// `par.score` by the appraisal council: `score` of `max` for `criterion` of `component`.
    pub fn par_score(year: i32, component: &str, criterion: &str, score: f64, max: f64) -> Self {
        Self::of(EventData::ParScore {
            year,
            component: component.to_owned(),
            criterion: criterion.to_owned(),
            score,
            max,
            assessor: Assessor::Appraisal,
            agency_kind: None,
            evidence: None,
        })
    }

    /// `plan.activity` `activity_id` of the 2024 plan in `status`, due [`DEFAULT_DUE`].
    pub fn plan_activity(activity_id: &str, status: ActivityStatus) -> Self {
        Self::of(EventData::PlanActivity {
            plan_year: 2024,
            activity_id: activity_id.to_owned(),
            title: format!("Hoạt động {activity_id}"),
            status,
            due_at: default_due(),
        })
    }

    /// `directive.task` `task_id` in `status`, due [`DEFAULT_DUE`]; a completed task is
    /// completed at [`DEFAULT_AT`] unless [`TestEvent::completed_at`] says otherwise.
    pub fn task(task_id: &str, status: TaskStatus) -> Self {
        Self::of(EventData::DirectiveTask {
            task_id: task_id.to_owned(),
            status,
            due_at: default_due(),
            completed_at: (status == TaskStatus::Completed).then(|| DEFAULT_AT.instant().to_utc()),
        })
    }

    /// Sets the event id (idempotency key).
    pub fn id(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = event_id.into();
        self
    }

    /// Sets when the event happened.
    pub fn at(mut self, occurred_at: impl Instant) -> Self {
        self.occurred_at = occurred_at.instant();
        self
    }

    /// Sets the agency the event is about.
    pub fn agency(mut self, agency_code: impl Into<String>) -> Self {
        self.agency_code = agency_code.into();
        self
    }

    /// Sets the dossier.
    pub fn dossier(mut self, dossier_id: impl Into<String>) -> Self {
        self.dossier_id = Some(dossier_id.into());
        self
    }

    /// Leaves the dossier out (events of agency types name none by default).
    pub fn no_dossier(mut self) -> Self {
        self.dossier_id = None;
        self
    }

    /// Leaves the procedure out (the types of the 766 index name [`DEFAULT_PROCEDURE`] by
    /// default).
    pub fn no_procedure(mut self) -> Self {
        self.procedure_code = None;
        self
    }

    /// Sets the national procedure code.
    pub fn procedure(mut self, procedure_code: impl Into<String>) -> Self {
        self.procedure_code = Some(procedure_code.into());
        self
    }

    /// Sets the publishing system.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Adds an envelope field the contract does not know (kept by the validator).
    pub fn extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Sets data field `key` to `value`, whatever the type: a known field or an unknown one
    /// (kept in the stored `data`). [`TestEvent::build`] checks the result.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// Sets the channel of a `dossier.received`.
    pub fn channel(self, channel: Channel) -> Self {
        self.typed(&[EventType::DossierReceived], "channel", channel.as_str())
    }

    /// Sets the online depth: `online_mode` of a `dossier.received` (channel online), `mode`
    /// of an `online.application`.
    pub fn online_mode(self, mode: ServiceMode) -> Self {
        match self.event_type {
            EventType::OnlineApplication => self.field("mode", mode.as_str()),
            _ => self.typed(&[EventType::DossierReceived], "online_mode", mode.as_str()),
        }
    }

    /// Sets the due date: the appointment of a `dossier.received`, the missed one of a
    /// `dossier.late`, the new one of a `dossier.apology` or a `supplement.provided`, the
    /// deadline of a plan activity, a task or a petition.
    pub fn due(self, due_at: impl Instant) -> Self {
        let at = rfc3339(due_at.instant());
        match self.event_type {
            EventType::DossierApology | EventType::SupplementProvided => {
                self.field("new_due_at", at)
            }
            _ => self.typed(
                &[
                    EventType::DossierReceived,
                    EventType::DossierLate,
                    EventType::PlanActivity,
                    EventType::DirectiveTask,
                    EventType::PetitionReceived,
                ],
                "due_at",
                at,
            ),
        }
    }

    /// Sets the receiving point of a `dossier.received` (`receiving_agency_code`).
    pub fn receiving(self, agency_code: &str) -> Self {
        self.typed(
            &[EventType::DossierReceived],
            "receiving_agency_code",
            agency_code,
        )
    }

    /// Sets the commune area of a `dossier.received` (`area_code`).
    pub fn area(self, agency_code: &str) -> Self {
        self.typed(&[EventType::DossierReceived], "area_code", agency_code)
    }

    /// Sets whether the result of a `dossier.resolved` was digitised.
    pub fn digitized(self, digitized: bool) -> Self {
        self.typed(&[EventType::DossierResolved], "digitized", digitized)
    }

    /// Sets the outcome of a `dossier.resolved`.
    pub fn outcome(self, outcome: Outcome) -> Self {
        self.typed(&[EventType::DossierResolved], "outcome", outcome.as_str())
    }

    /// Sets when a completed `directive.task` was completed.
    pub fn completed_at(self, at: impl Instant) -> Self {
        self.typed(
            &[EventType::DirectiveTask],
            "completed_at",
            rfc3339(at.instant()),
        )
    }

    /// Sets who gave a `par.score`.
    pub fn assessor(self, assessor: Assessor) -> Self {
        self.typed(&[EventType::ParScore], "assessor", assessor.as_str())
    }

    fn typed(self, types: &[EventType], key: &str, value: impl Into<Value>) -> Self {
        assert!(
            types.contains(&self.event_type),
            "data.{key} is not a field of {}",
            self.event_type
        );
        self.field(key, value)
    }

    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    /// The subject it is published on.
    pub fn subject(&self) -> String {
        self.event_type.subject()
    }

    /// The event as a publisher sends it.
    pub fn json(&self) -> Value {
        let mut body = self.extra.clone();
        body.insert("event_id".into(), json!(self.event_id));
        body.insert("type".into(), json!(self.event_type.as_str()));
        body.insert("schema_version".into(), json!(1));
        body.insert("occurred_at".into(), json!(rfc3339(self.occurred_at)));
        body.insert("source".into(), json!(self.source));
        body.insert("agency_code".into(), json!(self.agency_code));
        if let Some(dossier) = &self.dossier_id {
            body.insert("dossier_id".into(), json!(dossier));
        }
        if let Some(procedure) = &self.procedure_code {
            body.insert("procedure_code".into(), json!(procedure));
        }
        body.insert("data".into(), Value::Object(self.data.clone()));
        Value::Object(body)
    }

    /// The message body: [`TestEvent::json`] as bytes.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json()).expect("JSON values always serialize")
    }

    /// The typed event the validator makes of [`TestEvent::body`].
    ///
    /// # Panics
    /// When the validator rejects it, naming the field and the rule.
    pub fn build(&self) -> Event<'static> {
        let body = self.body();
        crate::validate(&self.subject(), &body)
            .map(Event::into_owned)
            .unwrap_or_else(|r| panic!("invalid test event {}: {r}", self.json()))
    }
}

fn default_due() -> DateTime<Utc> {
    DEFAULT_DUE.instant().to_utc()
}

fn rfc3339(at: DateTime<FixedOffset>) -> String {
    at.to_rfc3339()
}

/// The wire form of typed data, times in local time.
fn data_json(data: &EventData) -> Map<String, Value> {
    let at = |t: &DateTime<Utc>| json!(rfc3339(t.instant()));
    let out = match data {
        EventData::DossierReceived {
            channel,
            due_at,
            online_mode,
            receiving_agency_code,
            area_code,
        } => json!({"channel": channel.as_str(), "due_at": at(due_at),
                    "online_mode": online_mode.map(ServiceMode::as_str),
                    "receiving_agency_code": receiving_agency_code, "area_code": area_code}),
        EventData::OnlineApplication { mode, portal } => {
            json!({"mode": mode.as_str(), "portal": portal.map(|p| p.as_str())})
        }
        EventData::PostalSubmission { kind } => json!({"kind": kind.as_str()}),
        EventData::DossierLate { due_at } => json!({"due_at": at(due_at)}),
        EventData::DossierApology {
            new_due_at,
            letter_no,
        } => json!({"new_due_at": at(new_due_at), "letter_no": letter_no}),
        EventData::DossierResolved { outcome, digitized } => {
            json!({"outcome": outcome.as_str(), "digitized": digitized})
        }
        EventData::ParScore {
            year,
            component,
            criterion,
            score,
            max,
            assessor,
            agency_kind,
            evidence,
        } => json!({"year": year, "component": component, "criterion": criterion,
                    "score": score, "max": max, "assessor": assessor.as_str(),
                    "agency_kind": agency_kind.map(|k| k.as_str()), "evidence": evidence}),
        EventData::PlanActivity {
            plan_year,
            activity_id,
            title,
            status,
            due_at,
        } => json!({"plan_year": plan_year, "activity_id": activity_id, "title": title,
                    "status": status.as_str(), "due_at": at(due_at)}),
        EventData::DirectiveTask {
            task_id,
            status,
            due_at,
            completed_at,
        } => json!({"task_id": task_id, "status": status.as_str(), "due_at": at(due_at),
                    "completed_at": completed_at.as_ref().map(at)}),
        EventData::AgencyRegistered {
            name_vi,
            name_en,
            level,
            parent,
            effective_date,
            basis,
        } => json!({"name_vi": name_vi, "name_en": name_en, "level": level.as_str(),
                    "parent": parent, "effective_date": effective_date.to_string(),
                    "basis": basis}),
        EventData::AgencyRenamed {
            name_vi,
            name_en,
            effective_date,
            basis,
        } => json!({"name_vi": name_vi, "name_en": name_en,
                    "effective_date": effective_date.to_string(), "basis": basis}),
        EventData::AgencyMerged {
            into,
            effective_date,
            basis,
        } => json!({"into": into, "effective_date": effective_date.to_string(), "basis": basis}),
        EventData::AgencySplit {
            targets,
            effective_date,
            basis,
        } => {
            let targets: Vec<Value> = targets
                .iter()
                .map(|t| match t.weight {
                    Some(w) => json!({"agency_code": t.agency_code, "weight": w}),
                    None => json!({"agency_code": t.agency_code}),
                })
                .collect();
            json!({"targets": targets, "effective_date": effective_date.to_string(),
                   "basis": basis})
        }
        EventData::AgencyDissolved {
            effective_date,
            basis,
        } => json!({"effective_date": effective_date.to_string(), "basis": basis}),
        EventData::SupplementRequested { reason } => json!({ "reason": reason }),
        EventData::SupplementProvided { new_due_at } => {
            json!({"new_due_at": new_due_at.as_ref().map(at)})
        }
        EventData::FeeRequested { amount_vnd } => json!({ "amount_vnd": amount_vnd }),
        EventData::FeePaid {
            amount_vnd,
            online,
            gateway,
        } => json!({"amount_vnd": amount_vnd, "online": online, "gateway": gateway}),
        EventData::ComponentDigitised { component, reused } => {
            json!({"component": component, "reused": reused})
        }
        EventData::ResultIssued { electronic } => json!({ "electronic": electronic }),
        EventData::DossierSynced { portal } => json!({"portal": portal.as_str()}),
        EventData::DossierRated { rating } => json!({"rating": rating.as_str()}),
        EventData::PetitionReceived {
            petition_id,
            due_at,
        } => json!({"petition_id": petition_id, "due_at": at(due_at)}),
        EventData::PetitionAnswered { petition_id } => json!({ "petition_id": petition_id }),
        EventData::ProcedureCatalogued {
            published,
            publicised,
            complete,
            online_mode,
            has_fee,
        } => json!({"published": published, "publicised": publicised, "complete": complete,
                    "online_mode": online_mode.map(ServiceMode::as_str), "has_fee": has_fee}),
    };
    let Value::Object(map) = out else {
        unreachable!("every arm builds an object")
    };
    // Absent optional fields are left out, as publishers do, rather than sent as null.
    map.into_iter().filter(|(_, v)| !v.is_null()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgencyKind;

    #[test]
    fn every_type_builds_a_valid_event_with_its_defaults() {
        for &ty in EventType::ALL {
            let event = TestEvent::new(ty).build();
            assert_eq!(event.event_type(), ty);
            assert_eq!(event.agency_code, DEFAULT_AGENCY);
            assert_eq!(event.dossier_id.is_some(), ty.needs_dossier(), "{ty}");
            assert_eq!(event.procedure_code.is_some(), ty.needs_procedure(), "{ty}");
            assert_eq!(event.occurred_at, DEFAULT_AT.instant().to_utc());
        }
    }

    #[test]
    fn typed_data_comes_back_as_given() {
        let t = |text: &str| text.instant().to_utc();
        let every_field = [
            EventData::DossierReceived {
                channel: Channel::Online,
                due_at: t("2024-04-02T17:00:00+07:00"),
                online_mode: Some(ServiceMode::Partial),
                receiving_agency_code: Some("000.00.99.H02".into()),
                area_code: Some("000.51.03.H02".into()),
            },
            EventData::OnlineApplication {
                mode: ServiceMode::Partial,
                portal: Some(Portal::Provincial),
            },
            EventData::PostalSubmission {
                kind: PostalKind::Result,
            },
            EventData::DossierLate {
                due_at: t("2024-04-02T17:00:00Z"),
            },
            EventData::DossierApology {
                new_due_at: t("2024-04-09T17:00:00+07:00"),
                letter_no: Some("12/XL".into()),
            },
            EventData::DossierResolved {
                outcome: Outcome::Withdrawn,
                digitized: Some(false),
            },
            EventData::ParScore {
                year: 2023,
                component: "C2".into(),
                criterion: "C2.3".into(),
                score: 0.75,
                max: 1.5,
                assessor: Assessor::Survey,
                agency_kind: Some(AgencyKind::Commune),
                evidence: Some("Báo cáo".into()),
            },
            EventData::PlanActivity {
                plan_year: 2025,
                activity_id: "KH-9".into(),
                title: "Rà soát TTHC".into(),
                status: ActivityStatus::Cancelled,
                due_at: t("2025-06-30T17:00:00+07:00"),
            },
            EventData::DirectiveTask {
                task_id: "12/UBND".into(),
                status: TaskStatus::Completed,
                due_at: t("2024-05-01T17:00:00+07:00"),
                completed_at: Some(t("2024-04-30T08:00:00+07:00")),
            },
            EventData::AgencyRegistered {
                name_vi: "Phường Vũng Tàu".into(),
                name_en: Some("Vung Tau ward".into()),
                level: AgencyLevel::Commune,
                parent: Some("000.00.00.H29".into()),
                effective_date: date("2025-07-01"),
                basis: "1656/NQ-UBTVQH15".into(),
            },
            EventData::AgencyRenamed {
                name_vi: "Sở Nông nghiệp và Môi trường".into(),
                name_en: Some("Department of Agriculture and Environment".into()),
                effective_date: date("2025-03-01"),
                basis: "15/QĐ-UBND".into(),
            },
            EventData::AgencyMerged {
                into: "000.00.18.H02".into(),
                effective_date: date("2025-03-01"),
                basis: "16/QĐ-UBND".into(),
            },
            EventData::AgencySplit {
                targets: vec![
                    SplitTarget {
                        agency_code: "X1".into(),
                        weight: Some(0.25),
                    },
                    SplitTarget {
                        agency_code: "X2".into(),
                        weight: Some(0.75),
                    },
                ],
                effective_date: date("2025-07-01"),
                basis: "1656/NQ-UBTVQH15".into(),
            },
            EventData::AgencyDissolved {
                effective_date: date("2025-07-01"),
                basis: "1656/NQ-UBTVQH15".into(),
            },
            EventData::SupplementRequested {
                reason: Some("Thiếu bản sao giấy khai sinh".into()),
            },
            EventData::SupplementProvided {
                new_due_at: Some(t("2024-04-25T17:00:00+07:00")),
            },
            EventData::FeeRequested { amount_vnd: 0 },
            EventData::FeePaid {
                amount_vnd: 150_000,
                online: true,
                gateway: Some("national_payment_platform".into()),
            },
            EventData::ComponentDigitised {
                component: "Giấy chứng nhận quyền sử dụng đất".into(),
                reused: true,
            },
            EventData::ResultIssued { electronic: false },
            EventData::DossierSynced {
                portal: Portal::Provincial,
            },
            EventData::DossierRated {
                rating: Rating::Dissatisfied,
            },
            EventData::PetitionReceived {
                petition_id: "PAKN-2024-17".into(),
                due_at: t("2024-04-30T17:00:00+07:00"),
            },
            EventData::PetitionAnswered {
                petition_id: "PAKN-2024-17".into(),
            },
            EventData::ProcedureCatalogued {
                published: true,
                publicised: false,
                complete: false,
                online_mode: None,
                has_fee: true,
            },
        ];
        assert_eq!(every_field.len(), EventType::ALL.len());
        for data in every_field {
            assert_eq!(TestEvent::of(data.clone()).build().data, data);
        }
    }

    #[test]
    fn setters_reach_the_validated_event() {
        let event = TestEvent::received(Channel::Online)
            .id("e1")
            .at("2024-03-31T23:30:00+07:00")
            .agency("SO-TP")
            .dossier("A-1")
            .procedure("1.000046")
            .source("motcua")
            .online_mode(ServiceMode::Full)
            .due("2024-04-02T17:00:00+07:00")
            .extra("note", "kept")
            .build();
        assert_eq!(event.event_id, "e1");
        assert_eq!(event.occurred_at, "2024-03-31T16:30:00Z".instant().to_utc());
        assert_eq!(
            (&*event.agency_code, event.dossier_id.as_deref()),
            ("SO-TP", Some("A-1"))
        );
        assert_eq!(event.procedure_code.as_deref(), Some("1.000046"));
        assert_eq!(event.source, "motcua");
        assert_eq!(
            event.data,
            EventData::DossierReceived {
                channel: Channel::Online,
                due_at: "2024-04-02T10:00:00Z".instant().to_utc(),
                online_mode: Some(ServiceMode::Full),
                receiving_agency_code: None,
                area_code: None,
            }
        );
        assert_eq!(event.extra_json.as_deref(), Some(r#"{"note":"kept"}"#));
        // Times are written as given, offset included.
        assert!(event.data_json.contains("2024-04-02T17:00:00+07:00"));
    }

    #[test]
    fn default_ids_are_unique() {
        let a = TestEvent::late().build();
        let b = TestEvent::late().build();
        assert_ne!(a.event_id, b.event_id);
        assert_ne!(a.dossier_id, b.dossier_id);
    }

    #[test]
    #[should_panic(expected = "data.digitized is not a field of dossier.late")]
    fn a_setter_of_another_type_is_refused() {
        let _ = TestEvent::late().digitized(true);
    }

    #[test]
    #[should_panic(expected = "invalid test event")]
    fn an_invalid_event_is_refused() {
        let _ = TestEvent::received(Channel::Counter)
            .online_mode(ServiceMode::Full)
            .build();
    }
}
