//! The projections as SQL tables: `dossiers` and `daily_agency_stats`.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use parwatch_lake::{AGENCY_COLUMN, QueryEngine, Scoping};

use crate::facts::{CHANNELS, ONLINE_MODES};
use crate::projector::{Projection, Projector};

/// Registers `dossiers` and `daily_agency_stats` over the projector's projections; agency
/// scopes filter both on `agency_code`.
pub fn register_tables(
    engine: &QueryEngine,
    projector: Arc<Projector>,
) -> parwatch_lake::Result<()> {
    for kind in [Kind::Dossiers, Kind::Daily] {
        let table = ProjectionTable {
            projector: Arc::clone(&projector),
            kind,
        };
        engine.register(kind.name(), Arc::new(table), Scoping::Column(AGENCY_COLUMN))?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Dossiers,
    Daily,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Dossiers => "dossiers",
            Kind::Daily => "daily_agency_stats",
        }
    }

    fn schema(self) -> SchemaRef {
        static DOSSIERS: LazyLock<SchemaRef> = LazyLock::new(|| {
            let ts = |n: &str| {
                Field::new(
                    n,
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                )
            };
            Arc::new(Schema::new(vec![
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
            ]))
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
        Arc::clone(match self {
            Kind::Dossiers => &DOSSIERS,
            Kind::Daily => &DAILY,
        })
    }

    fn batch(self, p: &Projection) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
        match self {
            Kind::Dossiers => dossiers_batch(p),
            Kind::Daily => daily_batch(p),
        }
    }
}

type Counter = (&'static str, fn(&crate::DayStats) -> i64);

const COUNTERS: [Counter; 13] = [
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
];

pub(crate) fn dossiers_batch(
    p: &Projection,
) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let n = p.dossier_count();
    let ts = || TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut agency, mut dossier, mut channel, mut mode) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut received, mut due, mut resolved, mut late, mut late_due, mut apology) =
        (ts(), ts(), ts(), ts(), ts(), ts());
    let mut digitized = BooleanBuilder::with_capacity(n);
    for (a, d, f) in p.dossiers() {
        agency.append_value(a);
        dossier.append_value(d);
        received.append_option(f.received.map(|r| r.at));
        channel.append_option(f.received.map(|r| CHANNELS[r.channel as usize]));
        mode.append_option(
            f.received
                .filter(|r| r.online_mode > 0)
                .map(|r| ONLINE_MODES[r.online_mode as usize]),
        );
        due.append_option(f.received.map(|r| r.due_at));
        resolved.append_option(f.resolved.map(|r| r.at));
        digitized.append_option(f.resolved.and_then(|r| r.digitized));
        late.append_option(f.late.map(|l| l.at));
        late_due.append_option(f.late.map(|l| l.due_at));
        apology.append_option(f.apology_at);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(agency.finish()),
        Arc::new(dossier.finish()),
        Arc::new(received.finish()),
        Arc::new(channel.finish()),
        Arc::new(mode.finish()),
        Arc::new(due.finish()),
        Arc::new(resolved.finish()),
        Arc::new(digitized.finish()),
        Arc::new(late.finish()),
        Arc::new(late_due.finish()),
        Arc::new(apology.finish()),
    ];
    RecordBatch::try_new(Kind::Dossiers.schema(), columns)
}

fn daily_batch(p: &Projection) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let mut day = Date32Builder::new();
    let mut agency = StringBuilder::new();
    let mut counters: Vec<Int64Builder> = COUNTERS.iter().map(|_| Int64Builder::new()).collect();
    let mut p50 = Float64Builder::new();
    for (&(d, a), stats) in p.daily.iter().filter(|(_, s)| !s.is_empty()) {
        day.append_value((d - epoch).num_days() as i32);
        agency.append_value(&p.agencies()[a as usize]);
        for ((_, get), builder) in COUNTERS.iter().zip(&mut counters) {
            builder.append_value(get(stats));
        }
        p50.append_option(stats.processing_days_p50());
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

/// A projection as a table: each scan snapshots the projection as it is.
#[derive(Debug)]
struct ProjectionTable {
    projector: Arc<Projector>,
    kind: Kind,
}

#[async_trait]
impl TableProvider for ProjectionTable {
    fn schema(&self) -> SchemaRef {
        self.kind.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = self.kind.batch(&self.projector.read())?;
        MemTable::try_new(self.kind.schema(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}
