//! The validator: NATS subject + body → [`Event`] or a [`Rejection`] naming field and rule.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Number;
use serde_json::value::RawValue;

use crate::event::{
    ActivityStatus, AgencyKind, AgencyLevel, Assessor, Channel, Event, EventData, EventType,
    Outcome, Portal, PostalKind, Rating, SUBJECT_PREFIX, ServiceMode, SplitTarget, TaskStatus,
};

/// Largest accepted body, in bytes (64 KiB).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// The class of a rejection, a stable code for counting rejections by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The body is larger than [`MAX_EVENT_BYTES`].
    TooLarge,
    /// The body is not UTF-8 JSON.
    NotJson,
    /// The body is JSON but not an object.
    NotObject,
    /// A required field is absent or null.
    Missing,
    /// A field has the wrong JSON type.
    WrongType,
    /// A string is empty or longer than its limit.
    BadLength,
    /// A value is outside its allowed set.
    BadValue,
    /// A timestamp is not RFC 3339 with an offset.
    BadTimestamp,
    /// `type` names no known event type.
    UnknownType,
    /// The subject does not match the event's type.
    SubjectMismatch,
    /// `schema_version` is not a supported version.
    BadVersion,
    /// A timestamp is outside the plausible window (see [`TimeWindow`]).
    OutOfWindow,
    /// The publisher may not publish this event (another agency's, or an official assessment).
    Unauthorized,
}

impl Fault {
    /// Stable snake_case code, used as a metric label and in the `fault` column.
    pub fn code(self) -> &'static str {
        match self {
            Fault::TooLarge => "too_large",
            Fault::NotJson => "not_json",
            Fault::NotObject => "not_object",
            Fault::Missing => "missing_field",
            Fault::WrongType => "wrong_type",
            Fault::BadLength => "bad_length",
            Fault::BadValue => "bad_value",
            Fault::BadTimestamp => "bad_timestamp",
            Fault::UnknownType => "unknown_type",
            Fault::SubjectMismatch => "subject_mismatch",
            Fault::BadVersion => "bad_version",
            Fault::OutOfWindow => "out_of_window",
            Fault::Unauthorized => "unauthorized",
        }
    }
}

/// Why an event was rejected: the field (dotted path, `body` or `subject`), the fault class and
/// a human-readable rule, e.g. `data.channel: must be one of "counter", "online", "postal"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Dotted path of the offending field, or `body` / `subject`.
    pub field: String,
    /// Class of the fault.
    pub fault: Fault,
    /// The rule that was broken, in words.
    pub rule: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} [{}]", self.field, self.rule, self.fault.code())
    }
}

impl std::error::Error for Rejection {}

impl Rejection {
    /// A rejection of `field` for breaking `rule`.
    pub fn new(field: impl Into<String>, fault: Fault, rule: impl Into<String>) -> Self {
        reject(field, fault, rule)
    }
}

/// The instants an event's `occurred_at` may fall in: a date outside it is a publisher's bug
/// or an attack (every day of year 0 to 9999 would become a partition of the lake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// The earliest accepted instant.
    pub earliest: DateTime<Utc>,
    /// The latest accepted instant.
    pub latest: DateTime<Utc>,
}

impl TimeWindow {
    /// From 2000-01-01T00:00Z to `ahead` months after `now`.
    pub fn until_months_after(now: DateTime<Utc>, ahead: u32) -> Self {
        TimeWindow {
            earliest: Utc
                .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
                .single()
                .expect("a valid date"),
            latest: now
                .checked_add_months(Months::new(ahead))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// The default: year 2000 to one year from now.
    pub fn default_now() -> Self {
        Self::until_months_after(Utc::now(), 12)
    }

    /// Whether `at` is inside the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        (self.earliest..=self.latest).contains(&at)
    }
}

/// Characters an `agency_code` may hold: the national identification codes
/// (`000.00.17.H02`) and the short codes provinces use (`SO-TP`, `H02_10`). Nothing invisible
/// (zero-width, bidi controls) or confusable can pass.
fn is_agency_code_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// Checks that `code`, the value of `field`, holds only the characters of agency codes.
fn check_agency_code(field: &str, code: &str) -> Result<()> {
    match code.chars().find(|c| !is_agency_code_char(*c)) {
        None => Ok(()),
        Some(bad) => Err(reject(
            field,
            Fault::BadValue,
            format!(
                "may hold only ASCII letters, digits, '.', '-' and '_' (got {:?} at U+{:04X})",
                code.escape_default().to_string(),
                u32::from(bad)
            ),
        )),
    }
}

fn reject(field: impl Into<String>, fault: Fault, rule: impl Into<String>) -> Rejection {
    Rejection {
        field: field.into(),
        fault,
        rule: rule.into(),
    }
}

type Result<T> = std::result::Result<T, Rejection>;

/// Validates one message of the `PAR_EVENTS` stream against contract version 1, with
/// `occurred_at` inside [`TimeWindow::default_now`].
pub fn validate<'a>(subject: &str, body: &'a [u8]) -> Result<Event<'a>> {
    validate_within(subject, body, &TimeWindow::default_now())
}

/// Validates one message against contract version 1, with `occurred_at` inside `window`.
/// Takes time linear in the size of `body`, whatever its shape.
pub fn validate_within<'a>(
    subject: &str,
    body: &'a [u8],
    window: &TimeWindow,
) -> Result<Event<'a>> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(reject(
            "body",
            Fault::TooLarge,
            format!(
                "{} bytes exceeds the limit of {MAX_EVENT_BYTES}",
                body.len()
            ),
        ));
    }
    // Checked once here, the text's strings need no check of their own while parsing.
    let body = std::str::from_utf8(body).map_err(|e| {
        reject(
            "body",
            Fault::NotJson,
            format!("not valid JSON: not UTF-8 text ({e})"),
        )
    })?;
    let mut envelope = Object::new("", &ENVELOPE);
    if envelope.parse(body).map_err(not_json)?.is_some() {
        return Err(reject("body", Fault::NotObject, "must be a JSON object"));
    }

    let type_text = envelope.string("type", 1, 64)?;
    let event_type = EventType::parse(&type_text).ok_or_else(|| {
        reject(
            "type",
            Fault::UnknownType,
            format!("unknown event type {type_text:?}"),
        )
    })?;
    if subject.strip_prefix(SUBJECT_PREFIX) != Some(event_type.as_str()) {
        return Err(reject(
            "subject",
            Fault::SubjectMismatch,
            format!(
                "subject {subject:?} does not match type {type_text:?} (expected {:?})",
                event_type.subject()
            ),
        ));
    }

    let event_id = envelope.string("event_id", 1, 128)?;
    let schema_version = match envelope.take("schema_version") {
        None | Some(Json::Null) => {
            return Err(reject("schema_version", Fault::Missing, "required"));
        }
        Some(Json::Number(n)) if n.as_i64() == Some(1) => 1,
        Some(Json::Number(n)) => {
            return Err(reject(
                "schema_version",
                Fault::BadVersion,
                format!("must be 1 (got {n})"),
            ));
        }
        Some(other) => return Err(wrong_type("schema_version", "an integer", &other)),
    };
    let occurred_at = envelope.timestamp("occurred_at")?;
    if !window.contains(occurred_at) {
        return Err(reject(
            "occurred_at",
            Fault::OutOfWindow,
            format!(
                "must be between {} and {} (got {})",
                window.earliest.to_rfc3339(),
                window.latest.to_rfc3339(),
                occurred_at.to_rfc3339()
            ),
        ));
    }
    let source = envelope.string("source", 1, 64)?;
    let agency_code = envelope.string("agency_code", 1, 64)?;
    check_agency_code("agency_code", &agency_code)?;
    let dossier_id = if event_type.needs_dossier() {
        Some(envelope.string("dossier_id", 1, 128)?)
    } else {
        envelope.optional_string("dossier_id", 1, 128)?
    };
    if event_type.refuses_dossier() && dossier_id.is_some() {
        return Err(reject(
            "dossier_id",
            Fault::BadValue,
            format!(
                "must be absent for {event_type}: it states facts of a procedure, not of a dossier"
            ),
        ));
    }
    let procedure_code = envelope.optional_string("procedure_code", 1, 128)?;
    if event_type.needs_procedure() && procedure_code.is_none() {
        return Err(reject(
            "procedure_code",
            Fault::Missing,
            format!("required for {event_type}"),
        ));
    }

    // Stored whole, unknown fields included, exactly as published.
    let Some(data_json) = envelope.take_rest("data") else {
        return Err(reject("data", Fault::Missing, "required"));
    };
    let typed = data_of(event_type, data_json.get())?;
    if typed.named_agencies().contains(&&*agency_code) {
        return Err(reject(
            "data",
            Fault::BadValue,
            format!("agency {agency_code} cannot be its own parent, merger target or successor"),
        ));
    }

    Ok(Event {
        event_id,
        schema_version,
        occurred_at,
        source,
        agency_code,
        dossier_id,
        procedure_code,
        data: typed,
        data_json: compact(data_json.get()),
        extra_json: envelope.rest_json(),
    })
}

/// The typed fields of the `data` object text of an event of `event_type`.
pub(crate) fn data_of(event_type: EventType, json: &str) -> Result<EventData> {
    let mut data = Object::new("data.", data_fields(event_type));
    match data.parse(json).map_err(not_json)? {
        None => {}
        Some(Json::Null) => return Err(reject("data", Fault::Missing, "required")),
        Some(other) => return Err(wrong_type("data", "an object", &other)),
    }
    typed_data(event_type, &mut data)
}

fn not_json(e: serde_json::Error) -> Rejection {
    reject("body", Fault::NotJson, format!("not valid JSON: {e}"))
}

fn typed_data(event_type: EventType, data: &mut Object<'_>) -> Result<EventData> {
    Ok(match event_type {
        EventType::DossierReceived => {
            let channel = data.enumerated("channel", Channel::parse, Channel::ALL)?;
            let due_at = data.timestamp("due_at")?;
            let online_mode =
                data.optional_enum("online_mode", ServiceMode::parse, ServiceMode::ALL)?;
            if online_mode.is_some() && channel != Channel::Online {
                return Err(reject(
                    "data.online_mode",
                    Fault::BadValue,
                    format!("only allowed when data.channel is \"online\" (got {channel:?})"),
                ));
            }
            EventData::DossierReceived {
                channel,
                due_at,
                online_mode,
                receiving_agency_code: data.optional_agency_code("receiving_agency_code")?,
                area_code: data.optional_agency_code("area_code")?,
            }
        }
        EventType::OnlineApplication => EventData::OnlineApplication {
            mode: data.enumerated("mode", ServiceMode::parse, ServiceMode::ALL)?,
            portal: data.optional_enum("portal", Portal::parse, Portal::ALL)?,
        },
        EventType::PostalSubmission => EventData::PostalSubmission {
            kind: data.enumerated("kind", PostalKind::parse, PostalKind::ALL)?,
        },
        EventType::DossierLate => EventData::DossierLate {
            due_at: data.timestamp("due_at")?,
        },
        EventType::DossierApology => EventData::DossierApology {
            new_due_at: data.timestamp("new_due_at")?,
            letter_no: data
                .optional_string("letter_no", 1, 128)?
                .map(Cow::into_owned),
        },
        EventType::DossierResolved => EventData::DossierResolved {
            outcome: data.enumerated("outcome", Outcome::parse, Outcome::ALL)?,
            digitized: data.optional_bool("digitized")?,
        },
        EventType::ParScore => {
            let year = data.year("year")?;
            let component = data.string("component", 1, 64)?.into_owned();
            let criterion = data.string("criterion", 1, 64)?.into_owned();
            let score = data.number("score")?;
            let max = data.number("max")?;
            if max <= 0.0 {
                return Err(reject(
                    "data.max",
                    Fault::BadValue,
                    format!("must be greater than 0 (got {max})"),
                ));
            }
            if !(0.0..=max).contains(&score) {
                return Err(reject(
                    "data.score",
                    Fault::BadValue,
                    format!("must be between 0 and data.max = {max} (got {score})"),
                ));
            }
            EventData::ParScore {
                year,
                component,
                criterion,
                score,
                max,
                assessor: data.enumerated("assessor", Assessor::parse, Assessor::ALL)?,
                agency_kind: data.optional_enum(
                    "agency_kind",
                    AgencyKind::parse,
                    AgencyKind::ALL,
                )?,
                evidence: data
                    .optional_string("evidence", 1, 4000)?
                    .map(Cow::into_owned),
            }
        }
        EventType::PlanActivity => EventData::PlanActivity {
            plan_year: data.year("plan_year")?,
            activity_id: data.string("activity_id", 1, 128)?.into_owned(),
            title: data.string("title", 1, 500)?.into_owned(),
            status: data.enumerated("status", ActivityStatus::parse, ActivityStatus::ALL)?,
            due_at: data.timestamp("due_at")?,
        },
        EventType::DirectiveTask => {
            let task_id = data.string("task_id", 1, 128)?.into_owned();
            let status = data.enumerated("status", TaskStatus::parse, TaskStatus::ALL)?;
            let due_at = data.timestamp("due_at")?;
            let completed_at = match status {
                TaskStatus::Completed => {
                    Some(data.timestamp("completed_at").map_err(|r| match r.fault {
                        Fault::Missing => reject(
                            "data.completed_at",
                            Fault::Missing,
                            "required when data.status is \"completed\"",
                        ),
                        _ => r,
                    })?)
                }
                TaskStatus::Assigned => match data.take("completed_at") {
                    None | Some(Json::Null) => None,
                    Some(_) => {
                        return Err(reject(
                            "data.completed_at",
                            Fault::BadValue,
                            "only allowed when data.status is \"completed\"",
                        ));
                    }
                },
            };
            EventData::DirectiveTask {
                task_id,
                status,
                due_at,
                completed_at,
            }
        }
        EventType::AgencyRegistered => EventData::AgencyRegistered {
            name_vi: data.string("name_vi", 1, 500)?.into_owned(),
            name_en: data
                .optional_string("name_en", 1, 500)?
                .map(Cow::into_owned),
            level: data.enumerated("level", AgencyLevel::parse, AgencyLevel::ALL)?,
            parent: data.optional_agency_code("parent")?,
            effective_date: data.date("effective_date")?,
            basis: data.string("basis", 1, 128)?.into_owned(),
        },
        EventType::AgencyRenamed => EventData::AgencyRenamed {
            name_vi: data.string("name_vi", 1, 500)?.into_owned(),
            name_en: data
                .optional_string("name_en", 1, 500)?
                .map(Cow::into_owned),
            effective_date: data.date("effective_date")?,
            basis: data.string("basis", 1, 128)?.into_owned(),
        },
        EventType::AgencyMerged => EventData::AgencyMerged {
            into: data
                .optional_agency_code("into")?
                .ok_or_else(|| reject("data.into", Fault::Missing, "required"))?,
            effective_date: data.date("effective_date")?,
            basis: data.string("basis", 1, 128)?.into_owned(),
        },
        EventType::AgencySplit => EventData::AgencySplit {
            targets: split_targets(data.take_rest("targets"))?,
            effective_date: data.date("effective_date")?,
            basis: data.string("basis", 1, 128)?.into_owned(),
        },
        EventType::AgencyDissolved => EventData::AgencyDissolved {
            effective_date: data.date("effective_date")?,
            basis: data.string("basis", 1, 128)?.into_owned(),
        },
        EventType::SupplementRequested => EventData::SupplementRequested {
            reason: data
                .optional_string("reason", 1, 1000)?
                .map(Cow::into_owned),
        },
        EventType::SupplementProvided => EventData::SupplementProvided {
            new_due_at: data.optional_timestamp("new_due_at")?,
        },
        EventType::FeeRequested => EventData::FeeRequested {
            amount_vnd: data.amount("amount_vnd")?,
        },
        EventType::FeePaid => EventData::FeePaid {
            amount_vnd: data.amount("amount_vnd")?,
            online: data.boolean("online")?,
            gateway: data.optional_string("gateway", 1, 64)?.map(Cow::into_owned),
        },
        EventType::ComponentDigitised => EventData::ComponentDigitised {
            component: data.string("component", 1, 256)?.into_owned(),
            reused: data.boolean("reused")?,
        },
        EventType::ResultIssued => EventData::ResultIssued {
            electronic: data.boolean("electronic")?,
        },
        EventType::DossierSynced => EventData::DossierSynced {
            portal: data.enumerated("portal", Portal::parse, Portal::ALL)?,
        },
        EventType::DossierRated => EventData::DossierRated {
            rating: data.enumerated("rating", Rating::parse, Rating::ALL)?,
        },
        EventType::PetitionReceived => EventData::PetitionReceived {
            petition_id: data.string("petition_id", 1, 128)?.into_owned(),
            due_at: data.timestamp("due_at")?,
        },
        EventType::PetitionAnswered => EventData::PetitionAnswered {
            petition_id: data.string("petition_id", 1, 128)?.into_owned(),
        },
        EventType::ProcedureCatalogued => EventData::ProcedureCatalogued {
            published: data.boolean("published")?,
            publicised: data.boolean("publicised")?,
            complete: data.boolean("complete")?,
            online_mode: data.optional_enum("online_mode", ServiceMode::parse, ServiceMode::ALL)?,
            has_fee: data.boolean("has_fee")?,
        },
    })
}

/// Most successors one `agency.split` names.
const MAX_SPLIT_TARGETS: usize = 64;

/// How far the weights of a split may sum from 1 (decisions give shares to a few decimals).
const WEIGHT_SUM_TOLERANCE: f64 = 0.001;

/// The successors of an `agency.split` (`data.targets`, kept out of the typed fields because
/// it is an array): 1–64 distinct agency codes, each with a weight in (0, 1] or none, weights
/// given for all or for none and then summing to 1.
fn split_targets(raw: Option<&RawValue>) -> Result<Vec<SplitTarget>> {
    let field = "data.targets";
    let value: serde_json::Value = match raw {
        None => return Err(reject(field, Fault::Missing, "required")),
        Some(raw) => serde_json::from_str(raw.get()).map_err(not_json)?,
    };
    let items = match value {
        serde_json::Value::Null => return Err(reject(field, Fault::Missing, "required")),
        serde_json::Value::Array(items) => items,
        other => {
            return Err(reject(
                field,
                Fault::WrongType,
                format!("must be an array (got {})", value_kind(&other)),
            ));
        }
    };
    if !(1..=MAX_SPLIT_TARGETS).contains(&items.len()) {
        return Err(reject(
            field,
            Fault::BadLength,
            format!(
                "must name 1–{MAX_SPLIT_TARGETS} successors (got {})",
                items.len()
            ),
        ));
    }
    let mut targets: Vec<SplitTarget> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |key: &str| format!("{field}[{i}].{key}");
        let Some(object) = item.as_object() else {
            return Err(reject(
                format!("{field}[{i}]"),
                Fault::WrongType,
                format!("must be an object (got {})", value_kind(item)),
            ));
        };
        let agency_code = match object.get("agency_code") {
            None | Some(serde_json::Value::Null) => {
                return Err(reject(at("agency_code"), Fault::Missing, "required"));
            }
            Some(serde_json::Value::String(code)) => {
                let chars = code.chars().count();
                if !(1..=64).contains(&chars) {
                    return Err(reject(
                        at("agency_code"),
                        Fault::BadLength,
                        format!("must be 1–64 characters (got {chars})"),
                    ));
                }
                check_agency_code(&at("agency_code"), code)?;
                code.clone()
            }
            Some(other) => {
                return Err(reject(
                    at("agency_code"),
                    Fault::WrongType,
                    format!("must be a string (got {})", value_kind(other)),
                ));
            }
        };
        if targets.iter().any(|t| t.agency_code == agency_code) {
            return Err(reject(
                at("agency_code"),
                Fault::BadValue,
                format!("{agency_code} is named twice"),
            ));
        }
        let weight = match object.get("weight") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => match n.as_f64() {
                Some(w) if w > 0.0 && w <= 1.0 => Some(w),
                _ => {
                    return Err(reject(
                        at("weight"),
                        Fault::BadValue,
                        format!("must be greater than 0 and at most 1 (got {n})"),
                    ));
                }
            },
            Some(other) => {
                return Err(reject(
                    at("weight"),
                    Fault::WrongType,
                    format!("must be a number (got {})", value_kind(other)),
                ));
            }
        };
        targets.push(SplitTarget {
            agency_code,
            weight,
        });
    }
    let given = targets.iter().filter(|t| t.weight.is_some()).count();
    if given != 0 && given != targets.len() {
        return Err(reject(
            field,
            Fault::BadValue,
            format!(
                "weights must be given for every successor or for none (given for {given} of {})",
                targets.len()
            ),
        ));
    }
    let sum: f64 = targets.iter().filter_map(|t| t.weight).sum();
    if given != 0 && (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
        return Err(reject(
            field,
            Fault::BadValue,
            format!("the weights must sum to 1 (got {sum})"),
        ));
    }
    Ok(targets)
}

/// The kind of a JSON value, in the words of [`Json::kind`].
fn value_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Years of PAR plans and indices, and of registry dates, this contract accepts.
const YEARS: std::ops::RangeInclusive<i64> = 2000..=2100;

/// The envelope fields read as values; `data` and unknown fields are kept as raw text.
const ENVELOPE: [&str; 8] = [
    "type",
    "event_id",
    "schema_version",
    "occurred_at",
    "source",
    "agency_code",
    "dossier_id",
    "procedure_code",
];

/// The data fields an event type reads; others are only kept in the stored `data` text.
fn data_fields(event_type: EventType) -> &'static [&'static str] {
    match event_type {
        EventType::DossierReceived => &[
            "channel",
            "due_at",
            "online_mode",
            "receiving_agency_code",
            "area_code",
        ],
        EventType::OnlineApplication => &["mode", "portal"],
        EventType::PostalSubmission => &["kind"],
        EventType::DossierLate => &["due_at"],
        EventType::DossierApology => &["new_due_at", "letter_no"],
        EventType::DossierResolved => &["outcome", "digitized"],
        EventType::ParScore => &[
            "year",
            "component",
            "criterion",
            "score",
            "max",
            "assessor",
            "agency_kind",
            "evidence",
        ],
        EventType::PlanActivity => &["plan_year", "activity_id", "title", "status", "due_at"],
        EventType::DirectiveTask => &["task_id", "status", "due_at", "completed_at"],
        EventType::AgencyRegistered => &[
            "name_vi",
            "name_en",
            "level",
            "parent",
            "effective_date",
            "basis",
        ],
        EventType::AgencyRenamed => &["name_vi", "name_en", "effective_date", "basis"],
        EventType::AgencyMerged => &["into", "effective_date", "basis"],
        // `targets` is an array: read from the raw members (`split_targets`).
        EventType::AgencySplit => &["effective_date", "basis"],
        EventType::AgencyDissolved => &["effective_date", "basis"],
        EventType::SupplementRequested => &["reason"],
        EventType::SupplementProvided => &["new_due_at"],
        EventType::FeeRequested => &["amount_vnd"],
        EventType::FeePaid => &["amount_vnd", "online", "gateway"],
        EventType::ComponentDigitised => &["component", "reused"],
        EventType::ResultIssued => &["electronic"],
        EventType::DossierSynced => &["portal"],
        EventType::DossierRated => &["rating"],
        EventType::PetitionReceived => &["petition_id", "due_at"],
        EventType::PetitionAnswered => &["petition_id"],
        EventType::ProcedureCatalogued => &[
            "published",
            "publicised",
            "complete",
            "online_mode",
            "has_fee",
        ],
    }
}

/// Most fields an [`Object`] reads as values: the envelope's, or one event type's data fields.
const MAX_FIELDS: usize = 8;

/// What the validator needs of a JSON value: scalars in full (strings borrowed from the body
/// unless they hold escapes), arrays and objects only as their kind.
#[derive(Debug)]
enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl Json<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array => "an array",
            Json::Object => "an object",
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct JsonVisitor;
        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<Self::Value, E> {
                Ok(Json::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> std::result::Result<Self::Value, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> std::result::Result<Self::Value, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> std::result::Result<Self::Value, E> {
                Number::from_f64(n)
                    .map(Json::Number)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Json::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<Self::Value, E> {
                Ok(Json::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Json::Array)
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Json::Object)
            }
        }
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// The members of a JSON object: the known fields as values (the last one wins when a key
/// repeats, as in any JSON map), every other member as raw JSON text, in order.
struct Object<'a> {
    /// Prefix of field paths in rejections (`""` or `"data."`).
    prefix: &'static str,
    names: &'static [&'static str],
    values: [Option<Json<'a>>; MAX_FIELDS],
    rest: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Object<'a> {
    fn new(prefix: &'static str, names: &'static [&'static str]) -> Self {
        debug_assert!(names.len() <= MAX_FIELDS);
        Self {
            prefix,
            names,
            values: Default::default(),
            rest: Vec::new(),
        }
    }

    /// Reads the object `text` into `self` in one pass, or returns the value `text` is instead
    /// of an object; only a JSON syntax error is an `Err`.
    fn parse(&mut self, text: &'a str) -> serde_json::Result<Option<Json<'a>>> {
        if !text.trim_ascii_start().starts_with('{') {
            return serde_json::from_str(text).map(Some);
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        deserializer.deserialize_map(Fill(self))?;
        deserializer.end()?;
        Ok(None)
    }

    /// Takes the value of known field `key` (absent: `None`).
    fn take(&mut self, key: &'static str) -> Option<Json<'a>> {
        let slot = self.names.iter().position(|n| *n == key);
        debug_assert!(slot.is_some(), "{key} is not a known field");
        self.values[slot?].take()
    }

    /// Takes the raw text of the other member `key` (its last value), if present.
    fn take_rest(&mut self, key: &str) -> Option<&'a RawValue> {
        let at = self.rest.iter().rposition(|(k, _)| k == key)?;
        let raw = self.rest[at].1;
        self.rest.retain(|(k, _)| k != key);
        Some(raw)
    }

    /// The remaining other members as a JSON object text, when there are any. Linear in the
    /// number of members: a hostile event may carry thousands of them.
    fn rest_json(&self) -> Option<String> {
        if self.rest.is_empty() {
            return None;
        }
        // A repeated key keeps its last value only: mark, from the end, each key's last member.
        let mut seen: HashSet<&str> = HashSet::with_capacity(self.rest.len());
        let last: Vec<bool> = {
            let mut last: Vec<bool> = self
                .rest
                .iter()
                .rev()
                .map(|(k, _)| seen.insert(k.as_ref()))
                .collect();
            last.reverse();
            last
        };
        let mut out = String::from("{");
        for ((key, raw), last) in self.rest.iter().zip(last) {
            if !last {
                continue;
            }
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(key).expect("a string always serializes"));
            out.push(':');
            out.push_str(raw.get());
        }
        out.push('}');
        Some(out)
    }

    fn field(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn optional_string(
        &mut self,
        key: &'static str,
        min: usize,
        max: usize,
    ) -> Result<Option<Cow<'a, str>>> {
        match self.take(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Str(s)) => {
                // Bytes bound characters from above, and a non-empty string has one: count only
                // when the byte length alone does not settle it.
                if min <= 1 && (min..=max).contains(&s.len()) {
                    return Ok(Some(s));
                }
                let chars = s.chars().count();
                if chars < min || chars > max {
                    Err(reject(
                        self.field(key),
                        Fault::BadLength,
                        format!("must be {min}–{max} characters (got {chars})"),
                    ))
                } else {
                    Ok(Some(s))
                }
            }
            Some(other) => Err(wrong_type(&self.field(key), "a string", &other)),
        }
    }

    fn string(&mut self, key: &'static str, min: usize, max: usize) -> Result<Cow<'a, str>> {
        self.optional_string(key, min, max)?
            .ok_or_else(|| reject(self.field(key), Fault::Missing, "required"))
    }

    fn optional_enum<T: std::fmt::Display + Copy>(
        &mut self,
        key: &'static str,
        parse: fn(&str) -> Option<T>,
        all: &[T],
    ) -> Result<Option<T>> {
        let Some(text) = self.optional_string(key, 0, usize::MAX)? else {
            return Ok(None);
        };
        parse(&text).map(Some).ok_or_else(|| {
            let allowed: Vec<String> = all.iter().map(|v| format!("{:?}", v.to_string())).collect();
            reject(
                self.field(key),
                Fault::BadValue,
                format!("must be one of {} (got {text:?})", allowed.join(", ")),
            )
        })
    }

    fn enumerated<T: std::fmt::Display + Copy>(
        &mut self,
        key: &'static str,
        parse: fn(&str) -> Option<T>,
        all: &[T],
    ) -> Result<T> {
        self.optional_enum(key, parse, all)?
            .ok_or_else(|| reject(self.field(key), Fault::Missing, "required"))
    }

    fn timestamp(&mut self, key: &'static str) -> Result<DateTime<Utc>> {
        self.optional_timestamp(key)?
            .ok_or_else(|| reject(self.field(key), Fault::Missing, "required"))
    }

    fn optional_timestamp(&mut self, key: &'static str) -> Result<Option<DateTime<Utc>>> {
        let Some(text) = self.optional_string(key, 1, 64)? else {
            return Ok(None);
        };
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Some(t.to_utc()))
            .map_err(|e| {
                reject(
                    self.field(key),
                    Fault::BadTimestamp,
                    format!("must be an RFC 3339 timestamp with offset (got {text:?}: {e})"),
                )
            })
    }

    fn optional_bool(&mut self, key: &'static str) -> Result<Option<bool>> {
        match self.take(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(wrong_type(&self.field(key), "a boolean", &other)),
        }
    }

    fn boolean(&mut self, key: &'static str) -> Result<bool> {
        self.optional_bool(key)?
            .ok_or_else(|| reject(self.field(key), Fault::Missing, "required"))
    }

    /// An amount of money in đồng: a whole number, 0 or more.
    fn amount(&mut self, key: &'static str) -> Result<u64> {
        match self.take(key) {
            None | Some(Json::Null) => Err(reject(self.field(key), Fault::Missing, "required")),
            Some(Json::Number(n)) => match (n.as_i64(), n.as_u64()) {
                (Some(amount), _) if amount >= 0 => Ok(amount as u64),
                (Some(amount), _) => Err(reject(
                    self.field(key),
                    Fault::BadValue,
                    format!("must be 0 or more (got {amount})"),
                )),
                (None, Some(_)) => Err(reject(
                    self.field(key),
                    Fault::BadValue,
                    format!("must be at most {} (got {n})", i64::MAX),
                )),
                (None, None) => Err(reject(
                    self.field(key),
                    Fault::WrongType,
                    format!("must be a whole number of đồng (got {n})"),
                )),
            },
            Some(other) => Err(wrong_type(&self.field(key), "an integer", &other)),
        }
    }

    /// An optional agency code (1–64 characters of the codes' alphabet).
    fn optional_agency_code(&mut self, key: &'static str) -> Result<Option<String>> {
        let Some(code) = self.optional_string(key, 1, 64)? else {
            return Ok(None);
        };
        check_agency_code(&self.field(key), &code)?;
        Ok(Some(code.into_owned()))
    }

    /// A local calendar date `YYYY-MM-DD` in one of the contract's [`YEARS`].
    fn date(&mut self, key: &'static str) -> Result<NaiveDate> {
        let text = self.string(key, 1, 64)?;
        let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 10)
            .ok_or_else(|| {
                reject(
                    self.field(key),
                    Fault::BadTimestamp,
                    format!("must be a date YYYY-MM-DD (got {text:?})"),
                )
            })?;
        if !YEARS.contains(&i64::from(date.year())) {
            return Err(reject(
                self.field(key),
                Fault::BadValue,
                format!(
                    "must be a date from {} to {} (got {date})",
                    YEARS.start(),
                    YEARS.end()
                ),
            ));
        }
        Ok(date)
    }

    fn year(&mut self, key: &'static str) -> Result<i32> {
        match self.take(key) {
            None | Some(Json::Null) => Err(reject(self.field(key), Fault::Missing, "required")),
            Some(Json::Number(n)) => match n.as_i64() {
                Some(year) if YEARS.contains(&year) => Ok(year as i32),
                Some(year) => Err(reject(
                    self.field(key),
                    Fault::BadValue,
                    format!(
                        "must be a year from {} to {} (got {year})",
                        YEARS.start(),
                        YEARS.end()
                    ),
                )),
                None => Err(reject(
                    self.field(key),
                    Fault::WrongType,
                    format!("must be an integer (got {n})"),
                )),
            },
            Some(other) => Err(wrong_type(&self.field(key), "an integer", &other)),
        }
    }

    fn number(&mut self, key: &'static str) -> Result<f64> {
        match self.take(key) {
            None | Some(Json::Null) => Err(reject(self.field(key), Fault::Missing, "required")),
            // serde_json parses no NaN or infinity: every number it gives is finite.
            Some(Json::Number(n)) => n.as_f64().ok_or_else(|| {
                reject(
                    self.field(key),
                    Fault::BadValue,
                    format!("{n} is not a double-precision number"),
                )
            }),
            Some(other) => Err(wrong_type(&self.field(key), "a number", &other)),
        }
    }
}

/// An object key, borrowed from the body unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        match Json::deserialize(deserializer)? {
            Json::Str(key) => Ok(Key(key)),
            other => Err(serde::de::Error::custom(format!(
                "a key must be a string, not {}",
                other.kind()
            ))),
        }
    }
}

/// Reads a JSON object's members into an [`Object`], in place.
struct Fill<'o, 'a>(&'o mut Object<'a>);

impl<'de> Visitor<'de> for Fill<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let object = self.0;
        while let Some(Key(key)) = map.next_key()? {
            match object.names.iter().position(|n| *n == key) {
                Some(slot) => object.values[slot] = Some(map.next_value()?),
                None => object.rest.push((key, map.next_value()?)),
            }
        }
        Ok(())
    }
}

/// `json` without the whitespace between its tokens (publishers mostly send none).
fn compact(json: &str) -> Cow<'_, str> {
    if !json.bytes().any(|b| b.is_ascii_whitespace()) {
        return Cow::Borrowed(json);
    }
    let (mut out, mut in_string, mut escaped) = (String::with_capacity(json.len()), false, false);
    for c in json.chars() {
        if in_string {
            (escaped, in_string) = (!escaped && c == '\\', escaped || c != '"');
        } else if c.is_ascii_whitespace() {
            continue;
        } else {
            in_string = c == '"';
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn wrong_type(field: &str, expected: &str, got: &Json<'_>) -> Rejection {
    reject(
        field,
        Fault::WrongType,
        format!("must be {expected} (got {})", got.kind()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECEIVED: &str = r#"{"event_id":"e1","type":"dossier.received","schema_version":1,
        "occurred_at":"2024-03-05T09:15:00+07:00","source":"motcua","agency_code":"A1",
        "dossier_id":"D1","data":{"channel":"online","online_mode":"full",
        "due_at":"2024-03-12T17:00:00+07:00","note":"kept"},"trace":"x"}"#;

    #[test]
    fn valid_event_keeps_unknown_fields() {
        let ev = validate("par.events.v1.dossier.received", RECEIVED.as_bytes()).unwrap();
        assert_eq!(ev.event_id, "e1");
        assert_eq!(ev.occurred_at.to_rfc3339(), "2024-03-05T02:15:00+00:00");
        assert_eq!(
            ev.data_json,
            r#"{"channel":"online","online_mode":"full","due_at":"2024-03-12T17:00:00+07:00","note":"kept"}"#
        );
        assert_eq!(ev.extra_json.as_deref(), Some(r#"{"trace":"x"}"#));
        assert!(matches!(
            ev.data,
            EventData::DossierReceived {
                channel: Channel::Online,
                online_mode: Some(ServiceMode::Full),
                ..
            }
        ));
    }

    #[test]
    fn escapes_repeated_keys_and_nested_extras_read_as_in_any_json_map() {
        let body = r#"{"event_id":"e\u0031","type":"dossier.late","type":"dossier.late",
            "schema_version":1,"occurred_at":"2024-03-05T09:15:00+07:00","source":"s\"q",
            "agency_code":"A","dossier_id":"D","data":{"due_at":"2024-03-12T17:00:00+07:00"},
            "trace":{"ids":[1,2]},"trace":{"ids":[3]},"n":null}"#;
        let ev = validate("par.events.v1.dossier.late", body.as_bytes()).unwrap();
        assert_eq!(ev.event_id, "e1");
        assert_eq!(ev.source, "s\"q");
        assert_eq!(
            ev.extra_json.as_deref(),
            Some(r#"{"trace":{"ids":[3]},"n":null}"#)
        );
    }

    #[test]
    fn wrong_kinds_are_named() {
        let late = |data: &str| {
            let body = format!(
                r#"{{"event_id":"e","type":"dossier.late","schema_version":1,
                "occurred_at":"2024-03-05T09:15:00+07:00","source":"s","agency_code":"A",
                "dossier_id":"D","data":{data}}}"#
            );
            validate("par.events.v1.dossier.late", body.as_bytes()).unwrap_err()
        };
        assert_eq!(
            late("[1]").to_string(),
            "data: must be an object (got an array) [wrong_type]"
        );
        assert_eq!(late("null").fault, Fault::Missing);
        assert_eq!(
            late(r#"{"due_at":{"a":1}}"#).to_string(),
            "data.due_at: must be a string (got an object) [wrong_type]"
        );
        for body in ["[]", "\"x\"", " 1"] {
            let err = validate("par.events.v1.dossier.late", body.as_bytes()).unwrap_err();
            assert_eq!(err.fault, Fault::NotObject, "{body}");
        }
        for body in ["{", "{\"a\":1} x", "{\"a\":[1,}"] {
            let err = validate("par.events.v1.dossier.late", body.as_bytes()).unwrap_err();
            assert_eq!(err.fault, Fault::NotJson, "{body}");
        }
        let latin1 = validate("par.events.v1.dossier.late", b"{\"a\":\"caf\xe9\"}").unwrap_err();
        assert_eq!(latin1.fault, Fault::NotJson);
        assert!(latin1.rule.contains("not UTF-8"), "{latin1}");
    }

    #[test]
    fn data_is_compacted_outside_strings_only() {
        assert_eq!(
            compact(r#"{ "a" : "x y\\", "b":[1, "\" }"] }"#),
            r#"{"a":"x y\\","b":[1,"\" }"]}"#
        );
    }

    #[test]
    fn subject_must_match_type() {
        let err = validate("par.events.v1.dossier.late", RECEIVED.as_bytes()).unwrap_err();
        assert_eq!(err.field, "subject");
        assert_eq!(err.fault, Fault::SubjectMismatch);
    }

    /// A late-dossier event with `agency_code` and `occurred_at` as given, and `extra`
    /// members appended to the envelope.
    fn late(agency_code: &str, occurred_at: &str, extra: &str) -> String {
        format!(
            r#"{{"event_id":"e","type":"dossier.late","schema_version":1,"occurred_at":"{occurred_at}",
            "source":"s","agency_code":{agency},"dossier_id":"D",
            "data":{{"due_at":"2024-03-12T17:00:00+07:00"}}{extra}}}"#,
            agency = serde_json::to_string(agency_code).unwrap()
        )
    }

    #[test]
    fn agency_codes_hold_only_the_characters_codes_use() {
        for code in ["000.00.17.H02", "H02.10", "SO-TP", "H02_X"] {
            let body = late(code, "2024-03-05T09:15:00+07:00", "");
            let ev = validate("par.events.v1.dossier.late", body.as_bytes()).unwrap();
            assert_eq!(ev.agency_code, code);
        }
        // Zero-width space, right-to-left override, a Cyrillic look-alike, a space, a slash.
        for code in [
            "000.00.17.H02\u{200b}",
            "\u{202e}000.00.17.H02",
            "000.00.17.Н02",
            "000.00 17",
            "000/00",
        ] {
            let body = late(code, "2024-03-05T09:15:00+07:00", "");
            let err = validate("par.events.v1.dossier.late", body.as_bytes()).unwrap_err();
            assert_eq!(
                (err.field.as_str(), err.fault),
                ("agency_code", Fault::BadValue),
                "{code:?}: {err}"
            );
            assert!(err.rule.contains("ASCII letters"), "{err}");
        }
    }

    #[test]
    fn occurred_at_outside_the_window_is_rejected_with_the_window() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T00:00:00Z")
            .unwrap()
            .to_utc();
        let window = TimeWindow::until_months_after(now, 12);
        let check = |at: &str| {
            let body = late("A1", at, "");
            validate_within("par.events.v1.dossier.late", body.as_bytes(), &window).map(|_| ())
        };
        assert!(
            check("2000-01-01T07:00:00+07:00").is_ok(),
            "the first instant"
        );
        assert!(check("2027-12-05T00:00:00Z").is_ok(), "one year ahead");
        for at in [
            "1999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "2027-12-05T00:00:01Z",
            "9999-12-31T23:59:59Z",
        ] {
            let err = check(at).unwrap_err();
            assert_eq!(
                (err.field.as_str(), err.fault),
                ("occurred_at", Fault::OutOfWindow),
                "{at}"
            );
            assert!(err.rule.contains("2000-01-01T00:00:00+00:00"), "{err}");
        }
    }

    #[test]
    fn thousands_of_unknown_members_are_kept_once_each_last_value_winning() {
        // A 56 KiB event of 4,000 unknown members, every tenth key repeated at the end.
        let mut extra = String::new();
        let n = 4_000;
        for i in 0..n {
            extra.push_str(&format!(r#","k{i}":{i}"#));
        }
        for i in (0..n).step_by(10) {
            extra.push_str(&format!(r#","k{i}":"again""#));
        }
        let body = late("A1", "2024-03-05T09:15:00+07:00", &extra);
        assert!(body.len() <= MAX_EVENT_BYTES, "{}", body.len());
        let ev = validate("par.events.v1.dossier.late", body.as_bytes()).unwrap();
        let kept: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(ev.extra_json.as_deref().unwrap()).unwrap();
        assert_eq!(kept.len(), n);
        assert_eq!(kept["k10"], "again");
        assert_eq!(kept["k11"], 11);
        // Insertion order: a key keeps the place of its last occurrence.
        let text = ev.extra_json.unwrap();
        assert!(text.starts_with(r#"{"k1":1,"k2":2"#), "{}", &text[..40]);
        assert!(text.ends_with(r#""k3990":"again"}"#));
    }

    #[test]
    fn oversized_body_is_rejected_before_parsing() {
        let body = vec![b' '; MAX_EVENT_BYTES + 1];
        let err = validate("par.events.v1.dossier.late", &body).unwrap_err();
        assert_eq!(err.fault, Fault::TooLarge);
    }
}
