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

/// How often a counted operation reports when no one watches a terminal (rustic does the same).
const PLAIN_INTERVAL: Duration = Duration::from_secs(10);

/// A progress bar for counted work. On a terminal an indicatif bar; otherwise a plain line every
/// ten seconds, so cron logs show progress without a bar's control codes.
pub struct Bar {
    bar: ProgressBar,
    plain: Option<std::sync::Mutex<std::time::Instant>>,
}

impl Bar {
    pub(super) fn new(message: String, visible: bool, plain_lines: bool) -> Self {
        let bar = if visible { multi_progress().add(ProgressBar::new(0)) } else { ProgressBar::hidden() };
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30.green}] {pos}/{len} {elapsed:.dim}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message);
        let plain = (!visible && plain_lines).then(|| std::sync::Mutex::new(std::time::Instant::now()));
        Self { bar, plain }
    }
}

impl Progress for Bar {
    fn set_message(&self, message: &str) {
        self.bar.set_message(message.to_string());
    }

    fn set_length(&self, len: u64) {
        self.bar.set_length(len);
    }

    fn inc(&self, done: u64) {
        self.bar.inc(done);
        let Some(last) = &self.plain else { return };
        let Ok(mut last) = last.lock() else { return };
        if last.elapsed() >= PLAIN_INTERVAL {
            *last = std::time::Instant::now();
            let line = format!("{:>12} {}/{}\n", "Progress", self.bar.position(), self.bar.length().unwrap_or(0));
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
