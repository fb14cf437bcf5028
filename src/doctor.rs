//! `botctl doctor`: every check of the operator's environment, each with a verdict and a one-line fix,
//! and the repairs `doctor --fix` can make.

use std::time::Duration;

use serde::Serialize;

use crate::bot::serve;
use crate::db::{self, Database, DbOptions, Location, control};
use crate::progress::Progress;
use crate::runtime::Engine;
use crate::telegram;
use crate::tenant::fleet::{self, Repair, Survey};
use crate::ui::count;

/// How long Docker and Telegram get to answer; the database uses its own connect timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct DoctorOptions {
    pub db: DbOptions,
    pub docker_host: String,
    pub image: String,
    pub telegram_api_url: url::Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub message: String,
    /// What to do about a warning or failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, message: impl Into<String>) -> Self {
        Self { name, status: Status::Ok, message: message.into(), fix: None }
    }

    fn warn(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { name, status: Status::Warn, message: message.into(), fix: Some(fix.into()) }
    }

    fn fail(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { name, status: Status::Fail, message: message.into(), fix: Some(fix.into()) }
    }

    fn not_checked(name: &'static str, because: &str) -> Self {
        Self::warn(name, format!("not checked: {because}"), "fix the failure above first")
    }
}

/// Every check's verdict, and what `--fix` would repair.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub checks: Vec<Check>,
    pub repairs: Vec<Repair>,
}

/// Runs every check; the database, Docker and Telegram are probed concurrently, then the tenants'
/// containers are compared with the control plane when both answered.
pub async fn run(options: &DoctorOptions, progress: &dyn Progress) -> Diagnosis {
    let ((mut checks, database), (docker, engine), telegram) = tokio::join!(
        database_checks(&options.db, progress),
        docker_checks(options),
        telegram_check(&options.telegram_api_url)
    );
    checks.push(match &database {
        Some(database) => budget_check(database, options.db.max_connections).await,
        None => Check::not_checked(BUDGET, "no current control schema"),
    });
    checks.extend(docker);
    let mut repairs = Vec::new();
    match (&database, &engine) {
        (Some(database), Some(engine)) => {
            let (fleet, found) = fleet_checks(database, engine).await;
            checks.extend(fleet);
            repairs = found;
        }
        (None, _) => checks.extend(FLEET.map(|name| Check::not_checked(name, "no current control schema"))),
        (_, None) => checks.extend(FLEET.map(|name| Check::not_checked(name, "the Docker engine is unreachable"))),
    }
    checks.push(telegram);
    if let Some(database) = database {
        database.pool.close().await;
    }
    Diagnosis { checks, repairs }
}

/// The checks that need both the control plane and Docker.
const FLEET: [&str; 2] = ["containers", "running tenants"];

async fn fleet_checks(database: &Database, engine: &Engine) -> (Vec<Check>, Vec<Repair>) {
    let surveyed = async {
        let installation = control::installation(&database.pool).await?;
        fleet::survey(&database.pool, engine, &installation).await
    };
    let survey = match surveyed.await {
        Ok(survey) => survey,
        Err(e) => {
            let failed = Check::fail(FLEET[0], format!("{e:#}"), "check the database and the Docker engine");
            return (vec![failed, Check::not_checked(FLEET[1], "the containers could not be listed")], Vec::new());
        }
    };
    (vec![orphans_check(&survey), running_check(&survey)], survey.repairs())
}

fn orphans_check(survey: &Survey) -> Check {
    if survey.orphans.is_empty() {
        return Check::ok(
            FLEET[0],
            format!("{}, each its tenant's", count(survey.containers, "container", "containers")),
        );
    }
    let listed: Vec<String> = survey
        .orphans
        .iter()
        .map(|o| match &o.tenant {
            Some(tenant) => format!("{} ({}, tenant `{tenant}`)", o.container, o.status),
            None => format!("{} ({})", o.container, o.status),
        })
        .collect();
    Check::warn(
        FLEET[0],
        format!(
            "{} of {} {} to no tenant: {}",
            count(listed.len(), "container", "containers"),
            survey.containers,
            if listed.len() == 1 { "belongs" } else { "belong" },
            listed.join(", ")
        ),
        "`botctl doctor --fix` removes them",
    )
}

fn running_check(survey: &Survey) -> Check {
    if survey.down.is_empty() {
        let running = count(survey.running, "tenant", "tenants");
        return Check::ok(FLEET[1], format!("{running} marked running, each with a running bot"));
    }
    let listed: Vec<String> = survey.down.iter().map(|d| d.describe()).collect();
    let fix = if survey.down.iter().all(|d| d.repairable()) {
        "`botctl doctor --fix` starts them again (or `botctl tenant start NAME`)"
    } else {
        "`botctl doctor --fix` starts the stopped ones; for an unhealthy bot see `botctl logs NAME`"
    };
    Check::fail(
        FLEET[1],
        format!(
            "{} of {} marked running {} no running bot: {}",
            count(listed.len(), "tenant", "tenants"),
            listed.len() + survey.running,
            if listed.len() == 1 { "has" } else { "have" },
            listed.join(", ")
        ),
        fix,
    )
}

const BUDGET: &str = "connection budget";

/// The connections the running fleet and botctl may hold at once, against what the server allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Tenants marked running.
    pub running: u64,
    /// The most connections one tenant's bot opens, its outbox's listener included.
    pub per_tenant: u64,
    /// botctl's own pool.
    pub own: u64,
    /// `superuser_reserved_connections`: slots no tenant nor botctl's role may take.
    pub reserved: u64,
    /// The server's `max_connections`.
    pub max: u64,
}

impl Budget {
    pub fn needed(&self) -> u64 {
        self.running * self.per_tenant + self.own + self.reserved
    }

    /// ok under 80 % of `max_connections`, warn from 80 %, fail beyond 100 %.
    pub fn status(&self) -> Status {
        let needed = self.needed();
        if needed > self.max {
            Status::Fail
        } else if needed * 5 >= self.max * 4 {
            Status::Warn
        } else {
            Status::Ok
        }
    }

    pub fn check(&self) -> Check {
        let message = format!(
            "{} of max_connections {} ({} %): {} × {} for the bots, {} for botctl, {} reserved for superusers",
            self.needed(),
            self.max,
            self.needed() * 100 / self.max.max(1),
            count(usize::try_from(self.running).unwrap_or(usize::MAX), "running tenant", "running tenants"),
            self.per_tenant,
            self.own,
            self.reserved
        );
        let fix = "raise max_connections in postgresql.conf and restart PostgreSQL, or put PgBouncer (1.21 or later) \
                   in front to cap each tenant's connections (see DEPLOYMENT.md)";
        match self.status() {
            Status::Ok => Check::ok(BUDGET, message),
            Status::Warn => Check::warn(BUDGET, format!("{message}: at or over 80 %"), fix),
            Status::Fail => {
                Check::fail(BUDGET, format!("{message}: the server will refuse connections before all are open"), fix)
            }
        }
    }
}

async fn budget_check(database: &Database, own: u32) -> Check {
    let read = sqlx::query_as::<_, (i64, i64, i64)>(
        "SELECT (SELECT count(*) FROM botctl.tenants WHERE status = 'running'), \
                current_setting('max_connections')::bigint, \
                current_setting('superuser_reserved_connections')::bigint",
    )
    .fetch_one(&database.pool)
    .await;
    match read {
        Ok((running, max, reserved)) => Budget {
            running: running.try_into().unwrap_or_default(),
            per_tenant: serve::MAX_CONNECTIONS.into(),
            own: own.into(),
            reserved: reserved.try_into().unwrap_or_default(),
            max: max.try_into().unwrap_or_default(),
        }
        .check(),
        Err(e) => Check::fail(BUDGET, format!("cannot read the connection limits: {e}"), "check the database"),
    }
}

/// The database checks, and the database when its control schema is current (the fleet checks need it).
async fn database_checks(options: &DbOptions, progress: &dyn Progress) -> (Vec<Check>, Option<Database>) {
    let database = match db::connect(options, progress).await {
        Ok(database) => database,
        Err(e) => {
            let fix =
                "set --database-url (or database.url) to a reachable server, or unset it to use botctl's local cluster";
            let checks = vec![
                Check::fail("database", format!("{e:#}"), fix),
                Check::not_checked("privileges", "no database connection"),
                Check::not_checked("control schema", "no database connection"),
            ];
            return (checks, None);
        }
    };
    let version: String =
        sqlx::query_scalar("SHOW server_version").fetch_one(&database.pool).await.unwrap_or_else(|_| "unknown".into());
    let mut checks = vec![Check::ok("database", format!("{} (PostgreSQL {version})", database.location))];
    checks.push(match control::privileges(&database.pool).await {
        Ok(p) => match control::require(&p) {
            Ok(()) if p.superuser && matches!(database.location, Location::Server(_)) => Check::warn(
                "privileges",
                format!("role `{}` is a superuser, which can read and change every tenant", p.role),
                "use a role with only CREATEROLE and CREATE on the database (see DEPLOYMENT.md)",
            ),
            Ok(()) if p.superuser => {
                Check::ok("privileges", format!("role `{}` is the local cluster's superuser", p.role))
            }
            Ok(()) => {
                Check::ok("privileges", format!("role `{}` has CREATEROLE and CREATE on `{}`", p.role, p.database))
            }
            Err(missing) => Check::fail(
                "privileges",
                format!("role `{}` lacks CREATEROLE or CREATE on `{}`", p.role, p.database),
                missing.grants.join(" "),
            ),
        },
        Err(e) => Check::fail("privileges", format!("cannot read privileges: {e}"), "check the role can read pg_roles"),
    });
    checks.push(match control::status(&database.pool).await {
        Ok(s) if !s.unknown.is_empty() => Check::fail(
            "control schema",
            format!("version {} is newer than this botctl knows ({})", s.current.unwrap_or(0), s.latest),
            "upgrade botctl to the version that migrated this database",
        ),
        Ok(s) if s.current.is_none() => Check::fail("control schema", "not created yet", "run `botctl init`"),
        Ok(s) if !s.pending.is_empty() => Check::fail(
            "control schema",
            format!("version {} is behind this botctl ({})", s.current.unwrap_or(0), s.latest),
            "run `botctl init`",
        ),
        Ok(s) => Check::ok("control schema", format!("version {} (current)", s.latest)),
        Err(e) => Check::fail("control schema", format!("cannot read the migration ledger: {e}"), "run `botctl init`"),
    });
    if checks.last().is_some_and(|c| c.status == Status::Ok) {
        (checks, Some(database))
    } else {
        database.pool.close().await;
        (checks, None)
    }
}

async fn docker_checks(options: &DoctorOptions) -> (Vec<Check>, Option<Engine>) {
    let engine = match Engine::connect(&options.docker_host, PROBE_TIMEOUT).await {
        Ok(engine) => engine,
        Err(e) => {
            let checks = vec![
                Check::fail(
                    "docker",
                    format!("{e:#}"),
                    "start the Docker engine, or set docker.host (or DOCKER_HOST) to where it listens",
                ),
                Check::not_checked("tenant image", "the Docker engine is unreachable"),
            ];
            return (checks, None);
        }
    };
    let docker = match engine.info().await {
        Ok(info) => Check::ok(
            "docker",
            format!(
                "Docker {} (API {}, {}/{}) at {}",
                info.version,
                info.api_version,
                info.os,
                info.arch,
                engine.host()
            ),
        ),
        Err(e) => Check::fail("docker", format!("{e:#}"), "check the Docker engine's logs"),
    };
    let image = match engine.image(&options.image).await {
        Ok(Some(image)) => Check::ok(
            "tenant image",
            format!("{} ({}, {} MB)", options.image, short_id(&image.id), image.size_bytes / 1_000_000),
        ),
        Ok(None) => Check::warn(
            "tenant image",
            format!("{} is not on this engine; tenants cannot start without it", options.image),
            "run `botctl image build`",
        ),
        Err(e) => Check::fail("tenant image", format!("{e:#}"), "check the Docker engine's logs"),
    };
    let reachable = docker.status == Status::Ok;
    (vec![docker, image], reachable.then_some(engine))
}

async fn telegram_check(api_url: &url::Url) -> Check {
    match telegram::probe(api_url, PROBE_TIMEOUT).await {
        Ok(status) => Check::ok("telegram", format!("{api_url} answers as a Bot API (HTTP {status})")),
        Err(e) => Check::fail(
            "telegram",
            format!("{e:#}"),
            "allow outbound HTTPS to the Bot API, or set telegram.api_url to a reachable Bot API server's URL",
        ),
    }
}

fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_are_shortened_like_docker_does() {
        assert_eq!(short_id("sha256:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }

    fn budget(running: u64, max: u64) -> Budget {
        Budget { running, per_tenant: 5, own: 4, reserved: 3, max }
    }

    #[test]
    fn the_budget_warns_from_80_percent_and_fails_beyond_100() {
        // 7 + 5 × running against max_connections 100.
        assert_eq!(budget(0, 100).needed(), 7);
        assert_eq!(budget(0, 100).status(), Status::Ok);
        assert_eq!(budget(14, 100).needed(), 77);
        assert_eq!(budget(14, 100).status(), Status::Ok);
        assert_eq!(budget(15, 100).needed(), 82);
        assert_eq!(budget(15, 100).status(), Status::Warn);
        assert_eq!(budget(18, 100).needed(), 97);
        assert_eq!(budget(18, 100).status(), Status::Warn);
        assert_eq!(budget(19, 100).needed(), 102);
        assert_eq!(budget(19, 100).status(), Status::Fail);
        // Exactly 80 % warns; exactly 100 % still fits.
        assert_eq!(Budget { running: 1, per_tenant: 1, own: 3, reserved: 0, max: 5 }.status(), Status::Warn);
        assert_eq!(Budget { running: 2, per_tenant: 1, own: 3, reserved: 0, max: 5 }.status(), Status::Warn);
        assert_eq!(Budget { running: 0, per_tenant: 1, own: 3, reserved: 0, max: 5 }.status(), Status::Ok);
    }

    #[test]
    fn the_budget_check_says_the_numbers_and_a_fix() {
        let ok = budget(2, 100).check();
        assert_eq!(
            ok.message,
            "17 of max_connections 100 (17 %): 2 running tenants × 5 for the bots, 4 for botctl, 3 reserved for superusers"
        );
        assert!(ok.fix.is_none());
        let warned = budget(15, 100).check();
        assert_eq!(warned.status, Status::Warn);
        assert!(warned.message.starts_with("82 of max_connections 100 (82 %)"), "{}", warned.message);
        assert!(warned.fix.as_deref().unwrap().contains("max_connections in postgresql.conf"));
        assert!(warned.fix.as_deref().unwrap().contains("PgBouncer"));
        assert_eq!(budget(19, 100).check().status, Status::Fail);
        // A server answering nonsense gets a verdict, not a panic.
        assert_eq!(budget(0, 0).check().status, Status::Fail);
    }
}
