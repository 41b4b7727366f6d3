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
