//! Calendar buckets in local time, named by their start date.

use chrono::{Datelike, Days, Months, NaiveDate};

/// Width of a time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One local day.
    Day,
    /// ISO week, Monday first.
    Week,
    /// Calendar month.
    Month,
    /// Calendar quarter.
    Quarter,
    /// Calendar year.
    Year,
}

impl Bucket {
    /// Parses `day`, `week`, `month`, `quarter` or `year`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "day" => Bucket::Day,
            "week" => Bucket::Week,
            "month" => Bucket::Month,
            "quarter" => Bucket::Quarter,
            "year" => Bucket::Year,
            _ => return None,
        })
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
            Bucket::Quarter => "quarter",
            Bucket::Year => "year",
        }
    }

    /// Start date of the bucket holding `day`.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        let first_of = |month: u32| NaiveDate::from_ymd_opt(day.year(), month, 1).expect("valid");
        match self {
            Bucket::Day => day,
            Bucket::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Bucket::Month => first_of(day.month()),
            Bucket::Quarter => first_of((day.month() - 1) / 3 * 3 + 1),
            Bucket::Year => first_of(1),
        }
    }

    /// Start of the bucket after the one starting at `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Bucket::Day => start + Days::new(1),
            Bucket::Week => start + Days::new(7),
            Bucket::Month => start + Months::new(1),
            Bucket::Quarter => start + Months::new(3),
            Bucket::Year => start + Months::new(12),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn bucket_starts() {
        // 2024-12-30 is the Monday of ISO week 2025-W01.
        assert_eq!(Bucket::Week.start(d("2025-01-01")), d("2024-12-30"));
        assert_eq!(Bucket::Week.start(d("2024-12-29")), d("2024-12-23"));
        assert_eq!(Bucket::Quarter.start(d("2024-06-30")), d("2024-04-01"));
        assert_eq!(Bucket::Quarter.start(d("2024-07-01")), d("2024-07-01"));
        assert_eq!(Bucket::Month.next(d("2024-01-01")), d("2024-02-01"));
        assert_eq!(Bucket::Year.start(d("2024-12-31")), d("2024-01-01"));
    }
}
