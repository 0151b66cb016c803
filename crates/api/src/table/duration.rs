//! Go's `k8s.io/apimachinery/pkg/util/duration`: `HumanDuration` (the AGE cells) and
//! `ShortHumanDuration`, reproduced exactly, including the tolerance for clock skew (`-1s`
//! still prints `0s`; anything earlier prints `<invalid>`).
//!
//! Both take a [`jiff::SignedDuration`], because ages computed as `now - timestamp` can be
//! negative when clocks disagree. Owns formatting only; it never reads a clock.

use jiff::SignedDuration;

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY_HOURS: i64 = 24;
const YEAR_HOURS: i64 = 24 * 365;

/// Whole seconds of `d`, truncated toward zero as Go's `int(d.Seconds())` does.
fn whole_seconds(d: SignedDuration) -> i64 {
    d.as_secs()
}

/// `duration.ShortHumanDuration`: one unit only (`45s`, `3m`, `5h`, `12d`, `2y`).
pub fn short_human_duration(d: SignedDuration) -> String {
    let seconds = whole_seconds(d);
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 {
        return format!("{seconds}s");
    }
    let minutes = seconds / MINUTE;
    if minutes < 60 {
        return format!("{minutes}m");
    }
    let hours = seconds / HOUR;
    if hours < DAY_HOURS {
        return format!("{hours}h");
    }
    if hours < YEAR_HOURS {
        return format!("{}d", hours / DAY_HOURS);
    }
    format!("{}y", hours / YEAR_HOURS)
}

/// `duration.HumanDuration`: about two significant figures (`90s`, `5m30s`, `47m`, `3h15m`,
/// `20h`, `3d4h`, `45d`, `2y30d`, `9y`).
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = whole_seconds(d);
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 2 * MINUTE {
        return format!("{seconds}s");
    }
    let minutes = seconds / MINUTE;
    if minutes < 10 {
        let s = seconds % MINUTE;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 3 * 60 {
        return format!("{minutes}m");
    }
    let hours = seconds / HOUR;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < DAY_HOURS * 8 {
        let h = hours % DAY_HOURS;
        if h == 0 {
            return format!("{}d", hours / DAY_HOURS);
        }
        return format!("{}d{}h", hours / DAY_HOURS, h);
    }
    if hours < YEAR_HOURS * 2 {
        return format!("{}d", hours / DAY_HOURS);
    }
    if hours < YEAR_HOURS * 8 {
        let dy = (hours / DAY_HOURS) % 365;
        if dy == 0 {
            return format!("{}y", hours / YEAR_HOURS);
        }
        return format!("{}y{}d", hours / YEAR_HOURS, dy);
    }
    format!("{}y", hours / YEAR_HOURS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    #[test]
    fn human_duration_boundaries() {
        let h = 3600;
        let d = 24 * h;
        let cases: &[(SignedDuration, &str)] = &[
            (SignedDuration::from_millis(-2500), "<invalid>"),
            (secs(-2), "<invalid>"),
            (SignedDuration::from_millis(-1999), "0s"),
            (secs(-1), "0s"),
            (SignedDuration::from_millis(-500), "0s"),
            (secs(0), "0s"),
            (SignedDuration::from_millis(1999), "1s"),
            (secs(59), "59s"),
            (secs(60), "60s"),
            (secs(119), "119s"),
            (secs(120), "2m"),
            (secs(121), "2m1s"),
            (secs(9 * 60 + 59), "9m59s"),
            (secs(10 * 60), "10m"),
            (secs(10 * 60 + 59), "10m"),
            (secs(3 * h - 1), "179m"),
            (secs(3 * h), "3h"),
            (secs(3 * h + 60), "3h1m"),
            (secs(8 * h - 1), "7h59m"),
            (secs(8 * h), "8h"),
            (secs(48 * h - 1), "47h"),
            (secs(48 * h), "2d"),
            (secs(48 * h + h), "2d1h"),
            (secs(8 * d - 1), "7d23h"),
            (secs(8 * d), "8d"),
            (secs(2 * 365 * d - 1), "729d"),
            (secs(2 * 365 * d), "2y"),
            (secs(2 * 365 * d + d), "2y1d"),
            (secs(8 * 365 * d - 1), "7y364d"),
            (secs(8 * 365 * d), "8y"),
            (secs(10 * 365 * d + 100 * d), "10y"),
        ];
        for (input, want) in cases {
            assert_eq!(human_duration(*input), *want, "human_duration({input:?})");
        }
    }

    #[test]
    fn short_human_duration_boundaries() {
        let h = 3600;
        let d = 24 * h;
        let cases: &[(SignedDuration, &str)] = &[
            (secs(-2), "<invalid>"),
            (secs(-1), "0s"),
            (secs(0), "0s"),
            (secs(59), "59s"),
            (secs(60), "1m"),
            (secs(h - 1), "59m"),
            (secs(h), "1h"),
            (secs(d - 1), "23h"),
            (secs(d), "1d"),
            (secs(365 * d - 1), "364d"),
            (secs(365 * d), "1y"),
            (secs(3 * 365 * d + 200 * d), "3y"),
        ];
        for (input, want) in cases {
            assert_eq!(short_human_duration(*input), *want, "short_human_duration({input:?})");
        }
    }
}
