//! botctl runs a multi-tenant platform of Telegram appointment-booking bots: one PostgreSQL schema and
//! role and one Docker container per tenant. This crate is both the operator's CLI and, later, the
//! daemon inside each tenant's container.
//!
//! Layout: `cli` parses and prints; `config` owns the environment and config files; `ui` owns the
//! terminal; `db`, `runtime` and `telegram` talk to PostgreSQL, Docker and the Bot API; `doctor`
//! orchestrates checks across them.

pub mod backup;
pub mod billing;
pub mod booking;
pub mod bot;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod doctor;
pub mod emulation;
pub mod error;
pub mod locale;
pub mod payments;
pub mod platform;
pub mod progress;
pub mod runtime;
pub mod telegram;
pub mod telemetry;
pub mod tenant;
pub mod ui;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Context};
use crate::config::{Env, Settings};
use crate::error::{EXIT_OK, Interrupted};
use crate::ui::{Ui, UiOptions};

/// Runs botctl with these arguments and returns the process exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let matches = match Cli::command().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(e) => match cli::blame_environment(&e, &args, &Env::from_process()) {
            Some(blamed) => return ui::report_error(&blamed.into(), ui::OutputFormat::Table),
            None => return ui::report_usage(&e),
        },
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return ui::report_usage(&e),
    };
    let early = cli.global.early_ui();
    if let Some(result) = cli::run_self_describing(&cli.command, &Ui::new(early)) {
        return result.map_or_else(|e| ui::report_error(&e, early.output), |()| EXIT_OK);
    }
    let settings = match Settings::load(cli.global.overrides(&matches), &Env::from_process()) {
        Ok(settings) => settings,
        Err(e) => return ui::report_error(&e.into(), early.output),
    };
    let ui = Ui::new(UiOptions {
        output: settings.output,
        color: settings.color,
        verbosity: settings.verbosity,
        no_progress: settings.no_progress,
    });
    for warning in &settings.warnings {
        ui.warn(warning);
    }
    let output = settings.output;
    if let Err(e) = telemetry::init(settings.log.filter.as_deref(), settings.verbosity, settings.log.format) {
        return ui::report_error(&e, output);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return ui::report_error(&anyhow::Error::new(e).context("cannot start the async runtime"), output),
    };
    let ctx = Context { settings, ui };
    let modes = ui::TerminalModes::save();
    let result = if cli.command.handles_signals() {
        runtime.block_on(cli::dispatch(cli.command, &ctx))
    } else {
        runtime.block_on(run_until_interrupted(cli.command, &ctx))
    };
    // Dropping the runtime would wait for blocking tasks such as a prompt still reading the terminal.
    runtime.shutdown_background();
    if result.as_ref().is_err_and(error::has::<Interrupted>) {
        // A prompt's thread may have changed the modes after its guard ran; this is the last word.
        modes.restore();
    }
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => ui::report_error(&e, output),
    }
}

/// Races the command against Ctrl-C and SIGTERM. Losing the race drops the command's future, which
/// runs its guards (a prompt restores the terminal, a spinner clears its line).
async fn run_until_interrupted(command: cli::Command, ctx: &Context) -> anyhow::Result<()> {
    tokio::select! {
        biased;
        () = interrupted() => Err(Interrupted.into()),
        result = cli::dispatch(command, ctx) => result,
    }
}

/// Resolves on the first Ctrl-C or SIGTERM.
pub(crate) async fn interrupted() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
