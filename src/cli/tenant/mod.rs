mod r#move;
mod upgrade;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use super::backup::{DestArgs, LockTimeoutArgs};
use crate::billing;
use crate::billing::credit::{self, Payment, Provider};
use crate::billing::{Money, Start, Subscription, plans};
use crate::config::template::{self, Locale, Template};
use crate::db;
use crate::db::servers::ServerName;
use crate::error::BadInput;
use crate::telegram::BotToken;
use crate::tenant::TenantSlug;
use crate::tenant::business::{OutboxCounts, Staffing};
use crate::tenant::lifecycle::{self, DeleteOptions};
use crate::tenant::ops::{self, CreateOptions, UpdateOptions};
use crate::tenant::runtime;
use crate::tenant::served::{self, DemoServer};
use crate::tenant::store::Tenant;
use crate::ui::{Render, Table, count};

/// Creates, lists, shows, changes and deletes tenants (one bot, one schema and role each).
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    Create(CreateArgs),
    List(ListArgs),
    Show(ShowArgs),
    Update(UpdateArgs),
    Delete(DeleteArgs),
    Start(StartArgs),
    Stop(StopArgs),
    Restart(RestartArgs),
    Upgrade(upgrade::UpgradeArgs),
    Move(r#move::MoveArgs),
}

/// The bot token, given directly or in a file (a file keeps it out of the process list and shell history).
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The bot's token from @BotFather.
    #[arg(long, env = "BOTCTL_BOT_TOKEN", hide_env_values = true, value_name = "TOKEN", conflicts_with = "token_file")]
    token: Option<String>,
    /// Reads the bot's token from this file.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

/// Creates a tenant: checks the token with Telegram, then makes its role, schema and seed data in one transaction.
///
/// On a terminal, asks for whatever is missing; elsewhere, missing inputs are an error naming the flags.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The tenant's name: 2-31 lower-case letters, digits or `_`, starting with a letter.
    name: String,
    #[command(flatten)]
    token: TokenArgs,
    #[command(flatten)]
    profile: ProfileArgs,
    /// A built-in template (barbershop, beauty_salon, clinic) or a YAML file.
    #[arg(long, value_name = "NAME|FILE")]
    template: Option<String>,
    #[command(flatten)]
    limits: LimitsArgs,
    /// Leaves the tenant stopped instead of starting its container (`tenant start` starts it).
    #[arg(long)]
    no_start: bool,
    /// Puts its schema on this PostgreSQL server (`botctl server list`) [default: the one with the most room].
    #[arg(long, value_name = "NAME")]
    server: Option<ServerName>,
    #[command(flatten)]
    subscription: SubscriptionArgs,
}

/// How the new tenant's subscription begins: complimentary (never expires) unless --trial or --plan.
#[derive(Debug, Args)]
#[command(next_help_heading = "Subscription")]
pub struct SubscriptionArgs {
    /// Begins with a free trial of billing.trial (7 days unless configured), ending in grace like a paid period.
    #[arg(long, conflicts_with = "plan")]
    trial: bool,
    /// Begins paid on this plan: needs the payment's --amount and --reference, credited from now.
    #[arg(long, value_name = "CODE", requires_all = ["amount", "reference"])]
    plan: Option<String>,
    /// The amount received for --plan, e.g. 799RUB (its price in that currency).
    #[arg(long, value_name = "AMOUNT", value_parser = money, requires = "plan")]
    amount: Option<Money>,
    /// The payment's reference for --plan (an invoice or transfer number), unique per payment.
    #[arg(long, value_name = "REF", requires = "plan")]
    reference: Option<String>,
    /// Records an --amount other than the plan's price (a discount, a negotiated price); only with --plan.
    #[arg(long)]
    any_amount: bool,
}

fn money(text: &str) -> Result<Money, String> {
    text.parse().map_err(|e: crate::billing::MoneyError| e.to_string())
}

/// Who the business is: what `create` sets (with defaults) and `update` changes.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The business's name as customers see it [create's default: the template's].
    #[arg(long, value_name = "TEXT")]
    display_name: Option<String>,
    /// Telegram user ids of the business's owners, comma-separated (`update` replaces them all).
    #[arg(long = "admin", value_name = "ID[,ID…]", value_delimiter = ',')]
    admins: Vec<String>,
    /// The business's IANA time zone, e.g. Europe/Moscow [create's default: tenant_defaults.timezone].
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,
    /// The language of the bot's texts [create's default: a template file's own, else tenant_defaults.locale].
    #[arg(long)]
    locale: Option<Locale>,
}

/// The tenant's container limits, when they differ from the configured `runtime.*` defaults.
#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// Memory limit of the tenant's container in MiB (at least 16), or `default` for runtime.memory_mb.
    #[arg(long, value_name = "MIB|default", value_parser = memory_limit)]
    memory_mb: Option<Limit<u32>>,
    /// CPU limit of the tenant's container, e.g. 0.5, or `default` for runtime.cpus.
    #[arg(long, value_name = "N|default", value_parser = cpu_limit)]
    cpus: Option<Limit<f64>>,
}

/// A tenant's own limit, or the configured default.
#[derive(Debug, Clone, Copy)]
enum Limit<T> {
    Own(T),
    Default,
}

impl<T> Limit<T> {
    fn own(self) -> Option<T> {
        match self {
            Limit::Own(value) => Some(value),
            Limit::Default => None,
        }
    }
}

fn memory_limit(text: &str) -> Result<Limit<u32>, String> {
    if text == "default" { Ok(Limit::Default) } else { crate::config::parse_memory(text).map(Limit::Own) }
}

fn cpu_limit(text: &str) -> Result<Limit<f64>, String> {
    if text == "default" { Ok(Limit::Default) } else { crate::config::parse_cpus(text).map(Limit::Own) }
}

/// [`ProfileArgs`], validated.
struct Profile {
    display_name: Option<String>,
    admins: Vec<i64>,
    timezone: Option<chrono_tz::Tz>,
    locale: Option<Locale>,
}

impl ProfileArgs {
    fn parse(&self) -> anyhow::Result<Profile> {
        Ok(Profile {
            display_name: self.display_name.as_deref().map(display_name).transpose()?,
            admins: admins(&self.admins)?,
            timezone: self.timezone.as_deref().map(timezone).transpose()?,
            locale: self.locale,
        })
    }
}

/// Lists tenants.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Shows only tenants with this status (deleted tenants appear only when asked for).
    #[arg(long, value_parser = ["stopped", "running", "deleting", "deleted"])]
    status: Option<String>,
}

/// Shows everything known about one tenant (the token only as its bot id and fingerprint).
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The tenant's name.
    name: String,
}

/// Changes a tenant's display name, owners, time zone, locale, token or container limits; every change
/// is recorded as an event.
///
/// New limits apply to the tenant's container at once, running or not.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The tenant's name.
    name: String,
    #[command(flatten)]
    profile: ProfileArgs,
    #[command(flatten)]
    limits: LimitsArgs,
    #[command(flatten)]
    token: TokenArgs,
    /// Accepts a token of a different bot than the tenant's current one.
    #[arg(long)]
    force: bool,
}

/// Deletes a tenant: takes a final backup, removes its container, drops its schema with all its data
/// and its role; its events remain.
///
/// Schemas a restore kept (tenant_NAME_prev_<time>) go too, and the bot token is forgotten. A delete
/// that fails after its final backup leaves the tenant `deleting`; running it again finishes the job
/// without a second backup. Asks to type the tenant's name on a terminal; elsewhere it needs --yes.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The tenant's name.
    name: String,
    /// Deletes without taking a final backup first.
    #[arg(long)]
    no_backup: bool,
    #[command(flatten)]
    dest: DestArgs,
    #[command(flatten)]
    lock: LockTimeoutArgs,
}

/// Starts the tenant's bot in its container (making the container first if there is none, with a new
/// database password) and waits until it is healthy.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The tenant's name.
    name: String,
}

/// Stops the tenant's container (SIGTERM, then 10 s); `start` runs it again.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// The tenant's name.
    name: String,
}

/// Stops and starts the tenant's container, waiting until it is healthy again.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// The tenant's name.
    name: String,
}

pub async fn exec(command: TenantCommand, ctx: &Context) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create(args) => create(args, ctx).await,
        TenantCommand::List(args) => list(args, ctx).await,
        TenantCommand::Show(args) => show(args, ctx).await,
        TenantCommand::Update(args) => update(args, ctx).await,
        TenantCommand::Delete(args) => delete(args, ctx).await,
        TenantCommand::Start(args) => start(&args.name, false, ctx).await,
        TenantCommand::Stop(args) => stop(args, ctx).await,
        TenantCommand::Restart(args) => start(&args.name, true, ctx).await,
        TenantCommand::Upgrade(args) => upgrade::exec(args, ctx).await,
        TenantCommand::Move(args) => r#move::exec(args, ctx).await,
    }
}

pub(super) fn slug(name: &str) -> anyhow::Result<TenantSlug> {
    TenantSlug::from_input(name)
}

fn timezone(name: &str) -> anyhow::Result<chrono_tz::Tz> {
    name.parse().map_err(|_| {
        BadInput::new(format!("unknown time zone `{name}`: use an IANA name such as Europe/Moscow or Asia/Almaty"))
            .into()
    })
}

/// Owners' Telegram user ids: positive, at most 2^52 (Telegram's documented bound), no repeats.
fn admins(items: &[String]) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let id = item
            .parse::<i64>()
            .ok()
            .filter(|id| (1..=1 << 52).contains(id))
            .ok_or_else(|| BadInput::new(format!("`{item}` is not a Telegram user id (a positive number)")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn display_name(text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 64 || text.chars().any(char::is_control) {
        return Err(BadInput::new("display name must be 1-64 characters without control characters").into());
    }
    Ok(text.to_string())
}

pub(super) fn token(args: &TokenArgs) -> anyhow::Result<Option<BotToken>> {
    let text = match (&args.token, &args.token_file) {
        (Some(token), _) => token.clone(),
        (None, Some(path)) => crate::config::read_secret_file(path)?,
        (None, None) => return Ok(None),
    };
    Ok(Some(text.parse().map_err(|e: crate::telegram::TokenShapeError| BadInput::new(e.to_string()))?))
}

fn template_error(e: template::TemplateError) -> anyhow::Error {
    anyhow::Error::new(e).context(BadInput::new("invalid --template"))
}

async fn create(args: CreateArgs, ctx: &Context) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let defaults = &ctx.settings.tenant_defaults;
    let slug = slug(&args.name)?;
    let mut token = token(&args.token)?;
    let profile = args.profile.parse()?;
    let mut admins = profile.admins;
    let missing: Vec<&str> = [(token.is_none(), "--token"), (admins.is_empty(), "--admin")]
        .into_iter()
        .filter_map(|(missing, flag)| missing.then_some(flag))
        .collect();
    if !missing.is_empty() && !ui.interactive() {
        return Err(
            BadInput::new(format!("missing {} (not a terminal, so botctl cannot ask)", missing.join(" and "))).into()
        );
    }
    // Prompts only for what is missing, and only on a terminal.
    let interactive = ui.interactive();
    while token.is_none() {
        let text = ui.password("Bot token from @BotFather").await?;
        match text.parse::<BotToken>() {
            Ok(t) => token = Some(t),
            Err(e) => ui.warn(e),
        }
    }
    while admins.is_empty() {
        let text = ui.input("Owners' Telegram user ids (comma-separated)", None).await?;
        match admins_from_text(&text) {
            Ok(ids) => admins = ids,
            Err(e) => ui.warn(e),
        }
    }
    let timezone = match profile.timezone {
        Some(tz) => tz,
        None if interactive => loop {
            let name = ui.input("Time zone", Some(defaults.timezone.clone())).await?;
            match self::timezone(&name) {
                Ok(tz) => break tz,
                Err(e) => ui.warn(e),
            }
        },
        None => timezone(&defaults.timezone)?,
    };
    // An embedded template is looked up in this locale; a template file has its own.
    let lookup = profile.locale.unwrap_or(defaults.locale);
    let template = match &args.template {
        Some(spec) => template::resolve(spec, lookup).map_err(template_error)?,
        None if interactive => {
            let names = template::embedded_names();
            let items: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let choice = ui.select("Template", items, 0).await?;
            template::embedded(names[choice], lookup).map_err(template_error)?
        }
        None => {
            return Err(BadInput::new(format!(
                "missing --template (one of {})",
                template::embedded_names().join(", ")
            ))
            .into());
        }
    };
    // `--locale` wins; without it, the template's own (a file's `locale:`, or the one it was looked up in).
    let locale = profile.locale.unwrap_or(template.locale);
    let display_name = profile.display_name;
    let Some(token) = token else { return Err(BadInput::new("missing --token").into()) };
    let options = CreateOptions {
        slug,
        token,
        admins,
        timezone,
        locale,
        display_name,
        template,
        memory_mb: args.limits.memory_mb.and_then(Limit::own),
        cpus: args.limits.cpus.and_then(Limit::own),
        telegram_api_url: ctx.settings.telegram.api_url.clone(),
        server: args.server,
    };
    let database = ctx.connect().await?;
    let start = subscription_start(&args.subscription, ctx, &database).await?;
    let slug = &options.slug;
    // Awaited only once the tenant exists: an unreachable engine is a failed start of a created tenant.
    let runtime = async { anyhow::Ok((ctx.engine().await?, ctx.runtime_options(&database).await?)) };
    let tenant = {
        let spinner = ui.spinner(format!("creating tenant {slug}"));
        let runtime = (!args.no_start).then_some(runtime);
        lifecycle::create_then_start(&database.servers, &options, &start, runtime, &ctx.actor(), &spinner).await?
    };
    if !ui.structured(&tenant)? {
        ui.status(
            "Created",
            format_args!(
                "tenant {} for bot @{} (schema and role {})",
                tenant.slug,
                tenant.bot_username,
                options.slug.schema()
            ),
        );
        ui.note(format_args!("seeded from template `{}`: {}", options.template.name, seed_summary(&options.template)));
        if args.no_start {
            ui.note(format_args!("not started (--no-start): `botctl tenant start {slug}` starts it"));
        } else {
            ui.status("Started", format_args!("container {} is healthy", runtime::container_name(slug.as_str())));
        }
    }
    Ok(())
}

/// The subscription `--trial` or `--plan` asks for, checked before anything is created.
async fn subscription_start(args: &SubscriptionArgs, ctx: &Context, database: &db::Database) -> anyhow::Result<Start> {
    if args.trial {
        let days = ctx.settings.billing.trial.as_secs() / 86_400;
        let days = i32::try_from(days).unwrap_or(i32::MAX);
        if days == 0 {
            return Err(BadInput::new("--trial: billing.trial is 0, which turns trials off").into());
        }
        return Ok(Start::Trial { days });
    }
    let (Some(code), Some(amount), Some(reference)) = (&args.plan, args.amount, &args.reference) else {
        if args.any_amount {
            return Err(BadInput::new("--any-amount goes with --plan, --amount and --reference").into());
        }
        return Ok(Start::Complimentary);
    };
    plans::check_code(code)?;
    let plan = plans::require(&mut *database.pool.acquire().await?, code).await?;
    let days = credit::plan_payment(&plan, amount, args.any_amount)?;
    Ok(Start::Paid(Payment {
        provider: Provider::Manual,
        reference: reference.trim().to_string(),
        amount,
        days,
        plan: Some(plan.code),
        note: Some("paid at tenant create".to_string()),
        raw: serde_json::json!({}),
    }))
}

fn admins_from_text(text: &str) -> anyhow::Result<Vec<i64>> {
    let items: Vec<String> = text.split(',').map(str::to_string).collect();
    let ids = admins(&items)?;
    if ids.is_empty() {
        return Err(BadInput::new("give at least one Telegram user id").into());
    }
    Ok(ids)
}

fn seed_summary(template: &Template) -> String {
    let services = count(template.services.len(), "service", "services");
    format!("{services}, {} a week", count(template.hours.len(), "working interval", "working intervals"))
}

/// A tenant with its container as Docker reports it.
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    tenant: Tenant,
    /// The `botctl demo` serving it in-process, which makes it running without a container.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_text")]
    served_by: Option<DemoServer>,
    /// `null` when there is no container; left out when Docker could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<Option<ContainerView>>,
    /// Left out for a deleted tenant (its subscription is cancelled; `billing ledger` keeps its money).
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription: Option<Subscription>,
}

#[derive(Serialize)]
struct ContainerView {
    status: String,
    health: Option<String>,
    /// `probe` when the bot's `/healthz` told the health: Docker's first check is still to come, or the
    /// bot (a swarm service on an engine before API 1.44) has no Docker check.
    #[serde(skip_serializing_if = "Option::is_none")]
    health_source: Option<&'static str>,
}

fn as_text<S: serde::Serializer>(server: &Option<DemoServer>, serializer: S) -> Result<S::Ok, S::Error> {
    match server {
        Some(server) => serializer.collect_str(server),
        None => serializer.serialize_none(),
    }
}

impl Listed {
    fn status_text(&self) -> String {
        match &self.served_by {
            Some(server) => format!("{} ({server})", self.tenant.status),
            None => self.tenant.status.clone(),
        }
    }

    fn subscription_text(&self) -> String {
        self.subscription.as_ref().map_or_else(|| "-".to_string(), Subscription::summary)
    }

    fn container_text(&self) -> String {
        match &self.container {
            None => "?".to_string(),
            Some(None) => "none".to_string(),
            Some(Some(c)) => match &c.health {
                Some(health) => format!("{}, {health}", c.status),
                None => c.status.clone(),
            },
        }
    }
}

/// Pairs tenants with their containers; without an answer from Docker, says so once and shows `?`.
/// Bots Docker has not checked yet are asked themselves.
async fn with_containers(tenants: Vec<Tenant>, ctx: &Context, database: &db::Database) -> Vec<Listed> {
    let states = async {
        let installation = db::control::installation(&database.pool).await?;
        let engine = ctx.engine().await?;
        let mut containers = crate::tenant::runner::managed(&engine, &installation).await?;
        // Only the tenants shown are asked: `tenant show` asks one bot, not the fleet.
        let shown: std::collections::HashSet<String> =
            tenants.iter().map(|t| runtime::container_name(&t.slug)).collect();
        containers.retain(|c| shown.contains(&c.name));
        engine.probe_starting(&mut containers).await?;
        anyhow::Ok(containers.into_iter().map(|c| (c.name.clone(), c)).collect::<std::collections::HashMap<_, _>>())
    };
    let slugs: Vec<TenantSlug> = tenants.iter().filter_map(|t| t.slug.parse().ok()).collect();
    let served = async { anyhow::Ok(served::by_demo(&mut *database.pool.acquire().await?, &slugs).await?) };
    let mut served = served.await.unwrap_or_else(|e| {
        ctx.ui.warn(format_args!("which tenants `botctl demo` serves is unknown: {e:#}"));
        Default::default()
    });
    let subscriptions = async { billing::subscription::by_tenant(&mut *database.pool.acquire().await?).await };
    let mut subscriptions = subscriptions.await.unwrap_or_else(|e| {
        ctx.ui.warn(format_args!("subscriptions are unknown: {e:#}"));
        Default::default()
    });
    let mut states = match states.await {
        Ok(states) => Some(states),
        Err(e) => {
            ctx.ui.warn(format_args!("container states are unknown: {e:#}"));
            None
        }
    };
    tenants
        .into_iter()
        .map(|mut tenant| {
            let container = states.as_mut().map(|s| {
                s.remove(&runtime::container_name(&tenant.slug)).map(|c| ContainerView {
                    status: c.status,
                    health: c.health,
                    health_source: c.health_probed.then_some("probe"),
                })
            });
            let served_by = served.remove(&tenant.slug);
            if served_by.is_some() {
                tenant.status = "running".to_string();
            }
            let subscription = if tenant.deleted_at.is_none() { subscriptions.remove(&tenant.slug) } else { None };
            Listed { tenant, served_by, container, subscription }
        })
        .collect()
}

#[derive(Serialize)]
#[serde(transparent)]
struct TenantList(Vec<Listed>);

impl Render for TenantList {
    fn render(&self) -> String {
        let mut table = Table::new([
            "slug",
            "name",
            "bot",
            "status",
            "container",
            "subscription",
            "schema",
            "server",
            "timezone",
            "created",
        ]);
        for listed in &self.0 {
            let t = &listed.tenant;
            table.row([
                t.slug.clone(),
                t.display_name.clone(),
                format!("@{}", t.bot_username),
                listed.status_text(),
                listed.container_text(),
                listed.subscription_text(),
                t.schema_version.to_string(),
                t.server.clone(),
                t.timezone.clone(),
                t.created_at.format("%Y-%m-%d %H:%M").to_string(),
            ]);
        }
        table.to_string()
    }
}

async fn list(args: ListArgs, ctx: &Context) -> anyhow::Result<()> {
    let database = ctx.connect().await?;
    let tenants = ops::list(&database.servers, args.status.as_deref()).await?;
    ctx.ui.data(&TenantList(with_containers(tenants, ctx, &database).await))
}

#[derive(Serialize)]
struct TenantDetails {
    #[serde(flatten)]
    listed: Listed,
    /// `null` while the tenant's schema has no outbox yet (not migrated).
    outbox: Option<OutboxCounts>,
    /// The time zone and the admins as the business has them now (it changes them in its bot).
    business: Staffing,
}

impl TenantDetails {
    /// The owners the business has now, and those named on the command line when they differ.
    fn owners(&self) -> String {
        let now = ids(&self.business.owners).unwrap_or_default();
        let set = ids(&self.listed.tenant.admins).unwrap_or_default();
        if now == set { now } else { format!("{now} (named with --admin: {set})") }
    }

    fn time_zone(&self) -> String {
        let (now, set) = (&self.business.timezone, &self.listed.tenant.timezone);
        if now == set { now.clone() } else { format!("{now} (set in the bot; created with {set})") }
    }
}

fn ids(ids: &[i64]) -> Option<String> {
    (!ids.is_empty()).then(|| ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
}

impl Render for TenantDetails {
    fn render(&self) -> String {
        let t = &self.listed.tenant;
        let mut table = Table::new(["field", "value"]);
        let rows = [
            ("slug", t.slug.clone()),
            ("display name", t.display_name.clone()),
            ("bot", format!("@{} (id {})", t.bot_username, t.bot_id)),
            ("token", format!("fingerprint {}", t.token_fingerprint)),
            ("owners", self.owners()),
            ("managers", ids(&self.business.managers).unwrap_or_else(|| "none".into())),
            ("time zone", self.time_zone()),
            ("locale", t.locale.clone()),
            ("template", t.template.clone()),
            ("status", self.listed.status_text()),
            ("container", format!("{} ({})", self.listed.container_text(), runtime::container_name(&t.slug))),
            ("subscription", self.listed.subscription_text()),
            (
                "image",
                t.image.clone().unwrap_or_else(|| "none yet (the configured docker.image at first start)".into()),
            ),
            ("memory", t.memory_mb.map_or_else(|| "default (runtime.memory_mb)".into(), |mb| format!("{mb} MiB"))),
            ("cpus", t.cpus.map_or_else(|| "default (runtime.cpus)".into(), |cpus| cpus.to_string())),
            (
                "schema",
                format!(
                    "tenant_{} at version {} (this botctl: {})",
                    t.slug,
                    t.schema_version,
                    db::migrate::tenant_latest()
                ),
            ),
            ("server", t.server.clone()),
            (
                "outbox",
                self.outbox.as_ref().map_or_else(
                    || "not migrated yet".into(),
                    |o| format!("{} pending, {} failed in the last 24 h", o.pending, o.failed_last_day),
                ),
            ),
            ("created", t.created_at.to_rfc3339()),
            ("updated", t.updated_at.to_rfc3339()),
        ];
        for (field, value) in rows {
            table.row([field.to_string(), value]);
        }
        table.to_string()
    }
}

async fn show(args: ShowArgs, ctx: &Context) -> anyhow::Result<()> {
    let slug = slug(&args.name)?;
    let database = ctx.connect().await?;
    let tenant = ops::show(&database.servers, &slug).await?;
    let live = ops::live(&database.servers, &slug).await?;
    let mut listed = with_containers(vec![tenant], ctx, &database).await;
    ctx.ui.data(&TenantDetails { listed: listed.remove(0), outbox: live.outbox, business: live.staffing })
}

async fn update(args: UpdateArgs, ctx: &Context) -> anyhow::Result<()> {
    let slug = slug(&args.name)?;
    let profile = args.profile.parse()?;
    let options = UpdateOptions {
        display_name: profile.display_name,
        admins: (!profile.admins.is_empty()).then_some(profile.admins),
        timezone: profile.timezone,
        locale: profile.locale,
        token: token(&args.token)?,
        force: args.force,
        memory_mb: args.limits.memory_mb.map(Limit::own),
        cpus: args.limits.cpus.map(Limit::own),
        telegram_api_url: Some(ctx.settings.telegram.api_url.clone()),
    };
    if options.display_name.is_none()
        && options.admins.is_none()
        && options.timezone.is_none()
        && options.locale.is_none()
        && options.token.is_none()
        && options.memory_mb.is_none()
        && options.cpus.is_none()
    {
        return Err(BadInput::new(
            "nothing to change: give --display-name, --admin, --timezone, --locale, --token, --token-file, \
             --memory-mb or --cpus",
        )
        .into());
    }
    let database = ctx.connect().await?;
    let updated = ops::update(&database.servers, &slug, &options, &ctx.actor()).await?;
    if updated.changes.contains_key("memory_mb") || updated.changes.contains_key("cpus") {
        let applied = async {
            let engine = ctx.engine().await?;
            let options = ctx.runtime_options(&database).await?;
            runtime::apply_limits(&database.servers, &engine, &slug, &options).await
        };
        match applied.await {
            Ok(true) => ctx
                .ui
                .note(format_args!("the new limits apply to container {} now", runtime::container_name(slug.as_str()))),
            Ok(false) => ctx.ui.note("the new limits apply when the tenant's container is created"),
            Err(e) => ctx.ui.warn(format_args!(
                "the new limits are recorded, but the container keeps its old ones until it is made again: {e:#}"
            )),
        }
    }
    if !ctx.ui.structured(&updated)? {
        if updated.changes.is_empty() {
            ctx.ui.status("Unchanged", format_args!("tenant {slug}: the values given are the current ones"));
        }
        for (field, change) in &updated.changes {
            let (from, to) = (shown_value(field, &change.from, ctx), shown_value(field, &change.to, ctx));
            ctx.ui.status("Updated", format_args!("tenant {slug}: {field} {from} → {to}"));
        }
    }
    Ok(())
}

/// A changed value for people: a limit left unset is the configured default, shown with its value.
fn shown_value(field: &str, value: &serde_json::Value, ctx: &Context) -> String {
    let runtime = &ctx.settings.runtime;
    match (field, value) {
        ("cpus", serde_json::Value::Null) => format!("default ({})", runtime.cpus),
        ("memory_mb", serde_json::Value::Null) => format!("default ({})", runtime.memory_mb),
        (_, serde_json::Value::Null) => "none".to_string(),
        (_, value) => value.to_string(),
    }
}

async fn delete(args: DeleteArgs, ctx: &Context) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let slug = slug(&args.name)?;
    let database = ctx.connect_locking(db::DbOptions::DEFAULT_MAX_CONNECTIONS, Some(args.lock.get(ctx))).await?;
    let tenant = ops::show(&database.servers, &slug).await?;
    // Refused before the final backup, not only at the container's lock, so a refusal leaves no archive.
    served::refuse_if_by_demo(&mut *database.pool.acquire().await?, &slug).await?;
    let schema = slug.schema();
    // A delete that failed after its final backup is finished without another one.
    let resuming = tenant.status == "deleting";
    let backup_note = match (resuming, &tenant.final_backup) {
        (true, Some(path)) => format!("finishing a delete begun earlier, whose final backup is {path}"),
        (true, None) => "finishing a delete begun earlier without a final backup".to_string(),
        (false, _) if args.no_backup => "without a final backup (--no-backup)".to_string(),
        (false, _) => "after a final backup".to_string(),
    };
    let summary = format!(
        "deleting tenant `{slug}` (bot @{}) removes its container and drops schema {schema} (and any kept \
         {schema}_prev_ schema) with all its data and role {schema}, {backup_note}; its events remain",
        tenant.bot_username
    );
    if !ctx.settings.yes {
        if !ui.interactive() {
            return Err(BadInput::new(format!(
                "refusing to delete tenant `{slug}` without --yes (not a terminal): {summary}"
            ))
            .into());
        }
        ui.warn(summary);
        if !ui.confirm_typed(&format!("Type `{slug}` to delete it"), slug.as_str()).await? {
            anyhow::bail!("aborted: nothing was deleted");
        }
    }
    if resuming {
        ui.note(format_args!("tenant {slug}: {backup_note}"));
    }
    let options = DeleteOptions { final_backup: (!args.no_backup).then(|| args.dest.dir(ctx)) };
    let deleted = {
        // Reached before the final backup, but used only for the container: an unreachable engine
        // fails the delete of a running tenant only, and only once its backup is taken.
        let connected = ctx.engine().await;
        // The engine lent, or its error handed on whole (with its chain).
        let engine = match connected {
            Ok(ref engine) => Ok(engine),
            Err(e) => Err(e),
        };
        let spinner = ui.spinner(format!("deleting tenant {slug}"));
        lifecycle::delete(&database.servers, engine, &slug, &options, &ctx.actor(), &spinner).await?
    };
    if let Some(path) = deleted.final_backup.as_ref().filter(|_| !deleted.resumed) {
        ui.status("Backed up", format_args!("tenant {slug} to {path}"));
    }
    if let Some(warning) = &deleted.warning {
        ui.warn(warning);
    }
    if !ui.structured(&deleted.tenant)? {
        ui.status("Deleted", format_args!("tenant {slug}: schema and role {} dropped", slug.schema()));
    }
    Ok(())
}

/// `start`, or with `restart` a stop first.
async fn start(name: &str, restart: bool, ctx: &Context) -> anyhow::Result<()> {
    let slug = slug(name)?;
    let database = ctx.connect().await?;
    // Refused before the engine and the runtime settings are needed (`lifecycle::start` refuses it too,
    // for callers that have them already).
    ops::refuse_deleting(&ops::show(&database.servers, &slug).await?)?;
    let engine = ctx.engine().await?;
    let options = ctx.runtime_options(&database).await?;
    let started = {
        let spinner = ctx.ui.spinner(format!("starting tenant {slug}"));
        lifecycle::start(&database.servers, &engine, &slug, &options, restart, &ctx.actor(), &spinner).await?
    };
    if !ctx.ui.structured(&started)? {
        let verb = if restart { "Restarted" } else { "Started" };
        ctx.ui.status(verb, format_args!("tenant {slug}: container {} is healthy", started.container));
    }
    Ok(())
}

async fn stop(args: StopArgs, ctx: &Context) -> anyhow::Result<()> {
    let slug = slug(&args.name)?;
    let database = ctx.connect().await?;
    ops::show(&database.servers, &slug).await?;
    let engine = ctx.engine().await?;
    runtime::stop(&database.servers, &engine, &slug, &ctx.actor()).await?;
    if !ctx.ui.structured(&serde_json::json!({ "tenant": slug.as_str(), "status": "stopped" }))? {
        ctx.ui.status("Stopped", format_args!("tenant {slug}"));
    }
    Ok(())
}
