//! `[gateway]`: the API gateway a peer serves beside (or instead of) a Uyuni node. Every
//! default is stated on its field and in docs/CONFIGURATION.md.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// What a merged answer does when a node faults or does not answer
/// ([`GatewayConfig::partial_policy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartialPolicy {
    /// Answer with what the other nodes gave, flagged partial.
    #[default]
    Partial,
    /// Fail with the node's fault, naming the node.
    Fail,
}

/// See the module documentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Listen address of the gateway (Uyuni's API, the REST API, Swagger UI). Default none:
    /// no gateway (`uyuni-cluster gateway` defaults it to `127.0.0.1:8443`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// PEM certificate of the gateway's listener. Default: the peer's `[tls] cert_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// Its private key. Default: the peer's `[tls] key_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Without a certificate, make a self-signed one at start (development). Default false.
    pub self_signed: bool,
    /// Serve plain HTTP (development and tests only). Default false.
    pub dev_plain_http: bool,
    /// Bound on one node's answer; a node slower than this is left out of a merged answer
    /// (flagged as partial). Default 10 000 ms.
    #[serde(with = "duration_ms", rename = "node_timeout_ms")]
    pub node_timeout: Duration,
    /// Lifetime of a session, fixed from the login like Uyuni's (also the duration of the
    /// node sessions it holds); `auth.login`'s optional duration overrides it. Default
    /// 1 800 000 ms.
    #[serde(with = "duration_ms", rename = "session_ttl_ms")]
    pub session_ttl: Duration,
    /// What a merged answer does when a node faults or does not answer: `partial` (the
    /// default: answer with the other nodes' part, flagged partial) or `fail` (the call fails
    /// with the node's fault, naming the node). A client asks per request with
    /// `X-Uyuni-Cluster-Strict: 1` (fail) or `0` (partial). Default `partial`: a zone cut
    /// off or a node under maintenance must not stop every list in the cluster, and the
    /// answer says what it lacks (docs/GATEWAY.md#partial-answers).
    pub partial_policy: PartialPolicy,
    /// The older spelling of `partial_policy = "fail"`. Default false.
    pub strict: bool,
    /// PEM CA trusted for the nodes' `https` API URLs. Default none (plain http or the
    /// system's trust is not used: give it explicitly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uyuni_ca_file: Option<PathBuf>,
    /// Largest XML-RPC or JSON request body accepted, MiB. Default 64.
    pub max_request_mib: usize,
    /// Read your own writes: how long a common-data write that creates or deletes an object
    /// (group, channel, activation key, configuration channel, CLM project) waits, after its
    /// Leader Node made it, until every node finds it (or no longer does), so that the next
    /// call sees it wherever it goes; past that the call answers a fault naming the nodes
    /// still without it. Default 60 000 ms (a follower replays a publication at its next
    /// reconcile round, `uyuni.reconcile_interval_ms`; right after a start or under load that
    /// takes longer).
    #[serde(with = "duration_ms", rename = "common_visible_timeout_ms")]
    pub common_visible_timeout: Duration,
    /// The order of a streamed merged list of systems (`system.listSystems` and the other
    /// lists of systems): `slot` (the default: node after node in slot order, id order when
    /// the nodes list by id, each node's bytes sent on as they are rewritten) or `arrival`
    /// (pieces of whole items from whichever node has them ready, each node's items in its
    /// own order, every node read at once: for nodes that stream their answers slowly, at the
    /// cost of finding where each item ends). Default `slot`: the order of the buffered merge
    /// and, with nodes that render their answer before sending it (Uyuni's do), measured as
    /// fast or faster (docs/GATEWAY.md#streamed-merges, docs/PERFORMANCE.md).
    pub merged_order: crate::fanout::stream::Order,
}

impl GatewayConfig {
    /// Whether a merged answer lacking a node fails by default (`partial_policy = "fail"` or
    /// `strict = true`).
    pub fn fails_on_partial(&self) -> bool {
        self.strict || self.partial_policy == PartialPolicy::Fail
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: None,
            cert_file: None,
            key_file: None,
            self_signed: false,
            dev_plain_http: false,
            node_timeout: Duration::from_secs(10),
            session_ttl: Duration::from_secs(1800),
            partial_policy: PartialPolicy::Partial,
            strict: false,
            uyuni_ca_file: None,
            max_request_mib: 64,
            common_visible_timeout: Duration::from_secs(60),
            merged_order: crate::fanout::stream::Order::Slot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partial_policy_defaults_to_partial_and_strict_still_means_fail() {
        let cfg: GatewayConfig = serde_json::from_str("{}").expect("defaults");
        assert_eq!(cfg.partial_policy, PartialPolicy::Partial);
        assert!(!cfg.fails_on_partial());
        let cfg: GatewayConfig =
            serde_json::from_str(r#"{"partial_policy": "fail"}"#).expect("fail");
        assert!(cfg.fails_on_partial());
        let cfg: GatewayConfig = serde_json::from_str(r#"{"strict": true}"#).expect("strict");
        assert!(cfg.fails_on_partial());
        assert!(serde_json::from_str::<GatewayConfig>(r#"{"partial_policy": "maybe"}"#).is_err());
    }
}
