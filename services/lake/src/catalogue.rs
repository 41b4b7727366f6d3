//! The catalogue of the stored tables' columns: the one place that says, for each column of
//! `events` and `rejected_events`, its name, Arrow type, nullability and how its values read
//! back into the contract's types (`parwatch_proto`). The Arrow schemas (`schema.rs`) are
//! derived from it, the writer (`columns.rs`) fills a column per entry, and readers such as the
//! metrics projector read a batch through [`EventRows`]'s typed accessors: a stored value this
//! build's contract does not know (e.g. a channel a newer publisher sent) comes back as an
//! [`Unknown`], never as a guess.

use std::marker::PhantomData;

use datafusion::arrow::array::{
    Array, ArrayAccessor, AsArray, BooleanArray, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit, TimestampMicrosecondType};
use parwatch_proto::{Channel, EventData, EventType, Outcome, Portal, PostalKind, ServiceMode};

/// The Arrow type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    Text,
    /// Bytes.
    Binary,
    /// A 32-bit signed integer.
    Int32,
    /// A 64-bit signed integer (Delta has no unsigned integers).
    Int64,
    /// A boolean.
    Boolean,
    /// An instant, in UTC microseconds.
    Timestamp,
    /// A calendar date (days since 1970-01-01).
    Date,
}

impl ColumnType {
    /// The Arrow data type.
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Text => DataType::Utf8,
            ColumnType::Binary => DataType::Binary,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColumnType::Date => DataType::Date32,
        }
    }
}

/// A contract enumeration a text column holds the wire spelling of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// [`EventType`].
    EventType,
    /// [`Channel`].
    Channel,
    /// [`ServiceMode`].
    ServiceMode,
    /// [`PostalKind`].
    PostalKind,
    /// [`Outcome`].
    Outcome,
    /// [`Portal`].
    Portal,
}

/// How a column's values read back into the contract's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBack {
    /// As stored: text, numbers, instants, flags.
    AsStored,
    /// The wire spelling of a contract enumeration ([`EventRows::enumerated`]).
    Enum(Domain),
    /// The `data` object of the row's type, read by [`EventData::from_json`]
    /// ([`EventRows::data`]).
    EventData,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSpec {
    /// The column's name in the table and in SQL.
    pub name: &'static str,
    /// Its Arrow type.
    pub ty: ColumnType,
    /// Whether it may hold nulls.
    pub nullable: bool,
    /// How its values read back.
    pub read_back: ReadBack,
}

impl ColumnSpec {
    /// The Arrow field.
    pub fn field(&self) -> Field {
        Field::new(self.name, self.ty.arrow(), self.nullable)
    }
}

/// Defines a table's column enum in stored order, with its [`ColumnSpec`]s.
macro_rules! catalogue {
    ($(#[$meta:meta])* $name:ident {
        $($(#[$vmeta:meta])* $variant:ident: $text:literal, $ty:ident, $null:ident
            $(, $read:ident $(($domain:ident))?)?;)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every column, in stored order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The column's catalogue entry.
            pub const fn spec(self) -> ColumnSpec {
                match self {
                    $($name::$variant => ColumnSpec {
                        name: $text,
                        ty: ColumnType::$ty,
                        nullable: catalogue!(@null $null),
                        read_back: catalogue!(@read $($read $(($domain))?)?),
                    }),+
                }
            }

            /// The column's name.
            pub const fn name(self) -> &'static str {
                self.spec().name
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
    (@null nullable) => { true };
    (@null required) => { false };
    (@read) => { ReadBack::AsStored };
    (@read Enum($domain:ident)) => { ReadBack::Enum(Domain::$domain) };
    (@read EventData) => { ReadBack::EventData };
}

catalogue! {
    /// A column of `events`, in stored order (api-v1). An event type's own fields have typed
    /// columns, null in the rows of other types; `data` keeps the whole object as published.
    EventColumn {
        /// Idempotency key.
        EventId: "event_id", Text, required;
        /// The event type.
        Type: "type", Text, required, Enum(EventType);
        /// Contract version.
        SchemaVersion: "schema_version", Int32, required;
        /// When it happened.
        OccurredAt: "occurred_at", Timestamp, required;
        /// The publishing system.
        Source: "source", Text, required;
        /// The agency it is about.
        AgencyCode: "agency_code", Text, required;
        /// The dossier, for dossier types.
        DossierId: "dossier_id", Text, nullable;
        /// The national procedure code.
        ProcedureCode: "procedure_code", Text, nullable;
        /// `dossier.received`: channel of submission.
        Channel: "channel", Text, nullable, Enum(Channel);
        /// `dossier.received`: depth of the online service.
        OnlineMode: "online_mode", Text, nullable, Enum(ServiceMode);
        /// The deadline: `dossier.received`, `dossier.late`, `plan.activity`, `directive.task`,
        /// `petition.received`.
        DueAt: "due_at", Timestamp, nullable;
        /// `online.application`: depth of the online service.
        Mode: "mode", Text, nullable, Enum(ServiceMode);
        /// `postal.submission`: what was posted.
        Kind: "kind", Text, nullable, Enum(PostalKind);
        /// `dossier.apology`, `supplement.provided`: the new appointment.
        NewDueAt: "new_due_at", Timestamp, nullable;
        /// `dossier.resolved`: how it ended.
        Outcome: "outcome", Text, nullable, Enum(Outcome);
        /// `dossier.resolved`: whether the result was digitised.
        Digitized: "digitized", Boolean, nullable;
        /// `online.application`: the portal used; `dossier.synced`: the portal synced to.
        Portal: "portal", Text, nullable, Enum(Portal);
        /// `dossier.apology`: number of the apology letter.
        LetterNo: "letter_no", Text, nullable;
        /// The whole `data` object as JSON text, unknown fields included.
        Data: "data", Text, required, EventData;
        /// Unknown envelope fields as a JSON object text.
        Extra: "extra", Text, nullable;
        /// When the lake stored it.
        IngestedAt: "ingested_at", Timestamp, required;
        /// JetStream stream sequence of the message.
        StreamSeq: "stream_seq", Int64, required;
        /// Local date of `occurred_at`: what files are ordered by.
        EventDate: "event_date", Date, required;
    }
}

catalogue! {
    /// A column of `rejected_events`, in stored order.
    RejectedColumn {
        /// NATS subject the message was published on.
        Subject: "subject", Text, required;
        /// The body as text, when it is UTF-8.
        Raw: "raw", Text, nullable;
        /// The body exactly as received.
        RawBytes: "raw_bytes", Binary, required;
        /// Field and rule it broke.
        Reason: "reason", Text, required;
        /// Stable fault code.
        Fault: "fault", Text, required;
        /// The body's `agency_code` when it has a string one: lets agency scopes see their own.
        AgencyCode: "agency_code", Text, nullable;
        /// When the broker stored it.
        ReceivedAt: "received_at", Timestamp, required;
        /// JetStream stream sequence of the message.
        StreamSeq: "stream_seq", Int64, required;
        /// Local date of `received_at`.
        ReceivedDate: "received_date", Date, required;
    }
}

/// A contract enumeration stored as its wire spelling.
pub trait StoredEnum: Copy {
    /// Which one it is.
    const DOMAIN: Domain;
    /// Parses the wire spelling; `None` for a value this build does not know.
    fn parse(text: &str) -> Option<Self>;
}

macro_rules! stored_enum {
    ($($ty:ident),+) => {$(
        impl StoredEnum for $ty {
            const DOMAIN: Domain = Domain::$ty;
            fn parse(text: &str) -> Option<Self> {
                $ty::parse(text)
            }
        }
    )+};
}

stored_enum!(EventType, Channel, ServiceMode, PostalKind, Outcome, Portal);

/// A stored value this build's contract cannot read back: a value a newer publisher sent, or a
/// `data` object that no longer reads as its type (then `value` names the field and fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// The column it is in.
    pub column: EventColumn,
    /// The value as stored, or for `data` the field and fault that stopped it.
    pub value: String,
}

/// A batch that does not have a column as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {problem}")]
pub struct ColumnError {
    /// The column.
    pub column: EventColumn,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// The rows of a batch of `events` (every column or some), read by catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct EventRows<'a> {
    batch: &'a RecordBatch,
}

type Read<'a, T> = Result<T, ColumnError>;

impl<'a> EventRows<'a> {
    /// Reads `batch`, a batch of `events` or of some of its columns.
    pub fn new(batch: &'a RecordBatch) -> Self {
        Self { batch }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn column(&self, column: EventColumn, ty: ColumnType) -> Read<'a, &'a dyn Array> {
        let fail = |problem| ColumnError { column, problem };
        if column.spec().ty != ty {
            return Err(fail("read as a type the catalogue does not give it"));
        }
        let array = self
            .batch
            .column_by_name(column.name())
            .ok_or(fail("missing"))?;
        if array.data_type() != &ty.arrow() {
            return Err(fail("stored with another type than the catalogue's"));
        }
        Ok(array.as_ref())
    }

    /// A text column, values as stored.
    pub fn text(&self, column: EventColumn) -> Read<'a, TextColumn<'a>> {
        let array = self.column(column, ColumnType::Text)?;
        Ok(Values(array.as_string::<i32>()))
    }

    /// A timestamp column, in UTC microseconds.
    pub fn time(&self, column: EventColumn) -> Read<'a, TimeColumn<'a>> {
        let array = self.column(column, ColumnType::Timestamp)?;
        Ok(Values(array.as_primitive::<TimestampMicrosecondType>()))
    }

    /// A boolean column.
    pub fn flag(&self, column: EventColumn) -> Read<'a, FlagColumn<'a>> {
        let array = self.column(column, ColumnType::Boolean)?;
        Ok(Values(array.as_boolean()))
    }

    /// A column holding the wire spelling of the contract enumeration `T`, read back into `T`.
    pub fn enumerated<T: StoredEnum>(&self, column: EventColumn) -> Read<'a, EnumColumn<'a, T>> {
        if column.spec().read_back != ReadBack::Enum(T::DOMAIN) {
            return Err(ColumnError {
                column,
                problem: "does not hold this enumeration",
            });
        }
        Ok(EnumColumn {
            column,
            text: self.text(column)?,
            domain: PhantomData,
        })
    }

    /// The `type` column, read back into [`EventType`].
    pub fn event_type(&self) -> Read<'a, EnumColumn<'a, EventType>> {
        self.enumerated(EventColumn::Type)
    }

    /// The `data` column, read back into [`EventData`] (needs the `type` column).
    pub fn data(&self) -> Read<'a, DataColumn<'a>> {
        Ok(DataColumn(self.text(EventColumn::Data)?))
    }
}

/// One column's values, typed: [`TextColumn`], [`TimeColumn`] (UTC microseconds),
/// [`FlagColumn`].
#[derive(Debug)]
pub struct Values<'a, A>(&'a A);

// By hand: a reference is `Copy` whatever `A` is (derives would ask `A: Copy`).
impl<A> Clone for Values<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for Values<'_, A> {}

impl<'a, A> Values<'a, A>
where
    &'a A: ArrayAccessor,
{
    /// Row `i`'s value, `None` when null.
    pub fn get(&self, i: usize) -> Option<<&'a A as ArrayAccessor>::Item> {
        (!self.0.is_null(i)).then(|| self.0.value(i))
    }

    /// Row `i`'s value in a column the catalogue says is never null.
    pub fn value(&self, i: usize) -> <&'a A as ArrayAccessor>::Item {
        self.0.value(i)
    }
}

/// A text column's values.
pub type TextColumn<'a> = Values<'a, StringArray>;
/// A timestamp column's values, in UTC microseconds.
pub type TimeColumn<'a> = Values<'a, TimestampMicrosecondArray>;
/// A boolean column's values.
pub type FlagColumn<'a> = Values<'a, BooleanArray>;

/// A column of a contract enumeration's wire spellings.
#[derive(Debug, Clone, Copy)]
pub struct EnumColumn<'a, T> {
    column: EventColumn,
    text: TextColumn<'a>,
    domain: PhantomData<T>,
}

impl<T: StoredEnum> EnumColumn<'_, T> {
    /// Row `i`'s value: `Ok(None)` when null, an [`Unknown`] for a spelling this build's
    /// contract does not know.
    pub fn get(&self, i: usize) -> Result<Option<T>, Unknown> {
        let Some(text) = self.text.get(i) else {
            return Ok(None);
        };
        T::parse(text).map(Some).ok_or_else(|| Unknown {
            column: self.column,
            value: text.to_owned(),
        })
    }
}

/// The `data` column's objects.
#[derive(Debug, Clone, Copy)]
pub struct DataColumn<'a>(TextColumn<'a>);

impl DataColumn<'_> {
    /// Row `i`'s object, read as the data of `event_type` (the row's type); an [`Unknown`]
    /// naming the field and fault when this build's contract cannot read it.
    pub fn get(&self, i: usize, event_type: EventType) -> Result<EventData, Unknown> {
        EventData::from_json(event_type, self.0.value(i)).map_err(|rejection| Unknown {
            column: EventColumn::Data,
            value: format!("{}: {}", rejection.field, rejection.fault.code()),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::Schema;

    use super::*;

    fn batch(columns: &[(EventColumn, Vec<Option<&str>>)]) -> RecordBatch {
        let fields: Vec<Field> = columns.iter().map(|(c, _)| c.spec().field()).collect();
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|(_, values)| Arc::new(StringArray::from(values.clone())) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
    }

    #[test]
    fn names_are_distinct_and_every_enum_column_is_text() {
        for all in [
            EventColumn::ALL
                .iter()
                .map(|c| c.spec())
                .collect::<Vec<_>>(),
            RejectedColumn::ALL.iter().map(|c| c.spec()).collect(),
        ] {
            let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), all.len(), "a name used twice");
        }
        for c in EventColumn::ALL {
            if c.spec().read_back != ReadBack::AsStored {
                assert_eq!(c.spec().ty, ColumnType::Text, "{c}");
            }
        }
    }

    #[test]
    fn enum_columns_read_known_values_null_and_unknown_ones() {
        let b = batch(&[
            (
                EventColumn::Channel,
                vec![Some("online"), None, Some("fax")],
            ),
            (
                EventColumn::OnlineMode,
                vec![Some("full"), None, Some("hybrid")],
            ),
        ]);
        let rows = EventRows::new(&b);
        let channel = rows.enumerated::<Channel>(EventColumn::Channel).unwrap();
        assert_eq!(channel.get(0), Ok(Some(Channel::Online)));
        assert_eq!(channel.get(1), Ok(None));
        assert_eq!(
            channel.get(2),
            Err(Unknown {
                column: EventColumn::Channel,
                value: "fax".into()
            })
        );
        let mode = rows
            .enumerated::<ServiceMode>(EventColumn::OnlineMode)
            .unwrap();
        assert_eq!(mode.get(0), Ok(Some(ServiceMode::Full)));
        assert_eq!(mode.get(2).unwrap_err().value, "hybrid");
    }

    #[test]
    fn a_column_read_as_what_the_catalogue_does_not_say_is_an_error() {
        let b = batch(&[(EventColumn::Channel, vec![Some("online")])]);
        let rows = EventRows::new(&b);
        let wrong_enum = rows.enumerated::<Portal>(EventColumn::Channel).unwrap_err();
        assert_eq!(wrong_enum.column, EventColumn::Channel);
        assert!(rows.time(EventColumn::Channel).is_err(), "not a timestamp");
        let missing = rows.text(EventColumn::AgencyCode).unwrap_err();
        assert_eq!(missing.to_string(), "column agency_code: missing");
    }

    #[test]
    fn data_reads_back_with_the_row_type_or_names_the_field_it_cannot_read() {
        let b = batch(&[(
            EventColumn::Data,
            vec![
                Some(
                    r#"{"plan_year":2025,"activity_id":"A-1","title":"t","status":"done","due_at":"2025-06-30T17:00:00+07:00"}"#,
                ),
                Some(
                    r#"{"plan_year":2025,"activity_id":"A-1","title":"t","status":"paused","due_at":"2025-06-30T17:00:00+07:00"}"#,
                ),
            ],
        )]);
        let data = EventRows::new(&b).data().unwrap();
        assert!(matches!(
            data.get(0, EventType::PlanActivity),
            Ok(EventData::PlanActivity {
                status: parwatch_proto::ActivityStatus::Done,
                ..
            })
        ));
        assert_eq!(
            data.get(1, EventType::PlanActivity),
            Err(Unknown {
                column: EventColumn::Data,
                value: "data.status: bad_value".into()
            })
        );
    }
}
