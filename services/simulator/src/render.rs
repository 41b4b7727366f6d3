//! Hot-path JSON rendering: events are written straight into a reusable byte buffer, with
//! timestamps and ids formatted by hand (no `serde_json::Value`, no `format!`).

use bytes::{BufMut, BytesMut};

/// Seconds of the UTC+7 local offset.
pub(crate) const LOCAL_OFFSET_SECS: i64 = 7 * 3600;
const SECS_PER_DAY: i64 = 86_400;

/// 64-bit mixing function (SplitMix64 finaliser): the basis of ids and per-event decisions.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A deterministic UUID-shaped id (version 8, "custom") for `seed` and `key`.
pub(crate) fn event_id(seed: u64, key: u64) -> String {
    let hi = mix(seed ^ mix(key));
    let lo = mix(hi ^ key.rotate_left(17) ^ 0x5041_5257);
    let hi = (hi & !0xf000) | 0x8000; // version nibble
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    let mut out = String::with_capacity(36);
    let groups = [
        (hi >> 32, 8),
        ((hi >> 16) & 0xffff, 4),
        (hi & 0xffff, 4),
        (lo >> 48, 4),
        (lo & 0xffff_ffff_ffff, 12),
    ];
    for (i, (value, width)) in groups.into_iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        for shift in (0..width).rev() {
            let nibble = ((value >> (shift * 4)) & 0xf) as usize;
            out.push(char::from(b"0123456789abcdef"[nibble]));
        }
    }
    out
}

/// (year, month, day) of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn put_digits(buf: &mut BytesMut, value: i64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut v = value.unsigned_abs();
    for slot in digits[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    buf.put_slice(&digits[..width]);
}

/// Writes `unix_secs` as local RFC 3339 text: `2024-03-05T09:15:00+07:00`.
pub(crate) fn put_timestamp(buf: &mut BytesMut, unix_secs: i64) {
    let local = unix_secs + LOCAL_OFFSET_SECS;
    let (year, month, day) = civil_from_days(local.div_euclid(SECS_PER_DAY));
    let secs = local.rem_euclid(SECS_PER_DAY);
    put_digits(buf, year, 4);
    buf.put_u8(b'-');
    put_digits(buf, i64::from(month), 2);
    buf.put_u8(b'-');
    put_digits(buf, i64::from(day), 2);
    buf.put_u8(b'T');
    put_digits(buf, secs / 3600, 2);
    buf.put_u8(b':');
    put_digits(buf, secs / 60 % 60, 2);
    buf.put_u8(b':');
    put_digits(buf, secs % 60, 2);
    buf.put_slice(b"+07:00");
}

/// Writes a `yymmdd` date key and a 4-digit (or longer) counter: `240305-0001`.
pub(crate) fn put_dossier_suffix(buf: &mut BytesMut, local_day: i64, number: u32) {
    let (year, month, day) = civil_from_days(local_day);
    buf.put_u8(b'-');
    put_digits(buf, year % 100, 2);
    put_digits(buf, i64::from(month), 2);
    put_digits(buf, i64::from(day), 2);
    buf.put_u8(b'-');
    let width = if number < 10_000 { 4 } else { 8 };
    put_digits(buf, i64::from(number), width);
}

/// Writes an unsigned integer without padding.
pub(crate) fn put_uint(buf: &mut BytesMut, value: u32) {
    let width = value.max(1).ilog10() as usize + 1;
    put_digits(buf, i64::from(value), width);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn timestamps_match_chrono() {
        for secs in [0, 1_709_605_500, 1_719_792_000 - 1, 1_893_456_000 + 12_345] {
            let mut buf = BytesMut::new();
            put_timestamp(&mut buf, secs);
            let text = std::str::from_utf8(&buf).unwrap();
            let parsed = DateTime::parse_from_rfc3339(text).unwrap();
            assert_eq!(parsed.timestamp(), secs, "{text}");
            assert_eq!(parsed.offset(), &parwatch_proto::local_offset());
        }
    }

    #[test]
    fn ids_are_uuid_shaped_and_distinct() {
        let a = event_id(1, 2);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
        assert_eq!(a.matches('-').count(), 4);
        assert_ne!(a, event_id(1, 3));
        assert_ne!(a, event_id(2, 2));
        assert_eq!(a, event_id(1, 2));
    }

    #[test]
    fn dossier_suffix_and_uints() {
        let mut buf = BytesMut::new();
        put_dossier_suffix(&mut buf, 19_787, 7); // 2024-03-05
        put_uint(&mut buf, 0);
        put_uint(&mut buf, 120);
        assert_eq!(&buf[..], b"-240305-00070120");
    }
}
