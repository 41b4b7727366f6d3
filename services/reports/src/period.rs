//! The period a report covers: a month, a quarter, a half-year or a year, written as the
//! reports name them (`2025-03`, `2025-Q1`, `2025-H1`, `2025`).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike as _, Months, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A calendar period of a periodic report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// One month (`2025-03`).
    Month(i32, u32),
    /// A quarter, 1 to 4 (`2025-Q1`).
    Quarter(i32, u32),
    /// A half-year, 1 or 2 (`2025-H1`).
    Half(i32, u32),
    /// A calendar year (`2025`).
    Year(i32),
}

impl Period {
    /// The year the period lies in.
    pub fn year(self) -> i32 {
        match self {
            Self::Month(y, _) | Self::Quarter(y, _) | Self::Half(y, _) | Self::Year(y) => y,
        }
    }

    /// First month (1–12) and number of months.
    fn months(self) -> (u32, u32) {
        match self {
            Self::Month(_, m) => (m, 1),
            Self::Quarter(_, q) => (3 * q - 2, 3),
            Self::Half(_, h) => (6 * h - 5, 6),
            Self::Year(_) => (1, 12),
        }
    }

    /// First day.
    pub fn from(self) -> NaiveDate {
        let (first, _) = self.months();
        NaiveDate::from_ymd_opt(self.year(), first, 1).expect("a checked period")
    }

    /// Last day.
    pub fn to(self) -> NaiveDate {
        let (_, count) = self.months();
        let next = self.from() + Months::new(count);
        next.pred_opt().expect("a checked period")
    }

    /// The first day of each month of the period.
    pub fn month_starts(self) -> Vec<NaiveDate> {
        let (_, count) = self.months();
        (0..count).map(|m| self.from() + Months::new(m)).collect()
    }

    /// The period's name in Vietnamese (`Quý I năm 2025`) and English (`Q1 2025`).
    pub fn label(self) -> (String, String) {
        const ROMAN: [&str; 4] = ["I", "II", "III", "IV"];
        match self {
            Self::Month(y, m) => (format!("tháng {m:02}/{y}"), format!("{y}-{m:02}")),
            Self::Quarter(y, q) => (
                format!("quý {} năm {y}", ROMAN[q as usize - 1]),
                format!("Q{q} {y}"),
            ),
            Self::Half(y, 1) => (format!("6 tháng đầu năm {y}"), format!("H1 {y}")),
            Self::Half(y, _) => (format!("6 tháng cuối năm {y}"), format!("H2 {y}")),
            Self::Year(y) => (format!("năm {y}"), format!("{y}")),
        }
    }
}

impl FromStr for Period {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || Error::BadPeriod(text.to_owned());
        let (year, rest) = text.split_at(text.find('-').unwrap_or(text.len()));
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        if !(2000..=2100).contains(&year) {
            return Err(bad());
        }
        let number = |digits: &str, max: u32| {
            digits
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n) && !digits.starts_with('+'))
                .ok_or_else(bad)
        };
        let period = match rest.strip_prefix('-') {
            None => Self::Year(year),
            Some(q) if q.starts_with('Q') => Self::Quarter(year, number(&q[1..], 4)?),
            Some(h) if h.starts_with('H') => Self::Half(year, number(&h[1..], 2)?),
            Some(m) if m.len() == 2 => Self::Month(year, number(m, 12)?),
            Some(_) => return Err(bad()),
        };
        debug_assert_eq!(period.from().year(), year);
        Ok(period)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Month(y, m) => write!(f, "{y}-{m:02}"),
            Self::Quarter(y, q) => write!(f, "{y}-Q{q}"),
            Self::Half(y, h) => write!(f, "{y}-H{h}"),
            Self::Year(y) => write!(f, "{y}"),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_and_span_their_months() {
        let cases = [
            ("2025-03", "2025-03-01", "2025-03-31", 1),
            ("2024-Q1", "2024-01-01", "2024-03-31", 3),
            ("2024-Q4", "2024-10-01", "2024-12-31", 3),
            ("2024-H2", "2024-07-01", "2024-12-31", 6),
            ("2024", "2024-01-01", "2024-12-31", 12),
            ("2024-02", "2024-02-01", "2024-02-29", 1),
        ];
        for (text, from, to, months) in cases {
            let p: Period = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
            assert_eq!(p.from().to_string(), from, "{text}");
            assert_eq!(p.to().to_string(), to, "{text}");
            assert_eq!(p.month_starts().len(), months, "{text}");
        }
        for bad in [
            "", "25", "2024-Q5", "2024-Q0", "2024-H3", "2024-13", "2024-1", "2024-q1", "1999",
            "2024-Q+1",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
        assert_eq!(
            "2025-Q3".parse::<Period>().unwrap().label().0,
            "quý III năm 2025"
        );
    }
}
