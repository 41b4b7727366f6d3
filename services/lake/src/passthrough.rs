//! One plan node that passes its input's rows on unchanged, in three roles: the barrier above an
//! agency scope's filter (see `scope.rs`), the step boundary the sandbox puts above every
//! operator (see `guards.rs`, `step.rs`), and the holder of a share of the query's memory pool
//! for rows laid out before the plan ran ([`reserved`]).
//!
//! As a barrier it lets nothing through DataFusion's optimizers: it takes no filter from above
//! (the trait's default), no projection, no limit, and reports unknown statistics.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result as DfResult;
use datafusion::execution::memory_pool::MemoryReservation;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::coop::make_cooperative;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

/// What a [`Passthrough`] is for.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    /// Above the filter of this agency's scope.
    Scope(String),
    /// Above an operator: each poll starts a new step and may yield to the scheduler.
    Step,
    /// Above a scan of rows laid out in advance, which this share of the pool counts (held,
    /// never read: it is given back when the last copy of the plan is dropped).
    Reserved { _held: Arc<MemoryReservation> },
}

/// `input`, a scan of rows laid out before the plan runs (beside DataFusion's operators, which
/// count only what they hold), with `reservation` held for as long as the plan lives.
pub fn reserved(
    input: Arc<dyn ExecutionPlan>,
    reservation: MemoryReservation,
) -> Arc<dyn ExecutionPlan> {
    Arc::new(Passthrough::new(
        input,
        Role::Reserved {
            _held: Arc::new(reservation),
        },
    ))
}

/// A node passing its input's rows on unchanged.
#[derive(Debug, Clone)]
pub(crate) struct Passthrough {
    input: Arc<dyn ExecutionPlan>,
    role: Role,
}

impl Passthrough {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, role: Role) -> Self {
        Self { input, role }
    }
}

impl DisplayAs for Passthrough {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.role {
            Role::Scope(agency) => write!(f, "ScopeExec: agency_code={agency}"),
            Role::Step => write!(f, "Stepped"),
            // Not its size: a scoped caller's plan would tell the size of every agency's rows.
            Role::Reserved { .. } => write!(f, "Reserved"),
        }
    }
}

impl ExecutionPlan for Passthrough {
    fn name(&self) -> &str {
        match self.role {
            Role::Scope(_) => "ScopeExec",
            Role::Step => "Stepped",
            Role::Reserved { .. } => "Reserved",
        }
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self::new(
            children.swap_remove(0),
            self.role.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let rows = self.input.execute(partition, context)?;
        Ok(match self.role {
            Role::Scope(_) | Role::Reserved { .. } => rows,
            Role::Step => make_cooperative(crate::step::stepwise_stream(rows)),
        })
    }
}
