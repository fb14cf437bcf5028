//! `botctl billing`: plans, subscriptions, manual credits, refunds and trial extensions, and the ledger
//! for accounting.

use chrono::{DateTime, TimeDelta, Utc};
use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;

use super::Context;
use super::tenant::slug;
use crate::billing::credit::{self, Outcome, Payment, Provider, RefundOutcome};
use crate::billing::ledger::{self, Entry, PaymentRecord};
use crate::billing::plans::{self, Plan, PlanOptions};
use crate::billing::subscription::{self, ListOptions, Listed};
use crate::billing::{self, CreditRequest, Credited, Currency, Money, State, Subscription, period};
use crate::error::BadInput;
use crate::payments::refund::{self, AtProvider, Providers, StarsBot};
use crate::payments::yookassa;
use crate::tenant::runtime;
use crate::ui::{Render, Table};

/// Manages subscriptions and money: plans, each tenant's paid period, manual payments, refunds and the ledger.
#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    Plans(PlansArgs),
    #[command(subcommand)]
    Plan(PlanCommand),
    Show(ShowArgs),
    List(ListArgs),
    Credit(CreditArgs),
    Refund(RefundArgs),
    ExtendTrial(ExtendTrialArgs),
    Ledger(LedgerArgs),
}

/// Lists the plans with their days and prices (disabled ones too).
#[derive(Debug, Args)]
pub struct PlansArgs {}

/// Creates, changes, disables or enables a plan.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    Set(PlanSetArgs),
    Disable(PlanCodeArgs),
    Enable(PlanCodeArgs),
}

/// Creates a plan or changes one; what is not given keeps its value. Prices are set per currency:
/// `--price 150XTR` adds or changes the Stars price and keeps the ruble one.
#[derive(Debug, Args)]
pub struct PlanSetArgs {
    /// The plan's code: 1-16 lower-case letters, digits, `_` or `-` (e.g. 1m, 12m).
    code: String,
    /// The days one payment for the plan credits (1-3660); required for a new plan.
    #[arg(long, value_parser = period::parse_days, allow_negative_numbers = true)]
    days: Option<i32>,
    /// A price with its currency, e.g. 299RUB, 799.50RUB or 150XTR; repeat for each currency.
    #[arg(long = "price", value_name = "AMOUNT", value_parser = money)]
    prices: Vec<Money>,
    /// Stops selling the plan in this currency (RUB or XTR); repeatable.
    #[arg(long = "remove-price", value_name = "CURRENCY", value_parser = currency)]
    remove_prices: Vec<Currency>,
    /// The plan's name in Russian [a new plan's default: its code].
    #[arg(long, value_name = "TEXT")]
    name_ru: Option<String>,
    /// The plan's name in English [a new plan's default: its code].
    #[arg(long, value_name = "TEXT")]
    name_en: Option<String>,
}

/// A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and
/// confirms on a terminal, needing --yes elsewhere; `enable` sells it again.
#[derive(Debug, Args)]
pub struct PlanCodeArgs {
    /// The plan's code.
    code: String,
}

/// Shows a tenant's subscription (state, paid period, grace, plan) and its payments.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The tenant's name.
    tenant: String,
}

/// Lists subscriptions, those ending first on top (cancelled ones only when asked for by --state).
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only subscriptions in this state (trial, active, grace, suspended, complimentary, cancelled); repeatable.
    #[arg(long = "state", value_name = "STATE", value_parser = state)]
    states: Vec<State>,
    /// Only those whose trial, paid period or grace ends within this span, e.g. 7d or 36h.
    #[arg(long, value_name = "SPAN", value_parser = span)]
    expiring: Option<TimeDelta>,
}

/// Records a manual payment and credits its days: from the paid period's end, or from now if it has
/// ended (in grace, suspended) or never began (complimentary, which becomes active).
///
/// Idempotent on the reference: crediting the same payment again changes nothing, and another payment
/// under a recorded reference is refused. A suspended tenant's bot is started after the credit.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["plan", "days"])))]
pub struct CreditArgs {
    /// The tenant's name.
    tenant: String,
    /// The plan paid for: its days are credited, and the amount must be its price in that currency.
    #[arg(long, value_name = "CODE")]
    plan: Option<String>,
    /// The days paid for, without a plan (1-3660).
    #[arg(long, value_parser = period::parse_days, allow_negative_numbers = true)]
    days: Option<i32>,
    /// The amount received with its currency, e.g. 799RUB, 799.50RUB or 150XTR.
    #[arg(long, value_name = "AMOUNT", value_parser = money)]
    amount: Money,
    /// The payment's own reference (an invoice or transfer number): a payment is credited once per reference.
    #[arg(long, value_name = "REF")]
    reference: String,
    /// A note kept with the payment.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// Records an amount other than the plan's price (a discount, a negotiated price); only with --plan.
    #[arg(long)]
    any_amount: bool,
}

/// Refunds a payment: takes its days back from the tenant's paid period (the platform's clock then
/// decides the state) and records the revocation. Refunding a payment twice changes nothing.
///
/// A payment that came through a provider is refunded there first: Telegram Stars by the sales bot (the
/// reference is the telegram_payment_charge_id), YooKassa through the shop (the reference is the payment
/// id); a YooKassa refund YooKassa has not finished is recorded when its `refund.succeeded` notification
/// arrives. Confirms on a terminal, needing --yes elsewhere.
#[derive(Debug, Args)]
pub struct RefundArgs {
    /// The payment's reference.
    reference: String,
    /// The provider that took the payment.
    #[arg(long, default_value = "manual")]
    provider: Provider,
}

/// Extends a tenant's trial: its end moves --days later, recorded in the ledger as a `trial` row.
///
/// Only a subscription in `trial` is extended, by 1-90 days at a time; `credit` adds paid days.
#[derive(Debug, Args)]
pub struct ExtendTrialArgs {
    /// The tenant's name.
    tenant: String,
    /// The days to add to the trial (1-90).
    #[arg(long, allow_negative_numbers = true)]
    days: i32,
}

/// Prints the ledger: every trial, credit and revocation with the period before and after, oldest
/// first, for one tenant (live or deleted) or all.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// Only this tenant's rows.
    tenant: Option<String>,
    /// Only rows from this date (2026-12-01, UTC midnight) or RFC 3339 time on.
    #[arg(long, value_name = "DATE", value_parser = instant)]
    since: Option<DateTime<Utc>>,
    /// Prints CSV with a header (amounts as decimals with their currency) for accounting, instead of -o's format.
    #[arg(long)]
    csv: bool,
}

fn money(text: &str) -> Result<Money, String> {
    text.parse().map_err(|e: crate::billing::MoneyError| e.to_string())
}

fn currency(text: &str) -> Result<Currency, String> {
    text.parse().map_err(|e: crate::billing::MoneyError| e.to_string())
}

fn state(text: &str) -> Result<State, String> {
    text.parse()
}

fn span(text: &str) -> Result<TimeDelta, String> {
    period::parse_span(text)
}

fn instant(text: &str) -> Result<DateTime<Utc>, String> {
    period::parse_instant(text)
}

pub async fn exec(command: BillingCommand, ctx: &Context) -> anyhow::Result<()> {
    match command {
        BillingCommand::Plans(_) => list_plans(ctx).await,
        BillingCommand::Plan(PlanCommand::Set(args)) => set_plan(args, ctx).await,
        BillingCommand::Plan(PlanCommand::Disable(args)) => activate_plan(args, false, ctx).await,
        BillingCommand::Plan(PlanCommand::Enable(args)) => activate_plan(args, true, ctx).await,
        BillingCommand::Show(args) => show(args, ctx).await,
        BillingCommand::List(args) => list(args, ctx).await,
        BillingCommand::Credit(args) => credit(args, ctx).await,
        BillingCommand::Refund(args) => refund(args, ctx).await,
        BillingCommand::ExtendTrial(args) => extend_trial(args, ctx).await,
        BillingCommand::Ledger(args) => ledger(args, ctx).await,
    }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

fn prices(plan: &Plan) -> String {
    if plan.prices.is_empty() {
        return "none".to_string();
    }
    plan.prices.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

#[derive(Serialize)]
#[serde(transparent)]
struct Plans(Vec<Plan>);

impl Render for Plans {
    fn render(&self) -> String {
        let mut table = Table::new(["code", "days", "prices", "active", "name (ru)", "name (en)"]);
        for plan in &self.0 {
            table.row([
                plan.code.clone(),
                plan.days.to_string(),
                prices(plan),
                if plan.active { "yes" } else { "no (disabled)" }.to_string(),
                plan.name_ru.clone(),
                plan.name_en.clone(),
            ]);
        }
        table.to_string()
    }
}

async fn list_plans(ctx: &Context) -> anyhow::Result<()> {
    let database = ctx.connect().await?;
    let plans = plans::list(&mut *database.pool.acquire().await?).await?;
    ctx.ui.data(&Plans(plans))
}

async fn set_plan(args: PlanSetArgs, ctx: &Context) -> anyhow::Result<()> {
    plans::check_code(&args.code)?;
    let options = PlanOptions {
        code: args.code,
        days: args.days,
        prices: args.prices,
        remove_prices: args.remove_prices,
        name_ru: args.name_ru.map(|n| n.trim().to_string()),
        name_en: args.name_en.map(|n| n.trim().to_string()),
    };
    let database = ctx.connect().await?;
    let plan = plans::set(&mut *database.pool.acquire().await?, &options, &ctx.actor()).await?;
    if !ctx.ui.structured(&plan)? {
        ctx.ui.status("Set", format_args!("plan {}: {} days for {}", plan.code, plan.days, prices(&plan)));
        if !plan.active {
            ctx.ui.note(format_args!(
                "plan {} is disabled: `botctl billing plan enable {}` sells it again",
                plan.code, plan.code
            ));
        }
    }
    Ok(())
}

async fn activate_plan(args: PlanCodeArgs, active: bool, ctx: &Context) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let database = ctx.connect().await?;
    let mut conn = database.pool.acquire().await?;
    let plan = plans::require(&mut conn, &args.code).await?;
    if !active && plan.active && !ctx.settings.yes {
        let summary = format!(
            "disabling plan `{}` ({} days for {}) stops selling it: it cannot be credited by --plan or bought \
             any more; payments already made for it keep their days",
            plan.code,
            plan.days,
            prices(&plan)
        );
        if !ui.interactive() {
            return Err(BadInput::new(format!(
                "refusing to disable plan `{}` without --yes (not a terminal): {summary}",
                plan.code
            ))
            .into());
        }
        ui.warn(summary);
        if !ui.confirm(&format!("Disable plan {}?", plan.code), false).await? {
            anyhow::bail!("aborted: plan `{}` is still sold", plan.code);
        }
    }
    let (plan, changed) = plans::set_active(&mut conn, &args.code, active, &ctx.actor()).await?;
    if !ui.structured(&plan)? {
        let done = if active { "enabled" } else { "disabled" };
        if changed {
            ui.status(if active { "Enabled" } else { "Disabled" }, format_args!("plan {}", plan.code));
        } else {
            ui.status("Unchanged", format_args!("plan {} was {done} already", plan.code));
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Details {
    #[serde(flatten)]
    subscription: Subscription,
    payments: Vec<PaymentRecord>,
}

fn amount(m: Option<Money>) -> String {
    m.map_or_else(|| "-".to_string(), |m| format!("{}{}", ledger::decimal(m).trim_end_matches(".00"), m.currency))
}

impl Render for Details {
    fn render(&self) -> String {
        let s = &self.subscription;
        let mut table = Table::new(["field", "value"]);
        let pending =
            if s.start_pending { " (its bot's start is pending: the platform's clock retries it)" } else { "" };
        let rows = [
            ("tenant", s.tenant.clone()),
            ("state", format!("{}{pending}", s.state)),
            ("paid until", time(s.paid_until)),
            ("grace until", time(s.grace_until)),
            ("plan", s.plan.clone().unwrap_or_else(|| "-".into())),
        ];
        for (field, value) in rows {
            table.row([field.to_string(), value]);
        }
        let mut text = table.to_string();
        text.push('\n');
        if self.payments.is_empty() {
            text.push_str("No payments.\n");
            return text;
        }
        let mut payments = Table::new(["at", "provider", "reference", "amount", "days", "plan", "state", "by", "note"]);
        for p in &self.payments {
            payments.row([
                time(Some(p.created_at)),
                p.provider.clone(),
                p.reference.clone(),
                amount(p.amount),
                p.days.to_string(),
                p.plan.clone().unwrap_or_default(),
                p.state.clone(),
                p.recorded_by.clone(),
                p.note.clone().unwrap_or_default(),
            ]);
        }
        text.push_str(&payments.to_string());
        text
    }
}

async fn show(args: ShowArgs, ctx: &Context) -> anyhow::Result<()> {
    let slug = slug(&args.tenant)?;
    let database = ctx.connect().await?;
    let mut conn = database.pool.acquire().await?;
    let subscription = subscription::for_tenant(&mut conn, slug.as_str()).await?;
    let payments = ledger::payments(&mut conn, slug.as_str()).await?;
    ctx.ui.data(&Details { subscription, payments })
}

#[derive(Serialize)]
#[serde(transparent)]
struct Subscriptions(Vec<Listed>);

impl Render for Subscriptions {
    fn render(&self) -> String {
        let mut table = Table::new(["tenant", "state", "ends", "plan", "last payment", "name"]);
        for l in &self.0 {
            let s = &l.subscription;
            let last = match (l.last_payment, l.last_paid_at) {
                (Some(m), Some(at)) => format!("{} on {}", amount(Some(m)), at.format("%Y-%m-%d")),
                _ => "-".to_string(),
            };
            let state = if s.start_pending { format!("{} (start pending)", s.state) } else { s.state.to_string() };
            table.row([
                s.tenant.clone(),
                state,
                time(s.ends()),
                s.plan.clone().unwrap_or_default(),
                last,
                l.display_name.clone(),
            ]);
        }
        table.to_string()
    }
}

async fn list(args: ListArgs, ctx: &Context) -> anyhow::Result<()> {
    let database = ctx.connect().await?;
    let options = ListOptions { states: args.states, expiring: args.expiring, now: Some(Utc::now()) };
    let listed = subscription::list(&mut *database.pool.acquire().await?, &options).await?;
    ctx.ui.data(&Subscriptions(listed))
}

/// A credit, and whether the bot of the suspended tenant it paid for started.
#[derive(Serialize)]
struct CreditReport {
    #[serde(flatten)]
    credited: Credited,
    /// `null` when no start was needed.
    bot_started: Option<bool>,
}

async fn credit(args: CreditArgs, ctx: &Context) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let slug = slug(&args.tenant)?;
    let database = ctx.connect().await?;
    let (days, plan) = match (&args.plan, args.days) {
        (Some(code), _) => {
            plans::check_code(code)?;
            let plan = plans::require(&mut *database.pool.acquire().await?, code).await?;
            (credit::plan_payment(&plan, args.amount, args.any_amount)?, Some(plan.code))
        }
        (None, Some(_)) if args.any_amount => {
            return Err(BadInput::new("--any-amount goes with --plan: --days records any amount already").into());
        }
        (None, Some(days)) => (days, None),
        // clap's group requires one of them.
        (None, None) => return Err(BadInput::new("give --plan CODE or --days N").into()),
    };
    let note = args.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let payment = Payment {
        provider: Provider::Manual,
        reference: args.reference,
        amount: args.amount,
        days,
        plan,
        note,
        raw: serde_json::json!({}),
    };
    let request = CreditRequest { tenant: slug.to_string(), payment };
    let actor = ctx.actor();
    let credited = credit::credit(&database.pool, &request, &actor, Utc::now()).await?;
    // Money is in: a bot that does not start now is a warning, and the clock's retry, not a failure.
    let bot_started = if credited.start_pending {
        let started = async {
            let engine = ctx.engine().await?;
            let options = ctx.runtime_options(&database).await?;
            let spinner = ui.spinner(format!("starting tenant {slug}"));
            runtime::start(&database.servers, &engine, &slug, &options, &actor, &spinner).await?;
            subscription::started(&mut *database.pool.acquire().await?, slug.as_str()).await
        };
        match started.await {
            Ok(()) => Some(true),
            Err(e) => {
                ui.warn(format_args!(
                    "the payment is credited, but tenant {slug}'s bot did not start: {e:#}; the platform's clock \
                     (`botctl platform serve`) retries the start, or `botctl tenant start {slug}` does it now"
                ));
                Some(false)
            }
        }
    } else {
        None
    };
    let report = CreditReport { credited, bot_started };
    if !ui.structured(&report)? {
        let c = &report.credited;
        let until = time(c.paid_until);
        match c.outcome {
            Outcome::Credited => ui.status(
                "Credited",
                format_args!(
                    "tenant {slug}: {} ({} payment {}) for {} days; {} until {until} UTC (was {})",
                    c.amount, c.provider, c.reference, c.days, c.state, c.state_before
                ),
            ),
            Outcome::AlreadyCredited => ui.status(
                "Unchanged",
                format_args!(
                    "{} payment {} was credited already; tenant {slug} is {} until {until} UTC",
                    c.provider, c.reference, c.state
                ),
            ),
        }
        if report.bot_started == Some(true) {
            ui.status(
                "Started",
                format_args!("tenant {slug}: container {} is healthy", runtime::container_name(slug.as_str())),
            );
        }
    }
    Ok(())
}

/// A refund as `-o json` prints it: the revocation's fields as before, and what the provider said.
#[derive(Serialize)]
#[serde(untagged)]
enum RefundReport<'a> {
    Recorded {
        #[serde(flatten)]
        recorded: &'a credit::Refunded,
        at_provider: &'a AtProvider,
    },
    /// YooKassa has not finished the refund: nothing is recorded yet.
    Pending {
        outcome: &'static str,
        #[serde(flatten)]
        target: &'a refund::Target,
        at_provider: &'a AtProvider,
    },
}

/// The providers a refund asks, from the settings: the sales bot's token for Stars (a refund is the
/// bot's the buyer paid), the shop of `billing.yookassa` for YooKassa.
pub(super) fn refund_providers(ctx: &Context) -> anyhow::Result<Providers> {
    let s = &ctx.settings;
    let stars = s.platform.sales_bot.token.clone().map(|token| StarsBot { api_url: s.telegram.api_url.clone(), token });
    let yookassa = match &s.billing.yookassa {
        Some(shop) => Some(yookassa::Client::new(yookassa::ClientOptions {
            base_url: shop.api_url.clone(),
            shop_id: shop.shop_id.clone(),
            secret_key: shop.secret_key.clone(),
            timeout: std::time::Duration::from_secs(35),
        })?),
        None => None,
    };
    Ok(Providers { stars, yookassa })
}

async fn refund(args: RefundArgs, ctx: &Context) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let reference = args.reference.trim();
    if reference.is_empty() {
        return Err(BadInput::new("give the payment's reference").into());
    }
    let provider = args.provider;
    let database = ctx.connect().await?;
    let target = refund::find(&mut *database.pool.acquire().await?, provider, reference).await?;
    let Some(target) = target else {
        return Err(BadInput::new(format!(
            "no {provider} payment with reference `{reference}` (see `botctl billing ledger`)"
        ))
        .into());
    };
    if !target.refunded() && !ctx.settings.yes {
        let at = match provider {
            Provider::Manual => "recorded only (a manual payment is returned by hand)",
            Provider::Stars => "returned to the buyer in Telegram Stars by the sales bot",
            Provider::Yookassa => "returned to the buyer's card through YooKassa",
        };
        let summary = format!(
            "refunding {provider} payment {reference} of tenant {} ({}, {} days): the money is {at}, and its days \
             are taken back from the paid period",
            target.tenant, target.amount, target.days
        );
        if !ui.interactive() {
            return Err(BadInput::new(format!("refusing to refund without --yes (not a terminal): {summary}")).into());
        }
        ui.warn(summary);
        if !ui.confirm(&format!("Refund {} to tenant {}?", target.amount, target.tenant), false).await? {
            anyhow::bail!("aborted: {provider} payment {reference} is not refunded");
        }
    }
    let providers = refund_providers(ctx)?;
    let now = Utc::now();
    let refunded = refund::refund(&database.pool, &providers, provider, reference, &ctx.actor(), now).await?;
    let report = match &refunded.recorded {
        Some(recorded) => RefundReport::Recorded { recorded, at_provider: &refunded.at_provider },
        None => {
            RefundReport::Pending { outcome: "pending", target: &refunded.target, at_provider: &refunded.at_provider }
        }
    };
    if ui.structured(&report)? {
        return Ok(());
    }
    let t = &refunded.target;
    let Some(r) = &refunded.recorded else {
        let id = match &refunded.at_provider {
            AtProvider::Pending { refund_id } => refund_id.as_str(),
            _ => "-",
        };
        ui.status(
            "Pending",
            format_args!(
                "YooKassa is refunding payment {} ({}) of tenant {} (refund {id}): its days are taken back when \
                 YooKassa reports the refund succeeded",
                t.reference, t.amount, t.tenant
            ),
        );
        return Ok(());
    };
    match r.outcome {
        RefundOutcome::AlreadyRefunded => ui.status(
            "Unchanged",
            format_args!("{} payment {} was refunded already; nothing changed", r.provider, r.reference),
        ),
        RefundOutcome::Refunded => {
            let provider_said = match refunded.at_provider {
                AtProvider::AlreadyRefunded => " (the provider had returned the money already)",
                _ => "",
            };
            ui.status(
                "Refunded",
                format_args!(
                    "{} payment {} ({}) of tenant {}{provider_said}: {} days revoked, paid until {} UTC (was {})",
                    r.provider,
                    r.reference,
                    r.amount,
                    r.tenant,
                    r.days_revoked,
                    time(r.paid_until),
                    time(r.period_before)
                ),
            );
            if r.paid_until.is_some_and(|end| end <= now) && matches!(r.state, State::Active | State::Trial) {
                ui.note(format_args!(
                    "the paid period has ended: the platform's clock moves tenant {} to grace, then suspends it",
                    r.tenant
                ));
            }
        }
    }
    Ok(())
}

async fn extend_trial(args: ExtendTrialArgs, ctx: &Context) -> anyhow::Result<()> {
    let slug = slug(&args.tenant)?;
    let database = ctx.connect().await?;
    let mut conn = database.pool.acquire().await?;
    let extended = billing::extend_trial(&mut conn, slug.as_str(), args.days, &ctx.actor(), Utc::now()).await?;
    if !ctx.ui.structured(&extended)? {
        ctx.ui.status(
            "Extended",
            format_args!("tenant {slug}: trial {} days longer, until {} UTC", args.days, time(extended.paid_until)),
        );
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(transparent)]
struct Ledger(Vec<Entry>);

impl Render for Ledger {
    fn render(&self) -> String {
        let mut table = Table::new(["at", "tenant", "kind", "days", "amount", "reference", "period", "actor"]);
        for e in &self.0 {
            let reference = match (&e.provider, &e.reference) {
                (Some(p), Some(r)) => format!("{p} {r}"),
                _ => "-".to_string(),
            };
            table.row([
                time(Some(e.at)),
                e.tenant.clone(),
                e.kind.clone(),
                format!("{:+}", e.days),
                amount(e.amount),
                reference,
                format!("{} → {}", time(e.period_before), time(e.period_after)),
                e.actor.clone(),
            ]);
        }
        table.to_string()
    }
}

async fn ledger(args: LedgerArgs, ctx: &Context) -> anyhow::Result<()> {
    // Deleted tenants keep their ledger, so any name a tenant ever had is accepted.
    let slug = args.tenant.as_deref().map(slug).transpose()?;
    let database = ctx.connect().await?;
    let mut conn = database.pool.acquire().await?;
    if let Some(slug) = &slug
        && !ledger::tenant_known(&mut conn, slug.as_str()).await?
    {
        return Err(BadInput::new(format!("no tenant `{slug}`, live or deleted, has ever existed")).into());
    }
    let entries = ledger::entries(&mut conn, slug.as_ref().map(|s| s.as_str()), args.since).await?;
    if args.csv {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for entry in &entries {
            writer.serialize(entry.csv())?;
        }
        if entries.is_empty() {
            writer.write_record(CSV_HEADER)?;
        }
        return ctx.ui.raw(&writer.into_inner()?);
    }
    ctx.ui.data(&Ledger(entries))
}

/// The header an empty ledger still prints, so a spreadsheet import sees its columns.
const CSV_HEADER: [&str; 12] = [
    "id",
    "at",
    "tenant",
    "kind",
    "days",
    "amount",
    "currency",
    "provider",
    "reference",
    "period_before",
    "period_after",
    "actor",
];
