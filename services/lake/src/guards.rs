//! Scalar functions whose output size a caller picks with a number: guarded in sandbox sessions.
//!
//! DataFusion's memory pool counts what operators hold (hash tables, sorts), not what a scalar
//! function allocates for its result, and constant folding evaluates such calls while planning.
//! `repeat('x', 2000000000)` would take gigabytes before any limit applies. So in every sandbox
//! session:
//! - `repeat`, `lpad`, `rpad`, `array_repeat` and `array_resize` check, before running, that
//!   the result they are asked for fits in the query's memory limit;
//! - the array forms of `range` and `generate_series` are not available (the table functions of
//!   the same names stream rows and stay, under the time and row limits).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::kernels::aggregate::max;
use datafusion::arrow::compute::kernels::cast::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;

/// Array-producing functions removed from sandbox sessions.
const REMOVED: [&str; 2] = ["range", "generate_series"];

/// Guarded functions: name, index of the count argument, whether the first argument's length
/// multiplies the result (`repeat`), bytes per counted unit.
const GUARDED: [(&str, usize, bool, usize); 5] = [
    ("repeat", 1, true, 1),
    ("lpad", 1, false, 4),
    ("rpad", 1, false, 4),
    ("array_repeat", 1, false, 8),
    ("array_resize", 1, false, 8),
];

/// Replaces the risky functions of `ctx` with guarded ones capped at `max_bytes` per call.
pub(crate) fn install(ctx: &SessionContext, max_bytes: usize) {
    for name in REMOVED {
        ctx.deregister_udf(name);
    }
    let state = ctx.state();
    for (name, count_arg, by_length, unit) in GUARDED {
        if let Some(inner) = state.scalar_functions().get(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(Capped {
                inner: Arc::clone(inner),
                count_arg,
                by_length,
                unit,
                max_bytes,
            }));
        }
    }
}

/// A scalar function that refuses calls whose result would exceed `max_bytes`.
#[derive(Debug)]
struct Capped {
    inner: Arc<ScalarUDF>,
    count_arg: usize,
    by_length: bool,
    unit: usize,
    max_bytes: usize,
}

impl PartialEq for Capped {
    fn eq(&self, other: &Self) -> bool {
        self.inner.name() == other.inner.name() && self.max_bytes == other.max_bytes
    }
}

impl Eq for Capped {}

impl Hash for Capped {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.name().hash(state);
        self.max_bytes.hash(state);
    }
}

impl Capped {
    /// The largest result this call could produce, in bytes (saturating).
    fn result_bytes(&self, args: &ScalarFunctionArgs) -> Result<usize> {
        let count = match args.args.get(self.count_arg) {
            Some(value) => largest_count(value)?,
            None => return Ok(0),
        };
        let width = match (self.by_length, args.args.first()) {
            (true, Some(text)) => longest_text(text),
            _ => 1,
        };
        Ok(count
            .saturating_mul(width.max(1))
            .saturating_mul(self.unit)
            .saturating_mul(args.number_rows.max(1)))
    }
}

/// The largest value of a count argument (0 when null or negative).
fn largest_count(value: &ColumnarValue) -> Result<usize> {
    let largest = match value {
        ColumnarValue::Scalar(scalar) => match scalar.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(n)) => n,
            _ => 0,
        },
        ColumnarValue::Array(array) => {
            let ints = cast(array, &DataType::Int64)?;
            max(ints.as_primitive::<Int64Type>()).unwrap_or(0)
        }
    };
    Ok(usize::try_from(largest).unwrap_or(0))
}

/// The longest string of a text argument, in bytes.
fn longest_text(value: &ColumnarValue) -> usize {
    match value {
        ColumnarValue::Scalar(scalar) => scalar.to_string().len(),
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
            DataType::Utf8View => array.as_string_view().iter().flatten().map(str::len).max(),
            _ => None,
        }
        .unwrap_or(0),
    }
}

impl ScalarUDFImpl for Capped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
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

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bytes = self.result_bytes(&args)?;
        if bytes > self.max_bytes {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}() would produce about {} MiB, more than the query may hold",
                self.name(),
                bytes >> 20
            )));
        }
        self.inner.invoke_with_args(args)
    }
}
