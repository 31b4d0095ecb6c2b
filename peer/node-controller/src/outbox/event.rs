//! Outbox rows as events (no I/O).

use super::OutboxError;

/// One captured change.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Outbox id: increasing in the order the changes were made (not committed); the key that
    /// makes handling idempotent.
    pub id: i64,
    /// Uyuni table, lower case (`rhnchannel`, `suseminioninfo`, …).
    pub table: String,
    /// Kind of change.
    pub op: OutboxOp,
    /// The row after the change (before it for a delete), as `to_jsonb(row)`; for
    /// `rhnchannelpackage`, `{"channel_id": N, "packages": count}` per channel and statement.
    pub row: serde_json::Value,
    /// When the change was made (Unix milliseconds, the database's clock).
    pub at_ms: u64,
}

/// Kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxOp {
    /// `INSERT`.
    Insert,
    /// `UPDATE` (one that changed something).
    Update,
    /// `DELETE`.
    Delete,
}

impl OutboxOp {
    /// From the trigger's `TG_OP`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "INSERT" => Some(Self::Insert),
            "UPDATE" => Some(Self::Update),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }

    /// As `TG_OP` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }
}

impl std::fmt::Display for OutboxOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl OutboxEvent {
    /// An event from the columns of an outbox row: `row_json` is `row_data::text`, `at_ms`
    /// is `created_at` in Unix milliseconds (negative clamps to 0).
    pub fn from_parts(
        id: i64,
        table: &str,
        op: &str,
        row_json: &str,
        at_ms: i64,
    ) -> Result<Self, OutboxError> {
        let op = OutboxOp::parse(op).ok_or_else(|| OutboxError::BadRow {
            id,
            reason: format!("unknown op {op:?}"),
        })?;
        let row = serde_json::from_str(row_json).map_err(|e| OutboxError::BadRow {
            id,
            reason: format!("row_data is not JSON: {e}"),
        })?;
        Ok(Self {
            id,
            table: table.to_owned(),
            op,
            row,
            at_ms: u64::try_from(at_ms).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip() {
        for op in [OutboxOp::Insert, OutboxOp::Update, OutboxOp::Delete] {
            assert_eq!(OutboxOp::parse(op.as_str()), Some(op));
            assert_eq!(op.to_string(), op.as_str());
        }
        assert_eq!(OutboxOp::parse("insert"), None);
        assert_eq!(OutboxOp::parse("TRUNCATE"), None);
    }

    #[test]
    fn a_row_becomes_an_event() {
        let e = OutboxEvent::from_parts(
            7,
            "rhnchannel",
            "UPDATE",
            r#"{"id": 101, "label": "sles15-sp6-pool", "name": "SLES"}"#,
            1_700_000_000_123,
        )
        .expect("valid row");
        assert_eq!(e.id, 7);
        assert_eq!(e.table, "rhnchannel");
        assert_eq!(e.op, OutboxOp::Update);
        assert_eq!(e.row["label"], "sles15-sp6-pool");
        assert_eq!(e.row["id"], 101);
        assert_eq!(e.at_ms, 1_700_000_000_123);
    }

    #[test]
    fn bad_rows_are_errors_naming_the_id() {
        let e = OutboxEvent::from_parts(3, "rhnserver", "MERGE", "{}", 0);
        assert!(matches!(e, Err(OutboxError::BadRow { id: 3, .. })), "{e:?}");
        let e = OutboxEvent::from_parts(4, "rhnserver", "INSERT", "{not json", 0);
        assert!(matches!(e, Err(OutboxError::BadRow { id: 4, .. })), "{e:?}");
        let e = OutboxEvent::from_parts(5, "rhnserver", "DELETE", "{}", -5).expect("valid");
        assert_eq!(e.at_ms, 0);
    }
}
