//! The one parser of query parameters: dates, ranges, buckets, agencies, formats and years,
//! each with one message per mistake. Parameters arrive as text (all `Option<String>`), so
//! every mistake gets our own message rather than the query decoder's.

use chrono::{Datelike, Days, NaiveDate, Utc};
use parwatch_auth::Principal;
use parwatch_lake::AsOf;
use parwatch_metrics::{Bucket, DossierRole, MetricError};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::agency_filter;
use crate::encode::Format;
use crate::error::ApiError;

/// Longest agency code accepted.
const MAX_AGENCY: usize = 64;

/// Today in the province: the default end of every range.
pub(crate) fn today() -> NaiveDate {
    parwatch_proto::local_date(Utc::now())
}

/// `from` and `to`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Dates {
    /// First day, `YYYY-MM-DD` (local time), from 1900-01-01 to 9999-12-31.
    #[param(example = "2024-01-01")]
    from: Option<String>,
    /// Last day, inclusive; today by default.
    #[param(example = "2024-12-31")]
    to: Option<String>,
}

impl Dates {
    /// The range asked for: `to` (`default_to` when absent), then `from` (`default_from(to)`
    /// when absent); refused when reversed.
    pub(crate) fn resolve(
        &self,
        default_to: NaiveDate,
        default_from: impl FnOnce(NaiveDate) -> NaiveDate,
    ) -> Result<(NaiveDate, NaiveDate), ApiError> {
        let to = date("to", self.to.as_deref())?.unwrap_or(default_to);
        let from = date("from", self.from.as_deref())?.unwrap_or_else(|| default_from(to));
        if from > to {
            return Err(MetricError::ReversedRange { from, to }.into());
        }
        Ok((from, to))
    }

    /// The range, by default the 365 days up to today.
    pub(crate) fn last_year(&self) -> Result<(NaiveDate, NaiveDate), ApiError> {
        self.resolve(today(), |to| {
            to.checked_sub_days(Days::new(364))
                .unwrap_or(parwatch_metrics::FIRST_DATE)
                .max(parwatch_metrics::FIRST_DATE)
        })
    }
}

/// A `YYYY-MM-DD` parameter (absent or empty: none), refused (400) outside the dates the
/// metrics serve ([`parwatch_metrics::FIRST_DATE`] to [`parwatch_metrics::LAST_DATE`]), so
/// no date arithmetic on it can leave what dates can hold.
fn date(field: &'static str, text: Option<&str>) -> Result<Option<NaiveDate>, MetricError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let date = text.parse().map_err(|_| MetricError::BadDate {
        field,
        value: text.chars().take(40).collect(),
    })?;
    parwatch_metrics::check_date(field, date).map(Some)
}

/// Which answer: `as_of`, a moment of the lake's history to answer from, and the validator of
/// the answer the client holds (`If-None-Match`, which the route reads from the headers).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Travel {
    /// Answer as at this moment: a version of `events` (as `/api/v1/status` and
    /// `events_version` in answers number them), or a time (RFC 3339, or a date: its midnight
    /// UTC) meaning the version current then. The answer equals what the endpoint answered
    /// then for the same parameters. Absent: now.
    #[param(example = "2026-12-01T08:00:00+07:00")]
    as_of: Option<String>,
    /// The request's `If-None-Match` header.
    #[serde(skip)]
    pub(crate) if_none_match: Option<String>,
}

impl Travel {
    /// Reads `as_of` from the query and `If-None-Match` from the headers.
    pub(crate) fn filter() -> impl warp::Filter<Extract = (Self,), Error = warp::Rejection> + Clone
    {
        use warp::Filter as _;
        warp::query::<Self>()
            .and(warp::header::optional::<String>("if-none-match"))
            .map(|travel, if_none_match| Self {
                if_none_match,
                ..travel
            })
    }

    /// The moment asked for, if any.
    pub(crate) fn at(&self) -> Result<Option<AsOf>, ApiError> {
        let Some(text) = self.as_of.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        AsOf::parse(text).map(Some).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "as_of: {:?} is neither a version number nor a time such as \
                 2026-12-01T08:00:00+07:00",
                text.chars().take(40).collect::<String>()
            ))
        })
    }
}

/// `bucket` and `agency`: how a series is cut and whose it is.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct View {
    /// Bucket of the series: `day`, `week`, `month`, `quarter` or `year`.
    #[param(example = "month")]
    bucket: Option<String>,
    /// One agency's code (at most 64 characters); none: the whole province. A token scoped to
    /// one agency sees its own, and is refused another (403).
    #[param(example = "000.00.16.H02")]
    agency: Option<String>,
}

impl View {
    /// The bucket asked for, `default` when absent or empty.
    pub(crate) fn bucket(&self, default: Bucket) -> Result<Bucket, ApiError> {
        bucket(self.bucket.as_deref(), default)
    }

    /// The agency asked for, as the caller may see it (see [`agency`]).
    pub(crate) fn agency(&self, principal: &Principal) -> Result<Option<String>, ApiError> {
        agency(principal, self.agency.as_deref())
    }

    /// The agency the URL names, unchecked against any caller (an embed checks it against its
    /// token).
    pub(crate) fn asked_agency(&self) -> Result<Option<&str>, ApiError> {
        asked(self.agency.as_deref())
    }
}

/// A bucket name, `default` when absent or empty.
fn bucket(text: Option<&str>, default: Bucket) -> Result<Bucket, ApiError> {
    match text {
        None | Some("") => Ok(default),
        Some(text) => {
            Ok(Bucket::parse(text).ok_or_else(|| MetricError::UnknownBucket(text.to_owned()))?)
        }
    }
}

/// An agency named in a URL: absent or empty is none; at most [`MAX_AGENCY`] characters.
fn asked(text: Option<&str>) -> Result<Option<&str>, ApiError> {
    match text.filter(|a| !a.is_empty()) {
        Some(a) if a.len() > MAX_AGENCY => Err(ApiError::BadRequest(format!(
            "agency: at most {MAX_AGENCY} characters"
        ))),
        other => Ok(other),
    }
}

/// The agency filter of a request: absent or empty is none; a scoped token's own agency
/// whatever it asks (another agency is refused).
pub(crate) fn agency(
    principal: &Principal,
    text: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let asked = asked(text)?;
    agency_filter(principal, asked)
}

/// Which units a figure is counted in: `units` (`as_recorded`, the default, or `restated`) and
/// `units_date` (restated only: the date whose units figures are restated to, today by
/// default). `None`: as recorded; `Some(date)`: restated to the units of `date`.
pub(crate) fn units(
    units: Option<&str>,
    units_date: Option<&str>,
) -> Result<Option<NaiveDate>, ApiError> {
    match units.filter(|u| !u.is_empty()) {
        None | Some("as_recorded") => match units_date.filter(|d| !d.is_empty()) {
            None => Ok(None),
            Some(_) => Err(ApiError::BadRequest(
                "units_date: only with units=restated".to_owned(),
            )),
        },
        Some("restated") => Ok(Some(date("units_date", units_date)?.unwrap_or_else(today))),
        Some(other) => Err(ApiError::BadRequest(format!(
            "unknown units {:?}: expected as_recorded or restated",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// Under which agency of a dossier its figures are counted: `role` (`competent`, the
/// default: the agency of the events; `receiving`: the point that received it; `area`: its
/// commune), absent or empty for the default.
pub(crate) fn role(text: Option<&str>) -> Result<DossierRole, ApiError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(DossierRole::Competent),
        Some(text) => DossierRole::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown role {:?}: expected competent (the agency competent for the dossier, \
                 the default), receiving (the point that received it) or area (its commune)",
                text.chars().take(40).collect::<String>()
            ))
        }),
    }
}

/// A `format` parameter among `allowed` (the first is the default, taken when absent).
pub(crate) fn format(text: Option<&str>, allowed: &[Format]) -> Result<Format, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(allowed[0]);
    };
    allowed
        .iter()
        .copied()
        .find(|f| f.name() == text)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|f| f.name()).collect();
            let expected = match names.split_last() {
                Some((last, [])) => (*last).to_owned(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            };
            ApiError::BadRequest(format!(
                "unknown format {:?}: expected {expected}",
                text.chars().take(40).collect::<String>()
            ))
        })
}

/// The years the PAR Index can be asked about: those of the dates the metrics serve.
const FIRST_YEAR: i32 = 1900;
/// See [`FIRST_YEAR`].
const LAST_YEAR: i32 = 9999;

/// A `year` parameter, this year by default.
pub(crate) fn year(text: Option<&str>) -> Result<i32, ApiError> {
    match text {
        None | Some("") => Ok(today().year()),
        Some(text) => text
            .parse()
            .ok()
            .filter(|y| (FIRST_YEAR..=LAST_YEAR).contains(y))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "year: {:?} is not a year from {FIRST_YEAR} to {LAST_YEAR}",
                    text.chars().take(40).collect::<String>()
                ))
            }),
    }
}

/// A required parameter: its text, or 400 with an example.
pub(crate) fn required<'a>(
    name: &str,
    text: Option<&'a str>,
    example: &str,
) -> Result<&'a str, ApiError> {
    text.filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("{name}: required (e.g. ?{name}={example})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_named_and_mistakes_list_the_choices() {
        let panel = [Format::Json, Format::Csv];
        assert_eq!(format(None, &panel).unwrap(), Format::Json);
        assert_eq!(format(Some(""), &panel).unwrap(), Format::Json);
        assert_eq!(format(Some("csv"), &panel).unwrap(), Format::Csv);
        let e = format(Some("arrow"), &panel).unwrap_err().to_string();
        assert_eq!(e, "unknown format \"arrow\": expected json or csv");
        let sql = [Format::Json, Format::Csv, Format::Arrow, Format::Parquet];
        let e = format(Some("xml"), &sql).unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown format \"xml\": expected json, csv, arrow or parquet"
        );
    }

    #[test]
    fn ranges_default_reverse_and_bound() {
        let dates = |from: &str, to: &str| Dates {
            from: Some(from.to_owned()),
            to: Some(to.to_owned()),
        };
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let (from, to) = Dates::default().last_year().unwrap();
        assert_eq!((to - from).num_days(), 364);
        assert_eq!(
            dates("2024-01-01", "2024-03-31").last_year().unwrap(),
            (d("2024-01-01"), d("2024-03-31"))
        );
        let e = dates("2024-02-01", "2024-01-01").last_year().unwrap_err();
        assert!(matches!(e, ApiError::BadRequest(_)), "{e}");
        let e = dates("2024-13-01", "").last_year().unwrap_err().to_string();
        assert!(e.contains("from"), "{e}");
        let e = dates("0001-01-01", "").last_year().unwrap_err().to_string();
        assert!(e.contains("from"), "{e}");
        assert!(year(Some("20x4")).is_err());
        assert_eq!(year(Some("2024")).unwrap(), 2024);
        assert!(asked(Some(&"x".repeat(65))).is_err());
        assert_eq!(units(None, None).unwrap(), None);
        assert_eq!(units(Some("as_recorded"), Some("")).unwrap(), None);
        assert_eq!(
            units(Some("restated"), Some("2025-07-01")).unwrap(),
            Some(d("2025-07-01"))
        );
        assert_eq!(units(Some("restated"), None).unwrap(), Some(today()));
        let e = units(Some("today"), None).unwrap_err().to_string();
        assert!(e.contains("as_recorded or restated"), "{e}");
        let e = units(None, Some("2025-07-01")).unwrap_err().to_string();
        assert!(e.contains("units=restated"), "{e}");
        let e = units(Some("restated"), Some("2025-13-01"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("units_date"), "{e}");
        assert_eq!(asked(Some("")).unwrap(), None);
        assert_eq!(role(None).unwrap(), DossierRole::Competent);
        assert_eq!(role(Some("")).unwrap(), DossierRole::Competent);
        assert_eq!(role(Some("area")).unwrap(), DossierRole::Area);
        assert_eq!(role(Some("receiving")).unwrap(), DossierRole::Receiving);
        let e = role(Some("commune")).unwrap_err().to_string();
        assert!(
            e.contains("unknown role \"commune\"") && e.contains("area"),
            "{e}"
        );
    }
}
