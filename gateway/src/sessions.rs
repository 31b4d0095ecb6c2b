//! Gateway sessions: keys in Uyuni's format, and what the gateway keeps of a session once
//! `auth.login` has returned: the user's login, their Uyuni roles and organisation, the expiry,
//! and the **nodes' own session keys**, sealed under a key derived from the gateway session key
//! (which the gateway never stores: only its SHA-256 names the session). The password is never
//! kept: it lives in memory for the login call only. Pure apart from the random numbers; the
//! file that holds the table is [`crate::session_file`].

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Problems with a session's sealed node keys.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The random generator failed.
    #[error("no randomness available")]
    Random,
    /// The node keys do not open with this session key (another key, or damaged).
    #[error("the session's node keys do not open with this key")]
    Open,
}

/// A user's standing in Uyuni, read from a node with the user's own session
/// (`user.getDetails`, `user.listRoles`) at login.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    /// The user's organisation (`org_id`; 0 when the node did not say).
    pub org_id: i64,
    /// Uyuni role labels: `org_admin`, `satellite_admin`, `channel_admin`, …
    pub roles: BTreeSet<String>,
}

impl Roles {
    /// SUSE Manager (satellite) administrator: every organisation, the cluster's settings.
    pub fn is_satellite_admin(&self) -> bool {
        self.roles.contains("satellite_admin")
    }

    /// Administrator of their organisation.
    pub fn is_org_admin(&self) -> bool {
        self.roles.contains("org_admin")
    }

    /// Either administrator: may act on systems (of their organisation) and read the audit log.
    pub fn is_admin(&self) -> bool {
        self.is_org_admin() || self.is_satellite_admin()
    }
}

/// One gateway session as the session table keeps it (on disk too: nothing in it is a
/// password, and the node keys open only with the session key the client holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Hex SHA-256 of the session key ([`session_id`]).
    pub id: String,
    /// Uyuni login.
    pub user: String,
    /// Roles and organisation.
    #[serde(default)]
    pub roles: Roles,
    /// Unix ms of the login.
    pub created_at: u64,
    /// The session ends here (Unix ms): a fixed lifetime, like Uyuni's own sessions.
    pub expires_at: u64,
    /// The nodes' session keys (node name → key), sealed by [`seal_node_keys`].
    pub nodes: String,
}

/// The sessions of one gateway, by id. Pure: the caller passes `now` and persists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTable {
    /// Format version of the file.
    #[serde(default = "version")]
    pub version: u32,
    /// Sessions by id.
    #[serde(default)]
    pub sessions: BTreeMap<String, Session>,
}

fn version() -> u32 {
    1
}

impl SessionTable {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            version: version(),
            sessions: BTreeMap::new(),
        }
    }

    /// The live session `id` at `now`.
    pub fn get(&self, id: &str, now: u64) -> Option<&Session> {
        self.sessions.get(id).filter(|s| now < s.expires_at)
    }

    /// Add a session.
    pub fn insert(&mut self, s: Session) {
        self.sessions.insert(s.id.clone(), s);
    }

    /// Remove a session (logout); whether it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        self.sessions.remove(id).is_some()
    }

    /// Drop every session expired at `now`; whether any was.
    pub fn expire(&mut self, now: u64) -> bool {
        let before = self.sessions.len();
        self.sessions.retain(|_, s| now < s.expires_at);
        self.sessions.len() != before
    }
}

/// A new session key in Uyuni's format: `<n>x<64 hex>`.
pub fn new_key() -> Result<String, SealError> {
    let mut bytes = [0u8; 36];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SealError::Random)?;
    let n = 1 + u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 999_999;
    Ok(format!("{n}x{}", hex::encode(&bytes[4..])))
}

/// Where a session key is stored: its hex SHA-256 (the key itself never is).
pub fn session_id(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn node_keys_key(session_key: &str) -> LessSafeKey {
    let mut h = Sha256::new();
    h.update(b"uyuni-cluster gateway node session keys v1\0");
    h.update(session_key.as_bytes());
    let digest = h.finalize();
    // A 32-byte key always fits ChaCha20-Poly1305.
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &digest)
        .unwrap_or_else(|_| unreachable!("32-byte ChaCha20-Poly1305 key"));
    LessSafeKey::new(unbound)
}

/// Seal the nodes' session keys under a key derived from the gateway session key
/// (ChaCha20-Poly1305; nonce ‖ ciphertext ‖ tag, base64). Bound to the session id, so a
/// sealed value moved to another session does not open.
pub fn seal_node_keys(
    session_key: &str,
    nodes: &BTreeMap<String, String>,
) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SealError::Random)?;
    let mut buf = serde_json::to_vec(nodes).map_err(|_| SealError::Random)?;
    let id = session_id(session_key);
    node_keys_key(session_key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(id.as_bytes()),
            &mut buf,
        )
        .map_err(|_| SealError::Random)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// Open what [`seal_node_keys`] sealed for `session_key`.
pub fn open_node_keys(
    session_key: &str,
    sealed: &str,
) -> Result<BTreeMap<String, String>, SealError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|_| SealError::Open)?;
    if raw.len() < NONCE_LEN {
        return Err(SealError::Open);
    }
    let (nonce, rest) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
    let mut buf = rest.to_vec();
    let id = session_id(session_key);
    let plain = node_keys_key(session_key)
        .open_in_place(nonce, Aad::from(id.as_bytes()), &mut buf)
        .map_err(|_| SealError::Open)?;
    serde_json::from_slice(plain).map_err(|_| SealError::Open)
}

/// Whether `key` has Uyuni's session key form.
pub fn looks_like_key(key: &str) -> bool {
    let Some((n, h)) = key.split_once('x') else {
        return false;
    };
    !n.is_empty()
        && !n.starts_with('0')
        && n.bytes().all(|b| b.is_ascii_digit())
        && h.len() == 64
        && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Session ids that no gateway knew, remembered for [`UnknownIds::TTL_MS`] (at most
/// [`UnknownIds::CAPACITY`]; the oldest half is dropped when full). Pure: `now` is passed in.
#[derive(Debug, Default)]
pub struct UnknownIds {
    seen: std::collections::HashMap<String, u64>,
}

impl UnknownIds {
    /// How long an unknown id is not asked for again (ms).
    pub const TTL_MS: u64 = 10_000;
    /// Most ids remembered.
    pub const CAPACITY: usize = 10_000;

    /// Whether `id` was found unknown less than [`Self::TTL_MS`] before `now`.
    pub fn contains(&self, id: &str, now: u64) -> bool {
        self.seen
            .get(id)
            .is_some_and(|&at| now.saturating_sub(at) < Self::TTL_MS)
    }

    /// Remember that `id` was unknown at `now`.
    pub fn insert(&mut self, id: &str, now: u64) {
        if self.seen.len() >= Self::CAPACITY {
            self.seen
                .retain(|_, at| now.saturating_sub(*at) < Self::TTL_MS);
        }
        if self.seen.len() >= Self::CAPACITY {
            let mut ages: Vec<u64> = self.seen.values().copied().collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            self.seen.retain(|_, at| *at > cut);
        }
        self.seen.insert(id.to_string(), now);
    }

    /// Ids remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_uyunis_form_and_differ() {
        let a = new_key().expect("key");
        let b = new_key().expect("key");
        assert!(looks_like_key(&a), "{a}");
        assert_ne!(a, b);
        assert!(!looks_like_key("0x00"));
        assert!(!looks_like_key(&format!("12x{}", "g".repeat(64))));
    }

    #[test]
    fn node_keys_open_with_their_session_key_only() {
        let key = new_key().expect("key");
        let nodes: BTreeMap<String, String> =
            [("dc1-a".to_string(), "5xnodekey".to_string())].into();
        let sealed = seal_node_keys(&key, &nodes).expect("seal");
        assert!(!sealed.contains("nodekey"));
        assert_eq!(open_node_keys(&key, &sealed).expect("open"), nodes);
        let other = new_key().expect("key");
        assert!(open_node_keys(&other, &sealed).is_err());
        assert!(open_node_keys(&key, "not base64!").is_err());
        assert!(open_node_keys(&key, "AAAA").is_err());
    }

    #[test]
    fn the_table_forgets_expired_and_ended_sessions() {
        let s = |id: &str, exp| Session {
            id: id.into(),
            user: "u".into(),
            roles: Roles::default(),
            created_at: 0,
            expires_at: exp,
            nodes: String::new(),
        };
        let mut t = SessionTable::new();
        t.insert(s("a", 100));
        t.insert(s("b", 200));
        assert!(t.get("a", 99).is_some());
        assert!(t.get("a", 100).is_none());
        assert!(t.expire(150));
        assert!(!t.sessions.contains_key("a"));
        assert!(!t.expire(150));
        assert!(t.remove("b"));
        assert!(!t.remove("b"));
        assert!(t.sessions.is_empty());
    }

    #[test]
    fn roles_say_who_administers() {
        let mut r = Roles::default();
        assert!(!r.is_admin());
        r.roles.insert("org_admin".into());
        assert!(r.is_admin() && r.is_org_admin() && !r.is_satellite_admin());
    }

    #[test]
    fn unknown_ids_are_remembered_for_a_while_and_bounded() {
        let mut u = UnknownIds::default();
        u.insert("a", 1_000);
        assert!(u.contains("a", 1_000 + UnknownIds::TTL_MS - 1));
        assert!(!u.contains("a", 1_000 + UnknownIds::TTL_MS));
        assert!(!u.contains("b", 1_000));
        for i in 0..(UnknownIds::CAPACITY as u64 + 10) {
            u.insert(&format!("id{i}"), 2_000 + i);
        }
        assert!(u.len() <= UnknownIds::CAPACITY, "{}", u.len());
        assert!(u.contains(&format!("id{}", UnknownIds::CAPACITY + 9), 12_000));
    }
}
