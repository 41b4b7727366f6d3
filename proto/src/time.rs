//! Local time of the reform's calendar: Asia/Ho_Chi_Minh is UTC+7 all year (no daylight saving
//! since 1975), so a fixed offset is exact and needs no time zone database.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// IANA name of the local time zone every bucket and partition uses.
pub const LOCAL_TZ_NAME: &str = "Asia/Ho_Chi_Minh";

const LOCAL_OFFSET_SECONDS: i32 = 7 * 3600;

/// The fixed UTC+7 offset of Asia/Ho_Chi_Minh.
pub fn local_offset() -> FixedOffset {
    FixedOffset::east_opt(LOCAL_OFFSET_SECONDS).expect("UTC+7 is a valid offset")
}

/// The local (Asia/Ho_Chi_Minh) calendar date of an instant.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&local_offset()).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evening_utc_is_next_local_day() {
        let at = DateTime::parse_from_rfc3339("2024-03-31T18:30:00Z").unwrap();
        assert_eq!(
            local_date(at.to_utc()),
            NaiveDate::from_ymd_opt(2024, 4, 1).unwrap()
        );
        let before = DateTime::parse_from_rfc3339("2024-03-31T16:59:59Z").unwrap();
        assert_eq!(
            local_date(before.to_utc()),
            NaiveDate::from_ymd_opt(2024, 3, 31).unwrap()
        );
    }
}
