//! `/metrics` in the Prometheus text format: request counts and latencies by verb, resource
//! and code, open watches by resource, and the store revision.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
    pub resource: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub verb: String,
    pub resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    pub resource: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latencies: Family<LatencyLabels, Histogram>,
    watchers: Family<WatchLabels, Gauge>,
    store_revision: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latencies = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let watchers = Family::<WatchLabels, Gauge>::default();
        let store_revision = Gauge::<i64, AtomicI64>::default();
        registry.register("apiserver_request", "Requests by verb, resource and HTTP code", requests.clone());
        registry.register(
            "apiserver_request_duration_seconds",
            "Request latency by verb and resource (watches: until the stream is set up)",
            latencies.clone(),
        );
        registry.register("apiserver_registered_watchers", "Open watches by resource", watchers.clone());
        registry.register("peapod_store_revision", "The latest store revision", store_revision.clone());
        Metrics { registry, requests, latencies, watchers, store_revision }
    }

    pub fn observe_request(&self, verb: &str, resource: &str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { verb: verb.into(), resource: resource.into(), code: code.to_string() })
            .inc();
        self.latencies.get_or_create(&LatencyLabels { verb: verb.into(), resource: resource.into() }).observe(seconds);
    }

    /// Counts an open watch until the returned guard is dropped.
    pub fn watch_started(&self, resource: &str) -> WatchGuard {
        let gauge = self.watchers.get_or_create(&WatchLabels { resource: resource.into() }).clone();
        gauge.inc();
        WatchGuard { gauge }
    }

    pub fn set_store_revision(&self, revision: i64) {
        self.store_revision.set(revision);
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

pub struct WatchGuard {
    gauge: Gauge,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}
