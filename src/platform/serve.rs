//! The daemon's loop. As a standby it waits for the lease; as the leader it runs the subscription
//! clock: `advance` at each wake, then the container work the state calls for — a suspended tenant's
//! bot stopped once its suspension notice is out, a paid tenant's bot (`start_pending`) started — and
//! sleeps until the next due instant (at most an hour), a notification on `WAKE_CHANNEL`, a retry, or
//! SIGTERM. A leader that loses its lease connection stops acting at once and goes back to standby.
//! Beside the clock, every minute, the leader runs the alert detectors (`alerts::detect`); taking the
//! lease records this instance as its holder. The YooKassa notification listener runs on every
//! instance, standbys too: it only writes what YooKassa confirms to the database, and the leader carries
//! the orders on from there.
//!
//! The suspension notice is written into the bot's outbox by the same transaction as the suspension;
//! the bot's dispatcher finds rows other processes wrote at its rescan (5 minutes, ± a tenth), so the
//! container is stopped when that row has left `pending`, or after `NOTICE_WAIT` at the latest.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::alerts::detect::{self, DetectOptions};
use super::fleet::Fleet;
use super::http::{self, Role, Status};
use super::lease::{self, Lease};
use super::operator;
use super::sales;
use crate::billing::clock::{self, ClockOptions};
use crate::billing::notice::{self, Kind};
use crate::payments::yookassa::webhook::{self, Sources};
use crate::payments::yookassa::{Checkout, OrderPayments};
use crate::progress::NoProgress;
use crate::tenant::TenantSlug;
use crate::tenant::runtime as tenant_runtime;

/// The longest the clock sleeps whatever is due: a safety net, not the schedule.
const MAX_SLEEP: Duration = Duration::from_secs(3600);
/// How often the leader asks its lease connection whether it still holds, so that a leader cut off
/// from the server stops acting before the server frees the lock for a standby (about 60 s).
const LEASE_CHECK: Duration = Duration::from_secs(20);
const LEASE_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a suspended bot keeps running for its suspension notice: one outbox rescan and a margin.
const NOTICE_WAIT: TimeDelta = TimeDelta::minutes(6);
/// While a stop waits for its notice, how often the leader looks whether it went out.
const NOTICE_POLL: TimeDelta = TimeDelta::seconds(30);
/// The first retry of a failed stop or start; each further one doubles, up to `MAX_RETRY`.
const FIRST_RETRY: TimeDelta = TimeDelta::seconds(10);
const MAX_RETRY: TimeDelta = TimeDelta::minutes(10);
/// How long a wake that failed waits before the next try.
const FAILED_WAKE: TimeDelta = TimeDelta::seconds(30);
/// How often the leader runs the alert detectors, beside the clock and never in its way.
const DETECT_EVERY: Duration = Duration::from_secs(60);
/// A pass that takes longer (an engine that hangs) is given up, so that the clock is not kept waiting.
const DETECT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ServeOptions {
    pub listen: SocketAddr,
    pub clock: ClockOptions,
    /// The tenants' containers, shared with the bots: the engine is connected to when a stop or start
    /// is first needed.
    pub fleet: Fleet,
    /// The alert detectors' settings (`platform.alerts`).
    pub alerts: DetectOptions,
    /// The operator bot, when one is configured.
    pub operator: Option<operator::OperatorOptions>,
    /// The sales bot (and the order resumer beside it), when one is configured.
    pub sales: Option<sales::SalesOptions>,
    /// The YooKassa notification listener, when a shop with `billing.yookassa.listen` is configured.
    pub yookassa: Option<YookassaOptions>,
}

/// Where YooKassa's notifications are heard, from whom, and the shop they are checked with.
#[derive(Clone)]
pub struct YookassaOptions {
    pub listen: SocketAddr,
    pub sources: Sources,
    pub checkout: Checkout,
}

/// Runs until `shutdown`; `ready` is told the bound HTTP address.
pub async fn run(pool: PgPool, options: ServeOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let status = Status::new(pool.clone());
    let (bound, http_task) = http::serve(options.listen, Arc::clone(&status), shutdown.clone()).await?;
    tracing::info!(listen = %bound, "the platform daemon listens");
    let yookassa_task = match &options.yookassa {
        Some(yookassa) => {
            let consumer = Arc::new(OrderPayments::new(yookassa.checkout.clone(), pool.clone()));
            let client = yookassa.checkout.client.clone();
            let listened =
                webhook::listen(yookassa.listen, client, yookassa.sources.clone(), consumer, shutdown.clone());
            let (bound, task) = listened.await.map_err(|e| {
                shutdown.cancel();
                anyhow::anyhow!("cannot listen for YooKassa notifications on {}: {e}", yookassa.listen)
            })?;
            tracing::info!(listen = %bound, "the YooKassa notification listener listens");
            Some(task)
        }
        None => None,
    };
    let mut leader = Leader { pool: pool.clone(), options, retries: HashMap::new() };
    loop {
        let standby = || {
            status.set_role(Role::Standby);
            tracing::info!("another instance holds the platform lease; waiting as a standby");
        };
        let Some(lease) = lease::acquire(&pool, &shutdown, standby).await? else { break };
        status.set_role(Role::Leader);
        tracing::info!("this instance holds the platform lease and runs the clock");
        leader.took_lease().await;
        // The bots poll only while this instance leads: one poller per token.
        let bots = Bots::start(&pool, &leader.options, &shutdown);
        let ended = leader.lead(lease, &status, &shutdown).await;
        bots.stop().await;
        match ended {
            Ended::Shutdown => break,
            Ended::LeaseLost => {
                status.set_role(Role::Standby);
                tracing::error!(
                    "the platform lease connection was lost; the clock stops until the lease is taken again"
                );
            }
        }
    }
    shutdown.cancel();
    let _ = http_task.await;
    if let Some(task) = yookassa_task {
        let _ = task.await;
    }
    Ok(())
}

enum Ended {
    Shutdown,
    LeaseLost,
}

/// The platform's own bots, run while this instance leads.
struct Bots {
    stop: CancellationToken,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<anyhow::Result<()>>)>,
}

impl Bots {
    fn start(pool: &PgPool, options: &ServeOptions, shutdown: &CancellationToken) -> Bots {
        let stop = shutdown.child_token();
        let mut tasks = Vec::new();
        if let Some(operator) = &options.operator {
            let task = tokio::spawn(operator::run(pool.clone(), operator.clone(), stop.clone(), None));
            tasks.push(("the operator bot", task));
        }
        if let Some(sales) = &options.sales {
            let task = tokio::spawn(sales::run(pool.clone(), sales.clone(), stop.clone(), None));
            tasks.push(("the sales bot", task));
        }
        Bots { stop, tasks }
    }

    async fn stop(self) {
        self.stop.cancel();
        for (bot, task) in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("{bot} stopped: {e:#}"),
                Err(e) => tracing::error!("{bot} failed: {e}"),
            }
        }
    }
}

type When = DateTime<Utc>;

/// A tenant whose stop or start failed: how often, and when to try again.
struct Retry {
    attempts: i32,
    at: DateTime<Utc>,
}

struct Leader {
    pool: PgPool,
    options: ServeOptions,
    retries: HashMap<String, Retry>,
}

impl Leader {
    async fn lead(&mut self, mut lease: Lease, status: &Status, shutdown: &CancellationToken) -> Ended {
        let mut check = tokio::time::interval(LEASE_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        check.reset();
        let mut detecting = tokio::time::interval(DETECT_EVERY);
        detecting.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        status.clock_wakeups.inc();
        let mut next = self.wake().await;
        loop {
            let sleep = (next - Utc::now()).to_std().unwrap_or_default().min(MAX_SLEEP);
            tokio::select! {
                () = shutdown.cancelled() => {
                    lease.release().await;
                    return Ended::Shutdown;
                }
                () = tokio::time::sleep(sleep) => {}
                notified = lease.listener.try_recv() => match notified {
                    // Several commits may notify at once: one wake covers them all.
                    Ok(Some(_)) => while lease.listener.next_buffered().is_some() {},
                    Ok(None) | Err(_) => return Ended::LeaseLost,
                },
                _ = check.tick() => {
                    status.lease_checks.inc();
                    match tokio::time::timeout(LEASE_CHECK_TIMEOUT, lease.check()).await {
                        Ok(Ok(())) => {}
                        _ => return Ended::LeaseLost,
                    }
                    continue;
                }
                _ = detecting.tick() => {
                    self.detect().await;
                    continue;
                }
            }
            status.clock_wakeups.inc();
            next = self.wake().await;
        }
    }

    /// One wake: the clock's changes and notices, then the containers; returns when to wake next.
    async fn wake(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let mut next = now + TimeDelta::from_std(MAX_SLEEP).unwrap_or(TimeDelta::hours(1));
        let retry = now + FAILED_WAKE;
        match clock::advance(&self.pool, now, &self.options.clock).await {
            Ok(advanced) => {
                for change in &advanced.changes {
                    tracing::info!(tenant = %change.tenant, from = %change.from, to = %change.to, due_at = %change.due_at, "subscription changed");
                }
                if advanced.notice_failures > 0 {
                    next = next.min(retry);
                }
            }
            Err(e) => {
                tracing::warn!("the subscription clock could not advance: {e:#}");
                next = next.min(retry);
            }
        }
        match self.containers(now).await {
            Ok(Some(at)) => next = next.min(at),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("the tenants' containers could not be brought in line: {e:#}");
                next = next.min(retry);
            }
        }
        match clock::next_due(&self.pool, now).await {
            // Anything due by `now` was just made; one still due failed, and is retried, not spun on.
            Ok(Some(at)) => next = next.min(if at <= now { retry } else { at }),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("the clock cannot read when it is next due: {e}");
                next = next.min(retry);
            }
        }
        next
    }

    /// Stops the bots of suspended tenants that still run (once their notice is out) and starts those of
    /// paid ones (`start_pending`). Returns when something waits to be tried again.
    async fn containers(&mut self, now: DateTime<Utc>) -> anyhow::Result<Option<DateTime<Utc>>> {
        let mut next: Option<DateTime<Utc>> = None;
        let mut later = |at: DateTime<Utc>| next = Some(next.map_or(at, |n: DateTime<Utc>| n.min(at)));
        let stops: Vec<(String, Option<When>, Option<When>)> = sqlx::query_as(
            "SELECT t.slug, s.paid_until, n.sent_at FROM botctl.subscriptions s \
             JOIN botctl.tenants t ON t.id = s.tenant_id \
             LEFT JOIN botctl.billing_notices n \
                ON n.tenant_id = s.tenant_id AND n.period_end = s.paid_until AND n.kind = 'suspended' \
             WHERE s.state = 'suspended' AND t.status = 'running' AND t.deleted_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        for (slug, period, written) in stops {
            if let Some(at) = self.retries.get(&slug).map(|r| r.at).filter(|at| *at > now) {
                later(at);
                continue;
            }
            if let (Some(period), Some(written)) = (period, written)
                && written + NOTICE_WAIT > now
                && notice_pending(&self.pool, &slug, period).await.unwrap_or(false)
            {
                later((written + NOTICE_WAIT).min(now + NOTICE_POLL));
                continue;
            }
            let result = async {
                let engine = self.options.fleet.engine().await?;
                let slug: TenantSlug = slug.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                tenant_runtime::stop(self.options.fleet.servers(), engine, &slug, &self.options.clock.actor).await
            }
            .await;
            if let Some(at) = self.outcome(&slug, "stop", result.map(|_| ()), now) {
                later(at);
            }
        }
        let starts: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT s.tenant_id, t.slug, t.status FROM botctl.subscriptions s \
             JOIN botctl.tenants t ON t.id = s.tenant_id \
             WHERE s.start_pending AND s.state NOT IN ('suspended', 'cancelled') AND t.deleted_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        for (tenant_id, slug, state) in starts {
            if let Some(at) = self.retries.get(&slug).map(|r| r.at).filter(|at| *at > now) {
                later(at);
                continue;
            }
            let result = async {
                if state != "running" {
                    let engine = self.options.fleet.engine().await?;
                    let slug: TenantSlug = slug.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                    let options = self.options.fleet.runtime()?;
                    let actor = &self.options.clock.actor;
                    tenant_runtime::start(self.options.fleet.servers(), engine, &slug, options, actor, &NoProgress)
                        .await?;
                }
                sqlx::query(
                    "UPDATE botctl.subscriptions SET start_pending = false WHERE tenant_id = $1 AND start_pending",
                )
                .bind(tenant_id)
                .execute(&self.pool)
                .await?;
                anyhow::Ok(())
            }
            .await;
            if let Err(e) = &result
                && let Err(raising) = detect::start_failed(&self.pool, &slug, &format!("{e:#}"), now).await
            {
                tracing::warn!(tenant = slug, "the failed start could not be alerted: {raising}");
            }
            if let Some(at) = self.outcome(&slug, "start", result, now) {
                later(at);
            }
        }
        Ok(next)
    }

    /// Records a stop's or start's outcome; when it failed, when to try again.
    fn outcome(
        &mut self,
        slug: &str,
        what: &str,
        result: anyhow::Result<()>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match result {
            Ok(()) => {
                tracing::info!(tenant = slug, "the clock's {what} of the bot is done");
                self.retries.remove(slug);
                None
            }
            Err(e) => {
                let attempts = self.retries.get(slug).map_or(0, |r| r.attempts);
                let delay = (FIRST_RETRY * 2_i32.pow(attempts.clamp(0, 10) as u32)).min(MAX_RETRY);
                tracing::warn!(
                    tenant = slug,
                    attempt = attempts + 1,
                    "the clock's {what} of the bot failed, retried in {}s: {e:#}",
                    delay.num_seconds()
                );
                let at = now + delay;
                self.retries.insert(slug.to_string(), Retry { attempts: attempts + 1, at });
                Some(at)
            }
        }
    }

    /// Records this instance as the lease's holder; a takeover from another host is alerted.
    async fn took_lease(&self) {
        let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
        if let Err(e) = detect::took_lease(&self.pool, &host, std::process::id(), Utc::now()).await {
            tracing::warn!("the lease's new holder could not be recorded: {e}");
        }
    }

    /// One pass of the alert detectors; a failed one is tried again at the next pass.
    async fn detect(&mut self) {
        let pass = async {
            let engine = match self.options.fleet.engine().await {
                Ok(engine) => Some(engine),
                Err(e) => {
                    tracing::debug!("no engine for the bot alerts this pass: {e:#}");
                    None
                }
            };
            detect::scan(&self.pool, engine, Utc::now(), &self.options.alerts).await
        };
        match tokio::time::timeout(DETECT_TIMEOUT, pass).await {
            Ok(scanned) => {
                for error in &scanned.errors {
                    tracing::warn!("an alert detector failed: {error}");
                }
            }
            Err(_) => tracing::warn!(
                "the alert detectors took over {}s; tried again at the next pass",
                DETECT_TIMEOUT.as_secs()
            ),
        }
    }
}

/// Whether the suspension notice of the period ending at `period` still waits in the bot's outbox.
async fn notice_pending(pool: &PgPool, slug: &str, period: DateTime<Utc>) -> anyhow::Result<bool> {
    let slug: TenantSlug = slug.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {}.outbox WHERE kind = 'billing' AND state = 'pending' AND dedupe_key LIKE $1)",
        slug.quoted_schema()
    );
    let prefix = notice::dedupe_prefix(Kind::Suspended, period);
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(format!("{prefix}%")).fetch_one(pool).await?)
}
