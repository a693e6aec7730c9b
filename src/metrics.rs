//! Prometheus metrics of the operator, in the text exposition format. Labels are reasons and
//! results only — never names of secrets, let alone values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::api::Reason;

/// Counters and a latency histogram of reconciles.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// reason ("" for success) → count.
    reconciles: BTreeMap<&'static str, u64>,
    /// Upper bounds (seconds) → cumulative count, plus sum and count.
    latency_buckets: [u64; BUCKETS.len()],
    latency_sum: f64,
    latency_count: u64,
}

const BUCKETS: [f64; 9] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Metrics {
    /// Records one ExternalSecret sync.
    pub fn observe_reconcile(&self, failure: Option<Reason>, took: Duration) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.reconciles
            .entry(failure.map_or("", Reason::as_str))
            .or_default() += 1;
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                m.latency_buckets[i] += 1;
            }
        }
        m.latency_sum += secs;
        m.latency_count += 1;
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let m = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        out.push_str("# HELP stagesync_syncs_total ExternalSecret syncs by result and reason.\n");
        out.push_str("# TYPE stagesync_syncs_total counter\n");
        for (reason, n) in &m.reconciles {
            let result = if reason.is_empty() {
                "success"
            } else {
                "error"
            };
            let _ = writeln!(
                out,
                "stagesync_syncs_total{{result=\"{result}\",reason=\"{reason}\"}} {n}"
            );
        }
        out.push_str("# HELP stagesync_sync_duration_seconds Duration of ExternalSecret syncs.\n");
        out.push_str("# TYPE stagesync_sync_duration_seconds histogram\n");
        for (bound, n) in BUCKETS.iter().zip(m.latency_buckets) {
            let _ = writeln!(
                out,
                "stagesync_sync_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "stagesync_sync_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            m.latency_count
        );
        let _ = writeln!(out, "stagesync_sync_duration_seconds_sum {}", m.latency_sum);
        let _ = writeln!(
            out,
            "stagesync_sync_duration_seconds_count {}",
            m.latency_count
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_result_and_reason() {
        let m = Metrics::default();
        m.observe_reconcile(None, Duration::from_millis(20));
        m.observe_reconcile(Some(Reason::AccessDenied), Duration::from_secs(3));
        let text = m.render();
        assert!(
            text.contains("stagesync_syncs_total{result=\"success\",reason=\"\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("stagesync_syncs_total{result=\"error\",reason=\"AccessDenied\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("stagesync_sync_duration_seconds_bucket{le=\"0.05\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("stagesync_sync_duration_seconds_bucket{le=\"5\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("stagesync_sync_duration_seconds_count 2"),
            "{text}"
        );
    }
}
