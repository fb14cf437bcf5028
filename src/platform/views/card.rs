//! One tenant's card: who it is, what its container does, where its subscription, money, backups and
//! outbox stand; and the last lines of its bot's output.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{BACKUP_ATTEMPTS, Observed};
use crate::billing::subscription::Row;
use crate::billing::{Currency, Money, Subscription};
use crate::db::servers::Servers;
use crate::db::snapshot;
use crate::runtime::Engine;
use crate::tenant::runtime::{self, LogQuery, container_name};
use crate::tenant::{TenantSlug, ops};

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub slug: String,
    pub display_name: String,
    /// Without the `@`.
    pub bot_username: String,
    /// The owners' Telegram ids as the operator set them (`tenant create|update --admin`).
    pub owners: Vec<i64>,
    /// `running`, `stopped` or `deleting`, as the control plane records it.
    pub status: String,
    /// `Known(None)`: the engine answered and the tenant has no container.
    pub container: Observed<Option<ContainerFacts>>,
    /// The image the bot last ran healthy from (what `tenant start` recreates it from); `None` before
    /// its first start.
    pub image: Option<String>,
    /// The highest migration the tenant schema's own ledger records; `None` when the schema cannot be
    /// read (missing, or older than its ledger).
    pub schema_version: Option<i64>,
    pub subscription: Subscription,
    /// The newest succeeded payment.
    pub last_payment: Option<LastPayment>,
    /// The newest backup attempt, succeeded or failed.
    pub last_backup: Option<LastBackup>,
    /// `None` when the schema has no outbox (not migrated to it) or cannot be read.
    pub outbox: Option<OutboxCounts>,
}

/// What the engine says of the tenant's container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerFacts {
    /// `created`, `running`, `restarting`, `exited`, …
    pub status: String,
    /// `starting`, `healthy`, `unhealthy`; while Docker has not checked yet, what the bot's own
    /// `/healthz` says when botctl can reach it.
    pub health: Option<String>,
    /// The image as the container was created from it.
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastPayment {
    pub amount: Money,
    /// `manual`, `yookassa` or `stars`.
    pub provider: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastBackup {
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// The archive's size; none for a failed attempt.
    pub size_bytes: Option<i64>,
}

/// The tenant's outbox: messages waiting to be sent, and those given up on (all of them, not only
/// recent ones: each is a message a customer or owner did not get).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OutboxCounts {
    pub pending: i64,
    pub failed: i64,
}

#[derive(sqlx::FromRow)]
struct CardRow {
    server: String,
    display_name: String,
    bot_username: String,
    admins: Vec<i64>,
    status: String,
    image: Option<String>,
    #[sqlx(flatten)]
    subscription: Row,
    paid_amount: Option<i64>,
    paid_currency: Option<String>,
    paid_provider: Option<String>,
    paid_at: Option<DateTime<Utc>>,
    backup_at: Option<DateTime<Utc>>,
    backup_ok: Option<bool>,
    backup_size: Option<i64>,
}

/// The live tenant's card: one statement on the control plane, one on the tenant's schema (read
/// schema-qualified on its server's administrator connection), one inspect of its container. A tenant
/// that does not exist is bad input; an engine that cannot be reached leaves the container `Unknown`.
pub async fn card(servers: &Servers, engine: Option<&Engine>, name: &str) -> anyhow::Result<Card> {
    let slug = TenantSlug::from_input(name)?;
    let database = async {
        let row = control_row(servers.control(), &slug).await?.ok_or_else(|| ops::not_found(&slug))?;
        let server = servers.get(&row.server).await?;
        anyhow::Ok((row, schema_facts(&server.pool, &slug).await?))
    };
    // The engine is asked meanwhile; a tenant that does not exist ends the wait at once.
    let container = async { anyhow::Ok(Observed::ask(engine, |e| container(e, &slug)).await) };
    let ((row, (schema_version, outbox)), container) = tokio::try_join!(database, container)?;
    let last_payment = match (row.paid_amount, row.paid_currency, row.paid_provider, row.paid_at) {
        (Some(minor), Some(code), Some(provider), Some(at)) => code
            .parse::<Currency>()
            .ok()
            .map(|currency| LastPayment { amount: Money::new(minor, currency), provider, at }),
        _ => None,
    };
    let last_backup = match (row.backup_at, row.backup_ok) {
        (Some(at), Some(ok)) => Some(LastBackup { at, ok, size_bytes: row.backup_size }),
        _ => None,
    };
    Ok(Card {
        slug: slug.to_string(),
        display_name: row.display_name,
        bot_username: row.bot_username,
        owners: row.admins,
        status: row.status,
        container,
        image: row.image,
        schema_version,
        subscription: Subscription::try_from(row.subscription)?,
        last_payment,
        last_backup,
        outbox,
    })
}

async fn control_row(pool: &PgPool, slug: &TenantSlug) -> anyhow::Result<Option<CardRow>> {
    let sql = format!(
        "SELECT t.server, t.display_name, t.bot_username, t.admins, t.status, t.image, t.slug AS tenant, \
         coalesce(s.state, 'complimentary') AS state, s.paid_until, s.grace_until, s.plan, \
         coalesce(s.start_pending, false) AS start_pending, coalesce(s.updated_at, t.updated_at) AS updated_at, \
         p.amount AS paid_amount, p.currency AS paid_currency, p.provider AS paid_provider, p.created_at AS paid_at, \
         b.at AS backup_at, b.ok AS backup_ok, b.size_bytes AS backup_size \
         FROM botctl.tenants t LEFT JOIN botctl.subscriptions s ON s.tenant_id = t.id \
         LEFT JOIN LATERAL (SELECT amount, currency, provider, created_at FROM botctl.payments \
             WHERE tenant_id = t.id AND state = 'succeeded' ORDER BY created_at DESC, id DESC LIMIT 1) p ON true \
         LEFT JOIN LATERAL (SELECT a.at, a.ok, a.size_bytes FROM {BACKUP_ATTEMPTS} a \
             WHERE a.tenant = t.slug ORDER BY a.at DESC, a.ok LIMIT 1) b ON true \
         WHERE t.slug = $1 AND t.deleted_at IS NULL"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(slug.as_str()).fetch_optional(pool).await?)
}

/// The schema's migration version and its outbox counts, in one statement; a schema without an
/// outbox (or without a schema at all) still gives its version when it has one.
async fn schema_facts(pool: &PgPool, slug: &TenantSlug) -> anyhow::Result<(Option<i64>, Option<OutboxCounts>)> {
    #[derive(sqlx::FromRow)]
    struct Facts {
        version: i64,
        #[sqlx(flatten)]
        outbox: OutboxCounts,
    }
    let schema = slug.quoted_schema();
    let sql = format!(
        "SELECT (SELECT coalesce(max(version), 0) FROM {schema}._sqlx_migrations WHERE success) AS version, \
         count(*) FILTER (WHERE state = 'pending') AS pending, count(*) FILTER (WHERE state = 'failed') AS failed \
         FROM {schema}.outbox WHERE state IN ('pending', 'failed')"
    );
    match sqlx::query_as::<_, Facts>(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await {
        Ok(facts) => Ok((Some(facts.version), Some(facts.outbox))),
        // undefined_table: an outbox not migrated to yet, or the schema gone (the version says which).
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => {
            let version = snapshot::schema_version(&mut *pool.acquire().await?, slug).await.ok();
            Ok((version, None))
        }
        Err(e) => Err(e.into()),
    }
}

/// The container's state; Docker's `starting` is replaced by what the bot's `/healthz` says when it
/// answers, as `doctor` does, since Docker's first check comes one interval (minutes) after the start.
async fn container(engine: &Engine, slug: &TenantSlug) -> anyhow::Result<Option<ContainerFacts>> {
    let Some(state) = crate::tenant::runner::state(engine, &container_name(slug.as_str())).await? else {
        return Ok(None);
    };
    let mut states = [state];
    engine.probe_starting(&mut states).await?;
    let [state] = states;
    Ok(Some(ContainerFacts { status: state.status, health: state.health, image: state.image }))
}

/// The last `lines` lines of the tenant's bot output (both streams, oldest first, without their
/// timestamps), read the way `botctl logs --tail N` reads them. A tenant without a container is an error
/// that says so.
pub async fn log_tail(engine: &Engine, name: &str, lines: usize) -> anyhow::Result<Vec<String>> {
    let slug = TenantSlug::from_input(name)?;
    let query = LogQuery { follow: false, since: None, tail: Some(lines) };
    let mut out = Vec::new();
    runtime::logs(engine, &slug, &query, |_stamp, line| {
        out.push(String::from_utf8_lossy(line).trim_end_matches(['\n', '\r']).to_string());
        Ok(())
    })
    .await?;
    Ok(out)
}
