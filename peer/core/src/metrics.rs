//! The peer's Prometheus counters (issue 16; docs/OPERATIONS.md#metrics lists every metric).
//!
//! One process-wide set of atomic counters ([`metrics`]), bumped where things happen: an
//! increment is one relaxed atomic add, no lock (the agents' heartbeat path takes exactly one).
//! Figures that already exist elsewhere (membership, the store's sizes, content progress)
//! are not mirrored here: the `/metrics` handler (`peer/src/metrics.rs`) reads them at scrape
//! time. Labels are aggregate only (a status, a result): no node names, fingerprints or
//! addresses, since `/metrics` is open (docs/SECURITY.md).

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The counters of the cluster core and the components built on it.
#[derive(Debug, Default)]
pub struct CoreMetrics {
    /// Membership heartbeats received from other peers (gossip).
    pub peer_heartbeats: Counter,
    /// Membership messages this peer sent or handled: heartbeats published and received,
    /// zone summaries published and received, probes sent and answered (issue 17's
    /// messages per peer per second).
    pub membership_messages: Counter,
    /// Agent heartbeats answered (`GET /system/status`).
    pub agent_heartbeats: Counter,
    /// Agent registrations answered (`POST /system/register`, new or repeated).
    pub registrations: Counter,
    /// Systems accepted by an administrator (`POST /systems/{fp}/accept`).
    pub accepts: Counter,
    /// Systems moved off a faulty node by this peer (as a zone's leader).
    pub remapped_systems: Counter,
    /// Nodes this peer declared faulty (as a zone's leader).
    pub faults_declared: Counter,
    /// Bytes of change chunks this peer gossiped.
    pub gossip_sent_bytes: Counter,
    /// Bytes of change chunks received by gossip.
    pub gossip_received_bytes: Counter,
    /// Pull syncs with a peer (on connect, after gossip, anti-entropy) that ended well.
    pub sync_rounds: Counter,
    /// Pull syncs that failed.
    pub sync_failures: Counter,
    /// Shards pulled from peers by sync.
    pub sync_shards: Counter,
    /// Replication requests answered for other peers.
    pub sync_requests_served: Counter,
    /// Store compactions run (snapshot written, WAL truncated).
    pub compactions: Counter,
    /// Outbox events the Node Controller processed.
    pub outbox_events: Counter,
    /// Outbox batches the Node Controller could not process (redelivered).
    pub outbox_failures: Counter,
    /// Network events (gossip, inbound requests, indirect probes) dropped because the
    /// controller's channel was full (the network task never waits for the controller).
    pub net_events_dropped: Counter,
    /// Connections closed because their pings failed.
    pub ping_closes: Counter,
    /// Ping failures not held against the connection because this process was behind.
    pub ping_failures_excused: Counter,
    /// Zone summaries the periodic pull brought that this peer lacked (gossip lost them or
    /// they came late).
    pub zones_pulled: Counter,
    /// Seconds between the last processed outbox event's change in Uyuni and its processing.
    pub outbox_lag_seconds: Gauge<f64, AtomicU64>,
}

static METRICS: LazyLock<CoreMetrics> = LazyLock::new(CoreMetrics::default);

/// The process's counters.
pub fn metrics() -> &'static CoreMetrics {
    &METRICS
}

impl CoreMetrics {
    /// Add every counter to `reg` (its clones share the values).
    pub fn register(&self, reg: &mut Registry) {
        let counters: [(&str, &str, &Counter); 20] = [
            (
                "peer_heartbeats",
                "Membership heartbeats received from other peers",
                &self.peer_heartbeats,
            ),
            (
                "membership_messages",
                "Membership messages sent or handled (heartbeats, zone summaries, probes)",
                &self.membership_messages,
            ),
            (
                "membership_zone_summaries_pulled",
                "Zone summaries the periodic pull brought that this peer lacked",
                &self.zones_pulled,
            ),
            (
                "agent_heartbeats",
                "Agent heartbeats answered (GET /system/status)",
                &self.agent_heartbeats,
            ),
            (
                "registrations",
                "Agent registrations answered (POST /system/register)",
                &self.registrations,
            ),
            (
                "accepts",
                "Systems accepted by an administrator",
                &self.accepts,
            ),
            (
                "remapped_systems",
                "Systems moved off a faulty node by this peer as its zone's leader",
                &self.remapped_systems,
            ),
            (
                "faults_declared",
                "Nodes this peer declared faulty as its zone's leader",
                &self.faults_declared,
            ),
            (
                "replication_gossip_sent_bytes",
                "Bytes of metastore change chunks gossiped",
                &self.gossip_sent_bytes,
            ),
            (
                "replication_gossip_received_bytes",
                "Bytes of metastore change chunks received by gossip",
                &self.gossip_received_bytes,
            ),
            (
                "replication_sync_rounds",
                "Pull syncs with a peer that ended well",
                &self.sync_rounds,
            ),
            (
                "replication_sync_failures",
                "Pull syncs with a peer that failed",
                &self.sync_failures,
            ),
            (
                "replication_sync_shards",
                "Metastore shards pulled from peers",
                &self.sync_shards,
            ),
            (
                "replication_requests_served",
                "Replication requests answered for other peers",
                &self.sync_requests_served,
            ),
            (
                "store_compactions",
                "Metastore compactions (snapshot written, WAL truncated)",
                &self.compactions,
            ),
            (
                "outbox_events",
                "Uyuni outbox events processed by the Node Controller",
                &self.outbox_events,
            ),
            (
                "outbox_failures",
                "Outbox batches the Node Controller could not process (delivered again)",
                &self.outbox_failures,
            ),
            (
                "net_events_dropped",
                "Network events (gossip, requests, indirect probes) dropped: the controller was behind",
                &self.net_events_dropped,
            ),
            (
                "ping_closes",
                "Connections closed because their pings failed",
                &self.ping_closes,
            ),
            (
                "ping_failures_excused",
                "Ping failures not held against a connection: this process was behind",
                &self.ping_failures_excused,
            ),
        ];
        for (name, help, c) in counters {
            reg.register(name, help, c.clone());
        }
        reg.register(
            "outbox_lag_seconds",
            "Seconds from the last processed outbox event's change in Uyuni to its processing",
            self.outbox_lag_seconds.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_the_text_encoding() {
        let m = CoreMetrics::default();
        m.agent_heartbeats.inc();
        m.agent_heartbeats.inc();
        m.outbox_lag_seconds.set(1.5);
        let mut reg = Registry::with_prefix("uyuni_cluster");
        m.register(&mut reg);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).expect("encode");
        assert!(
            text.contains("uyuni_cluster_agent_heartbeats_total 2\n"),
            "{text}"
        );
        assert!(
            text.contains("uyuni_cluster_outbox_lag_seconds 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE uyuni_cluster_store_compactions counter"),
            "{text}"
        );
    }
}
