//! The projections as SQL tables: registers `dossiers`, `daily_agency_stats`,
//! `plan_activities`, `directive_tasks` and `par_scores` with the query engine (and the 766
//! index's `index_766` and `index_766_inputs`, `service_tables.rs`); each scan reads
//! the projector's projection as it is then (rows laid out by `batches.rs`). The registry's
//! `agency_registry` and `agency_lineage` are laid out by `registry/tables.rs`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result as DfResult;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use parwatch_lake::{AGENCY_COLUMN, QueryEngine, Scoping, reserved};

use crate::batches::{GOVERNANCE_TABLES, Kind};
use crate::projection::Projection;
use crate::projector::Projector;
use crate::registry::tables::RegistryTable;

/// Registers the projection tables over the projector's projections; agency scopes filter
/// each on its `agency_code`.
pub fn register_tables(
    engine: &QueryEngine,
    projector: Arc<Projector>,
) -> parwatch_lake::Result<()> {
    let kinds = [Kind::Dossiers, Kind::Daily];
    for kind in kinds.into_iter().chain(GOVERNANCE_TABLES.map(|(_, k)| k)) {
        register(engine, &projector, kind)?;
    }
    for table in RegistryTable::ALL {
        register(engine, &projector, table)?;
    }
    // Scored by the built-in rubrics until the server registers those it was given.
    let rubrics = Arc::new(parwatch_scoring::ServiceRubrics::builtin());
    crate::register_index_766(engine, projector, rubrics)?;
    Ok(())
}

/// Registers the table `kind` lays out.
fn register<K: Laid>(
    engine: &QueryEngine,
    projector: &Arc<Projector>,
    kind: K,
) -> parwatch_lake::Result<()> {
    let table = ProjectionTable {
        projector: Arc::clone(projector),
        kind,
    };
    engine.register(kind.name(), Arc::new(table), Scoping::Column(AGENCY_COLUMN))
}

/// A table laid out from the projection: its name, schema and rows.
trait Laid: Copy + Send + Sync + std::fmt::Debug + 'static {
    fn name(self) -> &'static str;
    fn schema(self) -> SchemaRef;
    fn batch(self, p: &Projection) -> Result<RecordBatch, ArrowError>;
    /// Bytes its rows in `p` take at least, known before they are laid out.
    fn least_bytes(self, _: &Projection) -> usize {
        0
    }
}

/// Bytes a row of `dossiers` takes at least: its id and agency code, six timestamps, and more
/// (about 150 measured).
const DOSSIER_ROW_BYTES: usize = 100;

impl Laid for Kind {
    fn name(self) -> &'static str {
        Kind::name(self)
    }
    fn schema(self) -> SchemaRef {
        Kind::schema(self)
    }
    fn batch(self, p: &Projection) -> Result<RecordBatch, ArrowError> {
        Kind::batch(self, p)
    }
    fn least_bytes(self, p: &Projection) -> usize {
        match self {
            Kind::Dossiers => p.dossier_count().saturating_mul(DOSSIER_ROW_BYTES),
            _ => 0,
        }
    }
}

impl Laid for RegistryTable {
    fn name(self) -> &'static str {
        RegistryTable::name(self)
    }
    fn schema(self) -> SchemaRef {
        RegistryTable::schema(self)
    }
    fn batch(self, p: &Projection) -> Result<RecordBatch, ArrowError> {
        RegistryTable::batch(self, p.rollups())
    }
}

/// A projection as a table: each scan snapshots the projection as it is.
#[derive(Debug)]
struct ProjectionTable<K> {
    projector: Arc<Projector>,
    kind: K,
}

#[async_trait]
impl<K: Laid> TableProvider for ProjectionTable<K> {
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
        // Laid out beside DataFusion's operators, which count only what they hold: charged to
        // the query's memory limit for as long as its plan lives, at least its known size
        // before it is laid out (`dossiers` is about 150 bytes a dossier: gigabytes at 100M
        // events), then its size.
        let reservation = MemoryConsumer::new(format!("{} table", self.kind.name()))
            .register(&state.runtime_env().memory_pool);
        let batch = {
            let projection = self.projector.read();
            reservation.try_grow(self.kind.least_bytes(&projection))?;
            self.kind.batch(&projection)?
        };
        reservation.try_resize(batch.get_array_memory_size())?;
        let input = MemTable::try_new(self.kind.schema(), vec![slices(&batch)])?
            .scan(state, projection, filters, limit)
            .await?;
        Ok(reserved(input, reservation))
    }
}

/// Rows per slice a projection is scanned in: DataFusion's batch size, so that operators and
/// the SQL sandbox's per-step accounting see batches of the usual size.
const SLICE_ROWS: usize = 8192;

/// `batch` as zero-copy slices of [`SLICE_ROWS`] rows.
fn slices(batch: &RecordBatch) -> Vec<RecordBatch> {
    (0..batch.num_rows())
        .step_by(SLICE_ROWS)
        .map(|start| batch.slice(start, SLICE_ROWS.min(batch.num_rows() - start)))
        .collect()
}
