//! The agents' door's guard (docs/security/agentauth.md): signed registrations with replay
//! refusal, the tokens that bind status and orphan queries to the registered identity, and the
//! budgets (per client address; for registrations of unknown fingerprints; the onboarding
//! pool's size). The decisions take the time as an argument; the handlers in
//! [`crate::agent_api`] read the clock.

pub mod rate_limit;
pub mod replay;
pub mod token;

use std::net::IpAddr;
use std::sync::Mutex;

use agent_proto::{AuthError, Registration};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cluster_core::ApiError;

use crate::config::AgentDoorConfig;
use rate_limit::{Bucket, KeyedBuckets, Rate};
use replay::{Admit, ReplayCache};
use token::{TokenError, TokenKey};

/// Why the door refused a request.
#[derive(Debug)]
pub enum Refusal {
    /// An ordinary API error (400, 404, 410, 5xx …).
    Api(ApiError),
    /// `429`: over a budget; try again after this many seconds.
    Limited {
        /// `Retry-After`, seconds.
        retry_after_s: u64,
        /// What ran out.
        what: &'static str,
    },
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<TokenError> for Refusal {
    fn from(e: TokenError) -> Self {
        Self::Api(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
    }
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        let code = match e {
            AuthError::Field(_) | AuthError::Nonce | AuthError::Key(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        };
        Self::Api(ApiError::new(code, e.to_string()))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::Limited {
                retry_after_s,
                what,
            } => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(serde_json::json!({ "error": format!("too many requests: {what}") })),
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
                r
            }
        }
    }
}

/// The door's state: configuration, token key, replay cache and budgets.
pub struct AgentDoor {
    cfg: AgentDoorConfig,
    tokens: TokenKey,
    replay: Mutex<ReplayCache>,
    clients: Mutex<KeyedBuckets<Option<IpAddr>>>,
    onboarding: Mutex<Bucket>,
    onboarding_rate: Rate,
}

impl std::fmt::Debug for AgentDoor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sizes only: the nonces and addresses are many, the key is secret.
        f.debug_struct("AgentDoor")
            .field("cfg", &self.cfg)
            .field("nonces", &lock(&self.replay).len())
            .field("clients", &lock(&self.clients).len())
            .finish_non_exhaustive()
    }
}

/// Seconds an agent is asked to wait while the onboarding pool is full.
const POOL_FULL_RETRY_S: u64 = 300;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The budget key of a client: its IPv4 address, or the /64 of its IPv6 address (one host
/// holds a whole /64); `None` for a request without an address.
pub fn client_key(ip: Option<IpAddr>) -> Option<IpAddr> {
    ip.map(|ip| match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    })
}

impl AgentDoor {
    /// A door for `cfg`, its tokens keyed from the cluster key file's bytes.
    pub fn new(cfg: AgentDoorConfig, cluster_key: &[u8], now_ms: u64) -> Self {
        let client_rate = Rate::new(cfg.client_rate_per_s, cfg.client_burst);
        let onboarding_rate = Rate::new(cfg.new_registrations_per_s, cfg.new_registration_burst);
        Self {
            tokens: TokenKey::new(cluster_key),
            replay: Mutex::new(ReplayCache::new(cfg.replay_cache_entries, cfg.clock_skew_s)),
            clients: Mutex::new(KeyedBuckets::new(client_rate, cfg.clients_tracked, now_ms)),
            onboarding: Mutex::new(Bucket::full(onboarding_rate, now_ms)),
            onboarding_rate,
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AgentDoorConfig {
        &self.cfg
    }

    /// Take one request of `ip`'s budget.
    pub fn admit_client(&self, ip: Option<IpAddr>, now_ms: u64) -> Result<(), Refusal> {
        lock(&self.clients)
            .take(&client_key(ip), now_ms)
            .map_err(|retry_after_s| Refusal::Limited {
                retry_after_s,
                what: "this client address's budget is spent",
            })
    }

    /// Take one registration of an unknown fingerprint from the onboarding budget, unless the
    /// pool (systems in status new) already holds `max_new_systems`.
    pub fn admit_newcomer(&self, pool: u64, now_ms: u64) -> Result<(), Refusal> {
        if pool >= self.cfg.max_new_systems {
            return Err(Refusal::Limited {
                retry_after_s: POOL_FULL_RETRY_S,
                what: "the onboarding pool is full",
            });
        }
        lock(&self.onboarding)
            .take(self.onboarding_rate, now_ms)
            .map_err(|retry_after_s| Refusal::Limited {
                retry_after_s,
                what: "the budget of new registrations is spent",
            })
    }

    /// Check a signed registration at `now_s` (Unix seconds) and remember its nonce.
    pub fn check_registration(&self, reg: &Registration, now_s: u64) -> Result<(), Refusal> {
        agent_proto::verify(reg, now_s, self.cfg.clock_skew_s)?;
        match lock(&self.replay).admit(&reg.fingerprint, &reg.nonce, now_s) {
            Admit::Fresh => Ok(()),
            Admit::Replayed => Err(Refusal::Api(ApiError::new(
                StatusCode::CONFLICT,
                "this registration was seen before (replayed nonce): sign a fresh one",
            ))),
            Admit::Full => Err(Refusal::Limited {
                retry_after_s: 10,
                what: "too many registrations inside the clock-skew window",
            }),
        }
    }

    /// A token for `fingerprint`, valid `token_ttl_s` from `now_s`.
    pub fn issue_token(&self, fingerprint: &str, now_s: u64) -> String {
        self.tokens
            .issue(fingerprint, now_s.saturating_add(self.cfg.token_ttl_s))
    }

    /// Whether `token` binds a query to `fingerprint` at `now_s`.
    pub fn check_token(
        &self,
        token: Option<&str>,
        fingerprint: &str,
        now_s: u64,
    ) -> Result<(), Refusal> {
        Ok(self.tokens.check(token, fingerprint, now_s)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MINION_PUB: &str = include_str!("../../../agent-proto/tests/data/minion.pub");
    const MINION_PEM: &str = include_str!("../../../agent-proto/tests/data/minion.pem");
    const NOW: u64 = 1_800_000_000;

    fn status(r: Result<(), Refusal>) -> u16 {
        match r {
            Ok(()) => 200,
            Err(Refusal::Api(e)) => e.status().as_u16(),
            Err(Refusal::Limited { .. }) => 429,
        }
    }

    fn reg(nonce: &str) -> Registration {
        let signer = agent_proto::Signer::from_pem(MINION_PEM).unwrap();
        Registration::signed(MINION_PUB, "m", "", NOW, nonce, &signer).unwrap()
    }

    #[test]
    fn a_replayed_registration_is_refused() {
        let door = AgentDoor::new(AgentDoorConfig::default(), b"k", 0);
        let r = reg("nonce-0000000000000001");
        assert_eq!(status(door.check_registration(&r, NOW)), 200);
        assert_eq!(status(door.check_registration(&r, NOW + 5)), 409);
        assert_eq!(
            status(door.check_registration(&reg("nonce-0000000000000002"), NOW + 5)),
            200
        );
        assert_eq!(status(door.check_registration(&r, NOW + 400)), 401, "stale");
    }

    #[test]
    fn the_onboarding_budget_and_pool_cap_hold() {
        let cfg = AgentDoorConfig {
            new_registrations_per_s: 1.0,
            new_registration_burst: 2,
            max_new_systems: 10,
            ..AgentDoorConfig::default()
        };
        let door = AgentDoor::new(cfg, b"k", 0);
        assert_eq!(status(door.admit_newcomer(0, 0)), 200);
        assert_eq!(status(door.admit_newcomer(0, 0)), 200);
        assert_eq!(status(door.admit_newcomer(0, 0)), 429);
        assert_eq!(status(door.admit_newcomer(0, 1000)), 200);
        assert!(matches!(
            door.admit_newcomer(10, 5000),
            Err(Refusal::Limited {
                retry_after_s: POOL_FULL_RETRY_S,
                ..
            })
        ));
    }

    #[test]
    fn clients_are_budgeted_by_address_and_ipv6_by_its_64() {
        let cfg = AgentDoorConfig {
            client_rate_per_s: 1.0,
            client_burst: 1,
            ..AgentDoorConfig::default()
        };
        let door = AgentDoor::new(cfg, b"k", 0);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(status(door.admit_client(Some(a), 0)), 200);
        assert_eq!(status(door.admit_client(Some(a), 0)), 429);
        assert_eq!(status(door.admit_client(Some(b), 0)), 200);
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(status(door.admit_client(Some(v6a), 0)), 200);
        assert_eq!(status(door.admit_client(Some(v6b), 0)), 429, "same /64");
        let r = door.admit_client(None, 0);
        assert_eq!(status(r), 200);
    }

    #[test]
    fn tokens_bind_queries_to_the_fingerprint() {
        let door = AgentDoor::new(AgentDoorConfig::default(), b"k", 0);
        let t = door.issue_token("aa", NOW);
        assert_eq!(status(door.check_token(Some(&t), "aa", NOW)), 200);
        assert_eq!(status(door.check_token(Some(&t), "bb", NOW)), 401);
        assert_eq!(status(door.check_token(None, "aa", NOW)), 401);
        assert_eq!(
            status(door.check_token(Some(&t), "aa", NOW + 86_400)),
            401,
            "expired"
        );
        let elsewhere = AgentDoor::new(AgentDoorConfig::default(), b"k", 0);
        assert_eq!(
            status(elsewhere.check_token(Some(&t), "aa", NOW)),
            200,
            "any peer of the cluster accepts it"
        );
    }
}
