//! The agent protocol's vocabulary (`docs/AGENT-PROTOCOL.md`): endpoints, headers, the one-byte
//! statuses, and what a request came back with. Plain data, shared by the state machine and the
//! HTTP shell.

use std::fmt;

/// The protocol version this agent speaks (`X-Uyuni-Agent-Protocol`).
pub const PROTOCOL_VERSION: u32 = agent_proto::PROTOCOL_VERSION;

/// Header names, lowercase (as the HTTP library hands them over).
pub mod header {
    /// Protocol version of the peer.
    pub const PROTOCOL: &str = "x-uyuni-agent-protocol";
    /// Up to 5 other alive peers, `host:port`, comma separated.
    pub const PEERS: &str = "x-uyuni-peers";
    /// The salt master (`host` or `host:port`) the system must use.
    pub const NODE: &str = "x-uyuni-node";
    /// The HTTP address of the peer beside that node: the preferred entry point.
    pub const NODE_PEER: &str = "x-uyuni-node-peer";
    /// The heartbeat interval the cluster asks for, in seconds.
    pub const HEARTBEAT: &str = "x-uyuni-heartbeat";
    /// Seconds to wait before asking `/system/orphan` again (with `204`), or before any
    /// request (with `429`).
    pub const RETRY_AFTER: &str = "retry-after";
    /// The token a registration answer carries; status and orphan queries show it.
    pub const TOKEN: &str = agent_proto::TOKEN_HEADER;
}

/// A system's status, the one byte of `GET /system/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `n`: registered, waiting for an administrator.
    New,
    /// `o`: has a node (`X-Uyuni-Node`).
    Onboarded,
    /// `r`: has no node now; ask `/system/orphan`.
    Orphan,
    /// `d`: banned or deleted; stop the minion and exit.
    Deleted,
    /// `u`: unknown fingerprint; register.
    Unknown,
}

impl Status {
    /// Parse a status body: its first non-blank byte.
    pub fn from_body(body: &str) -> Option<Self> {
        match body.trim().as_bytes() {
            [b'n'] => Some(Self::New),
            [b'o'] => Some(Self::Onboarded),
            [b'r'] => Some(Self::Orphan),
            [b'd'] => Some(Self::Deleted),
            [b'u'] => Some(Self::Unknown),
            _ => None,
        }
    }

    /// The protocol letter.
    pub fn letter(self) -> char {
        match self {
            Self::New => 'n',
            Self::Onboarded => 'o',
            Self::Orphan => 'r',
            Self::Deleted => 'd',
            Self::Unknown => 'u',
        }
    }

    /// The protocol word (`new`, `onboarded`, …).
    pub fn word(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Onboarded => "onboarded",
            Self::Orphan => "orphan",
            Self::Deleted => "deleted",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.letter(), self.word())
    }
}

/// What the agent asks a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `GET /system/status?fp=FP`: the heartbeat.
    Status,
    /// `POST /system/register` with the system's identity.
    Register,
    /// `GET /system/orphan?fp=FP`: where to go now.
    Orphan,
}

impl Request {
    /// The endpoint's path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Status => "/system/status",
            Self::Register => "/system/register",
            Self::Orphan => "/system/orphan",
        }
    }
}

/// An HTTP answer, reduced to what the protocol looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub code: u16,
    /// The body as text (truncated by the shell to a small limit).
    pub body: String,
    /// Headers with lowercase names, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// The first value of header `name` (lowercase), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The peer answered (any status code).
    Reply(Reply),
    /// No answer: connection refused, DNS, TLS, time-out. The text is for the log.
    Failed(String),
}
