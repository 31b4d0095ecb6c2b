//! `GET /metrics`: the peer's Prometheus metrics (OpenMetrics text), open like `/health`
//! (docs/SECURITY.md: aggregate figures only, no names, fingerprints or addresses).
//!
//! Counters live where things happen ([`cluster_core::metrics`], [`gateway::metrics`]: atomic
//! adds); figures that exist already are read here at scrape time: membership by status and
//! the failure detector's phi, the store's sizes, content progress. Every metric is listed in
//! docs/OPERATIONS.md#metrics.

use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cluster_core::cluster_api::ClusterView;
use content_peer::api::ContentFigures;
use crdt_store::StoreStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Every metric's name starts with this (and `_`).
pub const PREFIX: &str = "uyuni_cluster";

/// The OpenMetrics text format's content type (asked for by Prometheus in `Accept`).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The classic Prometheus text format's (everyone else: `curl`, `promtool check metrics`).
const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the scrape reads.
#[derive(Debug, Clone)]
pub struct MetricsView {
    /// Membership, store, this peer.
    pub cluster: ClusterView,
    /// Content sync.
    pub content: content_peer::ContentCtx,
}

/// The route: `GET /metrics` (no authentication).
pub fn routes(view: MetricsView) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(view)
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

/// Membership as the scrape sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MemberFigures {
    /// Members (this peer included) that are alive, suspect, down, left.
    pub by_status: [u64; 4],
    /// Highest phi of the failure detector over the other members that are alive or suspect.
    pub phi_max: f64,
    /// Peers connected on the swarm.
    pub connected: u64,
}

const STATUSES: [&str; 4] = ["alive", "suspect", "down", "left"];

fn members(view: &ClusterView, now: Instant) -> MemberFigures {
    let mut f = MemberFigures {
        connected: view.net.connected().len() as u64,
        ..MemberFigures::default()
    };
    f.by_status[0] = 1; // this peer
    let table = view.members.lock();
    for m in table.members() {
        let status = m.status.as_str();
        if let Some(i) = STATUSES.iter().position(|s| *s == status) {
            f.by_status[i] += 1;
            if i < 2 {
                f.phi_max = f.phi_max.max(m.phi(now));
            }
        }
    }
    f
}

async fn scrape(State(v): State<MetricsView>, headers: axum::http::HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let store = v.cluster.store.clone();
    let stats = tokio::task::spawn_blocking(move || store.stats())
        .await
        .ok();
    let figures = members(&v.cluster, Instant::now());
    let content = content_peer::api::figures(&v.content);
    match render(&figures, stats.as_ref(), content.as_ref()) {
        Ok(text) if openmetrics => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Ok(text) => ([(header::CONTENT_TYPE, CLASSIC)], classic(&text)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the metrics failed: {e}"),
        )
            .into_response(),
    }
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: i64) {
    let g: Gauge = Gauge::default();
    g.set(v);
    reg.register(name, help, g);
}

fn counter(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter = Counter::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The whole exposition: the process's counters and the figures read now.
pub fn render(
    members: &MemberFigures,
    store: Option<&StoreStats>,
    content: Option<&ContentFigures>,
) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::with_prefix(PREFIX);
    cluster_core::metrics::metrics().register(&mut reg);
    gateway::metrics::metrics().register(&mut reg);

    let by_status: Family<StatusLabel, Gauge> = Family::default();
    for (status, n) in STATUSES.iter().zip(members.by_status) {
        by_status
            .get_or_create(&StatusLabel { status })
            .set(to_i64(n));
    }
    reg.register(
        "members",
        "Cluster members known to this peer (itself included), by status",
        by_status,
    );
    let phi: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    phi.set(members.phi_max);
    reg.register(
        "detector_phi_max",
        "Highest failure-detector phi over the other members that are alive or suspect",
        phi,
    );
    gauge(
        &mut reg,
        "connected_peers",
        "Peers connected on the libp2p swarm",
        to_i64(members.connected),
    );

    if let Some(s) = store {
        gauge(
            &mut reg,
            "store_records",
            "Records in the metastore",
            to_i64(s.records as u64),
        );
        gauge(
            &mut reg,
            "store_shards",
            "Shards of the metastore",
            i64::from(s.shard_count),
        );
        gauge(
            &mut reg,
            "store_damaged_shards",
            "Metastore shards waiting for peers after a corrupt snapshot",
            to_i64(s.damaged_shards.len() as u64),
        );
        gauge(
            &mut reg,
            "store_wal_bytes",
            "Bytes in the metastore's active WAL segment",
            to_i64(s.wal_bytes),
        );
        gauge(
            &mut reg,
            "store_writable",
            "1 while the metastore takes writes, 0 after a failed write or fsync",
            i64::from(s.write_failure.is_none()),
        );
    }

    if let Some(c) = content {
        gauge(
            &mut reg,
            "content_repos",
            "Content repositories whose manifest this node holds",
            to_i64(c.repos),
        );
        gauge(
            &mut reg,
            "content_repos_complete",
            "Content repositories complete on this node",
            to_i64(c.repos_complete),
        );
        gauge(
            &mut reg,
            "content_expected_bytes",
            "Bytes the held content manifests name",
            to_i64(c.bytes_expected),
        );
        gauge(
            &mut reg,
            "content_present_bytes",
            "Bytes present on this node of what the held manifests name",
            to_i64(c.bytes_present),
        );
        counter(
            &mut reg,
            "content_fetched_bytes",
            "Content payload bytes fetched from other nodes",
            c.fetched_bytes,
        );
        counter(
            &mut reg,
            "content_fetch_failures",
            "Content blob fetch attempts that failed",
            c.fetch_failures,
        );
        counter(
            &mut reg,
            "content_served_requests",
            "Content blob requests served to other nodes",
            c.served_requests,
        );
    }

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &reg)?;
    Ok(text)
}

/// OpenMetrics text as the classic Prometheus text format (0.0.4): a counter family's `HELP`
/// and `TYPE` name its `_total` sample, and there is no `# EOF` or `# UNIT`. The two differ in
/// nothing else for the metric types used here (counters, gauges, histograms).
pub fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((p, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let total = if counters.contains(name) {
                    "_total"
                } else {
                    ""
                };
                out.push_str(&format!("{p}{name}{total} {tail}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_rendered_with_the_prefix_and_no_names() {
        let members = MemberFigures {
            by_status: [3, 1, 0, 2],
            phi_max: 4.25,
            connected: 3,
        };
        let content = ContentFigures {
            repos: 2,
            repos_complete: 1,
            ..ContentFigures::default()
        };
        let text = render(&members, None, Some(&content)).expect("render");
        assert!(
            text.contains("uyuni_cluster_members{status=\"alive\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("uyuni_cluster_members{status=\"left\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("uyuni_cluster_detector_phi_max 4.25\n"),
            "{text}"
        );
        assert!(
            text.contains("uyuni_cluster_content_repos_complete 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE uyuni_cluster_agent_heartbeats counter"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        let plain = classic(&text);
        assert!(
            plain.contains("# TYPE uyuni_cluster_agent_heartbeats_total counter\n"),
            "{plain}"
        );
        assert!(
            plain.contains("# HELP uyuni_cluster_agent_heartbeats_total Agent heartbeats"),
            "{plain}"
        );
        assert!(
            plain.contains("# TYPE uyuni_cluster_members gauge\n"),
            "{plain}"
        );
        assert!(!plain.contains("# EOF"), "{plain}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("uyuni_cluster_"), "{line}");
        }
    }
}
