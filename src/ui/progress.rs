//! Spinners for a person at a terminal, and the log writer that pauses them so lines never tear.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::multi_progress;
use crate::progress::Progress;

/// A spinner on stderr while a slow step runs; hidden when stderr is not a terminal.
pub struct Spinner {
    bar: ProgressBar,
}

impl Spinner {
    pub(super) fn new(message: String, visible: bool) -> Self {
        let bar = if visible { multi_progress().add(ProgressBar::new_spinner()) } else { ProgressBar::hidden() };
        if let Ok(style) = ProgressStyle::with_template("{spinner:.green} {msg} {elapsed:.dim}") {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        Self { bar }
    }
}

impl Progress for Spinner {
    fn set_message(&self, message: &str) {
        self.bar.set_message(message.to_string());
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// The `tracing` writer: log lines go to stderr with any live progress bar suspended around them.
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        multi_progress().suspend(|| std::io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}
