//! Addresses as they travel in the protocol: a node's salt master (`host` or `host:port`, from
//! `X-Uyuni-Node` and the orphan answer) and a peer's HTTP address (`host:port`, from the
//! configuration, `X-Uyuni-Peers` and `X-Uyuni-Node-Peer`).
//!
//! Hosts are checked strictly because a node's host ends up in the minion's YAML configuration:
//! DNS names and IPv4 addresses (letters, digits, `.`, `-`, `_`) or IPv6 addresses (bare or in
//! brackets). Nothing else — no white space, quotes, `#` or line breaks — gets through.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// The HTTP port of a peer when an address gives none (the peer's default `http_listen`).
pub const DEFAULT_PEER_PORT: u16 = 4581;

/// Salt's default `master_port` (the ret port), meant when a node address gives no port.
pub const SALT_MASTER_PORT: u16 = 4506;

/// An address could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address {input:?}: {reason}")]
pub struct AddrError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// `host` or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    host: String,
    port: Option<u16>,
}

impl HostPort {
    /// The host: a DNS name, an IPv4 address, or an IPv6 address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when one was given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether the host is an IPv6 address (it needs brackets in URLs and quotes in YAML).
    pub fn is_ipv6(&self) -> bool {
        self.host.contains(':')
    }

    /// A host and an optional port, checked like [`FromStr`] checks them.
    pub fn new(host: &str, port: Option<u16>) -> Result<Self, AddrError> {
        let err = |reason| AddrError {
            input: host.to_owned(),
            reason,
        };
        if port == Some(0) {
            return Err(err("port 0"));
        }
        if host.contains(':') {
            host.parse::<Ipv6Addr>()
                .map_err(|_| err("not an IPv6 address"))?;
        } else {
            check_name(host).map_err(err)?;
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// Whether two master addresses mean the same salt master: host names compare without
    /// regard to case, and a missing port is salt's default [`SALT_MASTER_PORT`].
    pub fn same_master(&self, other: &HostPort) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
            && self.port.unwrap_or(SALT_MASTER_PORT) == other.port.unwrap_or(SALT_MASTER_PORT)
    }

    /// The same host with `port` when this one has none.
    pub fn with_default_port(&self, port: u16) -> Self {
        Self {
            host: self.host.clone(),
            port: Some(self.port.unwrap_or(port)),
        }
    }
}

fn check_name(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("empty host");
    }
    if host.len() > 253 {
        return Err("host longer than 253 characters");
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err("host may hold only letters, digits, '.', '-' and '_'");
    }
    if host.starts_with(['-', '.']) {
        return Err("host starts with '-' or '.'");
    }
    Ok(())
}

impl FromStr for HostPort {
    type Err = AddrError;

    /// `name`, `name:port`, `1.2.3.4:port`, `::1`, `[::1]` or `[::1]:port`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddrError {
            input: s.to_owned(),
            reason,
        };
        let s_trim = s.trim();
        let (host, port) = if let Some(rest) = s_trim.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| err("missing ']'"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| err("junk after ']'"))?,
                    ),
                ),
            }
        } else if s_trim.matches(':').count() > 1 {
            (s_trim, None)
        } else {
            match s_trim.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s_trim, None),
            }
        };
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| err("bad port"))?),
        };
        Self::new(host, port).map_err(|e| AddrError {
            input: s.to_owned(),
            reason: e.reason,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_ipv6(), self.port) {
            (false, None) => write!(f, "{}", self.host),
            (false, Some(p)) => write!(f, "{}:{p}", self.host),
            (true, None) => write!(f, "[{}]", self.host),
            (true, Some(p)) => write!(f, "[{}]:{p}", self.host),
        }
    }
}

/// A peer's HTTP address: a host and always a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddr(HostPort);

impl PeerAddr {
    /// The URL of `path` on this peer with `scheme` (`http` or `https`).
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{self}{path}")
    }

    /// The host part (what TLS checks the certificate against).
    pub fn host(&self) -> &str {
        self.0.host()
    }
}

impl From<HostPort> for PeerAddr {
    fn from(hp: HostPort) -> Self {
        Self(hp.with_default_port(DEFAULT_PEER_PORT))
    }
}

impl FromStr for PeerAddr {
    type Err = AddrError;

    /// Like [`HostPort`]; a missing port is [`DEFAULT_PEER_PORT`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<HostPort>().map(Self::from)
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Parse a comma-separated `X-Uyuni-Peers` list, skipping (and returning) entries that do not
/// parse so one bad entry does not hide the rest.
pub fn parse_peer_list(value: &str) -> (Vec<PeerAddr>, Vec<AddrError>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.parse::<PeerAddr>() {
            Ok(p) => good.push(p),
            Err(e) => bad.push(e),
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &str) -> HostPort {
        s.parse().unwrap()
    }

    #[test]
    fn parses_names_ports_and_ipv6() {
        assert_eq!(
            hp("srv1.example.org"),
            HostPort::new("srv1.example.org", None).unwrap()
        );
        assert_eq!(hp("srv1:4506").port(), Some(4506));
        assert_eq!(hp("10.0.0.1:4506").host(), "10.0.0.1");
        assert_eq!(hp("::1").host(), "::1");
        assert_eq!(hp("[::1]").port(), None);
        assert_eq!(hp("[fe80::1]:4581").to_string(), "[fe80::1]:4581");
        assert_eq!(hp(" srv1 ").to_string(), "srv1");
    }

    #[test]
    fn rejects_what_could_break_yaml_or_urls() {
        for bad in [
            "",
            "srv 1",
            "srv1\nmaster: evil",
            "srv1:",
            "srv1:0",
            "srv1:70000",
            "'srv1'",
            "srv#1",
            "a/b",
            "[::1",
            "[::1]x",
            "[zz::1]",
            "-srv",
            "srv1:45x6",
            "user@srv1",
        ] {
            assert!(
                bad.parse::<HostPort>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn same_master_ignores_case_and_the_default_port() {
        assert!(hp("Srv1.example.org").same_master(&hp("srv1.example.org:4506")));
        assert!(!hp("srv1").same_master(&hp("srv1:4507")));
        assert!(!hp("srv1").same_master(&hp("srv2")));
    }

    #[test]
    fn peer_addresses_get_the_default_port() {
        let p: PeerAddr = "srv1".parse().unwrap();
        assert_eq!(p.to_string(), "srv1:4581");
        assert_eq!(
            p.url("https", "/system/status"),
            "https://srv1:4581/system/status"
        );
        let v6: PeerAddr = "[::1]:9".parse().unwrap();
        assert_eq!(v6.url("http", "/x"), "http://[::1]:9/x");
        assert_eq!(v6.host(), "::1");
    }

    #[test]
    fn peer_lists_keep_the_good_entries() {
        let (good, bad) = parse_peer_list("a:1, b:2,,bad host:3 , c");
        let shown: Vec<_> = good.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["a:1", "b:2", "c:4581"]);
        assert_eq!(bad.len(), 1);
    }
}
