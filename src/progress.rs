//! How long-running operations report what they are doing without knowing about terminals.

/// Implemented by `ui`'s spinners and bars; operations accept `&dyn Progress` and never print.
pub trait Progress: Send + Sync {
    /// Describes the step now running, e.g. "initializing the local PostgreSQL cluster".
    fn set_message(&self, message: &str);

    /// How many items a counted operation will go through.
    fn set_length(&self, _len: u64) {}

    /// Items done since the last call.
    fn inc(&self, _done: u64) {}
}

/// For callers with no one to tell: tests, and library use.
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_message(&self, _message: &str) {}
}
