//! The error printer: cargo's `error:` line and `Caused by:` chain, or one structured object.

use console::style;
use serde::Serialize;

use super::{OutputFormat, multi_progress, write_stdout};
use crate::error::{SomeFailed, exit_code, has};

#[derive(Serialize)]
struct ErrorObject {
    error: ErrorBody,
}

#[derive(Serialize)]
struct ErrorBody {
    message: String,
    causes: Vec<String>,
    exit_code: i32,
}

/// Prints `error` for a person (stderr) or a script (stdout, in the chosen format) and returns the exit code.
pub fn report_error(error: &anyhow::Error, output: OutputFormat) -> i32 {
    let code = exit_code(error);
    let mut chain = error.chain().map(ToString::to_string);
    let message = chain.next().unwrap_or_default();
    let causes: Vec<String> = chain.collect();
    match output {
        OutputFormat::Table => {
            let mut text = format!("{}: {message}\n", style("error").red().bold().for_stderr());
            for cause in &causes {
                text.push_str("\nCaused by:\n");
                for line in cause.lines() {
                    text.push_str("  ");
                    text.push_str(line);
                    text.push('\n');
                }
            }
            multi_progress().suspend(|| eprint!("{text}"));
        }
        // The check report on stdout already says what failed; a second document would break parsers.
        _ if has::<SomeFailed>(error) => {}
        structured => {
            let object = ErrorObject { error: ErrorBody { message, causes, exit_code: code } };
            let written = super::serialize(&object, structured).and_then(|text| write_stdout(&text));
            // If even the report cannot be written, stderr is the last resort.
            if let Err(e) = written {
                eprintln!("error: {} (and writing the error report failed: {e})", object.error.message);
            }
        }
    }
    code
}

/// Prints clap's own message (help and version to stdout, usage errors to stderr) and returns its code.
pub fn report_usage(error: &clap::Error) -> i32 {
    // clap renders help, version and usage errors itself, with its own styling and exit codes.
    if error.print().is_err() {
        return crate::error::EXIT_BAD_INPUT;
    }
    error.exit_code()
}
