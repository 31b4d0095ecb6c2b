//! The client's address as a request extension: the server puts a [`RemoteAddr`] on every
//! request it accepted, and handlers that budget per client (the agents' door's rate limits)
//! read it. A request without one (a test calling a router directly) counts as one client.

use std::net::SocketAddr;

/// The address of the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);
