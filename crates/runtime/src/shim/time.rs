//! RFC 3339 timestamps in UTC, written into caller-owned buffers so that the log copier
//! formats one per line without allocating. It owns nothing else; parsing is the reader's.

use std::time::{SystemTime, UNIX_EPOCH};

/// Appends `t` as RFC 3339 in UTC with nanoseconds. With `trim` the fraction is written the
/// way Go's `time.RFC3339Nano` does (trailing zeros dropped, no dot when zero), which is the
/// CRI log timestamp containerd writes; without it, always nine digits.
pub(crate) fn append_rfc3339(out: &mut Vec<u8>, t: SystemTime, trim: bool) {
    // Times before 1970 cannot occur for "now"; clamp rather than fail.
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    push_num(out, year as u64, 4);
    out.push(b'-');
    push_num(out, month as u64, 2);
    out.push(b'-');
    push_num(out, day as u64, 2);
    out.push(b'T');
    push_num(out, rem / 3600, 2);
    out.push(b':');
    push_num(out, (rem / 60) % 60, 2);
    out.push(b':');
    push_num(out, rem % 60, 2);
    let mut digits = 9;
    let mut frac = nanos;
    if trim {
        while digits > 0 && frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
    }
    if digits > 0 {
        out.push(b'.');
        push_num(out, frac as u64, digits);
    }
    out.push(b'Z');
}

/// `t` as RFC 3339 with nine fraction digits (the container state timestamps).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let mut out = Vec::with_capacity(30);
    append_rfc3339(&mut out, t, false);
    // Only ASCII digits and separators were written.
    String::from_utf8_lossy(&out).into_owned()
}

/// Zero-padded decimal of `v` in exactly `width` digits (higher digits are dropped, which
/// cannot happen for the fields above before the year 10000).
fn push_num(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for i in (0..width).rev() {
        out[start + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fmt(secs: u64, nanos: u32, trim: bool) -> String {
        let mut out = Vec::new();
        append_rfc3339(&mut out, UNIX_EPOCH + Duration::new(secs, nanos), trim);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_like_go_rfc3339nano() {
        // The example of the CRI log format design document.
        assert_eq!(fmt(1_475_713_029, 669_794_202, true), "2016-10-06T00:17:09.669794202Z");
        assert_eq!(fmt(1_475_713_029, 669_794_200, true), "2016-10-06T00:17:09.6697942Z");
        assert_eq!(fmt(1_475_713_029, 0, true), "2016-10-06T00:17:09Z");
        assert_eq!(fmt(0, 0, false), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(fmt(951_782_400, 5, false), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(fmt(4_102_444_799, 999_999_999, true), "2099-12-31T23:59:59.999999999Z");
    }
}
