//! Folding stored rows into the projection: batches of the lake's `events` files (the
//! projector reads them as they land) and the rows of the projection's own snapshot tables
//! (the way back from `batches.rs`). A `dossier.received` is folded with its `data`, which
//! names the receiving point and commune area (the roles, `roles.rs`); the other dossier
//! events from the typed columns alone. `events` columns are read through the lake's column
//! catalogue (`parwatch_lake::EventRows`), into the contract's types; a row holding a value
//! this build cannot read back is counted in the projection (`Projection::unknown_values`)
//! and not folded in. A missing column is an error naming it.

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, TimestampMicrosecondType};
use parwatch_lake::{EventColumn, EventRows, StoredEnum, Unknown};
use parwatch_proto::{
    ActivityStatus, AgencyKind, Assessor, Channel, EventData, EventType, ServiceMode,
};

use crate::batches::Kind;
use crate::facts::{Fact, Facts, Late, Received, Resolved};
use crate::governance::{Activity, GovernanceFact, ScoreFact, Task};
use crate::projection::Projection;
use crate::registry::Change;
use crate::roles::Roles;
use crate::service_index::{ServiceColumns, ServiceEvent, ServiceWorkFact};

/// The names of `columns`, for reading only those of a file.
const fn names<const N: usize>(columns: [EventColumn; N]) -> [&'static str; N] {
    let mut names = [""; N];
    let mut i = 0;
    while i < N {
        names[i] = columns[i].name();
        i += 1;
    }
    names
}

/// Columns of `events` [`fold_events`] reads.
pub(crate) const EVENT_COLUMNS: [&str; 6] = names([
    EventColumn::Type,
    EventColumn::OccurredAt,
    EventColumn::AgencyCode,
    EventColumn::DossierId,
    EventColumn::DueAt,
    EventColumn::Digitized,
]);

/// Columns of `events` [`fold_governance`] reads, for the rows whose `data` the folds need
/// (see [`reads_data`]).
pub(crate) const GOVERNANCE_COLUMNS: [&str; 9] = names([
    EventColumn::Type,
    EventColumn::OccurredAt,
    EventColumn::AgencyCode,
    EventColumn::DossierId,
    EventColumn::ProcedureCode,
    EventColumn::Channel,
    EventColumn::OnlineMode,
    EventColumn::DueAt,
    EventColumn::Data,
]);

/// Whether [`fold_governance`] reads rows of this type: plan, task, score and registry events
/// (no dossier), receipts and the 766 index's events, whose facts are in their `data`.
fn reads_data(ty: EventType) -> bool {
    !ty.needs_dossier() || ty.needs_procedure() || ty == EventType::DossierReceived
}

/// A value a row's type requires: a null one cannot be read back either.
fn required<T>(value: Option<T>, column: EventColumn) -> Result<T, Unknown> {
    value.ok_or_else(|| Unknown {
        column,
        value: "(null)".to_owned(),
    })
}

/// Folds every event of one batch of the `events` table in (columns [`EVENT_COLUMNS`]).
pub(crate) fn fold_events(
    p: &mut Projection,
    batch: &RecordBatch,
) -> std::result::Result<(), String> {
    let rows = EventRows::new(batch);
    let error = |e: parwatch_lake::ColumnError| e.to_string();
    let ty = rows.event_type().map_err(error)?;
    let agency = rows.text(EventColumn::AgencyCode).map_err(error)?;
    let dossier = rows.text(EventColumn::DossierId).map_err(error)?;
    let at = rows.time(EventColumn::OccurredAt).map_err(error)?;
    let due = rows.time(EventColumn::DueAt).map_err(error)?;
    let digitized = rows.flag(EventColumn::Digitized).map_err(error)?;
    p.rollups.events += rows.len() as u64;
    for i in 0..rows.len() {
        let read = || -> Result<Option<(&str, Fact)>, Unknown> {
            let at = at.value(i);
            let fact = match required(ty.get(i)?, EventColumn::Type)? {
                EventType::DossierResolved => Fact::Resolved(Resolved {
                    at,
                    digitized: digitized.get(i),
                }),
                EventType::DossierLate => Fact::Late(Late {
                    at,
                    due_at: required(due.get(i), EventColumn::DueAt)?,
                }),
                EventType::DossierApology => Fact::Apology(at),
                // Counted by other metrics' SQL, not in the facts; receipts, plans, tasks,
                // scores and registry events are folded by `fold_governance`.
                EventType::DossierReceived
                | EventType::OnlineApplication
                | EventType::PostalSubmission
                | EventType::ParScore
                | EventType::PlanActivity
                | EventType::DirectiveTask
                | EventType::AgencyRegistered
                | EventType::AgencyRenamed
                | EventType::AgencyMerged
                | EventType::AgencySplit
                | EventType::AgencyDissolved
                | EventType::SupplementRequested
                | EventType::SupplementProvided
                | EventType::FeeRequested
                | EventType::FeePaid
                | EventType::ComponentDigitised
                | EventType::ResultIssued
                | EventType::DossierSynced
                | EventType::DossierRated
                | EventType::PetitionReceived
                | EventType::PetitionAnswered
                | EventType::ProcedureCatalogued => return Ok(None),
            };
            Ok(Some((
                required(dossier.get(i), EventColumn::DossierId)?,
                fact,
            )))
        };
        match read() {
            Ok(Some((dossier, fact))) => p
                .apply(agency.value(i), dossier, fact)
                .map_err(|e| format!("cold dossier storage: {e}"))?,
            Ok(None) => {}
            Err(unknown) => p.count_unknown(unknown),
        }
    }
    Ok(())
}

/// Folds the receipts, plan, task, score, registry and 766 index events of one batch (columns
/// [`GOVERNANCE_COLUMNS`]); their `data` is read back into the contract's types.
pub(crate) fn fold_governance(
    p: &mut Projection,
    batch: &RecordBatch,
) -> std::result::Result<(), String> {
    let rows = EventRows::new(batch);
    let error = |e: parwatch_lake::ColumnError| e.to_string();
    let ty = rows.event_type().map_err(error)?;
    let agency = rows.text(EventColumn::AgencyCode).map_err(error)?;
    let dossier = rows.text(EventColumn::DossierId).map_err(error)?;
    let procedure = rows.text(EventColumn::ProcedureCode).map_err(error)?;
    let at = rows.time(EventColumn::OccurredAt).map_err(error)?;
    let channel = rows
        .enumerated::<Channel>(EventColumn::Channel)
        .map_err(error)?;
    let mode = rows
        .enumerated::<ServiceMode>(EventColumn::OnlineMode)
        .map_err(error)?;
    let due = rows.time(EventColumn::DueAt).map_err(error)?;
    let data = rows.data().map_err(error)?;
    let data_text = rows.text(EventColumn::Data).map_err(error)?;
    for i in 0..rows.len() {
        let ty = ty.get(i).and_then(|ty| required(ty, EventColumn::Type));
        let (agency, at) = (agency.value(i), at.value(i));
        if let Ok(EventType::DossierReceived) = ty {
            // The typed columns first, as for every dossier event; then the roles in `data`.
            let read = || -> Result<_, Unknown> {
                let received = Received {
                    at,
                    channel: required(channel.get(i)?, EventColumn::Channel)?,
                    online_mode: mode.get(i)?,
                    due_at: required(due.get(i), EventColumn::DueAt)?,
                    roles: Roles::default(),
                };
                let dossier = required(dossier.get(i), EventColumn::DossierId)?;
                // Only data that may name a role is read back: a receipt naming none reads as
                // it did before roles (its data unparsed), at the cost of a scan of its text.
                if !may_name_roles(data_text.value(i)) {
                    return Ok((dossier, received, None, None));
                }
                match data.get(i, EventType::DossierReceived)? {
                    EventData::DossierReceived {
                        receiving_agency_code,
                        area_code,
                        ..
                    } => Ok((dossier, received, receiving_agency_code, area_code)),
                    _ => unreachable!("the data of a receipt"),
                }
            };
            match read() {
                Ok((dossier, mut received, receiving, area)) => {
                    // A role naming the competent agency is the same as none.
                    let mut role = |code: Option<String>| {
                        code.filter(|c| c != agency).map(|c| p.agency_id(&c))
                    };
                    received.roles = Roles {
                        receiving: role(receiving),
                        area: role(area),
                    };
                    p.apply(agency, dossier, Fact::Received(received))
                        .map_err(|e| format!("cold dossier storage: {e}"))?;
                }
                Err(unknown) => p.count_unknown(unknown),
            }
            continue;
        }
        match ty.and_then(|ty| data.get(i, ty)) {
            Ok(data) if data.event_type().is_registry() => {
                if let Some(change) = Change::of(agency, at, data) {
                    p.apply_registry(change);
                }
            }
            Ok(data) => {
                if let Some(event) = ServiceEvent::of(&data) {
                    match required(dossier.get(i), EventColumn::DossierId) {
                        Ok(dossier) => p
                            .apply(agency, dossier, Fact::Service(at, event))
                            .map_err(|e| format!("cold dossier storage: {e}"))?,
                        Err(unknown) => p.count_unknown(unknown),
                    }
                } else if let Some(fact) = ServiceWorkFact::of(at, procedure.get(i), &data) {
                    p.apply_service_work(agency, fact);
                } else if let Some(fact) = GovernanceFact::of(at, data) {
                    p.apply_governance(agency, fact);
                }
            }
            Err(unknown) => p.count_unknown(unknown),
        }
    }
    Ok(())
}

/// Whether a receipt's stored `data` (as published, without whitespace) may name a role:
/// it holds `_code` (`receiving_agency_code`, `area_code`) or an escape (`\u`) that could
/// spell one.
fn may_name_roles(data: &str) -> bool {
    data.contains("_code") || data.contains("\\u")
}

/// Refolds the `dossiers` table's rows (a snapshot) into facts.
pub(crate) fn load_dossiers(
    p: &mut Projection,
    batch: &RecordBatch,
) -> std::result::Result<(), String> {
    let (text, time) = (|n| text_column(batch, n), |n| time_column(batch, n));
    let (agency, dossier) = (text("agency_code")?, text("dossier_id")?);
    let (channel, mode) = (text("channel")?, text("online_mode")?);
    let (received, due, resolved) = (time("received_at")?, time("due_at")?, time("resolved_at")?);
    let (late, late_due, apology) = (
        time("late_at")?,
        time("late_due_at")?,
        time("first_apology_at")?,
    );
    let digitized = bool_column(batch, "digitized")?;
    let (receiving, area) = (text("receiving_agency_code")?, text("area_code")?);
    let service = ServiceColumns::read(batch)?;
    let opt = |a: &TimestampMicrosecondArray, i: usize| (!a.is_null(i)).then(|| a.value(i));
    for (i, service) in service.into_iter().enumerate() {
        // The table holds the competent agency where the receipt names no other.
        let agency_code = agency.value(i);
        let mut role = |a: &StringArray| {
            (!a.is_null(i) && a.value(i) != agency_code).then(|| p.agency_id(a.value(i)))
        };
        let roles = Roles {
            receiving: role(receiving),
            area: role(area),
        };
        // Written from the facts by a build that knew the values; one this build does not is
        // counted, as it is when folding events.
        let received = opt(received, i).and_then(|at| {
            let read = || -> Result<Received, Unknown> {
                Ok(Received {
                    at,
                    channel: required(
                        stored_enum(EventColumn::Channel, channel, i)?,
                        EventColumn::Channel,
                    )?,
                    online_mode: stored_enum(EventColumn::OnlineMode, mode, i)?,
                    due_at: opt(due, i).unwrap_or(at),
                    roles,
                })
            };
            read().map_err(|unknown| p.count_unknown(unknown)).ok()
        });
        let facts = Facts {
            received,
            resolved: opt(resolved, i).map(|at| Resolved {
                at,
                digitized: (!digitized.is_null(i)).then(|| digitized.value(i)),
            }),
            late: opt(late, i).map(|at| Late {
                at,
                due_at: opt(late_due, i).unwrap_or(at),
            }),
            apology_at: opt(apology, i),
            service,
        };
        p.insert(agency_code, dossier.value(i), facts)
            .map_err(|e| format!("cold dossier storage: {e}"))?;
    }
    Ok(())
}

/// Row `i` of a snapshot column holding the wire spellings of `T`, as the catalogue's
/// accessors read the `events` column it came from.
fn stored_enum<T: StoredEnum>(
    column: EventColumn,
    a: &StringArray,
    i: usize,
) -> Result<Option<T>, Unknown> {
    if a.is_null(i) {
        return Ok(None);
    }
    let value = a.value(i);
    T::parse(value).map(Some).ok_or_else(|| Unknown {
        column,
        value: value.to_owned(),
    })
}

/// Reads a plan, task or score table's rows (a snapshot) back into facts, by agency code.
pub(crate) fn governance_facts(
    kind: Kind,
    batch: &RecordBatch,
) -> Result<Vec<(String, GovernanceFact)>, String> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("missing column {name}"))
    };
    let text = |name: &str| -> Result<&StringArray, String> {
        column(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| format!("{name} is not text"))
    };
    let time = |name: &str| -> Result<&TimestampMicrosecondArray, String> {
        column(name)?
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| format!("{name} is not a timestamp"))
    };
    let int = |name: &str| {
        column(name)?
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| format!("{name} is not an integer"))
    };
    let float = |name: &str| {
        column(name)?
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| format!("{name} is not a number"))
    };
    fn opt_text(a: &StringArray, i: usize) -> Option<&str> {
        (!a.is_null(i)).then(|| a.value(i))
    }
    let parse = |value: &str, what: &str| format!("unknown {what} {value:?}");
    let agency = text("agency_code")?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let fact = match kind {
            Kind::Activities => {
                let status = text("status")?.value(i);
                GovernanceFact::Activity(
                    text("activity_id")?.value(i).into(),
                    Activity {
                        at: time("updated_at")?.value(i),
                        status: ActivityStatus::parse(status)
                            .ok_or_else(|| parse(status, "status"))?,
                        due_at: time("due_at")?.value(i),
                        plan_year: int("plan_year")?.value(i),
                        title: text("title")?.value(i).into(),
                    },
                )
            }
            Kind::Tasks => {
                let completed = time("completed_at")?;
                GovernanceFact::Task(
                    text("task_id")?.value(i).into(),
                    Task {
                        first: Some((time("first_event_at")?.value(i), time("due_at")?.value(i))),
                        completed_at: (!completed.is_null(i)).then(|| completed.value(i)),
                    },
                )
            }
            Kind::Scores => {
                let assessor = text("assessor")?.value(i);
                let agency_kind = opt_text(text("agency_kind")?, i)
                    .map(|k| AgencyKind::parse(k).ok_or_else(|| parse(k, "agency kind")))
                    .transpose()?;
                let key = (
                    int("year")?.value(i),
                    text("component")?.value(i).into(),
                    text("criterion")?.value(i).into(),
                );
                GovernanceFact::Score(
                    key,
                    ScoreFact {
                        at: time("scored_at")?.value(i),
                        assessor: Assessor::parse(assessor)
                            .ok_or_else(|| parse(assessor, "assessor"))?,
                        score: float("score")?.value(i),
                        max: float("max")?.value(i),
                        agency_kind,
                        evidence: opt_text(text("evidence")?, i).map(Into::into),
                    },
                )
            }
            Kind::Dossiers | Kind::Daily => unreachable!("not a governance table"),
        };
        out.push((agency.value(i).to_owned(), fact));
    }
    Ok(out)
}

/// Adds to `ranges` the rows of `batch` whose `data` [`fold_governance`] reads, numbered from
/// `offset` (the rows of the file before the batch).
pub(crate) fn governance_rows(
    batch: &RecordBatch,
    offset: usize,
    ranges: &mut Vec<std::ops::Range<usize>>,
) -> std::result::Result<(), String> {
    let ty = EventRows::new(batch)
        .event_type()
        .map_err(|e| e.to_string())?;
    for i in 0..batch.num_rows() {
        // An unknown type is counted by `fold_events`.
        if let Ok(Some(ty)) = ty.get(i)
            && reads_data(ty)
        {
            let row = offset + i;
            match ranges.last_mut() {
                Some(last) if last.end == row => last.end += 1,
                _ => ranges.push(row..row + 1),
            }
        }
    }
    Ok(())
}

type Column<'a, T> = std::result::Result<&'a T, String>;

fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> Column<'a, StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| format!("missing text column {name}"))
}

fn time_column<'a>(batch: &'a RecordBatch, name: &str) -> Column<'a, TimestampMicrosecondArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(|| format!("missing timestamp column {name}"))
}

fn bool_column<'a>(batch: &'a RecordBatch, name: &str) -> Column<'a, BooleanArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_boolean_opt())
        .ok_or_else(|| format!("missing boolean column {name}"))
}
