//! Folding stored rows into the projection: batches of the lake's `events` files (the
//! projector reads them as they land) and the rows of the projection's own snapshot tables
//! (the way back from `batches.rs`). Columns are checked by name; a missing one is an error
//! naming it.

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, TimestampMicrosecondType};
use parwatch_proto::{ActivityStatus, AgencyKind, Assessor, EventType};

use crate::batches::Kind;
use crate::facts::{CHANNELS, Fact, Facts, Late, ONLINE_MODES, Received, Resolved};
use crate::governance::{Activity, GovernanceFact, ScoreFact, Task};
use crate::projection::Projection;

/// Columns of `events` [`fold_events`] reads.
pub(crate) const EVENT_COLUMNS: [&str; 8] = [
    "type",
    "occurred_at",
    "agency_code",
    "dossier_id",
    "channel",
    "online_mode",
    "due_at",
    "digitized",
];

/// Columns of `events` [`fold_governance`] reads, for the rows of plan, task and score events.
pub(crate) const GOVERNANCE_COLUMNS: [&str; 5] =
    ["type", "occurred_at", "agency_code", "due_at", "data"];

/// Folds every event of one batch of the `events` table in.
pub(crate) fn fold_events(
    p: &mut Projection,
    batch: &RecordBatch,
) -> std::result::Result<(), String> {
    let (text, time) = (|n| text_column(batch, n), |n| time_column(batch, n));
    let (ty, agency, dossier) = (text("type")?, text("agency_code")?, text("dossier_id")?);
    let (channel, mode) = (text("channel")?, text("online_mode")?);
    let (at, due) = (time("occurred_at")?, time("due_at")?);
    let digitized = bool_column(batch, "digitized")?;
    let code = |names: &[&str], value: &str| names.iter().position(|n| *n == value);
    p.events += batch.num_rows() as u64;
    for i in 0..batch.num_rows() {
        if dossier.is_null(i) {
            continue;
        }
        let due_at = || (!due.is_null(i)).then(|| due.value(i));
        let fact = match ty.value(i) {
            "dossier.received" => {
                let (Some(channel), Some(due_at)) = (code(&CHANNELS, channel.value(i)), due_at())
                else {
                    continue;
                };
                let online_mode = if mode.is_null(i) {
                    0
                } else {
                    code(&ONLINE_MODES, mode.value(i)).unwrap_or(0)
                };
                Fact::Received(Received {
                    at: at.value(i),
                    channel: channel as u8,
                    online_mode: online_mode as u8,
                    due_at,
                })
            }
            "dossier.resolved" => Fact::Resolved(Resolved {
                at: at.value(i),
                digitized: (!digitized.is_null(i)).then(|| digitized.value(i)),
            }),
            "dossier.late" => match due_at() {
                Some(due_at) => Fact::Late(Late {
                    at: at.value(i),
                    due_at,
                }),
                None => continue,
            },
            "dossier.apology" => Fact::Apology(at.value(i)),
            _ => continue,
        };
        p.apply(agency.value(i), dossier.value(i), fact);
    }
    Ok(())
}

/// Folds the plan, task and score events of one batch (columns `type`, `occurred_at`, `agency_code`, `due_at`, `data`).
pub(crate) fn fold_governance(
    p: &mut Projection,
    batch: &RecordBatch,
) -> std::result::Result<(), String> {
    let (text, time) = (|n| text_column(batch, n), |n| time_column(batch, n));
    let (ty, agency, data) = (text("type")?, text("agency_code")?, text("data")?);
    let (at, due) = (time("occurred_at")?, time("due_at")?);
    for i in 0..batch.num_rows() {
        let due_at = (!due.is_null(i)).then(|| due.value(i));
        if let Some(fact) = GovernanceFact::parse(ty.value(i), at.value(i), due_at, data.value(i)) {
            p.apply_governance(agency.value(i), fact);
        }
    }
    Ok(())
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
    let opt = |a: &TimestampMicrosecondArray, i: usize| (!a.is_null(i)).then(|| a.value(i));
    let code = |names: &[&str], a: &StringArray, i: usize| {
        if a.is_null(i) {
            0
        } else {
            names.iter().position(|n| *n == a.value(i)).unwrap_or(0) as u8
        }
    };
    for i in 0..batch.num_rows() {
        let facts = Facts {
            received: opt(received, i).map(|at| Received {
                at,
                channel: code(&CHANNELS, channel, i),
                online_mode: code(&ONLINE_MODES, mode, i),
                due_at: opt(due, i).unwrap_or(at),
            }),
            resolved: opt(resolved, i).map(|at| Resolved {
                at,
                digitized: (!digitized.is_null(i)).then(|| digitized.value(i)),
            }),
            late: opt(late, i).map(|at| Late {
                at,
                due_at: opt(late_due, i).unwrap_or(at),
            }),
            apology_at: opt(apology, i),
        };
        p.insert(agency.value(i), dossier.value(i), facts);
    }
    Ok(())
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

/// Whether a stored type is a plan, task or score event (one without a dossier).
fn is_governance(ty: &str) -> bool {
    EventType::parse(ty).is_some_and(|t| !t.needs_dossier())
}

/// Ranges of rows of `batches` (counted from the first) holding plan, task or score events.
pub(crate) fn governance_rows(
    batches: &[RecordBatch],
) -> std::result::Result<Vec<std::ops::Range<usize>>, String> {
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut offset = 0;
    for batch in batches {
        let ty = text_column(batch, "type")?;
        for i in 0..batch.num_rows() {
            if is_governance(ty.value(i)) {
                let row = offset + i;
                match ranges.last_mut() {
                    Some(last) if last.end == row => last.end += 1,
                    _ => ranges.push(row..row + 1),
                }
            }
        }
        offset += batch.num_rows();
    }
    Ok(ranges)
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
