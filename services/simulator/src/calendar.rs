//! The civil-service calendar: working days, office hours and Vietnam's public holidays, and the
//! appointment date (ngày hẹn trả) of a dossier.
//!
//! Lunar holidays (Tết Nguyên Đán, Giỗ Tổ Hùng Vương) have no closed formula: their Gregorian dates
//! and the official Tết day-off spans are data, hard-coded per year for 2019–2027. Other years get
//! only the solar holidays.

use chrono::{Datelike, NaiveDate, Weekday};

/// Office hours open at 07:30 local time, in seconds after local midnight.
pub const OFFICE_OPENS: i64 = 7 * 3600 + 30 * 60;
/// Office hours close at 17:00 local time, in seconds after local midnight; appointments are due
/// at this time of their day.
pub const OFFICE_CLOSES: i64 = 17 * 3600;

/// A date as (year, month, day), for calendar data.
type Ymd = (i32, u32, u32);

/// The Tết day-off span per year: (first day off, last day off), both inclusive, as decided by
/// the government for civil servants; the lunar new year's day falls inside it.
const TET_SPANS: [(Ymd, Ymd); 9] = [
    ((2019, 2, 2), (2019, 2, 10)),  // lunar new year 2019-02-05
    ((2020, 1, 23), (2020, 1, 29)), // 2020-01-25
    ((2021, 2, 10), (2021, 2, 16)), // 2021-02-12
    ((2022, 1, 29), (2022, 2, 6)),  // 2022-02-01
    ((2023, 1, 20), (2023, 1, 26)), // 2023-01-22
    ((2024, 2, 8), (2024, 2, 14)),  // 2024-02-10
    ((2025, 1, 25), (2025, 2, 2)),  // 2025-01-29
    ((2026, 2, 14), (2026, 2, 22)), // 2026-02-17
    ((2027, 2, 4), (2027, 2, 10)),  // 2027-02-06 (span estimated)
];

/// Giỗ Tổ Hùng Vương (10th day of the 3rd lunar month) per year.
const HUNG_KINGS: [Ymd; 9] = [
    (2019, 4, 14),
    (2020, 4, 2),
    (2021, 4, 21),
    (2022, 4, 10),
    (2023, 4, 29),
    (2024, 4, 18),
    (2025, 4, 7),
    (2026, 4, 26),
    (2027, 4, 16),
];

/// The second National Day holiday (since 2021 the holiday is 2/9 plus the day before or after).
const NATIONAL_DAY_EXTRA: [Ymd; 7] = [
    (2021, 9, 3),
    (2022, 9, 1),
    (2023, 9, 1),
    (2024, 9, 3),
    (2025, 9, 1),
    (2026, 9, 1),
    (2027, 9, 3),
];

/// First and last year the calendar holds holidays for; outside, only weekends are days off.
const FIRST_YEAR: i32 = 2015;
const LAST_YEAR: i32 = 2035;

/// Working days and holidays, precomputed as one bit per day for fast lookups.
#[derive(Debug, Clone)]
pub struct Calendar {
    first_day: i32,
    holidays: Vec<bool>,
}

impl Default for Calendar {
    fn default() -> Self {
        Self::new()
    }
}

fn ymd((y, m, d): Ymd) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("calendar data holds valid dates")
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

impl Calendar {
    /// Builds the calendar of public holidays 2015–2035 (lunar ones for 2019–2027).
    pub fn new() -> Self {
        let first = ymd((FIRST_YEAR, 1, 1));
        let last = ymd((LAST_YEAR, 12, 31));
        let mut calendar = Calendar {
            first_day: first.num_days_from_ce(),
            holidays: vec![
                false;
                (last.num_days_from_ce() - first.num_days_from_ce() + 1) as usize
            ],
        };
        // Single-day holidays move to the next working day when they fall on a weekend.
        let mut single: Vec<NaiveDate> = HUNG_KINGS.iter().copied().map(ymd).collect();
        single.extend(NATIONAL_DAY_EXTRA.iter().copied().map(ymd));
        for year in FIRST_YEAR..=LAST_YEAR {
            single.extend([(year, 1, 1), (year, 4, 30), (year, 5, 1), (year, 9, 2)].map(ymd));
        }
        single.sort();
        single.dedup();
        for &day in &single {
            calendar.set(day);
        }
        for &day in &single {
            if is_weekend(day) {
                let mut substitute = day;
                while is_weekend(substitute) || calendar.is_holiday(substitute) {
                    substitute = substitute
                        .succ_opt()
                        .expect("calendar dates are far from the end");
                }
                calendar.set(substitute);
            }
        }
        for (from, to) in TET_SPANS {
            let mut day = ymd(from);
            while day <= ymd(to) {
                calendar.set(day);
                day = day.succ_opt().expect("calendar dates are far from the end");
            }
        }
        calendar
    }

    fn index(&self, date: NaiveDate) -> Option<usize> {
        usize::try_from(date.num_days_from_ce() - self.first_day)
            .ok()
            .filter(|&i| i < self.holidays.len())
    }

    fn set(&mut self, date: NaiveDate) {
        if let Some(i) = self.index(date) {
            self.holidays[i] = true;
        }
    }

    /// Whether `date` is a public holiday (or a substitute day off for one).
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.index(date).is_some_and(|i| self.holidays[i])
    }

    /// Whether `date` is a working day: Monday to Friday and not a holiday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !is_weekend(date) && !self.is_holiday(date)
    }

    /// The `n`-th working day after `date` (`date` itself does not count, even if it is one).
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let mut day = date;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().expect("dates stay far from chrono's limits");
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// The working day on or after `date`.
    pub fn working_day_on_or_after(&self, date: NaiveDate) -> NaiveDate {
        if self.is_working_day(date) {
            date
        } else {
            self.add_working_days(date, 1)
        }
    }

    /// Whether `date` falls in the week after a Tết holiday, when offices restart slowly.
    pub(crate) fn is_after_tet(&self, date: NaiveDate) -> bool {
        TET_SPANS.iter().any(|&(_, to)| {
            let days = (date - ymd(to)).num_days();
            (1..=7).contains(&days)
        })
    }

    /// Whether `date` falls in the two weeks before a Tết holiday, when filings rush in.
    pub(crate) fn is_before_tet(&self, date: NaiveDate) -> bool {
        TET_SPANS.iter().any(|&(from, _)| {
            let days = (ymd(from) - date).num_days();
            (1..=14).contains(&days)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        ymd((y, m, day))
    }

    #[test]
    fn tet_and_solar_holidays_are_days_off() {
        let cal = Calendar::new();
        for day in [
            d(2024, 2, 10),
            d(2024, 2, 12),
            d(2024, 4, 30),
            d(2024, 5, 1),
            d(2024, 9, 2),
        ] {
            assert!(!cal.is_working_day(day), "{day}");
        }
        assert!(cal.is_working_day(d(2024, 2, 15)));
        assert!(cal.is_working_day(d(2024, 3, 5)));
        // Hùng Kings' day 2022 was a Sunday: Monday 11 April was the day off.
        assert!(cal.is_holiday(d(2022, 4, 11)));
        // 2023: 29/4 (Sat, Hùng Kings), 30/4 (Sun), 1/5 → off until Wednesday 3 May.
        assert!(cal.is_holiday(d(2023, 5, 2)) && cal.is_holiday(d(2023, 5, 3)));
        assert!(cal.is_working_day(d(2023, 5, 4)));
    }

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let cal = Calendar::new();
        // Friday 2024-02-02 + 5 working days: 5, 6, 7 Feb, then Tết until 14 Feb, then 15, 16.
        assert_eq!(cal.add_working_days(d(2024, 2, 2), 5), d(2024, 2, 16));
        assert_eq!(cal.add_working_days(d(2024, 3, 1), 1), d(2024, 3, 4));
        assert_eq!(cal.working_day_on_or_after(d(2024, 4, 30)), d(2024, 5, 2));
        assert_eq!(cal.working_day_on_or_after(d(2024, 5, 2)), d(2024, 5, 2));
    }
}
