//! Typed events of contract version 1.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};

use crate::validate::Rejection;

/// Every event subject a publisher sends starts with this prefix, followed by the event's
/// type (the broker stores it as `par.in.<publisher>.events.v1.<type>`).
pub const SUBJECT_PREFIX: &str = "par.events.v1.";

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in contract order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as it is written on the wire and stored.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the wire spelling.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// The type of an event, also the last part of its subject.
    EventType {
        /// A dossier was received by the one-stop shop.
        DossierReceived = "dossier.received",
        /// A citizen applied through an online public-service portal.
        OnlineApplication = "online.application",
        /// A dossier was sent in, or a result sent back, by public postal service.
        PostalSubmission = "postal.submission",
        /// A dossier missed its appointment date.
        DossierLate = "dossier.late",
        /// A written apology with a new appointment date was issued.
        DossierApology = "dossier.apology",
        /// The result was returned.
        DossierResolved = "dossier.resolved",
        /// A criterion of an agency's yearly PAR Index was scored.
        ParScore = "par.score",
        /// An activity of an agency's yearly PAR plan was planned, done or cancelled.
        PlanActivity = "plan.activity",
        /// A task assigned by a superior was assigned or completed.
        DirectiveTask = "directive.task",
        /// An agency came into the registry (established, or recorded as existing).
        AgencyRegistered = "agency.registered",
        /// An agency took a new name, keeping its code.
        AgencyRenamed = "agency.renamed",
        /// An agency was merged, whole, into another.
        AgencyMerged = "agency.merged",
        /// An agency was split between others, by weights.
        AgencySplit = "agency.split",
        /// An agency was dissolved without a successor.
        AgencyDissolved = "agency.dissolved",
        /// The agency asked the citizen to supplement a dossier (yêu cầu bổ sung hồ sơ).
        SupplementRequested = "supplement.requested",
        /// The citizen supplemented the dossier (công dân bổ sung xong).
        SupplementProvided = "supplement.provided",
        /// A fee or charge was asked for a dossier (phí, lệ phí).
        FeeRequested = "fee.requested",
        /// The fee of a dossier was paid, online or not.
        FeePaid = "fee.paid",
        /// A component of a dossier was digitised or reused (số hóa thành phần hồ sơ).
        ComponentDigitised = "component.digitised",
        /// The result of a dossier was issued, on paper or electronically (kết quả điện tử).
        ResultIssued = "result.issued",
        /// A dossier was synchronised to a public-service portal (đồng bộ lên Cổng DVCQG).
        DossierSynced = "dossier.synced",
        /// A citizen rated the handling of a dossier (đánh giá mức độ hài lòng).
        DossierRated = "dossier.rated",
        /// A complaint or petition came in (phản ánh, kiến nghị: PAKN).
        PetitionReceived = "petition.received",
        /// A complaint or petition was answered.
        PetitionAnswered = "petition.answered",
        /// The catalogue facts of a procedure at an agency (công bố, công khai); the latest counts.
        ProcedureCatalogued = "procedure.catalogued",
    }
}

string_enum! {
    /// How a dossier reached the one-stop shop.
    Channel {
        /// In person at the counter (trực tiếp).
        Counter = "counter",
        /// Online public service (dịch vụ công trực tuyến).
        Online = "online",
        /// Public postal service (bưu chính công ích).
        Postal = "postal",
    }
}

string_enum! {
    /// Depth of an online service.
    ServiceMode {
        /// Một phần: submitted online, part of the process on paper.
        Partial = "partial",
        /// Toàn trình: everything online.
        Full = "full",
    }
}

string_enum! {
    /// Which portal an online application came through.
    Portal {
        /// The national public-service portal.
        National = "national",
        /// The province's own portal.
        Provincial = "provincial",
    }
}

string_enum! {
    /// What travelled by post.
    PostalKind {
        /// A dossier sent in by post.
        Dossier = "dossier",
        /// A result returned by post.
        Result = "result",
    }
}

string_enum! {
    /// How a dossier ended.
    Outcome {
        /// The request was granted.
        Approved = "approved",
        /// The request was refused.
        Rejected = "rejected",
        /// The applicant withdrew it.
        Withdrawn = "withdrawn",
    }
}

string_enum! {
    /// Who gave a PAR Index score.
    Assessor {
        /// The agency's own self-assessment (tự đánh giá).
        SelfAssessment = "self",
        /// The appraisal council's score (thẩm định).
        Appraisal = "appraisal",
        /// An inspection team's score (kiểm tra).
        Inspection = "inspection",
        /// The sociological survey (điều tra xã hội học).
        Survey = "survey",
    }
}

string_enum! {
    /// The level of government an agency belongs to; the PAR Index ranks agencies of one kind.
    AgencyKind {
        /// A provincial department (Sở, Ban) or equivalent.
        Department = "department",
        /// A district people's committee (UBND huyện), abolished 2025-07-01.
        District = "district",
        /// A commune or ward people's committee (UBND xã, phường).
        Commune = "commune",
    }
}

string_enum! {
    /// The level of an agency in the registry of agencies.
    AgencyLevel {
        /// A province or centrally-run city (tỉnh, thành phố trực thuộc trung ương).
        Province = "province",
        /// A provincial department (Sở, Ban) or equivalent.
        Department = "department",
        /// A district (huyện, quận, thị xã, thành phố thuộc tỉnh), abolished 2025-07-01.
        District = "district",
        /// A commune, ward or special zone (xã, phường, đặc khu).
        Commune = "commune",
    }
}

string_enum! {
    /// A citizen's rating of the handling of a dossier (mức độ hài lòng).
    Rating {
        /// Rất hài lòng.
        VerySatisfied = "very_satisfied",
        /// Hài lòng.
        Satisfied = "satisfied",
        /// Không hài lòng.
        Dissatisfied = "dissatisfied",
    }
}

string_enum! {
    /// State of a PAR plan activity.
    ActivityStatus {
        /// In the plan, not done yet.
        Planned = "planned",
        /// Done.
        Done = "done",
        /// Taken out of the plan.
        Cancelled = "cancelled",
    }
}

string_enum! {
    /// State of a task assigned by a superior.
    TaskStatus {
        /// Assigned, not completed yet.
        Assigned = "assigned",
        /// Completed (at `completed_at`).
        Completed = "completed",
    }
}

impl EventType {
    /// Whether events of this type must name a dossier.
    pub fn needs_dossier(self) -> bool {
        // Scores, plans, tasks and registry facts concern an agency, not a dossier; a petition
        // may concern one; catalogue facts concern a procedure.
        matches!(
            self,
            EventType::DossierReceived
                | EventType::OnlineApplication
                | EventType::PostalSubmission
                | EventType::DossierLate
                | EventType::DossierApology
                | EventType::DossierResolved
                | EventType::SupplementRequested
                | EventType::SupplementProvided
                | EventType::FeeRequested
                | EventType::FeePaid
                | EventType::ComponentDigitised
                | EventType::ResultIssued
                | EventType::DossierSynced
                | EventType::DossierRated
        )
    }

    /// Whether events of this type may not name a dossier: catalogue facts of a procedure.
    pub fn refuses_dossier(self) -> bool {
        self == EventType::ProcedureCatalogued
    }

    /// Whether events of this type must name a procedure (`procedure_code`): the types of the
    /// 766 index (issue #24), whose indicators are counted per procedure. The earlier dossier
    /// types keep it optional.
    pub fn needs_procedure(self) -> bool {
        matches!(
            self,
            EventType::SupplementRequested
                | EventType::SupplementProvided
                | EventType::FeeRequested
                | EventType::FeePaid
                | EventType::ComponentDigitised
                | EventType::ResultIssued
                | EventType::DossierSynced
                | EventType::DossierRated
                | EventType::ProcedureCatalogued
        )
    }

    /// Whether events of this type are facts of the registry of agencies (`agency.*`): official
    /// decisions, not an agency's own reporting.
    pub fn is_registry(self) -> bool {
        matches!(
            self,
            EventType::AgencyRegistered
                | EventType::AgencyRenamed
                | EventType::AgencyMerged
                | EventType::AgencySplit
                | EventType::AgencyDissolved
        )
    }

    /// The NATS subject events of this type are published on.
    pub fn subject(self) -> String {
        format!("{SUBJECT_PREFIX}{}", self.as_str())
    }
}

/// One successor of a split agency (`data.targets` of `agency.split`).
#[derive(Debug, Clone, PartialEq)]
pub struct SplitTarget {
    /// The successor's code.
    pub agency_code: String,
    /// Its share of the split agency (0 < weight ≤ 1); `None` when the decision gives none (the
    /// share is then estimated from the dossiers).
    pub weight: Option<f64>,
}

/// The type-specific part of an event, as typed fields.
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// `dossier.received`
    DossierReceived {
        /// Channel of submission.
        channel: Channel,
        /// Appointment for the result (ngày hẹn trả).
        due_at: DateTime<Utc>,
        /// Depth of the online service, for online dossiers.
        online_mode: Option<ServiceMode>,
        /// The point that received it (a one-stop counter, a public administration service
        /// centre), when not the competent agency of the envelope.
        receiving_agency_code: Option<String>,
        /// The commune the dossier belongs to (the applicant's), when not the competent
        /// agency of the envelope.
        area_code: Option<String>,
    },
    /// `online.application`
    OnlineApplication {
        /// Depth of the online service.
        mode: ServiceMode,
        /// Portal used.
        portal: Option<Portal>,
    },
    /// `postal.submission`
    PostalSubmission {
        /// What was posted.
        kind: PostalKind,
    },
    /// `dossier.late`
    DossierLate {
        /// The appointment that was missed.
        due_at: DateTime<Utc>,
    },
    /// `dossier.apology`
    DossierApology {
        /// The new appointment.
        new_due_at: DateTime<Utc>,
        /// Number of the apology letter.
        letter_no: Option<String>,
    },
    /// `dossier.resolved`
    DossierResolved {
        /// How the dossier ended.
        outcome: Outcome,
        /// Whether the result was digitised.
        digitized: Option<bool>,
    },
    /// `par.score`
    ParScore {
        /// Year of the PAR Index scored.
        year: i32,
        /// Code of the component (lĩnh vực) in the year's scoring model.
        component: String,
        /// Code of the criterion (tiêu chí) within the component.
        criterion: String,
        /// Points given, between 0 and `max`.
        score: f64,
        /// The most the criterion is worth on the assessor's scale.
        max: f64,
        /// Who scored.
        assessor: Assessor,
        /// The group the agency is ranked in (default: department).
        agency_kind: Option<AgencyKind>,
        /// What the score rests on.
        evidence: Option<String>,
    },
    /// `plan.activity`
    PlanActivity {
        /// Year of the PAR plan (kế hoạch CCHC) the activity belongs to.
        plan_year: i32,
        /// The activity's id within the agency.
        activity_id: String,
        /// What the activity is.
        title: String,
        /// Its state.
        status: ActivityStatus,
        /// When it is due.
        due_at: DateTime<Utc>,
    },
    /// `directive.task`
    DirectiveTask {
        /// The task's id within the agency, unique across years (e.g. the assigning document's
        /// number and year).
        task_id: String,
        /// Its state.
        status: TaskStatus,
        /// The deadline set by the superior.
        due_at: DateTime<Utc>,
        /// When it was completed; present exactly when `status` is completed.
        completed_at: Option<DateTime<Utc>>,
    },
    /// `agency.registered`
    AgencyRegistered {
        /// Vietnamese name.
        name_vi: String,
        /// English name.
        name_en: Option<String>,
        /// Level of government.
        level: AgencyLevel,
        /// Code of the agency it belongs to (a department's or commune's province).
        parent: Option<String>,
        /// The local date it exists from.
        effective_date: NaiveDate,
        /// The legal basis: number of the decision (e.g. `1234/QĐ-UBND`).
        basis: String,
    },
    /// `agency.renamed`
    AgencyRenamed {
        /// New Vietnamese name.
        name_vi: String,
        /// New English name.
        name_en: Option<String>,
        /// The local date the name counts from.
        effective_date: NaiveDate,
        /// The legal basis (decision number).
        basis: String,
    },
    /// `agency.merged`
    AgencyMerged {
        /// Code of the agency it was merged into.
        into: String,
        /// The local date of the merger: the agency exists until the day before.
        effective_date: NaiveDate,
        /// The legal basis (decision number).
        basis: String,
    },
    /// `agency.split`
    AgencySplit {
        /// The successors and their shares: weights given for all or for none, summing to 1.
        targets: Vec<SplitTarget>,
        /// The local date of the split: the agency exists until the day before.
        effective_date: NaiveDate,
        /// The legal basis (decision number).
        basis: String,
    },
    /// `agency.dissolved`
    AgencyDissolved {
        /// The local date of the dissolution: the agency exists until the day before.
        effective_date: NaiveDate,
        /// The legal basis (decision number).
        basis: String,
    },
    /// `supplement.requested`
    SupplementRequested {
        /// Why the dossier must be supplemented.
        reason: Option<String>,
    },
    /// `supplement.provided`
    SupplementProvided {
        /// The appointment re-set when the dossier came back complete.
        new_due_at: Option<DateTime<Utc>>,
    },
    /// `fee.requested`
    FeeRequested {
        /// The amount asked, in đồng (0: no fee).
        amount_vnd: u64,
    },
    /// `fee.paid`
    FeePaid {
        /// The amount paid, in đồng.
        amount_vnd: u64,
        /// Whether it was paid online.
        online: bool,
        /// The payment channel (`national_payment_platform`, `provincial`, `bank`...).
        gateway: Option<String>,
    },
    /// `component.digitised`
    ComponentDigitised {
        /// The component (thành phần hồ sơ): its code or name.
        component: String,
        /// Whether it was taken from existing data or earlier results instead of scanned.
        reused: bool,
    },
    /// `result.issued`
    ResultIssued {
        /// Whether the result is electronic (kết quả điện tử).
        electronic: bool,
    },
    /// `dossier.synced`
    DossierSynced {
        /// The portal the dossier was synchronised to.
        portal: Portal,
    },
    /// `dossier.rated`
    DossierRated {
        /// The citizen's rating.
        rating: Rating,
    },
    /// `petition.received`
    PetitionReceived {
        /// The petition's id within the agency.
        petition_id: String,
        /// The deadline for handling it.
        due_at: DateTime<Utc>,
    },
    /// `petition.answered`
    PetitionAnswered {
        /// The petition's id within the agency.
        petition_id: String,
    },
    /// `procedure.catalogued`
    ProcedureCatalogued {
        /// Whether the procedure is published (công bố) by a decision.
        published: bool,
        /// Whether it is publicised (công khai) on the portal.
        publicised: bool,
        /// Whether its published information is full and correct.
        complete: bool,
        /// The online service offered for it, if any.
        online_mode: Option<ServiceMode>,
        /// Whether it carries a fee or charge.
        has_fee: bool,
    },
}

impl EventData {
    /// Reads the `data` object of an event of `event_type` (JSON text, as the lake stores it)
    /// back into its typed fields, by the rules the validator applies; a value this contract
    /// does not know, e.g. one a newer publisher sent, is a [`Rejection`] naming its field.
    pub fn from_json(event_type: EventType, json: &str) -> Result<Self, Rejection> {
        crate::validate::data_of(event_type, json)
    }

    /// The event type this data belongs to.
    pub fn event_type(&self) -> EventType {
        match self {
            EventData::DossierReceived { .. } => EventType::DossierReceived,
            EventData::OnlineApplication { .. } => EventType::OnlineApplication,
            EventData::PostalSubmission { .. } => EventType::PostalSubmission,
            EventData::DossierLate { .. } => EventType::DossierLate,
            EventData::DossierApology { .. } => EventType::DossierApology,
            EventData::DossierResolved { .. } => EventType::DossierResolved,
            EventData::ParScore { .. } => EventType::ParScore,
            EventData::PlanActivity { .. } => EventType::PlanActivity,
            EventData::DirectiveTask { .. } => EventType::DirectiveTask,
            EventData::AgencyRegistered { .. } => EventType::AgencyRegistered,
            EventData::AgencyRenamed { .. } => EventType::AgencyRenamed,
            EventData::AgencyMerged { .. } => EventType::AgencyMerged,
            EventData::AgencySplit { .. } => EventType::AgencySplit,
            EventData::AgencyDissolved { .. } => EventType::AgencyDissolved,
            EventData::SupplementRequested { .. } => EventType::SupplementRequested,
            EventData::SupplementProvided { .. } => EventType::SupplementProvided,
            EventData::FeeRequested { .. } => EventType::FeeRequested,
            EventData::FeePaid { .. } => EventType::FeePaid,
            EventData::ComponentDigitised { .. } => EventType::ComponentDigitised,
            EventData::ResultIssued { .. } => EventType::ResultIssued,
            EventData::DossierSynced { .. } => EventType::DossierSynced,
            EventData::DossierRated { .. } => EventType::DossierRated,
            EventData::PetitionReceived { .. } => EventType::PetitionReceived,
            EventData::PetitionAnswered { .. } => EventType::PetitionAnswered,
            EventData::ProcedureCatalogued { .. } => EventType::ProcedureCatalogued,
        }
    }

    /// The agency codes the data names besides the envelope's `agency_code`: a registered
    /// agency's parent, a merger's target, a split's successors.
    pub fn named_agencies(&self) -> Vec<&str> {
        match self {
            EventData::AgencyRegistered { parent, .. } => parent.as_deref().into_iter().collect(),
            EventData::AgencyMerged { into, .. } => vec![into.as_str()],
            EventData::AgencySplit { targets, .. } => {
                targets.iter().map(|t| t.agency_code.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// A valid event of contract version 1. Its text is borrowed from the message body where it can
/// be; [`Event::into_owned`] gives one that owns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    /// Idempotency key: two events with the same id are one event.
    pub event_id: Cow<'a, str>,
    /// Contract version (always 1 here).
    pub schema_version: i32,
    /// When it happened in the real world.
    pub occurred_at: DateTime<Utc>,
    /// The publishing system.
    pub source: Cow<'a, str>,
    /// The agency the event is about (mã định danh đơn vị).
    pub agency_code: Cow<'a, str>,
    /// The dossier (mã hồ sơ), required for dossier types.
    pub dossier_id: Option<Cow<'a, str>>,
    /// The national procedure code (mã TTHC).
    pub procedure_code: Option<Cow<'a, str>>,
    /// Typed type-specific fields.
    pub data: EventData,
    /// The whole `data` object as JSON text, unknown fields included.
    pub data_json: Cow<'a, str>,
    /// Unknown envelope fields as a JSON object text, when there are any.
    pub extra_json: Option<String>,
}

impl Event<'_> {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }

    /// The same event, owning its text.
    pub fn into_owned(self) -> Event<'static> {
        let own = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
        Event {
            event_id: own(self.event_id),
            schema_version: self.schema_version,
            occurred_at: self.occurred_at,
            source: own(self.source),
            agency_code: own(self.agency_code),
            dossier_id: self.dossier_id.map(own),
            procedure_code: self.procedure_code.map(own),
            data: self.data,
            data_json: own(self.data_json),
            extra_json: self.extra_json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fault;

    #[test]
    fn stored_data_reads_back_into_typed_fields() {
        let data = EventData::from_json(
            EventType::DirectiveTask,
            r#"{"task_id":"T-1","status":"completed","due_at":"2025-03-01T17:00:00+07:00","completed_at":"2025-02-27T10:00:00+07:00","note":"kept"}"#,
        )
        .expect("valid data");
        let EventData::DirectiveTask {
            task_id,
            status,
            completed_at,
            ..
        } = data
        else {
            panic!("wrong variant: {data:?}");
        };
        assert_eq!((task_id.as_str(), status), ("T-1", TaskStatus::Completed));
        assert_eq!(
            completed_at.map(|t| t.to_rfc3339()),
            Some("2025-02-27T03:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn a_value_the_contract_does_not_know_names_its_field() {
        let rejection = EventData::from_json(
            EventType::PlanActivity,
            r#"{"plan_year":2025,"activity_id":"A","title":"t","status":"paused","due_at":"2025-03-01T17:00:00+07:00"}"#,
        )
        .expect_err("unknown status");
        assert_eq!(
            (rejection.field.as_str(), rejection.fault),
            ("data.status", Fault::BadValue)
        );
        let not_an_object = EventData::from_json(EventType::ParScore, "[1]").expect_err("array");
        assert_eq!(not_an_object.field, "data");
    }
}
