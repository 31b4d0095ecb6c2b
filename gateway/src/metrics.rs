//! The gateway's Prometheus metrics: requests by Uyuni method and result, their latency, and
//! the nodes missing from answers (docs/OPERATIONS.md#metrics). The peer's `/metrics` adds
//! them to its registry ([`GatewayMetrics::register`]). A method label is a method of
//! Uyuni's catalogue or `unknown`: clients cannot grow the label set.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `method` and `result` (`ok` or `fault`) of one answered call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The Uyuni method (`unknown` outside the catalogue).
    pub method: String,
    /// `ok` or `fault`.
    pub result: &'static str,
}

/// `method` only.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    /// The Uyuni method (`unknown` outside the catalogue).
    pub method: String,
}

type Latency = Family<MethodLabel, Histogram, fn() -> Histogram>;

/// The gateway's metrics.
#[derive(Debug)]
pub struct GatewayMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Latency,
    node_faults: Counter,
    partial: Family<MethodLabel, Counter>,
    streams_cut: Counter,
}

/// 1 ms to ~33 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

static METRICS: LazyLock<GatewayMetrics> = LazyLock::new(|| GatewayMetrics {
    requests: Family::default(),
    duration: Family::new_with_constructor(latency_histogram),
    node_faults: Counter::default(),
    partial: Family::default(),
    streams_cut: Counter::default(),
});

/// The process's gateway metrics.
pub fn metrics() -> &'static GatewayMetrics {
    &METRICS
}

/// The label for `method`: itself when Uyuni's catalogue knows it, else `unknown`.
pub fn method_label(method: &str) -> String {
    if uyuni_api::catalogue::known(method) {
        method.to_string()
    } else {
        "unknown".to_string()
    }
}

impl GatewayMetrics {
    /// Record one answered call: its method, whether it was a fault, how long it took and how
    /// many nodes were missing from it. An answer given without some nodes (partial) is
    /// counted by method (the shell logs it too: never silent).
    pub fn observe(&self, method: &str, ok: bool, took: Duration, missing_nodes: usize) {
        let method = method_label(method);
        if ok && missing_nodes > 0 {
            self.partial
                .get_or_create(&MethodLabel {
                    method: method.clone(),
                })
                .inc();
        }
        self.requests
            .get_or_create(&RequestLabels {
                method: method.clone(),
                result: if ok { "ok" } else { "fault" },
            })
            .inc();
        self.duration
            .get_or_create(&MethodLabel { method })
            .observe(took.as_secs_f64());
        self.node_faults.inc_by(missing_nodes as u64);
    }

    /// Count a streamed merged answer cut off because a node failed after it had begun.
    pub fn stream_cut(&self) {
        self.streams_cut.inc();
    }

    /// Add the gateway's metrics to `reg` (clones share the values).
    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "gateway_requests",
            "Uyuni API calls answered by the gateway, by method and result",
            self.requests.clone(),
        );
        reg.register(
            "gateway_request_duration_seconds",
            "Time the gateway took to answer a Uyuni API call, by method",
            self.duration.clone(),
        );
        reg.register(
            "gateway_node_faults",
            "Nodes missing from gateway answers (no answer in time, or an error)",
            self.node_faults.clone(),
        );
        reg.register(
            "gateway_partial_answers",
            "Gateway answers given without some nodes' part (partial policy), by method",
            self.partial.clone(),
        );
        reg.register(
            "gateway_streams_cut",
            "Streamed merged answers cut off because a node failed after the answer had begun",
            self.streams_cut.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("no.such.method"), "unknown");
        assert_eq!(method_label("system.listSystems"), "system.listSystems");
    }

    #[test]
    fn observed_calls_show_by_method_and_result() {
        let m = GatewayMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            node_faults: Counter::default(),
            partial: Family::default(),
            streams_cut: Counter::default(),
        };
        m.observe("system.listSystems", true, Duration::from_millis(3), 1);
        m.observe("x.y", false, Duration::from_millis(3), 0);
        let mut reg = Registry::with_prefix("uyuni_cluster");
        m.register(&mut reg);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).expect("encode");
        assert!(
            text.contains(
                "uyuni_cluster_gateway_requests_total{method=\"system.listSystems\",result=\"ok\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "uyuni_cluster_gateway_requests_total{method=\"unknown\",result=\"fault\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("uyuni_cluster_gateway_node_faults_total 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "uyuni_cluster_gateway_partial_answers_total{method=\"system.listSystems\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("uyuni_cluster_gateway_request_duration_seconds_count{method=\"system.listSystems\"} 1"),
            "{text}"
        );
    }
}
