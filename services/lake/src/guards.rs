//! Memory the scalar functions of a query may produce, composition included.
//!
//! DataFusion's memory pool counts what operators hold (hash tables, sorts, buffered batches),
//! not what a scalar function allocates for its result, and constant folding evaluates such
//! calls while planning. `length(replace(repeat('a', 10000000), 'a', repeat('b', 100)))` would
//! take gigabytes before any limit applies. So in every sandbox session:
//! - every scalar function, and the `||` operator on text, is wrapped: before it runs, an upper
//!   bound of its result is computed from its inputs (a scalar input counts once per row; a
//!   function that repeats, pads or replaces multiplies by its count or replacement), and the
//!   call is refused when that bound does not fit;
//! - while planning, a call may fold into a constant of at most 1 MiB (the optimizer copies
//!   constants from pass to pass); a larger one is left to run in its operator;
//! - what the calls produce is charged to a ledger of the thread, emptied each time an operator
//!   or the planner is polled again. Within one step of one batch (every expression evaluated on
//!   it, nested calls and sibling arguments together) results may total at most a quarter of
//!   the query's memory limit, so a composition cannot multiply its way past the limit;
//! - the array forms of `range` and `generate_series` are not available (the table functions of
//!   the same names stream rows and stay, under the time and row limits).
//!
//! Results that outlive a step are held by operators, which the memory pool counts. Each of the
//! engine's query threads can hold one step's results at a time beside that, so the process
//! stays within the memory limit plus half of it (two threads) plus the batches in flight.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::kernels::aggregate::max;
use datafusion::arrow::compute::kernels::cast::cast;
use datafusion::arrow::compute::kernels::concat_elements::concat_elements_utf8;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::simplify::ExprSimplifyResult;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExprSchemable, LogicalPlan, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::passthrough::{Passthrough, Role};
use crate::step;

/// Array-producing functions removed from sandbox sessions.
const REMOVED: [&str; 2] = ["range", "generate_series"];

/// Bytes a result may take per row beyond what its inputs give (fixed-width results, offsets).
const PER_ROW: usize = 16;

/// Wraps every scalar function of `ctx`, and `||` on text, so that what they produce fits in
/// a quarter of `memory_bytes` per step (see the module's text).
pub(crate) fn install(ctx: &mut SessionContext, memory_bytes: usize) -> Result<()> {
    for name in REMOVED {
        SessionContext::deregister_udf(ctx, name);
    }
    let cap = memory_bytes / 4;
    let state = ctx.state();
    let mut seen = HashSet::new();
    for inner in state.scalar_functions().values() {
        if seen.insert(inner.name().to_owned()) {
            SessionContext::register_udf(ctx, Bounded::wrap(Arc::clone(inner), cap));
        }
    }
    let concat = Arc::new(Bounded::wrap(
        Arc::new(ScalarUDF::new_from_impl(ConcatOperator::default())),
        cap,
    ));
    ctx.register_expr_planner(Arc::new(ConcatPlanner { concat }))
}

/// How the result of a function can grow beyond its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// At most a few times its inputs (more for many arguments, which separators repeat).
    Inputs,
    /// Its first argument times a count argument (`repeat`, `array_repeat`).
    Repeat { count: usize },
    /// A count argument of units per row (`lpad`, `rpad`, `array_resize`).
    Count { count: usize, unit: usize },
    /// Each byte and each gap of the text may become a replacement (`replace`,
    /// `regexp_replace`, where a replacement's `$0` is itself at most the text).
    Replace { with: usize },
}

impl Growth {
    fn of(name: &str) -> Self {
        match name {
            "repeat" | "array_repeat" => Growth::Repeat { count: 1 },
            "lpad" | "rpad" => Growth::Count { count: 1, unit: 4 },
            "array_resize" => Growth::Count { count: 1, unit: 16 },
            "replace" => Growth::Replace { with: 2 },
            "regexp_replace" => Growth::Replace { with: 2 },
            _ => Growth::Inputs,
        }
    }

    /// An upper bound of the result's bytes (saturating).
    fn bound(self, args: &[ColumnarValue], rows: usize) -> Result<usize> {
        let rows = rows.max(1);
        let inputs = args
            .iter()
            .map(|a| value_bytes(a, rows))
            .fold(0usize, usize::saturating_add);
        let fixed = rows.saturating_mul(PER_ROW);
        let grown = match self {
            // Separators repeat once per argument; case mapping can double a text.
            Growth::Inputs => inputs.saturating_mul(args.len().max(2) - 1),
            Growth::Repeat { count } => {
                let first = args.first().map_or(0, |a| value_bytes(a, rows));
                first.saturating_mul(largest_count(args.get(count))?)
            }
            Growth::Count { count, unit } => largest_count(args.get(count))?
                .saturating_mul(unit)
                .saturating_mul(rows),
            Growth::Replace { with } => {
                let text = args.first().map_or(0, |a| value_bytes(a, rows));
                let longest = args.get(with).map_or(0, longest_text);
                text.saturating_add(rows)
                    .saturating_mul(longest.saturating_add(1))
            }
        };
        Ok(grown.saturating_add(inputs).saturating_add(fixed))
    }
}

/// Bytes of a value as a function sees it: a scalar is repeated for every row.
fn value_bytes(value: &ColumnarValue, rows: usize) -> usize {
    match value {
        ColumnarValue::Scalar(scalar) => scalar_bytes(scalar).saturating_mul(rows),
        ColumnarValue::Array(array) => array_bytes(array),
    }
}

/// Bytes of a scalar's value.
fn scalar_bytes(scalar: &ScalarValue) -> usize {
    match scalar {
        ScalarValue::Utf8(Some(v))
        | ScalarValue::LargeUtf8(Some(v))
        | ScalarValue::Utf8View(Some(v)) => v.len(),
        ScalarValue::Binary(Some(v))
        | ScalarValue::LargeBinary(Some(v))
        | ScalarValue::BinaryView(Some(v)) => v.len(),
        ScalarValue::List(a) => array_bytes(&(Arc::clone(a) as ArrayRef)),
        ScalarValue::LargeList(a) => array_bytes(&(Arc::clone(a) as ArrayRef)),
        _ => PER_ROW,
    }
}

/// Bytes of an array's own rows (not of buffers it shares with other arrays).
fn array_bytes(array: &ArrayRef) -> usize {
    match array.data_type() {
        DataType::Utf8View => array.as_string_view().lengths().map(|n| n as usize).sum(),
        DataType::BinaryView => array.as_binary_view().lengths().map(|n| n as usize).sum(),
        _ => array
            .to_data()
            .get_slice_memory_size()
            .unwrap_or_else(|_| array.get_array_memory_size()),
    }
}

/// The largest value of a count argument (0 when absent, null or negative).
fn largest_count(value: Option<&ColumnarValue>) -> Result<usize> {
    let largest = match value {
        None => 0,
        Some(ColumnarValue::Scalar(scalar)) => match scalar.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(n)) => n,
            _ => 0,
        },
        Some(ColumnarValue::Array(array)) => {
            let ints = cast(array, &DataType::Int64)?;
            max(ints.as_primitive::<Int64Type>()).unwrap_or(0)
        }
    };
    Ok(usize::try_from(largest).unwrap_or(0))
}

/// The longest string of a text argument, in bytes.
fn longest_text(value: &ColumnarValue) -> usize {
    match value {
        ColumnarValue::Scalar(scalar) => scalar_bytes(scalar),
        ColumnarValue::Array(array) => match array.data_type() {
            DataType::Utf8 => array
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::len)
                .max(),
            DataType::LargeUtf8 => array
                .as_string::<i64>()
                .iter()
                .flatten()
                .map(str::len)
                .max(),
            DataType::Utf8View => array.as_string_view().lengths().max().map(|n| n as usize),
            _ => Some(array_bytes(array)),
        }
        .unwrap_or(0),
    }
}

/// Largest result a call may fold into a constant while planning: the optimizer copies a
/// plan's constants from pass to pass. A larger one is left to run in its operator instead.
const CONSTANT_CAP: usize = 1 << 20;

/// A scalar function that refuses calls whose result would not fit.
#[derive(Debug)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    growth: Growth,
    cap: usize,
}

impl Bounded {
    fn wrap(inner: Arc<ScalarUDF>, cap: usize) -> ScalarUDF {
        let growth = Growth::of(inner.name());
        ScalarUDF::new_from_impl(Self { inner, growth, cap })
    }
}

impl PartialEq for Bounded {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner && self.cap == other.cap
    }
}

impl Eq for Bounded {}

impl Hash for Bounded {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
        self.cap.hash(state);
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        #[expect(
            deprecated,
            reason = "forwards the wrapped function's own display name"
        )]
        self.inner.inner().display_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn simplify(
        &self,
        args: Vec<Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<ExprSimplifyResult> {
        // A function's own rewrite (`concat_ws` dropping nulls, say) calls the unbounded
        // function again: bound the calls it makes.
        Ok(match self.inner.simplify(args, info)? {
            ExprSimplifyResult::Simplified(expr) => {
                ExprSimplifyResult::Simplified(bound_calls(expr, self.cap)?)
            }
            original => original,
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bound = self.growth.bound(&args.args, args.number_rows)?;
        let before = step::produced();
        let (cap, what) = if step::in_operator() {
            (self.cap, "the query's expressions may hold at once")
        } else {
            (
                self.cap.min(CONSTANT_CAP),
                "a constant of the plan may hold",
            )
        };
        if before.saturating_add(bound) > cap {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}() could produce about {} MiB, more than {what} ({} MiB)",
                self.name(),
                before.saturating_add(bound) >> 20,
                cap >> 20
            )));
        }
        let rows = args.number_rows;
        let result = self.inner.invoke_with_args(args)?;
        let produced = value_bytes(&result, rows);
        step::set_produced(before.saturating_add(produced));
        Ok(result)
    }
}

/// `text || text`, as the `||` operator computes it (null when either side is null), but as a
/// function the sandbox can bound.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ConcatOperator {
    signature: Signature,
}

impl Default for ConcatOperator {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ConcatOperator {
    fn name(&self) -> &str {
        "string_concat_operator"
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let names = args
            .iter()
            .map(|a| a.schema_name().to_string())
            .collect::<Vec<_>>();
        Ok(names.join(" || "))
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(vec![DataType::Utf8; arg_types.len()])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [left, right] = arrays.as_slice() else {
            return Err(DataFusionError::Plan("|| takes two operands".to_owned()));
        };
        let joined: ArrayRef = Arc::new(concat_elements_utf8(
            left.as_string::<i32>(),
            right.as_string::<i32>(),
        )?);
        Ok(if all_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&joined, 0)?)
        } else {
            ColumnarValue::Array(joined)
        })
    }
}

/// Plans `text || text` as the bounded [`ConcatOperator`]; lists keep DataFusion's planning.
#[derive(Debug)]
struct ConcatPlanner {
    concat: Arc<ScalarUDF>,
}

impl ExprPlanner for ConcatPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let is_list = |e: &Expr| -> Result<bool> {
            Ok(matches!(
                e.get_type(schema)?,
                DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
            ))
        };
        if expr.op != BinaryOperator::StringConcat || is_list(&expr.left)? || is_list(&expr.right)?
        {
            return Ok(PlannerResult::Original(expr));
        }
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&self.concat), vec![expr.left, expr.right]),
        )))
    }
}

/// `expr` with every scalar function call bounded.
fn bound_calls(expr: Expr, cap: usize) -> Result<Expr> {
    expr.transform_up(|e| match e {
        Expr::ScalarFunction(call) if !call.func.inner().is::<Bounded>() => {
            let func = Arc::new(Bounded::wrap(call.func, cap));
            Ok(Transformed::yes(Expr::ScalarFunction(
                ScalarFunction::new_udf(func, call.args),
            )))
        }
        e => Ok(Transformed::no(e)),
    })
    .map(|t| t.data)
}

/// `plan` with every scalar function call bounded, for `memory_bytes` as in [`install`]: the
/// calls that planners make themselves (`array || array` as `array_concat`, say) are not
/// looked up by name, so the wrapped functions of the session do not cover them.
pub(crate) fn bound_plan(plan: LogicalPlan, memory_bytes: usize) -> Result<LogicalPlan> {
    let cap = memory_bytes / 4;
    plan.transform_up_with_subqueries(|node| {
        node.map_expressions(|expr| {
            let bounded = bound_calls(expr, cap)?;
            Ok(Transformed::yes(bounded))
        })
    })
    .map(|t| t.data)
}

/// Wraps every operator of a physical plan: each poll of its output starts a new step, and
/// gives way to the scheduler now and then (tokio's task budget).
///
/// DataFusion yields at its data sources; an operator that makes many batches from each input
/// batch (a cross join) would otherwise run on between two yields, and a cancelled query would
/// keep its thread busy until then. With a yield point above every operator, cancelling takes
/// effect within one batch.
pub(crate) fn step_everywhere(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let wrapped: Arc<dyn ExecutionPlan> = Arc::new(Passthrough::new(node, Role::Step));
        Ok(Transformed::yes(wrapped))
    })
    .map(|t| t.data)
}
