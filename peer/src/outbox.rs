//! Placeholder of the outbox reader's types (the reader itself lands from its own branch).

use std::time::Duration;

/// One captured row change.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Outbox id.
    pub id: i64,
    /// Table.
    pub table: String,
    /// Operation.
    pub op: OutboxOp,
    /// Row data.
    pub row: serde_json::Value,
    /// Capture time.
    pub at_ms: u64,
}

/// Row operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxOp {
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
}

/// A batch to acknowledge.
#[derive(Debug)]
pub struct OutboxBatch {
    /// Events in id order.
    pub events: Vec<OutboxEvent>,
    /// Acknowledge.
    pub ack: tokio::sync::oneshot::Sender<()>,
}

/// Reader settings.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// DSN.
    pub dsn: String,
    /// Batch size.
    pub batch: usize,
    /// Reconnect min.
    pub reconnect_min: Duration,
    /// Reconnect max.
    pub reconnect_max: Duration,
    /// Watchdog.
    pub watchdog: Duration,
    /// Poll.
    pub poll: Duration,
}

/// Start the reader.
pub fn spawn(
    _cfg: OutboxConfig,
    _tx: tokio::sync::mpsc::Sender<OutboxBatch>,
    cancel: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { cancel.cancelled().await })
}
