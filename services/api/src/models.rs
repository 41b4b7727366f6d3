//! Wire types shared by several endpoints: a metric's point, a ranked agency, a period.

use chrono::NaiveDate;
use parwatch_metrics::{Point, RankRow};
use serde::Serialize;
use utoipa::ToSchema;

/// One value of a series: a bucket's start and the metric over it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Point)]
pub(crate) struct PointBody {
    /// Start date of the bucket (local).
    #[serde(serialize_with = "iso_date")]
    bucket: NaiveDate,
    /// The value; null for a rate over nothing.
    value: Option<f64>,
    /// Numerator (the count, for count metrics).
    numerator: Option<i64>,
    /// Denominator; null for count metrics.
    denominator: Option<i64>,
    /// Withheld by a public embed's disclosure control (too few dossiers, or one that would
    /// give such a point back): value, numerator and denominator are null. Absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    suppressed: bool,
}

/// `day` as `YYYY-MM-DD`, as chrono writes it, without going through `fmt` a character at a
/// time: a series of all history by agency has thousands of points.
fn iso_date<S: serde::Serializer>(day: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    use chrono::Datelike as _;
    let Ok(year) = u32::try_from(day.year()) else {
        return day.serialize(serializer);
    };
    if year > 9999 {
        return day.serialize(serializer);
    }
    let mut text = *b"0000-00-00";
    for (at, value, width) in [(0, year, 4), (5, day.month(), 2), (8, day.day(), 2)] {
        let mut value = value;
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    serializer.serialize_str(std::str::from_utf8(&text).expect("ASCII digits"))
}

impl From<&Point> for PointBody {
    fn from(p: &Point) -> Self {
        Self {
            bucket: p.bucket,
            value: p.value,
            numerator: p.numerator,
            denominator: p.denominator,
            suppressed: false,
        }
    }
}

/// `withheld_if` for the bodies whose figures (`value`, `numerator`, `denominator`) a public
/// embed's disclosure control may withhold, marking them `suppressed`.
macro_rules! withheld_if {
    ($($body:ty),*) => {$(
        impl $body {
            /// The body, its figures withheld when `hidden`.
            pub(crate) fn withheld_if(self, hidden: bool) -> Self {
                match hidden {
                    false => self,
                    true => Self {
                        value: None,
                        numerator: None,
                        denominator: None,
                        suppressed: true,
                        ..self
                    },
                }
            }
        }
    )*};
}

withheld_if!(PointBody, RankRowBody);

/// One agency of a ranking.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RankRow)]
pub(crate) struct RankRowBody {
    /// The agency.
    agency_code: String,
    /// Standard competition rank (1, 2, 2, 4); null when there was nothing to measure.
    rank: Option<u32>,
    /// Value over the period.
    value: Option<f64>,
    /// Numerator over the period.
    numerator: Option<i64>,
    /// Denominator over the period.
    denominator: Option<i64>,
    /// Rank over the previous period of the same length.
    previous_rank: Option<u32>,
    /// Places gained (positive) or lost since the previous period.
    change: Option<i64>,
    /// Withheld by a public embed's disclosure control: value, numerator and denominator are
    /// null (the rank stays). Absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    suppressed: bool,
}

impl From<&RankRow> for RankRowBody {
    fn from(r: &RankRow) -> Self {
        Self {
            agency_code: r.agency_code.clone(),
            rank: r.rank,
            value: r.value,
            numerator: r.numerator,
            denominator: r.denominator,
            previous_rank: r.previous_rank,
            change: r.change,
            suppressed: false,
        }
    }
}

/// A range of local dates, both included.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct Period {
    /// First day.
    pub(crate) from: NaiveDate,
    /// Last day.
    pub(crate) to: NaiveDate,
}

#[cfg(test)]
mod tests {
    use chrono::Datelike as _;

    use super::*;

    #[test]
    fn bucket_dates_are_written_as_chrono_writes_them() {
        #[derive(Serialize)]
        struct Fast(#[serde(serialize_with = "iso_date")] NaiveDate);
        let first = NaiveDate::from_ymd_opt(-3, 12, 31).unwrap();
        let days = first
            .iter_days()
            .step_by(97)
            .take_while(|d| d.year() <= 10_001)
            .chain([
                NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
                NaiveDate::MAX,
            ]);
        let mut checked = 0;
        for day in days {
            let expected = serde_json::to_string(&day).unwrap();
            assert_eq!(serde_json::to_string(&Fast(day)).unwrap(), expected);
            checked += 1;
        }
        assert!(checked > 37_000, "{checked}");
    }
}
