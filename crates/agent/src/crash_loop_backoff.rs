//! The kubelet's per-container back-off (`flowcontrol.Backoff`), used for CrashLoopBackOff
//! and ImagePullBackOff: the first retry is immediate, then the delay starts at the base
//! (10 s) and doubles up to the cap (300 s); an entry not updated for twice the cap (a
//! container that ran 10 minutes) starts over from the base.
//!
//! It only answers "may this restart happen now?" and formats delays as Go does
//! (`10s`, `1m20s`, `5m0s`); it never starts anything itself.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;

#[derive(Debug, Clone, Copy)]
struct Entry {
    delay: Duration,
    last_update: Timestamp,
}

/// Back-off entries keyed by `<pod uid>/<container name>`.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max: max.max(base), entries: Mutex::new(HashMap::new()) }
    }

    pub fn key(pod_uid: &str, container: &str) -> String {
        format!("{pod_uid}/{container}")
    }

    fn expired(&self, at: Timestamp, entry: &Entry) -> bool {
        let since = at.duration_since(entry.last_update);
        since.is_positive() && since.unsigned_abs() > self.max * 2
    }

    /// While the key is in back-off since `since` (the container's exit), the current delay
    /// and what remains of it.
    pub fn in_backoff_since(&self, key: &str, since: Timestamp, now: Timestamp) -> Option<(Duration, Duration)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        if self.expired(now, entry) {
            return None;
        }
        let elapsed = now.duration_since(since);
        let elapsed = if elapsed.is_negative() { Duration::ZERO } else { elapsed.unsigned_abs() };
        (elapsed < entry.delay).then(|| (entry.delay, entry.delay - elapsed))
    }

    /// While the key is in back-off since its last update (image pulls: since the last failed
    /// pull), the current delay and what remains of it.
    pub fn in_backoff_since_update(&self, key: &str, now: Timestamp) -> Option<(Duration, Duration)> {
        let last_update = self.entries.lock().unwrap_or_else(PoisonError::into_inner).get(key)?.last_update;
        self.in_backoff_since(key, last_update, now)
    }

    /// Records a retry at `at`: the next failure waits the base delay, or twice the previous
    /// delay (capped), or the base again when the entry went stale.
    pub fn next(&self, key: &str, at: Timestamp) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let delay = match entries.get(key) {
            Some(entry) if !self.expired(at, entry) => (entry.delay * 2).min(self.max),
            _ => self.base,
        };
        entries.insert(key.to_string(), Entry { delay, last_update: at });
    }

    /// The current delay of a key, if any.
    pub fn delay(&self, key: &str) -> Option<Duration> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).get(key).map(|e| e.delay)
    }

    /// Forgets a pod's entries (the pod is gone).
    pub fn forget_pod(&self, pod_uid: &str) {
        let prefix = format!("{pod_uid}/");
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).retain(|key, _| !key.starts_with(&prefix));
    }
}

/// A duration as Go's `time.Duration.String()` prints it (`200ms`, `10s`, `1m20s`, `5m0s`,
/// `1.5s`), which is how the kubelet writes back-off delays into messages.
pub fn go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_fraction(nanos, 1_000_000));
    }
    let total_seconds = duration.as_secs();
    let hours = total_seconds / 3600;
    let minutes = (total_seconds % 3600) / 60;
    let seconds_nanos = nanos - u128::from(hours * 3600 + minutes * 60) * 1_000_000_000;
    let seconds = format!("{}s", trim_fraction(seconds_nanos, 1_000_000_000));
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// `value / unit` with the fraction's trailing zeros trimmed (`1500, 1000` → `1.5`).
fn trim_fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let fraction = value % unit;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).expect("timestamp")
    }

    #[test]
    fn first_retry_is_immediate_then_doubles_to_the_cap() {
        let backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(300));
        let key = Backoff::key("uid", "web");
        // Never failed before: no back-off.
        assert_eq!(backoff.in_backoff_since(&key, at(0), at(0)), None);
        backoff.next(&key, at(0));
        // Exited again at 1 s: wait 10 s from the exit.
        assert_eq!(
            backoff.in_backoff_since(&key, at(1), at(5)),
            Some((Duration::from_secs(10), Duration::from_secs(6)))
        );
        assert_eq!(backoff.in_backoff_since(&key, at(1), at(11)), None);
        let mut delays = vec![];
        for i in 0..7 {
            backoff.next(&key, at(20 + i));
            delays.push(backoff.delay(&key).map(|d| d.as_secs()));
        }
        assert_eq!(delays, [20, 40, 80, 160, 300, 300, 300].map(Some));
    }

    #[test]
    fn resets_after_twice_the_cap() {
        let backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(300));
        let key = Backoff::key("uid", "web");
        backoff.next(&key, at(0));
        backoff.next(&key, at(10));
        assert_eq!(backoff.delay(&key), Some(Duration::from_secs(20)));
        // Ran for more than 10 minutes: back to the base, and no back-off now.
        assert_eq!(backoff.in_backoff_since(&key, at(700), at(700)), None);
        backoff.next(&key, at(700));
        assert_eq!(backoff.delay(&key), Some(Duration::from_secs(10)));
        backoff.forget_pod("uid");
        assert_eq!(backoff.delay(&key), None);
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(go_duration(Duration::from_millis(1600)), "1.6s");
        assert_eq!(go_duration(Duration::from_secs(3725)), "1h2m5s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }
}
