//! # netsim-tests — the multi-node test bed
//!
//! - [`linkemu`]: a user-space link emulator. Every peer-to-peer connection of a test cluster
//!   passes through it (peers advertise, per dialer zone, an emulator port instead of their own),
//!   so a test can cut zones apart — packets really stop: live connections are severed and new
//!   ones are black-holed — and add latency. This kernel has no `netem`, so latency and loss
//!   for later scenarios come from here too.
//! - [`harness`]: starts real `uyuni-cluster` processes (ports bound to 0, temporary data
//!   dirs), kills (`SIGKILL`), stops (`SIGTERM`) and restarts them, and polls conditions.
//! - [`loadgen`]: a fleet of simulated client agents (tens of thousands of tokio tasks over
//!   one bounded keep-alive HTTP pool) speaking the agent protocol, and the scenario that
//!   kills a node under it and counts lost and duplicated systems.
//!
//! - [`sim_keys`]: signed identities for simulated agents (one real salt key, many wrappings).
//! - [`schedule`], [`checker`], [`schedule_run`]: seeded fault schedules (partitions between
//!   and inside zones, `kill -9` and restart, degraded links), run against a cluster under
//!   writes, and the checker of the outcome (issue 17; `scripts/partition-schedules.sh`).
//!
//! - [`wanbed`]: the WAN test bed: hundreds of peers (many per process, the `peer` library's
//!   own node) in hundreds of zones behind WAN links (latency, loss, bandwidth).
//!
//! - [`paced_node`]: a node "on a host of its own" for benchmarks: a stand-in's recorded answer
//!   replayed at its solo pace, everything else passed through.
//!
//! Scenarios live in `tests/`, benchmarks in `examples/`.

pub mod checker;
pub mod harness;
pub mod linkemu;
pub mod loadgen;
pub mod paced_node;
pub mod pg;
pub mod salt;
pub mod schedule;
pub mod schedule_run;
pub mod sim_keys;
pub mod standin;
pub mod uyuni_schema;
pub mod uyuni_writes;
pub mod wanbed;
pub mod workload;
