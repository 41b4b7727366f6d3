//! Typed events of contract version 1.

use chrono::{DateTime, Utc};

/// Every event subject starts with this prefix, followed by the event's type.
pub const SUBJECT_PREFIX: &str = "par.events.v1.";

/// The subjects of the `PAR_EVENTS` stream.
pub const SUBJECT_WILDCARD: &str = "par.events.>";

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl EventType {
    /// Whether events of this type must name a dossier.
    pub fn needs_dossier(self) -> bool {
        // All six v1 types concern one dossier; later types (plans, scores) will not.
        matches!(
            self,
            EventType::DossierReceived
                | EventType::OnlineApplication
                | EventType::PostalSubmission
                | EventType::DossierLate
                | EventType::DossierApology
                | EventType::DossierResolved
        )
    }

    /// The NATS subject events of this type are published on.
    pub fn subject(self) -> String {
        format!("{SUBJECT_PREFIX}{}", self.as_str())
    }
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
}

impl EventData {
    /// The event type this data belongs to.
    pub fn event_type(&self) -> EventType {
        match self {
            EventData::DossierReceived { .. } => EventType::DossierReceived,
            EventData::OnlineApplication { .. } => EventType::OnlineApplication,
            EventData::PostalSubmission { .. } => EventType::PostalSubmission,
            EventData::DossierLate { .. } => EventType::DossierLate,
            EventData::DossierApology { .. } => EventType::DossierApology,
            EventData::DossierResolved { .. } => EventType::DossierResolved,
        }
    }
}

/// A valid event of contract version 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Idempotency key: two events with the same id are one event.
    pub event_id: String,
    /// Contract version (always 1 here).
    pub schema_version: i32,
    /// When it happened in the real world.
    pub occurred_at: DateTime<Utc>,
    /// The publishing system.
    pub source: String,
    /// The agency handling the dossier (mã định danh đơn vị).
    pub agency_code: String,
    /// The dossier (mã hồ sơ), required for dossier types.
    pub dossier_id: Option<String>,
    /// The national procedure code (mã TTHC).
    pub procedure_code: Option<String>,
    /// Typed type-specific fields.
    pub data: EventData,
    /// The whole `data` object as JSON text, unknown fields included.
    pub data_json: String,
    /// Unknown envelope fields as a JSON object text, when there are any.
    pub extra_json: Option<String>,
}

impl Event {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }
}
