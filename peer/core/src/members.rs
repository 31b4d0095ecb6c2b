//! The membership table as the components see it: one lock around the pure
//! [`Membership`] state machine, held for short critical sections only.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::membership::Membership;

/// A shared handle to this peer's membership table (cheap to clone).
#[derive(Debug, Clone)]
pub struct Members(Arc<Mutex<Membership>>);

impl Members {
    /// Share `table`.
    pub fn new(table: Membership) -> Self {
        Self(Arc::new(Mutex::new(table)))
    }

    /// Lock the table (short critical sections only; never across an `.await`).
    pub fn lock(&self) -> MutexGuard<'_, Membership> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
