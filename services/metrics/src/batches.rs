//! The projections as Arrow tables: the schemas and rows of `dossiers`, `daily_agency_stats`,
//! and the PAR work of the agencies (`plan_activities`, `directive_tasks`, `par_scores`). SQL
//! scans them (`tables.rs`) and the projector saves them as snapshots; `fold.rs` reads
//! snapshot rows back.

use std::sync::{Arc, LazyLock};

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parwatch_proto::{AgencyKind, ServiceMode};

use crate::facts::Facts;
use crate::projection::Projection;
use crate::rollup::DayStats;
use crate::service_index::ServiceColumns;

/// A projection table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Dossiers,
    Daily,
    Activities,
    Tasks,
    Scores,
}

/// The plan, task and score tables, by name; each is also a snapshot.
pub(crate) const GOVERNANCE_TABLES: [(&str, Kind); 3] = [
    ("plan_activities", Kind::Activities),
    ("directive_tasks", Kind::Tasks),
    ("par_scores", Kind::Scores),
];

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl Kind {
    /// Its SQL name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Dossiers => "dossiers",
            Kind::Daily => "daily_agency_stats",
            Kind::Activities => "plan_activities",
            Kind::Tasks => "directive_tasks",
            Kind::Scores => "par_scores",
        }
    }

    /// Its columns.
    pub(crate) fn schema(self) -> SchemaRef {
        static DOSSIERS: LazyLock<SchemaRef> = LazyLock::new(|| {
            let ts = |n: &str| {
                Field::new(
                    n,
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                )
            };
            let mut fields = vec![
                Field::new("agency_code", DataType::Utf8, false),
                Field::new("dossier_id", DataType::Utf8, false),
                ts("received_at"),
                Field::new("channel", DataType::Utf8, true),
                Field::new("online_mode", DataType::Utf8, true),
                ts("due_at"),
                ts("resolved_at"),
                Field::new("digitized", DataType::Boolean, true),
                ts("late_at"),
                ts("late_due_at"),
                ts("first_apology_at"),
            ];
            fields.extend(ServiceColumns::fields());
            // The receipt's roles: the competent agency where it names no other.
            fields.push(Field::new("receiving_agency_code", DataType::Utf8, true));
            fields.push(Field::new("area_code", DataType::Utf8, true));
            Arc::new(Schema::new(fields))
        });
        static DAILY: LazyLock<SchemaRef> = LazyLock::new(|| {
            let mut fields = vec![
                Field::new("day", DataType::Date32, false),
                Field::new("agency_code", DataType::Utf8, false),
            ];
            fields.extend(
                COUNTERS
                    .iter()
                    .map(|(n, _)| Field::new(*n, DataType::Int64, false)),
            );
            fields.push(Field::new("processing_days_p50", DataType::Float64, true));
            Arc::new(Schema::new(fields))
        });
        static ACTIVITIES: LazyLock<SchemaRef> = LazyLock::new(|| {
            Arc::new(Schema::new(vec![
                Field::new("agency_code", DataType::Utf8, false),
                Field::new("activity_id", DataType::Utf8, false),
                Field::new("plan_year", DataType::Int32, false),
                Field::new("title", DataType::Utf8, false),
                Field::new("status", DataType::Utf8, false),
                Field::new("due_at", utc(), false),
                Field::new("updated_at", utc(), false),
            ]))
        });
        static TASKS: LazyLock<SchemaRef> = LazyLock::new(|| {
            Arc::new(Schema::new(vec![
                Field::new("agency_code", DataType::Utf8, false),
                Field::new("task_id", DataType::Utf8, false),
                Field::new("first_event_at", utc(), false),
                Field::new("due_at", utc(), false),
                Field::new("completed_at", utc(), true),
                Field::new("on_time", DataType::Boolean, true),
            ]))
        });
        static SCORES: LazyLock<SchemaRef> = LazyLock::new(|| {
            Arc::new(Schema::new(vec![
                Field::new("agency_code", DataType::Utf8, false),
                Field::new("year", DataType::Int32, false),
                Field::new("component", DataType::Utf8, false),
                Field::new("criterion", DataType::Utf8, false),
                Field::new("assessor", DataType::Utf8, false),
                Field::new("score", DataType::Float64, false),
                Field::new("max", DataType::Float64, false),
                Field::new("agency_kind", DataType::Utf8, true),
                Field::new("evidence", DataType::Utf8, true),
                Field::new("scored_at", utc(), false),
            ]))
        });
        Arc::clone(match self {
            Kind::Dossiers => &DOSSIERS,
            Kind::Daily => &DAILY,
            Kind::Activities => &ACTIVITIES,
            Kind::Tasks => &TASKS,
            Kind::Scores => &SCORES,
        })
    }

    /// Its rows in `p`, as they are now.
    pub(crate) fn batch(
        self,
        p: &Projection,
    ) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
        match self {
            Kind::Dossiers => dossiers_batch(p),
            Kind::Daily => daily_batch(p),
            Kind::Activities | Kind::Tasks | Kind::Scores => governance_batch(self, p),
        }
    }
}

type Counter = (&'static str, fn(&DayStats) -> i64);

const COUNTERS: [Counter; 17] = [
    ("received", |d| d.received),
    ("online", |d| d.online),
    ("full_online", |d| d.full_online),
    ("postal", |d| d.postal),
    ("resolved", |d| d.resolved),
    ("resolved_with_received", |d| d.resolved_with_received),
    ("on_time", |d| d.on_time),
    ("digitized", |d| d.digitized),
    ("late_files", |d| d.late_files),
    ("late_apologised", |d| d.late_apologised),
    ("late_apology_timely", |d| d.late_apology_timely),
    ("overdue_entered", |d| d.overdue_entered),
    ("overdue_left", |d| d.overdue_left),
    ("plan_due", |d| d.plan_due),
    ("plan_done", |d| d.plan_done),
    ("tasks_due", |d| d.tasks_due),
    ("tasks_on_time", |d| d.tasks_on_time),
];

/// The rows of `dossiers`, in one batch.
pub(crate) fn dossiers_batch(
    p: &Projection,
) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    dossier_batches(p, usize::MAX)
        .next()
        .unwrap_or_else(|| Ok(RecordBatch::new_empty(Kind::Dossiers.schema())))
}

/// The rows of `dossiers` in batches of at most `rows`, laid out as they are taken (the
/// snapshot's: never all at once).
pub(crate) fn dossier_batches(
    p: &Projection,
    rows: usize,
) -> impl Iterator<Item = Result<RecordBatch, datafusion::arrow::error::ArrowError>> + Send + '_ {
    let mut dossiers = p.try_dossiers().peekable();
    let codes = p.rollups.agencies();
    let capacity = rows.min(p.dossier_count());
    std::iter::from_fn(move || {
        dossiers.peek()?;
        let mut batch = || {
            let mut columns = DossierColumns::with_capacity(capacity);
            for row in dossiers.by_ref().take(rows) {
                let (a, d, f) = row.map_err(|e| {
                    datafusion::arrow::error::ArrowError::IoError("cold dossier storage".into(), e)
                })?;
                columns.append(a, &d, &f, codes);
            }
            columns.finish()
        };
        Some(batch())
    })
}

/// The columns of `dossiers` being laid out.
struct DossierColumns {
    agency: StringBuilder,
    dossier: StringBuilder,
    channel: StringBuilder,
    mode: StringBuilder,
    received: TimestampMicrosecondBuilder,
    due: TimestampMicrosecondBuilder,
    resolved: TimestampMicrosecondBuilder,
    late: TimestampMicrosecondBuilder,
    late_due: TimestampMicrosecondBuilder,
    apology: TimestampMicrosecondBuilder,
    digitized: BooleanBuilder,
    service: ServiceColumns,
    receiving: StringBuilder,
    area: StringBuilder,
}

impl DossierColumns {
    fn with_capacity(n: usize) -> Self {
        let ts = || TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        Self {
            agency: StringBuilder::new(),
            dossier: StringBuilder::new(),
            channel: StringBuilder::new(),
            mode: StringBuilder::new(),
            received: ts(),
            due: ts(),
            resolved: ts(),
            late: ts(),
            late_due: ts(),
            apology: ts(),
            digitized: BooleanBuilder::with_capacity(n),
            service: ServiceColumns::default(),
            receiving: StringBuilder::new(),
            area: StringBuilder::new(),
        }
    }

    /// Adds dossier `d` of agency `a`; `codes` names the agencies of its roles.
    fn append(&mut self, a: &str, d: &str, f: &Facts, codes: &[String]) {
        self.agency.append_value(a);
        self.dossier.append_value(d);
        self.received.append_option(f.received.map(|r| r.at));
        self.channel
            .append_option(f.received.map(|r| r.channel.as_str()));
        self.mode.append_option(
            f.received
                .and_then(|r| r.online_mode)
                .map(ServiceMode::as_str),
        );
        self.due.append_option(f.received.map(|r| r.due_at));
        self.resolved.append_option(f.resolved.map(|r| r.at));
        self.digitized
            .append_option(f.resolved.and_then(|r| r.digitized));
        self.late.append_option(f.late.map(|l| l.at));
        self.late_due.append_option(f.late.map(|l| l.due_at));
        self.apology.append_option(f.apology_at);
        self.service.append(&f.service);
        let code = |id: Option<u32>| id.map_or(a, |id| codes[id as usize].as_str());
        self.receiving
            .append_option(f.received.map(|r| code(r.roles.receiving)));
        self.area
            .append_option(f.received.map(|r| code(r.roles.area)));
    }

    fn finish(mut self) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.agency.finish()),
            Arc::new(self.dossier.finish()),
            Arc::new(self.received.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.mode.finish()),
            Arc::new(self.due.finish()),
            Arc::new(self.resolved.finish()),
            Arc::new(self.digitized.finish()),
            Arc::new(self.late.finish()),
            Arc::new(self.late_due.finish()),
            Arc::new(self.apology.finish()),
        ];
        columns.extend(self.service.finish());
        columns.push(Arc::new(self.receiving.finish()));
        columns.push(Arc::new(self.area.finish()));
        RecordBatch::try_new(Kind::Dossiers.schema(), columns)
    }
}

fn daily_batch(p: &Projection) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let mut day = Date32Builder::new();
    let mut agency = StringBuilder::new();
    let mut counters: Vec<Int64Builder> = COUNTERS.iter().map(|_| Int64Builder::new()).collect();
    let mut p50 = Float64Builder::new();
    let codes = p.rollups.agencies();
    for (d, a, stats, median) in p.rollups.daily.days() {
        day.append_value((d - epoch).num_days() as i32);
        agency.append_value(&codes[a as usize]);
        for ((_, get), builder) in COUNTERS.iter().zip(&mut counters) {
            builder.append_value(get(stats));
        }
        p50.append_option(median);
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(day.finish()), Arc::new(agency.finish())];
    columns.extend(
        counters
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef),
    );
    columns.push(Arc::new(p50.finish()));
    RecordBatch::try_new(Kind::Daily.schema(), columns)
}

/// The rows of a plan, task or score table (its snapshot too).
pub(crate) fn governance_batch(
    kind: Kind,
    p: &Projection,
) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let ts = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let text = StringBuilder::new;
    let mut agency = text();
    let columns: Vec<ArrayRef> = match kind {
        Kind::Activities => {
            let (mut id, mut title, mut status) = (text(), text(), text());
            let mut year = Int32Builder::new();
            let (mut due, mut updated) = (ts(), ts());
            for (a, activity_id, x) in p.activities() {
                agency.append_value(a);
                id.append_value(activity_id);
                year.append_value(x.plan_year);
                title.append_value(&x.title);
                status.append_value(x.status.as_str());
                due.append_value(x.due_at);
                updated.append_value(x.at);
            }
            vec![
                Arc::new(agency.finish()),
                Arc::new(id.finish()),
                Arc::new(year.finish()),
                Arc::new(title.finish()),
                Arc::new(status.finish()),
                Arc::new(due.finish()),
                Arc::new(updated.finish()),
            ]
        }
        Kind::Tasks => {
            let mut id = text();
            let (mut first, mut due, mut completed) = (ts(), ts(), ts());
            let mut on_time = BooleanBuilder::new();
            for (a, task_id, t) in p.tasks() {
                let Some((first_at, due_at)) = t.first else {
                    continue;
                };
                agency.append_value(a);
                id.append_value(task_id);
                first.append_value(first_at);
                due.append_value(due_at);
                completed.append_option(t.completed_at);
                on_time.append_option(t.on_time());
            }
            vec![
                Arc::new(agency.finish()),
                Arc::new(id.finish()),
                Arc::new(first.finish()),
                Arc::new(due.finish()),
                Arc::new(completed.finish()),
                Arc::new(on_time.finish()),
            ]
        }
        Kind::Scores => {
            let mut year = Int32Builder::new();
            let (mut component, mut criterion, mut assessor) = (text(), text(), text());
            let (mut score, mut max) = (Float64Builder::new(), Float64Builder::new());
            let (mut agency_kind, mut evidence, mut at) = (text(), text(), ts());
            for (a, (y, c, k), scored) in p.scores() {
                for s in [&scored.official, &scored.self_assessed]
                    .into_iter()
                    .flatten()
                {
                    agency.append_value(a);
                    year.append_value(*y);
                    component.append_value(c);
                    criterion.append_value(k);
                    assessor.append_value(s.assessor.as_str());
                    score.append_value(s.score);
                    max.append_value(s.max);
                    agency_kind.append_option(s.agency_kind.map(AgencyKind::as_str));
                    evidence.append_option(s.evidence.as_deref());
                    at.append_value(s.at);
                }
            }
            vec![
                Arc::new(agency.finish()),
                Arc::new(year.finish()),
                Arc::new(component.finish()),
                Arc::new(criterion.finish()),
                Arc::new(assessor.finish()),
                Arc::new(score.finish()),
                Arc::new(max.finish()),
                Arc::new(agency_kind.finish()),
                Arc::new(evidence.finish()),
                Arc::new(at.finish()),
            ]
        }
        Kind::Dossiers | Kind::Daily => unreachable!("not a governance table"),
    };
    RecordBatch::try_new(kind.schema(), columns)
}
