//! The terminal: the only module that writes to stdout or stderr.
//!
//! Data goes to stdout in the chosen format; messages for humans, progress and logs go to stderr.
//! Library operations never print: they return data and report through [`crate::progress::Progress`].
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

mod progress;
mod prompt;
mod report;
mod table;
mod yaml;

use std::fmt::{self, Display};
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use console::style;
use serde::{Deserialize, Serialize};

pub use progress::{Bar, LogWriter, Spinner};
pub use prompt::TerminalModes;
pub use report::{report_error, report_usage};
pub use table::Table;

/// How data on stdout is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// One JSON document, for scripts.
    Json,
    /// One YAML document, for scripts and people.
    Yaml,
}

/// When to color output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    /// Color when the stream is a terminal.
    Auto,
    /// Color even when writing to a file or pipe.
    Always,
    /// Never color.
    Never,
}

macro_rules! display_as_value_name {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let value = clap::ValueEnum::to_possible_value(self).ok_or(std::fmt::Error)?;
                f.write_str(value.get_name())
            }
        }
    )*};
}
display_as_value_name!(OutputFormat, ColorChoice);
pub(crate) use display_as_value_name;

/// Data a command prints: serialized for `-o json|yaml`, rendered for `-o table`.
pub trait Render: Serialize {
    fn render(&self) -> String;
}

/// Terminal settings for one invocation.
#[derive(Debug, Clone)]
pub struct Ui {
    output: OutputFormat,
    verbosity: i8,
    progress: bool,
}

/// What the terminal looks like, decided once at start-up.
#[derive(Debug, Clone, Copy)]
pub struct UiOptions {
    pub output: OutputFormat,
    pub color: ColorChoice,
    pub verbosity: i8,
    pub no_progress: bool,
}

impl Ui {
    pub fn new(options: UiOptions) -> Self {
        match options.color {
            ColorChoice::Always => {
                console::set_colors_enabled(true);
                console::set_colors_enabled_stderr(true);
            }
            ColorChoice::Never => {
                console::set_colors_enabled(false);
                console::set_colors_enabled_stderr(false);
            }
            ColorChoice::Auto => {}
        }
        // Bars only for a person watching: never in scripts, quiet runs or structured output.
        let progress = !options.no_progress
            && options.verbosity >= 0
            && options.output == OutputFormat::Table
            && std::io::stderr().is_terminal();
        Self { output: options.output, verbosity: options.verbosity, progress }
    }

    pub fn output(&self) -> OutputFormat {
        self.output
    }

    /// `-q`: commands print nothing when all went well (cron mails any output).
    pub fn quiet(&self) -> bool {
        self.verbosity < 0
    }

    /// Prints a command's result to stdout in the chosen format.
    pub fn data<T: Render>(&self, data: &T) -> anyhow::Result<()> {
        let text = match self.output {
            OutputFormat::Table => data.render(),
            structured => serialize(data, structured)?,
        };
        write_stdout(&text)
    }

    /// Prints `data` when the output format is JSON or YAML and says whether it did; commands that
    /// act rather than list print status lines for people instead.
    pub fn structured<T: Serialize>(&self, data: &T) -> anyhow::Result<bool> {
        if self.output == OutputFormat::Table {
            return Ok(false);
        }
        write_stdout(&serialize(data, self.output)?)?;
        Ok(true)
    }

    /// Raw text for stdout, such as a completion script or a man page.
    pub fn raw(&self, text: &[u8]) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text)?;
        Ok(out.flush()?)
    }

    /// A cargo-style status line on stderr: `   Migrated control schema to version 1`.
    pub fn status(&self, verb: &str, message: impl Display) {
        if self.verbosity >= 0 {
            self.eprintln(format_args!("{:>12} {message}", style(verb).green().bold()));
        }
    }

    pub fn warn(&self, message: impl Display) {
        self.eprintln(format_args!("{}: {message}", style("warning").yellow().bold()));
    }

    pub fn note(&self, message: impl Display) {
        if self.verbosity >= 0 {
            self.eprintln(format_args!("{}: {message}", style("note").cyan().bold()));
        }
    }

    /// A spinner while a slow step runs; nothing when no one watches a terminal (the result line follows).
    pub fn spinner(&self, message: impl Into<String>) -> Spinner {
        Spinner::new(message.into(), self.progress)
    }

    /// A bar for counted work, or plain periodic lines when no one watches a terminal.
    pub fn bar(&self, message: impl Into<String>) -> Bar {
        Bar::new(message.into(), self.progress, self.verbosity >= 0)
    }

    fn eprintln(&self, line: fmt::Arguments<'_>) {
        multi_progress().suspend(|| eprintln!("{line}"));
    }
}

/// `1 service`, `2 services`: a count with its noun in the right number.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The machine-readable form of `data`; `Table` falls back to JSON, since it has no generic form.
fn serialize<T: Serialize>(data: &T, format: OutputFormat) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Yaml => yaml::to_string(data)?,
        OutputFormat::Json | OutputFormat::Table => serde_json::to_string_pretty(data)? + "\n",
    })
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    Ok(out.flush()?)
}

/// The one progress area of the process, shared with the log writer so logs never tear a bar.
fn multi_progress() -> &'static indicatif::MultiProgress {
    static MULTI: OnceLock<indicatif::MultiProgress> = OnceLock::new();
    MULTI.get_or_init(indicatif::MultiProgress::new)
}
