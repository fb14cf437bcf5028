//! The command line: parsing and printing only. Each subcommand's file turns its arguments into an
//! operation's options, calls the operation and prints the result. Nothing imports `cli`.

mod backup;
mod billing;
mod completions;
mod config;
mod demo;
mod doctor;
mod events;
mod fleet;
mod image;
mod init;
mod logs;
mod man;
mod migrate;
mod platform;
mod restore;
mod serve;
mod server;
mod tenant;

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args, Parser, Subcommand};

use crate::config::{Env, Given, Origin, Overrides, Settings};
use crate::db::{self, Database, DbOptions, control};
use crate::error::BadInput;
use crate::runtime::Engine;
use crate::telemetry::LogFormat;
use crate::tenant::runtime::{DatabaseAccess, RuntimeOptions};
use crate::ui::{ColorChoice, OutputFormat, Ui, UiOptions};

/// Runs a platform of Telegram booking bots: one PostgreSQL schema and one Docker container per tenant.
///
/// With no database URL configured, botctl keeps its own PostgreSQL cluster under its data directory,
/// created and started on demand. Settings come from flags, then BOTCTL_* environment variables, then
/// the config file ($BOTCTL_CONFIG, $XDG_CONFIG_HOME/botctl/config.yaml or /etc/botctl/config.yaml),
/// then defaults; `botctl config show` prints where each one came from.
#[derive(Debug, Parser)]
#[command(name = "botctl", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts; each has a BOTCTL_* environment twin.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Reads settings from this YAML file instead of the standard places.
    #[arg(long, global = true, env = "BOTCTL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl's local cluster.
    // Parsed by `config`, not clap: clap's errors quote the value, and this one holds a password.
    #[arg(long, global = true, env = "BOTCTL_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<String>,

    /// Keeps botctl's own data (the local PostgreSQL cluster) in this directory.
    #[arg(long, global = true, env = "BOTCTL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Prints results as a table for people, or as JSON or YAML for scripts.
    #[arg(short, long, global = true, env = "BOTCTL_OUTPUT", value_name = "FORMAT")]
    output: Option<OutputFormat>,

    /// Prints nothing but results and errors.
    #[arg(short, long, global = true, env = "BOTCTL_QUIET", value_parser = BoolishValueParser::new(), conflicts_with = "verbose")]
    quiet: bool,

    /// Prints more about what happens; repeat for more detail.
    #[arg(short, long, global = true, action = ArgAction::Count, env = "BOTCTL_VERBOSE")]
    verbose: u8,

    /// Answers yes to confirmations; required for destructive commands when not on a terminal.
    #[arg(short = 'y', long, global = true, env = "BOTCTL_YES", value_parser = BoolishValueParser::new())]
    yes: bool,

    /// Never draws progress bars or spinners.
    #[arg(long, global = true, env = "BOTCTL_NO_PROGRESS", value_parser = BoolishValueParser::new())]
    no_progress: bool,

    /// Colors output always, never, or only on a terminal (NO_COLOR also turns color off).
    #[arg(long, global = true, env = "BOTCTL_COLOR", value_name = "WHEN")]
    color: Option<ColorChoice>,

    /// Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug).
    #[arg(long, global = true, env = "BOTCTL_LOG_FORMAT", value_name = "FORMAT")]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::InitArgs),
    Doctor(doctor::DoctorArgs),
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    #[command(subcommand)]
    Server(server::ServerCommand),
    Migrate(migrate::MigrateArgs),
    Backup(backup::BackupArgs),
    Restore(restore::RestoreArgs),
    Events(events::EventsArgs),
    #[command(subcommand)]
    Billing(billing::BillingCommand),
    Demo(demo::DemoArgs),
    Serve(serve::ServeArgs),
    #[command(subcommand)]
    Platform(platform::PlatformCommand),
    Health(serve::HealthArgs),
    Logs(logs::LogsArgs),
    #[command(subcommand)]
    Image(image::ImageCommand),
    #[command(subcommand)]
    Config(config::ConfigCommand),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
}

/// How long an operator command waits for the Docker engine to start answering a request (bodies such
/// as log streams are not bounded by it).
const ENGINE_TIMEOUT: Duration = Duration::from_secs(120);

/// What every command gets: the effective settings and the terminal.
pub struct Context {
    pub settings: Settings,
    pub ui: Ui,
}

impl Context {
    pub fn db_options(&self) -> DbOptions {
        let s = &self.settings;
        DbOptions {
            url: s.database.url.clone(),
            data_dir: s.data_dir.clone(),
            postgres_bin_dir: s.database.postgres_bin_dir.clone(),
            connect_timeout: s.database.connect_timeout,
            max_connections: DbOptions::DEFAULT_MAX_CONNECTIONS,
            lock_timeout: None,
        }
    }

    /// Connects to the operator's database, whose control schema must be current.
    pub async fn connect(&self) -> anyhow::Result<Database> {
        self.connect_with_pool(DbOptions::DEFAULT_MAX_CONNECTIONS).await
    }

    pub async fn connect_with_pool(&self, max_connections: u32) -> anyhow::Result<Database> {
        self.connect_locking(max_connections, None).await
    }

    /// The same, for commands that take tenants' tables and give up on one another session holds
    /// for longer than `lock_timeout`.
    pub async fn connect_locking(
        &self,
        max_connections: u32,
        lock_timeout: Option<Duration>,
    ) -> anyhow::Result<Database> {
        let database = self.open(DbOptions { max_connections, lock_timeout, ..self.db_options() }).await?;
        control::require_current(&database.pool).await?;
        Ok(database)
    }

    /// Connects (starting the local cluster if that is the database) without looking at the control schema.
    pub async fn open(&self, options: DbOptions) -> anyhow::Result<Database> {
        let spinner = self.ui.spinner("connecting to PostgreSQL");
        db::connect(&options, &spinner).await
    }

    /// The Docker engine at `docker.host`, its API version negotiated.
    pub async fn engine(&self) -> anyhow::Result<Engine> {
        Engine::connect(&self.settings.docker.host, ENGINE_TIMEOUT).await
    }

    /// How tenant containers run, and how they reach the database `database` is.
    pub async fn runtime_options(&self, database: &Database) -> anyhow::Result<RuntimeOptions> {
        let s = &self.settings;
        let shared_socket = match &database.location {
            db::Location::Local { shared_socket, .. } => Some(shared_socket.as_path()),
            db::Location::Server(_) => None,
        };
        let access = DatabaseAccess::resolve(
            s.runtime.database_host.as_deref(),
            "runtime.database_host",
            &database.options,
            shared_socket,
        )?;
        Ok(RuntimeOptions {
            installation: db::control::installation(&database.pool).await?,
            image: s.docker.image.clone(),
            network: s.runtime.network.clone(),
            database: access,
            memory_mb: s.runtime.memory_mb,
            cpus: s.runtime.cpus,
            health_timeout: s.runtime.health_timeout,
            health_interval: s.runtime.health_interval,
            telegram_api_url: s.telegram.api_url.clone(),
            rate_limits: s.telegram.rate_limits,
        })
    }

    /// Who runs this command, for operator events: the OS user and host.
    pub fn actor(&self) -> String {
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name);
        let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
        format!("{user}@{host}")
    }
}

pub async fn dispatch(command: Command, ctx: &Context) -> anyhow::Result<()> {
    match command {
        Command::Init(args) => init::exec(args, ctx).await,
        Command::Doctor(args) => doctor::exec(args, ctx).await,
        Command::Tenant(command) => tenant::exec(command, ctx).await,
        Command::Server(command) => server::exec(command, ctx).await,
        Command::Migrate(args) => migrate::exec(args, ctx).await,
        Command::Backup(args) => backup::exec(args, ctx).await,
        Command::Restore(args) => restore::exec(args, ctx).await,
        Command::Events(args) => events::exec(args, ctx).await,
        Command::Billing(command) => billing::exec(command, ctx).await,
        Command::Demo(args) => demo::exec(args, ctx).await,
        Command::Serve(args) => serve::exec(args, ctx).await,
        Command::Platform(command) => platform::exec(command, ctx).await,
        // Run before the settings are loaded (`run_self_describing`).
        Command::Health(args) => serve::health(&args, &ctx.ui),
        Command::Logs(args) => logs::exec(args, ctx).await,
        Command::Image(command) => image::exec(command, ctx).await,
        Command::Config(command) => config::exec(command, ctx),
        Command::Completions(args) => completions::exec(&args, &ctx.ui),
        Command::Man(args) => man::exec(&args, &ctx.ui),
    }
}

impl Command {
    /// `serve` and `demo` stop themselves gracefully on a signal; every other command is simply cancelled.
    pub fn handles_signals(&self) -> bool {
        matches!(self, Command::Serve(_) | Command::Demo(_) | Command::Platform(_))
    }
}

/// clap blames the flag for a bad value that came from its environment twin (`BOTCTL_YES=maybe` reads
/// "invalid value 'maybe' for '--yes'"); this names the variable instead. `None` when the flag is to blame.
pub fn blame_environment(error: &clap::Error, args: &[std::ffi::OsString], env: &Env) -> Option<BadInput> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(error.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return None;
    }
    let (Some(ContextValue::String(shown)), Some(ContextValue::String(value))) =
        (error.get(ContextKind::InvalidArg), error.get(ContextKind::InvalidValue))
    else {
        return None;
    };
    let long = shown.split_whitespace().next()?.strip_prefix("--")?;
    let command = <Cli as clap::CommandFactory>::command();
    let arg = all_arguments(&command).find(|a| a.get_long() == Some(long))?;
    let var = arg.get_env()?.to_str()?;
    let on_command_line = args.iter().filter_map(|a| a.to_str()).any(|a| {
        a == format!("--{long}")
            || a.starts_with(&format!("--{long}="))
            || arg.get_short().is_some_and(|s| a.starts_with(&format!("-{s}")) && !a.starts_with("--"))
    });
    if on_command_line || env.get(var) != Some(value.as_str()) {
        return None;
    }
    let rendered = error.render().to_string();
    let reason = rendered.split("\n\nFor more information").next().unwrap_or_default();
    let reason = reason.trim().trim_start_matches("error: ");
    Some(BadInput::new(
        reason.replace(&format!("for '{shown}'"), &format!("in environment variable {var} (for --{long})")),
    ))
}

fn all_arguments(command: &clap::Command) -> Box<dyn Iterator<Item = &clap::Arg> + '_> {
    Box::new(command.get_arguments().chain(command.get_subcommands().flat_map(all_arguments)))
}

/// Runs the commands that describe the CLI itself, which need no configuration: a broken config
/// file must not stop `botctl completions` or `botctl man`; and `botctl health`, Docker's healthcheck,
/// which must cost as little as it can. `None` for every other command.
pub fn run_self_describing(command: &Command, ui: &Ui) -> Option<anyhow::Result<()>> {
    match command {
        Command::Completions(args) => Some(completions::exec(args, ui)),
        Command::Man(args) => Some(man::exec(args, ui)),
        Command::Health(args) => Some(serve::health(args, ui)),
        _ => None,
    }
}

impl GlobalArgs {
    /// The global options as configuration overrides, each tagged with where clap found it.
    pub fn overrides(&self, matches: &ArgMatches) -> Overrides {
        let sources = Sources { matches, command: <Cli as clap::CommandFactory>::command() };
        let flag = |id: &str, on: bool| if on { sources.given(id, true) } else { None };
        let verbosity = if self.quiet {
            sources.given("quiet", -1)
        } else if self.verbose > 0 {
            sources.given("verbose", i8::try_from(self.verbose).unwrap_or(i8::MAX))
        } else {
            None
        };
        Overrides {
            config: self.config.clone().and_then(|v| sources.given("config", v)),
            database_url: self.database_url.clone().and_then(|v| sources.given("database_url", v)),
            data_dir: self.data_dir.clone().and_then(|v| sources.given("data_dir", v)),
            output: self.output.and_then(|v| sources.given("output", v)),
            color: self.color.and_then(|v| sources.given("color", v)),
            log_format: self.log_format.and_then(|v| sources.given("log_format", v)),
            no_progress: flag("no_progress", self.no_progress),
            verbosity,
            yes: flag("yes", self.yes),
        }
    }

    /// The terminal as the flags alone describe it, before (or without) configuration.
    pub fn early_ui(&self) -> UiOptions {
        UiOptions {
            output: self.output.unwrap_or(OutputFormat::Table),
            color: self.color.unwrap_or(ColorChoice::Auto),
            verbosity: if self.quiet { -1 } else { i8::try_from(self.verbose).unwrap_or(i8::MAX) },
            no_progress: self.no_progress,
        }
    }
}

/// Where clap found each global argument: on the command line or in its environment twin.
struct Sources<'a> {
    matches: &'a ArgMatches,
    command: clap::Command,
}

impl Sources<'_> {
    /// Tags a value with its origin; `None` when clap only filled in a default.
    fn given<T>(&self, id: &str, value: T) -> Option<Given<T>> {
        let arg = self.command.get_arguments().find(|a| a.get_id() == id)?;
        let origin = match self.matches.value_source(id)? {
            ValueSource::CommandLine => {
                Origin::Flag(arg.get_long().map_or_else(|| id.to_string(), |l| format!("--{l}")))
            }
            ValueSource::EnvVariable => Origin::Env(arg.get_env()?.to_string_lossy().into_owned()),
            _ => return None,
        };
        Some(Given { value, origin })
    }
}
