//! Malformed events, to exercise the rejection path: each is derived from a valid event and
//! breaks the contract in one way. They are rare, so this path may use `serde_json::Value`.

use bytes::Bytes;
use parwatch_proto::{EventType, Fault, MAX_EVENT_BYTES};
use serde_json::{Value, json};

use crate::subject::subject_of;

/// Subject of the made-up event type of [`Malformation::UnknownType`].
const UNKNOWN_TYPE: &str = "dossier.reopened";
const UNKNOWN_SUBJECT: &str = "par.events.v1.dossier.reopened";

/// One way an event breaks the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Malformation {
    /// The body is cut in half: not JSON.
    NotJson,
    /// `event_id` is absent.
    MissingEventId,
    /// `type` names an event type the contract does not have.
    UnknownType,
    /// A `dossier.received` with `data.channel` = `"fax"`.
    BadChannel,
    /// `occurred_at` is a local date without offset, `05/03/2024 09:15`.
    BadTimestamp,
    /// A valid body on the subject of another type.
    WrongSubject,
    /// The body is padded beyond 64 KiB.
    Oversized,
    /// `agency_code` is a number instead of a string.
    WrongFieldType,
    /// `schema_version` is 2.
    UnsupportedVersion,
    /// `data` is absent.
    MissingData,
}

impl Malformation {
    /// Every malformation, in a fixed order.
    pub const ALL: &'static [Malformation] = &[
        Malformation::NotJson,
        Malformation::MissingEventId,
        Malformation::UnknownType,
        Malformation::BadChannel,
        Malformation::BadTimestamp,
        Malformation::WrongSubject,
        Malformation::Oversized,
        Malformation::WrongFieldType,
        Malformation::UnsupportedVersion,
        Malformation::MissingData,
    ];

    /// The fault the contract's validator reports for it.
    pub fn expected_fault(self) -> Fault {
        match self {
            Malformation::NotJson => Fault::NotJson,
            Malformation::MissingEventId | Malformation::MissingData => Fault::Missing,
            Malformation::UnknownType => Fault::UnknownType,
            Malformation::BadChannel => Fault::BadValue,
            Malformation::BadTimestamp => Fault::BadTimestamp,
            Malformation::WrongSubject => Fault::SubjectMismatch,
            Malformation::Oversized => Fault::TooLarge,
            Malformation::WrongFieldType => Fault::WrongType,
            Malformation::UnsupportedVersion => Fault::BadVersion,
        }
    }

    /// Breaks `valid` (a valid body of type `event_type`), giving it `event_id` so it is never
    /// deduplicated against the event it came from. Returns the subject and body to publish.
    pub(crate) fn apply(
        self,
        event_type: EventType,
        valid: &[u8],
        event_id: &str,
    ) -> (&'static str, Bytes) {
        let mut subject = subject_of(event_type);
        let Ok(Value::Object(mut event)) = serde_json::from_slice::<Value>(valid) else {
            unreachable!("the generator writes valid JSON objects");
        };
        event.insert("event_id".into(), json!(event_id));
        match self {
            Malformation::NotJson => {
                let text = Value::Object(event).to_string();
                return (
                    subject,
                    Bytes::copy_from_slice(&text.as_bytes()[..text.len() / 2]),
                );
            }
            Malformation::MissingEventId => {
                event.remove("event_id");
            }
            Malformation::UnknownType => {
                event.insert("type".into(), json!(UNKNOWN_TYPE));
                subject = UNKNOWN_SUBJECT;
            }
            Malformation::BadChannel => {
                event.insert("type".into(), json!(EventType::DossierReceived.as_str()));
                event.insert(
                    "data".into(),
                    json!({"channel": "fax", "due_at": event["occurred_at"]}),
                );
                subject = subject_of(EventType::DossierReceived);
            }
            Malformation::BadTimestamp => {
                event.insert("occurred_at".into(), json!("05/03/2024 09:15"));
            }
            Malformation::WrongSubject => {
                let other = if event_type == EventType::DossierLate {
                    EventType::DossierResolved
                } else {
                    EventType::DossierLate
                };
                subject = subject_of(other);
            }
            Malformation::Oversized => {
                if let Some(Value::Object(data)) = event.get_mut("data") {
                    data.insert("attachment".into(), json!("A".repeat(MAX_EVENT_BYTES)));
                }
            }
            Malformation::WrongFieldType => {
                event.insert("agency_code".into(), json!(17));
            }
            Malformation::UnsupportedVersion => {
                event.insert("schema_version".into(), json!(2));
            }
            Malformation::MissingData => {
                event.remove("data");
            }
        }
        (subject, Bytes::from(Value::Object(event).to_string()))
    }
}
