//! The fleet at a glance: live tenants by container state and by subscription state, the last 30
//! days' revenue, last night's backups, and the subscriptions about to end.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{BACKUP_ATTEMPTS, Observed};
use crate::billing::subscription::{self, ListOptions, Listed};
use crate::billing::{Money, ledger};
use crate::db::control;
use crate::runtime::Engine;
use crate::tenant::fleet;

/// "Last night": the backups of the 24 hours before `now`, whenever the operator's cron runs them.
pub const BACKUP_SPAN: TimeDelta = TimeDelta::hours(24);
/// How soon a subscription must end to be listed as ending.
pub const ENDING_SPAN: TimeDelta = TimeDelta::days(7);

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// Live tenants (not deleted; those being deleted count until they are).
    pub tenants: u64,
    pub containers: Observed<ContainerCounts>,
    pub subscriptions: StateCounts,
    /// Money received in `(now - 30 days, now]`, one amount per currency, in minor units: refunds and
    /// revocations are negative ledger rows, so they net out — in the window the refund happened in.
    /// Deleted tenants' money counts: it was received. Ordered by currency.
    pub revenue: Vec<Money>,
    pub backups: BackupNight,
    /// Live trial, active and grace subscriptions whose state ends by `now + 7 days`, soonest first;
    /// those already past their end and not yet moved on by the clock come first.
    pub ending: Vec<Listed>,
}

/// Live tenants by what their containers do. A tenant counts once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainerCounts {
    /// Its container runs and is not unhealthy (a bot still `starting` counts here).
    pub running: u64,
    /// Its container runs and its healthcheck fails.
    pub unhealthy: u64,
    /// Every other live tenant: stopped on purpose, or down.
    pub stopped: u64,
    /// Of the stopped, those the control plane marks running: their container is gone or exited.
    pub down: Vec<String>,
}

/// Live tenants by subscription state; a tenant without a subscription row is complimentary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StateCounts {
    pub trial: i64,
    pub active: i64,
    pub grace: i64,
    pub suspended: i64,
    pub complimentary: i64,
}

/// The backups of live tenants in `(since, until]`; a tenant backed up several times counts by its
/// latest attempt (a failure followed by a success is ok). Tenants not attempted are in neither list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupNight {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub ok: Vec<String>,
    pub failed: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct Counts {
    tenants: i64,
    #[sqlx(flatten)]
    states: StateCounts,
    backups_ok: Vec<String>,
    backups_failed: Vec<String>,
}

/// The fleet as of `now`. Without an engine, or with one that does not answer, container counts are
/// `Unknown` and everything else is still there.
pub async fn overview(pool: &PgPool, engine: Option<&Engine>, now: DateTime<Utc>) -> anyhow::Result<Overview> {
    let database = async {
        let counts = counts(pool, now).await?;
        let revenue = ledger::revenue(&mut *pool.acquire().await?, now - ledger::REVENUE_SPAN, now).await?;
        let ending = subscription::list(
            &mut *pool.acquire().await?,
            &ListOptions { states: Vec::new(), expiring: Some(ENDING_SPAN), now: Some(now) },
        )
        .await?;
        anyhow::Ok((counts, revenue, ending))
    };
    let containers = async { anyhow::Ok(Observed::ask(engine, |e| containers(pool, e)).await) };
    let ((counts, revenue, ending), containers) = tokio::try_join!(database, containers)?;
    let tenants = u64::try_from(counts.tenants).unwrap_or_default();
    // Counted apart from the survey's own snapshot of the tenants, so clamped.
    let containers = match containers {
        Observed::Known(survey) => Observed::Known(counted(survey, tenants)),
        Observed::Unknown { reason } => Observed::Unknown { reason },
    };
    Ok(Overview {
        tenants,
        containers,
        subscriptions: counts.states,
        revenue,
        backups: BackupNight {
            since: now - BACKUP_SPAN,
            until: now,
            ok: counts.backups_ok,
            failed: counts.backups_failed,
        },
        ending,
    })
}

/// Everything the control plane alone answers, in one statement.
async fn counts(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<Counts> {
    let sql = format!(
        "WITH live AS (\
            SELECT t.slug, coalesce(s.state, 'complimentary') AS state FROM botctl.tenants t \
            LEFT JOIN botctl.subscriptions s ON s.tenant_id = t.id WHERE t.deleted_at IS NULL), \
         backups AS (\
            SELECT DISTINCT ON (a.tenant) a.tenant, a.ok FROM {BACKUP_ATTEMPTS} a \
            JOIN live ON live.slug = a.tenant WHERE a.at > $1 AND a.at <= $2 \
            ORDER BY a.tenant, a.at DESC, a.ok) \
         SELECT c.*, \
            ARRAY(SELECT tenant FROM backups WHERE ok ORDER BY tenant) AS backups_ok, \
            ARRAY(SELECT tenant FROM backups WHERE NOT ok ORDER BY tenant) AS backups_failed \
         FROM (SELECT count(*) AS tenants, \
            count(*) FILTER (WHERE state = 'trial') AS trial, \
            count(*) FILTER (WHERE state = 'active') AS active, \
            count(*) FILTER (WHERE state = 'grace') AS grace, \
            count(*) FILTER (WHERE state = 'suspended') AS suspended, \
            count(*) FILTER (WHERE state = 'complimentary') AS complimentary FROM live) c"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now - BACKUP_SPAN).bind(now).fetch_one(pool).await?)
}

/// The survey `doctor` makes: it pairs the live tenants marked running with this installation's
/// containers.
async fn containers(pool: &PgPool, engine: &Engine) -> anyhow::Result<fleet::Survey> {
    let installation = control::installation(pool).await?;
    fleet::survey(pool, engine, &installation).await
}

/// The survey's tenants by container state; `tenants` is every live tenant.
fn counted(survey: fleet::Survey, tenants: u64) -> ContainerCounts {
    // A tenant marked running that is not running healthy is in `down`: running there means unhealthy.
    let (unhealthy, down): (Vec<_>, Vec<_>) =
        survey.down.into_iter().partition(|d| d.status.as_deref() == Some("running"));
    let running = survey.running as u64;
    let unhealthy = unhealthy.len() as u64;
    ContainerCounts {
        running,
        unhealthy,
        stopped: tenants.saturating_sub(running + unhealthy),
        down: down.into_iter().map(|d| d.tenant).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::fleet::{Down, Survey};

    fn down(tenant: &str, status: Option<&str>, health: Option<&str>) -> Down {
        Down { tenant: tenant.into(), status: status.map(str::to_string), health: health.map(str::to_string) }
    }

    #[test]
    fn a_survey_counts_each_live_tenant_once_and_names_those_that_should_run_but_do_not() {
        let survey = Survey {
            containers: 5,
            orphans: Vec::new(),
            running: 2,
            down: vec![
                down("sick", Some("running"), Some("unhealthy")),
                down("gone", None, None),
                down("halted", Some("exited"), None),
            ],
        };
        let counts = counted(survey, 6);
        assert_eq!(
            counts,
            ContainerCounts { running: 2, unhealthy: 1, stopped: 3, down: vec!["gone".into(), "halted".into()] }
        );
        assert_eq!(counted(Survey { running: 3, ..Survey::default() }, 2).stopped, 0, "never below zero");
    }
}
