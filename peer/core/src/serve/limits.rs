//! How much of the listener one client, and all clients together, may hold.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::duration_ms;

/// `[http]` connection limits of the peer's listener. Every default is in
/// docs/CONFIGURATION.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnLimits {
    /// Connections open at once; more are closed as soon as they are accepted. Default 1024
    /// (keep it below the process's file descriptor limit: the units set 65536).
    pub max_connections: usize,
    /// Connections open at once from one IP address. Default 128 (a store's agents behind
    /// one NAT address share it; they do not keep connections open).
    pub max_connections_per_client: usize,
    /// Time a client has to send a request's headers. Default 10 000 ms.
    #[serde(with = "duration_ms", rename = "header_timeout_ms")]
    pub header_timeout: Duration,
    /// Time a client has to send a whole request body, from its headers on. Default
    /// 30 000 ms.
    #[serde(with = "duration_ms", rename = "body_timeout_ms")]
    pub body_timeout: Duration,
    /// A connection on which no byte has moved this long, with no request being answered,
    /// is closed. Default 60 000 ms.
    #[serde(with = "duration_ms", rename = "idle_timeout_ms")]
    pub idle_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_client: 128,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Open connections, in all and per client address.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    inner: Arc<Mutex<Counts>>,
    max: usize,
    per_client: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The listener is full.
    Full,
    /// This client holds its share.
    ClientFull,
}

/// A connection's place; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Admission,
    ip: IpAddr,
}

impl Admission {
    pub(crate) fn new(limits: &ConnLimits) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Counts::default())),
            max: limits.max_connections.max(1),
            per_client: limits.max_connections_per_client.max(1),
        }
    }

    /// Take a place for a connection from `ip`.
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<Ticket, Refused> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.max {
            return Err(Refused::Full);
        }
        let mine = c.by_ip.entry(ip).or_insert(0);
        if *mine >= self.per_client {
            return Err(Refused::ClientFull);
        }
        *mine += 1;
        c.total += 1;
        Ok(Ticket {
            admission: self.clone(),
            ip,
        })
    }

    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut c = self
            .admission
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.by_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_caps_clients_and_the_total_and_frees_on_drop() {
        let adm = Admission::new(&ConnLimits {
            max_connections: 3,
            max_connections_per_client: 2,
            ..ConnLimits::default()
        });
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        let a1 = adm.admit(a).expect("a1");
        let _a2 = adm.admit(a).expect("a2");
        assert_eq!(adm.admit(a).err(), Some(Refused::ClientFull));
        let _b1 = adm.admit(b).expect("b1");
        assert_eq!(adm.admit(b).err(), Some(Refused::Full));
        drop(a1);
        assert_eq!(adm.open(), 2);
        let _b2 = adm.admit(b).expect("a place freed");
    }
}
