//! Error kinds the binary maps to exit codes; everything else is an ordinary `anyhow` chain.

use std::fmt;

/// Exit code for a completed command.
pub const EXIT_OK: i32 = 0;
/// Exit code when an operation failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code for bad usage or bad input (the same code clap uses).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code after Ctrl-C or SIGTERM, as shells report 128 + SIGINT.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Marks an error as the caller's input being wrong (exit 2) rather than an operation failing.
///
/// Attach it with `anyhow::Error::new(BadInput::new(..))` or `.context(BadInput::new(..))`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(String);

impl BadInput {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// The command was cancelled by Ctrl-C or SIGTERM.
#[derive(Debug, thiserror::Error)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

/// A command that went through many items (doctor's checks, tenants to migrate) and printed its report,
/// some of which failed: the report already says which, so only the count is added.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} {what} failed")]
pub struct SomeFailed {
    pub failed: usize,
    pub total: usize,
    pub what: &'static str,
}

/// The exit code an error chain deserves: the most specific marker found anywhere in it wins.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    if has::<Interrupted>(error) {
        EXIT_INTERRUPTED
    } else if has::<BadInput>(error) || has::<crate::config::ConfigError>(error) {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILED
    }
}

/// Whether `T` is in the chain, either as an error (`Error::new`) or as context (`.context(T)`):
/// anyhow hides context values from `chain()` but finds them with `downcast_ref`.
pub fn has<T: std::error::Error + Send + Sync + 'static>(error: &anyhow::Error) -> bool {
    error.downcast_ref::<T>().is_some() || error.chain().any(|e| e.is::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn bad_input_anywhere_in_the_chain_is_exit_2() {
        let err = Err::<(), _>(anyhow::Error::new(BadInput::new("bad slug"))).context("creating tenant").unwrap_err();
        assert_eq!(exit_code(&err), EXIT_BAD_INPUT);
    }

    #[test]
    fn interrupted_beats_bad_input() {
        let err = anyhow::Error::new(BadInput::new("x")).context(Interrupted);
        assert_eq!(exit_code(&err), EXIT_INTERRUPTED);
    }

    #[test]
    fn bad_input_attached_as_context_is_exit_2() {
        let err = anyhow::anyhow!("invalid digit").context(BadInput::new("bad admin id"));
        let err = err.context("creating tenant");
        assert_eq!(exit_code(&err), EXIT_BAD_INPUT);
    }

    #[test]
    fn plain_failures_are_exit_1() {
        assert_eq!(exit_code(&anyhow::anyhow!("connection refused")), EXIT_FAILED);
    }
}
