//! The validator: NATS subject + body → [`Event`] or a [`Rejection`] naming field and rule.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::event::{
    ActivityStatus, AgencyKind, Assessor, Channel, Event, EventData, EventType, Outcome, Portal,
    PostalKind, ServiceMode, TaskStatus,
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

fn reject(field: impl Into<String>, fault: Fault, rule: impl Into<String>) -> Rejection {
    Rejection {
        field: field.into(),
        fault,
        rule: rule.into(),
    }
}

type Result<T> = std::result::Result<T, Rejection>;

/// Validates one message of the `PAR_EVENTS` stream against contract version 1.
pub fn validate(subject: &str, body: &[u8]) -> Result<Event> {
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
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| reject("body", Fault::NotJson, format!("not valid JSON: {e}")))?;
    let Value::Object(mut envelope) = value else {
        return Err(reject("body", Fault::NotObject, "must be a JSON object"));
    };

    let type_text = take_string(&mut envelope, "", "type", 1, 64)?;
    let event_type = EventType::parse(&type_text).ok_or_else(|| {
        reject(
            "type",
            Fault::UnknownType,
            format!("unknown event type {type_text:?}"),
        )
    })?;
    let expected_subject = event_type.subject();
    if subject != expected_subject {
        return Err(reject(
            "subject",
            Fault::SubjectMismatch,
            format!(
                "subject {subject:?} does not match type {type_text:?} (expected {expected_subject:?})"
            ),
        ));
    }

    let event_id = take_string(&mut envelope, "", "event_id", 1, 128)?;
    let schema_version = match envelope.remove("schema_version") {
        None | Some(Value::Null) => {
            return Err(reject("schema_version", Fault::Missing, "required"));
        }
        Some(Value::Number(n)) if n.as_i64() == Some(1) => 1,
        Some(Value::Number(n)) => {
            return Err(reject(
                "schema_version",
                Fault::BadVersion,
                format!("must be 1 (got {n})"),
            ));
        }
        Some(other) => return Err(wrong_type("schema_version", "an integer", &other)),
    };
    let occurred_at = take_timestamp(&mut envelope, "", "occurred_at")?;
    let source = take_string(&mut envelope, "", "source", 1, 64)?;
    let agency_code = take_string(&mut envelope, "", "agency_code", 1, 64)?;
    let dossier_id = if event_type.needs_dossier() {
        Some(take_string(&mut envelope, "", "dossier_id", 1, 128)?)
    } else {
        take_optional_string(&mut envelope, "", "dossier_id", 1, 128)?
    };
    let procedure_code = take_optional_string(&mut envelope, "", "procedure_code", 1, 128)?;

    let mut data = match envelope.remove("data") {
        None | Some(Value::Null) => return Err(reject("data", Fault::Missing, "required")),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(wrong_type("data", "an object", &other)),
    };
    // Stored whole, unknown fields included, before typed fields are taken out of it.
    let data_json = serde_json::to_string(&data).expect("a JSON map always serializes");
    let typed = typed_data(event_type, &mut data)?;

    let extra_json = (!envelope.is_empty()).then(|| Value::Object(envelope).to_string());
    Ok(Event {
        event_id,
        schema_version,
        occurred_at,
        source,
        agency_code,
        dossier_id,
        procedure_code,
        data: typed,
        data_json,
        extra_json,
    })
}

fn typed_data(event_type: EventType, data: &mut Map<String, Value>) -> Result<EventData> {
    const D: &str = "data.";
    Ok(match event_type {
        EventType::DossierReceived => {
            let channel = take_enum(data, D, "channel", Channel::parse, Channel::ALL)?;
            let due_at = take_timestamp(data, D, "due_at")?;
            let online_mode =
                take_optional_enum(data, D, "online_mode", ServiceMode::parse, ServiceMode::ALL)?;
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
            }
        }
        EventType::OnlineApplication => EventData::OnlineApplication {
            mode: take_enum(data, D, "mode", ServiceMode::parse, ServiceMode::ALL)?,
            portal: take_optional_enum(data, D, "portal", Portal::parse, Portal::ALL)?,
        },
        EventType::PostalSubmission => EventData::PostalSubmission {
            kind: take_enum(data, D, "kind", PostalKind::parse, PostalKind::ALL)?,
        },
        EventType::DossierLate => EventData::DossierLate {
            due_at: take_timestamp(data, D, "due_at")?,
        },
        EventType::DossierApology => EventData::DossierApology {
            new_due_at: take_timestamp(data, D, "new_due_at")?,
            letter_no: take_optional_string(data, D, "letter_no", 1, 128)?,
        },
        EventType::DossierResolved => EventData::DossierResolved {
            outcome: take_enum(data, D, "outcome", Outcome::parse, Outcome::ALL)?,
            digitized: match data.remove("digitized") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(b),
                Some(other) => return Err(wrong_type("data.digitized", "a boolean", &other)),
            },
        },
        EventType::ParScore => {
            let year = take_year(data, D, "year")?;
            let component = take_string(data, D, "component", 1, 64)?;
            let criterion = take_string(data, D, "criterion", 1, 64)?;
            let score = take_number(data, D, "score")?;
            let max = take_number(data, D, "max")?;
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
                assessor: take_enum(data, D, "assessor", Assessor::parse, Assessor::ALL)?,
                agency_kind: take_optional_enum(
                    data,
                    D,
                    "agency_kind",
                    AgencyKind::parse,
                    AgencyKind::ALL,
                )?,
                evidence: take_optional_string(data, D, "evidence", 1, 4000)?,
            }
        }
        EventType::PlanActivity => EventData::PlanActivity {
            plan_year: take_year(data, D, "plan_year")?,
            activity_id: take_string(data, D, "activity_id", 1, 128)?,
            title: take_string(data, D, "title", 1, 500)?,
            status: take_enum(
                data,
                D,
                "status",
                ActivityStatus::parse,
                ActivityStatus::ALL,
            )?,
            due_at: take_timestamp(data, D, "due_at")?,
        },
        EventType::DirectiveTask => {
            let task_id = take_string(data, D, "task_id", 1, 128)?;
            let status = take_enum(data, D, "status", TaskStatus::parse, TaskStatus::ALL)?;
            let due_at = take_timestamp(data, D, "due_at")?;
            let completed_at = match status {
                TaskStatus::Completed => Some(take_timestamp(data, D, "completed_at").map_err(
                    |r| match r.fault {
                        Fault::Missing => reject(
                            "data.completed_at",
                            Fault::Missing,
                            "required when data.status is \"completed\"",
                        ),
                        _ => r,
                    },
                )?),
                TaskStatus::Assigned => match data.remove("completed_at") {
                    None | Some(Value::Null) => None,
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
    })
}

/// Years of PAR plans and indices this contract accepts.
const YEARS: std::ops::RangeInclusive<i64> = 2000..=2100;

fn take_year(map: &mut Map<String, Value>, prefix: &str, key: &str) -> Result<i32> {
    let field = format!("{prefix}{key}");
    match map.remove(key) {
        None | Some(Value::Null) => Err(reject(field, Fault::Missing, "required")),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(year) if YEARS.contains(&year) => Ok(year as i32),
            Some(year) => Err(reject(
                field,
                Fault::BadValue,
                format!(
                    "must be a year from {} to {} (got {year})",
                    YEARS.start(),
                    YEARS.end()
                ),
            )),
            None => Err(reject(
                field,
                Fault::WrongType,
                format!("must be an integer (got {n})"),
            )),
        },
        Some(other) => Err(wrong_type(&field, "an integer", &other)),
    }
}

fn take_number(map: &mut Map<String, Value>, prefix: &str, key: &str) -> Result<f64> {
    let field = format!("{prefix}{key}");
    match map.remove(key) {
        None | Some(Value::Null) => Err(reject(field, Fault::Missing, "required")),
        // serde_json parses no NaN or infinity: every number it gives is finite.
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| {
            reject(
                field,
                Fault::BadValue,
                format!("{n} is not a double-precision number"),
            )
        }),
        Some(other) => Err(wrong_type(&field, "a number", &other)),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> Rejection {
    reject(
        field,
        Fault::WrongType,
        format!("must be {expected} (got {})", json_kind(got)),
    )
}

fn take_optional_string(
    map: &mut Map<String, Value>,
    prefix: &str,
    key: &str,
    min: usize,
    max: usize,
) -> Result<Option<String>> {
    let field = || format!("{prefix}{key}");
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let chars = s.chars().count();
            if chars < min || chars > max {
                Err(reject(
                    field(),
                    Fault::BadLength,
                    format!("must be {min}–{max} characters (got {chars})"),
                ))
            } else {
                Ok(Some(s))
            }
        }
        Some(other) => Err(wrong_type(&field(), "a string", &other)),
    }
}

fn take_string(
    map: &mut Map<String, Value>,
    prefix: &str,
    key: &str,
    min: usize,
    max: usize,
) -> Result<String> {
    take_optional_string(map, prefix, key, min, max)?
        .ok_or_else(|| reject(format!("{prefix}{key}"), Fault::Missing, "required"))
}

fn take_optional_enum<T: std::fmt::Display + Copy>(
    map: &mut Map<String, Value>,
    prefix: &str,
    key: &str,
    parse: fn(&str) -> Option<T>,
    all: &[T],
) -> Result<Option<T>> {
    let Some(text) = take_optional_string(map, prefix, key, 0, usize::MAX)? else {
        return Ok(None);
    };
    parse(&text).map(Some).ok_or_else(|| {
        let allowed: Vec<String> = all.iter().map(|v| format!("{:?}", v.to_string())).collect();
        reject(
            format!("{prefix}{key}"),
            Fault::BadValue,
            format!("must be one of {} (got {text:?})", allowed.join(", ")),
        )
    })
}

fn take_enum<T: std::fmt::Display + Copy>(
    map: &mut Map<String, Value>,
    prefix: &str,
    key: &str,
    parse: fn(&str) -> Option<T>,
    all: &[T],
) -> Result<T> {
    take_optional_enum(map, prefix, key, parse, all)?
        .ok_or_else(|| reject(format!("{prefix}{key}"), Fault::Missing, "required"))
}

fn take_timestamp(map: &mut Map<String, Value>, prefix: &str, key: &str) -> Result<DateTime<Utc>> {
    let text = take_string(map, prefix, key, 1, 64)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.to_utc())
        .map_err(|e| {
            reject(
                format!("{prefix}{key}"),
                Fault::BadTimestamp,
                format!("must be an RFC 3339 timestamp with offset (got {text:?}: {e})"),
            )
        })
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
        assert!(ev.data_json.contains("\"note\":\"kept\""));
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
    fn subject_must_match_type() {
        let err = validate("par.events.v1.dossier.late", RECEIVED.as_bytes()).unwrap_err();
        assert_eq!(err.field, "subject");
        assert_eq!(err.fault, Fault::SubjectMismatch);
    }

    #[test]
    fn oversized_body_is_rejected_before_parsing() {
        let body = vec![b' '; MAX_EVENT_BYTES + 1];
        let err = validate("par.events.v1.dossier.late", &body).unwrap_err();
        assert_eq!(err.fault, Fault::TooLarge);
    }
}
