//! `date_trunc` over dates without DataFusion's detour through timestamps.
//!
//! DataFusion's `date_trunc` casts a date to a timestamp and truncates it through chrono, row
//! by row: on the lake's `event_date` that was a fifth of a monthly dashboard question's time.
//! The lake's tables keep days as dates, so `date_trunc('month', event_date)` is the common
//! call. [`DateTrunc`] answers it with integer arithmetic on the day number and returns what
//! DataFusion returns (a timestamp at midnight); every other call goes to DataFusion's own.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampNanosecondArray};
use datafusion::arrow::compute::kernels::cast::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, FieldRef, TimeUnit};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

/// The result type of `date_trunc` on a date, as DataFusion coerces it.
const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Nanosecond, None);

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// `date_trunc(granularity, value)`, DataFusion's, with a fast path for a date `value` (see
/// the module's text).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DateTrunc {
    builtin: Arc<ScalarUDF>,
    signature: Signature,
}

impl DateTrunc {
    /// The function, to register in place of DataFusion's.
    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            builtin: datafusion::functions::datetime::date_trunc(),
            signature: Signature::user_defined(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &str {
        self.builtin.name()
    }

    fn aliases(&self) -> &[String] {
        self.builtin.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if let [granularity, DataType::Date32] = arg_types
            && granularity.is_string()
        {
            return Ok(arg_types.to_vec());
        }
        let fields: Vec<FieldRef> = arg_types
            .iter()
            .map(|t| Arc::new(Field::new("arg", t.clone(), true)))
            .collect();
        Ok(fields_with_udf(&fields, self.builtin.as_ref())?
            .iter()
            .map(|f| f.data_type().clone())
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        unreachable!("return_field_from_args answers")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        match args.arg_fields {
            [_, date] if date.data_type() == &DataType::Date32 => Ok(Arc::new(Field::new(
                self.name(),
                TIMESTAMP,
                date.is_nullable(),
            ))),
            _ => self.builtin.return_field_from_args(args),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.builtin.documentation()
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [granularity, value] = args.args.as_slice() else {
            return self.builtin.invoke_with_args(args);
        };
        if value.data_type() != DataType::Date32 {
            return self.builtin.invoke_with_args(args);
        }
        if let Some(unit) = granularity_of(granularity) {
            match value {
                ColumnarValue::Array(days) => {
                    let days = days.as_primitive::<Date32Type>();
                    if let Ok(nanos) = truncate_runs(days.values(), unit) {
                        let truncated =
                            TimestampNanosecondArray::new(nanos.into(), days.nulls().cloned());
                        return Ok(ColumnarValue::Array(Arc::new(truncated) as ArrayRef));
                    }
                }
                ColumnarValue::Scalar(ScalarValue::Date32(day)) => {
                    if let Ok(nanos) = day.map(|d| midnight(unit.truncate(d))).transpose() {
                        return Ok(ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(
                            nanos, None,
                        )));
                    }
                }
                ColumnarValue::Scalar(_) => {}
            }
        }
        // Another granularity, or a day beyond the timestamps' range: DataFusion's own answer
        // (or error) on the date as it would have coerced it.
        args.args[1] = match &args.args[1] {
            ColumnarValue::Array(days) => ColumnarValue::Array(cast(days, &TIMESTAMP)?),
            ColumnarValue::Scalar(day) => ColumnarValue::Scalar(day.cast_to(&TIMESTAMP)?),
        };
        args.arg_fields[1] = Arc::new(Field::new(
            args.arg_fields[1].name(),
            TIMESTAMP,
            args.arg_fields[1].is_nullable(),
        ));
        self.builtin.invoke_with_args(args)
    }
}

/// What a date is truncated to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// The day itself (a date is midnight, which every finer granularity keeps).
    Day,
    /// The Monday of its ISO week.
    Week,
    Month,
    Quarter,
    Year,
}

/// The granularity of a scalar text argument, when it is one the fast path answers.
fn granularity_of(value: &ColumnarValue) -> Option<Unit> {
    let ColumnarValue::Scalar(
        ScalarValue::Utf8(Some(text))
        | ScalarValue::Utf8View(Some(text))
        | ScalarValue::LargeUtf8(Some(text)),
    ) = value
    else {
        return None;
    };
    Some(match text.to_ascii_lowercase().as_str() {
        "microsecond" | "millisecond" | "second" | "minute" | "hour" | "day" => Unit::Day,
        "week" => Unit::Week,
        "month" => Unit::Month,
        "quarter" => Unit::Quarter,
        "year" => Unit::Year,
        _ => return None,
    })
}

impl Unit {
    /// The first day of the unit holding `day` (days since 1970-01-01).
    fn truncate(self, day: i32) -> i64 {
        let day = i64::from(day);
        match self {
            Unit::Day => day,
            // 1970-01-01 was a Thursday, three days after a Monday.
            Unit::Week => day - (day + 3).rem_euclid(7),
            Unit::Month | Unit::Quarter | Unit::Year => {
                let (year, month) = year_month(day);
                let first = match self {
                    Unit::Month => month,
                    Unit::Quarter => (month - 1) / 3 * 3 + 1,
                    _ => 1,
                };
                first_of_month(year, first)
            }
        }
    }
}

/// Midnight of the first day of the `unit` holding each of `days`, in nanoseconds since the
/// epoch; an error when one is beyond the timestamps' range. Days come in runs (the lake's
/// files are ordered by day): each run is truncated once.
fn truncate_runs(days: &[i32], unit: Unit) -> std::result::Result<Vec<i64>, ()> {
    let mut last: Option<(i32, i64)> = None;
    days.iter()
        .map(|&day| match last {
            Some((seen, nanos)) if seen == day => Ok(nanos),
            _ => {
                let nanos = midnight(unit.truncate(day))?;
                last = Some((day, nanos));
                Ok(nanos)
            }
        })
        .collect()
}

/// Nanoseconds since the epoch at the start of `day`; an error beyond the timestamps' range.
fn midnight(day: i64) -> std::result::Result<i64, ()> {
    day.checked_mul(NANOS_PER_DAY).ok_or(())
}

// The proleptic Gregorian calendar in 400-year eras of 146,097 days, years counted from March
// (so that the leap day ends the year): Howard Hinnant's `civil_from_days` and
// `days_from_civil` (https://howardhinnant.github.io/date_algorithms.html).

/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_FROM_MARCH_0: i64 = 719_468;

/// Year and month (1–12) of `day` (days since 1970-01-01).
fn year_month(day: i64) -> (i64, i64) {
    let z = day + EPOCH_FROM_MARCH_0;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month)
}

/// Days since 1970-01-01 of the first of `month` (1–12) of `year`.
fn first_of_month(year: i64, month: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - EPOCH_FROM_MARCH_0
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Date32Array, TimestampNanosecondArray};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A session with a table `d` of one date column `day` holding `days`, and DataFusion's
    /// `date_trunc` or ours.
    fn session(days: &[Option<i32>], ours: bool) -> SessionContext {
        let ctx = SessionContext::new();
        if ours {
            ctx.register_udf(DateTrunc::udf());
        }
        let days = Arc::new(Date32Array::from(days.to_vec())) as ArrayRef;
        let batch = RecordBatch::try_from_iter([("day", days)]).unwrap();
        ctx.register_batch("d", batch).unwrap();
        ctx
    }

    /// `sql`'s rows, or the cause of its error (whether planning, folding a constant, or
    /// running met it).
    async fn answer(ctx: &SessionContext, sql: &str) -> std::result::Result<String, String> {
        let cause = |e: datafusion::error::DataFusionError| {
            e.strip_backtrace()
                .lines()
                .last()
                .unwrap_or_default()
                .to_owned()
        };
        let frame = ctx.sql(sql).await.map_err(cause)?;
        let batches = frame.collect().await.map_err(cause)?;
        Ok(format!("{batches:?}"))
    }

    #[tokio::test]
    async fn answers_as_datafusion_does_for_every_day_timestamps_can_hold() {
        // 1700-01-01 to 2261-12-31, before and after the epoch, leap centuries and not; in runs
        // of a day, and nulls between them.
        let days: Vec<Option<i32>> = (-98_615..106_651)
            .flat_map(|day| [Some(day), Some(day), None])
            .collect();
        let (theirs, ours) = (session(&days, false), session(&days, true));
        for unit in [
            "year", "QUARTER", "month", "week", "day", "hour", "minute", "second",
        ] {
            for sql in [
                format!("SELECT date_trunc('{unit}', day) FROM d"),
                format!("SELECT CAST(date_trunc('{unit}', day) AS DATE) FROM d"),
            ] {
                let expected = answer(&theirs, &sql).await;
                assert!(expected.is_ok(), "{sql}: {expected:?}");
                assert_eq!(answer(&ours, &sql).await, expected, "{sql}");
            }
        }
    }

    #[tokio::test]
    async fn a_date_is_not_cast_to_a_timestamp_first() {
        let plan = |ours: bool| async move {
            let frame = session(&[Some(1)], ours)
                .sql("SELECT date_trunc('month', day) FROM d")
                .await
                .unwrap();
            frame
                .into_optimized_plan()
                .unwrap()
                .display_indent()
                .to_string()
        };
        assert!(plan(false).await.contains("CAST(d.day AS Timestamp"));
        let ours = plan(true).await;
        assert!(!ours.contains("CAST"), "{ours}");
    }

    #[tokio::test]
    async fn other_calls_are_datafusion_s() {
        let days = [Some(20_000), None];
        let (theirs, ours) = (session(&days, false), session(&days, true));
        for sql in [
            // A timestamp stays one, truncated to its hour.
            "SELECT date_trunc('hour', CAST(day AS TIMESTAMP) + INTERVAL '5 hours 7 minutes') FROM d",
            // A granularity the fast path does not know: DataFusion's answer, or its error.
            "SELECT date_trunc('millennium', day) FROM d",
            // Beyond the timestamps' range: DataFusion's error.
            "SELECT date_trunc('month', DATE '2300-01-15') FROM d",
            "SELECT date_trunc('month', day + 200000) FROM d",
            // Constants fold through the scalar path.
            "SELECT date_trunc('month', DATE '2024-02-29'), date_trunc('year', NULL::date) FROM d",
        ] {
            assert_eq!(
                answer(&ours, sql).await,
                answer(&theirs, sql).await,
                "{sql}"
            );
        }
        let month = session(&[Some(19_782)], true)
            .sql("SELECT date_trunc('month', day) FROM d")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let expected = TimestampNanosecondArray::from(vec![19_754 * NANOS_PER_DAY]);
        assert_eq!(
            month[0].column(0).as_ref(),
            &expected as &dyn Array,
            "2024-02-29 → 2024-02-01"
        );
    }
}
