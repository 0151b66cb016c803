//! Summaries of latency samples (nearest-rank percentiles) and the formatting of durations
//! and sizes for the report. Pure functions; nothing here measures.

use std::time::Duration;

/// p50, p99 and max of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    /// `None` for an empty set: a percentile of nothing is not zero.
    pub fn of(samples: &mut [Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        Some(Summary {
            count: samples.len(),
            p50: percentile(samples, 50.0),
            p99: percentile(samples, 99.0),
            max: samples[samples.len() - 1],
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of a handful of runs (the lower middle one for an even count).
pub fn median(samples: &mut [Duration]) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    Some(samples[(samples.len() - 1) / 2])
}

/// `0.84 ms`, `12.3 ms`, `1.52 s`: three significant digits, unit picked for readability.
pub fn duration(value: Duration) -> String {
    let millis = value.as_secs_f64() * 1000.0;
    if millis < 1.0 {
        format!("{millis:.2} ms")
    } else if millis < 100.0 {
        format!("{millis:.1} ms")
    } else if millis < 1000.0 {
        format!("{millis:.0} ms")
    } else {
        format!("{:.2} s", millis / 1000.0)
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let summary = Summary::of(&mut samples).expect("non-empty");
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.max, Duration::from_millis(100));

        let mut one = ms(&[7]);
        let summary = Summary::of(&mut one).expect("non-empty");
        assert_eq!((summary.p50, summary.p99, summary.max), (one[0], one[0], one[0]));
        assert_eq!(Summary::of(&mut []), None);
    }

    #[test]
    fn median_of_runs() {
        assert_eq!(median(&mut ms(&[5, 1, 3])), Some(Duration::from_millis(3)));
        assert_eq!(median(&mut ms(&[4, 1, 3, 2])), Some(Duration::from_millis(2)));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(duration(Duration::from_micros(840)), "0.84 ms");
        assert_eq!(duration(Duration::from_micros(12_340)), "12.3 ms");
        assert_eq!(duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(duration(Duration::from_millis(1520)), "1.52 s");
        assert_eq!(mib(40 * 1024), "40.0 MiB");
    }
}
