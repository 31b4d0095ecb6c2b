//! The client agent (`uyuni-cluster-agent`). Filled by the client-systems issue: heartbeats,
//! status, node discovery and salt-minion repointing.
