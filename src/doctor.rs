//! `botctl doctor`: every check of the operator's environment, each with a verdict and a one-line fix,
//! and the repairs `doctor --fix` can make.

use std::time::Duration;

use serde::Serialize;

use crate::bot::serve;
use crate::db::citus::{self, Citus, CitusVersion, Finding, Lint};
use crate::db::cluster::sizing::{self, Host, Sizing};
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
    /// `runtime.mode`: in swarm mode the engine must manage a swarm.
    pub mode: crate::runtime::Mode,
}

/// Ordered from good to bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
    /// Every object a check found at fault, where the message can name only the first few.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

impl Check {
    fn new(name: &'static str, status: Status, message: impl Into<String>, fix: Option<String>) -> Self {
        Self { name, status, message: message.into(), fix, findings: Vec::new() }
    }

    fn ok(name: &'static str, message: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, message, None)
    }

    fn warn(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, message, Some(fix.into()))
    }

    fn fail(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, message, Some(fix.into()))
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
    checks.push(match &database {
        Some(database) => servers_check(database).await,
        None => Check::not_checked(SERVERS, "no current control schema"),
    });
    checks.push(match &database {
        Some(database) => moves_check(database).await,
        None => Check::not_checked(MOVES, "no current control schema"),
    });
    match &database {
        Some(database) => checks.extend(citus_checks(database).await),
        None => checks.push(Check::not_checked(CITUS_FIT, "no current control schema")),
    }
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

const SERVERS: &str = "servers";

/// Whether every server tenants live on answers: one that does not fails its tenants' commands.
async fn servers_check(database: &Database) -> Check {
    let listed = match crate::tenant::servers::list(&database.servers, PROBE_TIMEOUT).await {
        Ok(listed) => listed,
        Err(e) => return Check::fail(SERVERS, format!("cannot read the servers: {e:#}"), "see the database check"),
    };
    let down: Vec<String> = listed
        .iter()
        .filter(|s| s.reachable != Some(true))
        .map(|s| {
            let why = s.error.as_deref().unwrap_or("no answer");
            format!(
                "server `{}` unreachable ({}): {why}",
                s.name,
                count(usize::try_from(s.tenants).unwrap_or(0), "tenant", "tenants")
            )
        })
        .collect();
    if down.is_empty() {
        let tenants: i64 = listed.iter().map(|s| s.tenants).sum();
        let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
        return Check::ok(
            SERVERS,
            format!(
                "{} answer{} ({}), {} on them",
                names.join(", "),
                if names.len() == 1 { "s" } else { "" },
                count(listed.len(), "server", "servers"),
                count(usize::try_from(tenants).unwrap_or(0), "tenant", "tenants")
            ),
        );
    }
    Check::fail(
        SERVERS,
        down.join("; "),
        "bring the server back: until it answers, commands on its tenants fail (`botctl server list` shows it)",
    )
}

const MOVES: &str = "tenant moves";

/// Moves a crash interrupted: each tenant's bot and schema are between two servers until `tenant move`
/// finishes or rolls it back.
async fn moves_check(database: &Database) -> Check {
    let unfinished =
        async { crate::tenant::moving::journal::all_unfinished(&mut *database.pool.acquire().await?).await };
    match unfinished.await {
        Ok(moves) if moves.is_empty() => Check::ok(MOVES, "no move unfinished"),
        Ok(moves) => {
            let listed: Vec<String> = moves
                .iter()
                .map(|m| format!("{} from {} to {} (step {})", m.tenant, m.source, m.target, m.step.as_str()))
                .collect();
            let fixes: Vec<String> =
                moves.iter().map(|m| format!("botctl tenant move {} --to {}", m.tenant, m.target)).collect();
            Check::warn(
                MOVES,
                format!("unfinished, unless a `tenant move` runs now: {}", listed.join(", ")),
                format!("run {} (it finishes or rolls back each)", fixes.join("; ")),
            )
        }
        Err(e) => Check::fail(MOVES, format!("cannot read the move journal: {e}"), "run `botctl init`"),
    }
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
/// Idle tenants hold none, so the budget counts the tenants busy at the same moment
/// ([`sizing::busy_at_once`]: one in ten, every one of a fleet of ten or fewer).
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
    /// Client backends open now on the whole server, and how many of them are this installation's tenants'.
    pub open: u64,
    pub open_tenants: u64,
}

impl Budget {
    /// Tenants planned to be busy at once.
    pub fn busy(&self) -> u64 {
        sizing::busy_at_once(self.running)
    }

    pub fn needed(&self) -> u64 {
        self.busy() * self.per_tenant + self.own + self.reserved
    }

    /// What every running tenant busy at the same moment would need.
    pub fn all_at_once(&self) -> u64 {
        self.running * self.per_tenant + self.own + self.reserved
    }

    fn at_80_percent(&self, value: u64) -> bool {
        value * 5 >= self.max * 4
    }

    /// ok under 80 % of `max_connections`, warn from 80 % (planned or open now), fail beyond 100 %.
    pub fn status(&self) -> Status {
        let needed = self.needed();
        if needed > self.max {
            Status::Fail
        } else if self.at_80_percent(needed) || self.at_80_percent(self.open) {
            Status::Warn
        } else {
            Status::Ok
        }
    }

    pub fn message(&self) -> String {
        let running = countable(self.running);
        let tenants = if self.busy() == self.running {
            format!("{} × {}", count(running, "running tenant", "running tenants"), self.per_tenant)
        } else {
            format!(
                "{} of {running} running tenants busy at once × {} (all at once: {})",
                self.busy(),
                self.per_tenant,
                self.all_at_once()
            )
        };
        format!(
            "{} of max_connections {} ({} %): {tenants} for the bots, {} for botctl, {} reserved for superusers; \
             {} open now, {} of them tenants'",
            self.needed(),
            self.max,
            self.needed() * 100 / self.max.max(1),
            self.own,
            self.reserved,
            count(countable(self.open), "backend", "backends"),
            self.open_tenants
        )
    }

    /// The verdict; `local` is what botctl's local cluster adds to the message and the fix.
    pub fn check(&self, local: Option<&LocalSettings>) -> Check {
        let mut message = self.message();
        if let Some(local) = local {
            message.push_str("; ");
            message.push_str(&local.to_string());
        }
        let fix = match local {
            Some(local) => local.fix(self.max),
            None => {
                "raise max_connections in postgresql.conf and restart PostgreSQL, or put PgBouncer (1.21 or later) \
                     in front to cap each tenant's connections (see DEPLOYMENT.md)"
                    .to_string()
            }
        };
        match self.status() {
            Status::Ok => Check::ok(BUDGET, message),
            Status::Warn if self.at_80_percent(self.needed()) => {
                Check::warn(BUDGET, format!("{message}: at or over 80 %"), fix)
            }
            Status::Warn => Check::warn(BUDGET, format!("{message}: open backends at or over 80 %"), fix),
            Status::Fail => {
                Check::fail(BUDGET, format!("{message}: the server will refuse connections before all are open"), fix)
            }
        }
    }
}

/// What botctl's local cluster runs with, against what it was sized for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// What botctl sized for this machine; `None` when the machine would not say.
    pub sizing: Option<Sizing>,
    /// The value of each setting the cluster's next start will use, where it differs from the running
    /// one or comes from ALTER SYSTEM.
    pub next: Vec<NextSetting>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextSetting {
    pub name: String,
    pub value: String,
    /// Set in `postgresql.auto.conf`, which wins over botctl's file.
    pub altered: bool,
    /// Differs from the running value: it takes effect at the next start.
    pub pending: bool,
}

impl LocalSettings {
    /// A larger `max_connections` waiting for a restart is the fix; else raise it with ALTER SYSTEM.
    fn fix(&self, running_max: u64) -> String {
        let waiting = self.next.iter().find(|s| s.name == "max_connections" && s.pending);
        match waiting.and_then(|s| s.value.parse::<u64>().ok()) {
            Some(max) if max > running_max => format!(
                "stop botctl's local cluster when nothing needs it (see DEPLOYMENT.md): the next botctl command starts \
                 it with max_connections {max}"
            ),
            _ => "as the local cluster's superuser, ALTER SYSTEM SET max_connections to more and restart the cluster \
                  (see DEPLOYMENT.md)"
                .to_string(),
        }
    }
}

impl std::fmt::Display for LocalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sizing {
            Some(s) => write!(
                f,
                "local cluster sized for {}: max_connections {}, shared_buffers {}",
                s.host,
                s.max_connections,
                sizing::mib(s.shared_buffers_mib)
            )?,
            None => f.write_str("local cluster not sized: this machine's memory and CPUs are unknown")?,
        }
        for setting in &self.next {
            let from = if setting.altered { " set by ALTER SYSTEM" } else { "" };
            let when = if setting.pending { " takes effect at the cluster's next start" } else { "" };
            write!(f, "; {} {}{from}{when}", setting.name, setting.value)?;
        }
        Ok(())
    }
}

async fn budget_check(database: &Database, own: u32) -> Check {
    let read = sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
        "WITH clients AS ({}) \
         SELECT (SELECT count(*) FROM botctl.tenants WHERE status = 'running'), \
                current_setting('max_connections')::bigint, \
                current_setting('superuser_reserved_connections')::bigint, \
                (SELECT count(*) FROM clients), \
                (SELECT count(*) FROM clients c JOIN botctl.tenants t ON c.usename = 'tenant_' || t.slug)",
        crate::db::CLIENT_SESSIONS
    )))
    .fetch_one(&database.pool)
    .await;
    let (running, max, reserved, open, open_tenants) = match read {
        Ok(read) => read,
        Err(e) => return Check::fail(BUDGET, format!("cannot read the connection limits: {e}"), "check the database"),
    };
    let local = match database.location {
        Location::Local { .. } => Some(local_settings(database).await),
        Location::Server(_) => None,
    };
    let number = |n: i64| u64::try_from(n).unwrap_or_default();
    Budget {
        running: number(running),
        per_tenant: serve::MAX_CONNECTIONS.into(),
        own: own.into(),
        reserved: number(reserved),
        max: number(max),
        open: number(open),
        open_tenants: number(open_tenants),
    }
    .check(local.as_ref())
}

/// The local cluster's sizing, and what its configuration files hold now for the settings that need a
/// restart (`pg_file_settings` reads the files at each query; the operator is the cluster's superuser).
async fn local_settings(database: &Database) -> LocalSettings {
    let sizing = Host::this_machine().map(Sizing::for_host);
    let read = sqlx::query_as::<_, (String, String, bool, bool)>(
        // The last line for a setting wins; shared_buffers compares in bytes, a bare number being blocks.
        "SELECT DISTINCT ON (name) name, setting, coalesce(sourcefile LIKE '%/postgresql.auto.conf', false), \
                CASE WHEN name = 'shared_buffers' THEN \
                     CASE WHEN setting ~ '^[0-9]+$' \
                          THEN setting::bigint * current_setting('block_size')::bigint \
                          ELSE pg_size_bytes(setting) END \
                     <> pg_size_bytes(current_setting(name)) \
                ELSE setting <> current_setting(name) END \
         FROM pg_file_settings WHERE name IN ('max_connections', 'shared_buffers') ORDER BY name, seqno DESC",
    )
    .fetch_all(&database.pool)
    .await;
    let next = match read {
        Ok(rows) => rows
            .into_iter()
            .filter(|(_, _, altered, pending)| *altered || *pending)
            .map(|(name, value, altered, pending)| NextSetting { name, value, altered, pending })
            .collect(),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the local cluster's configuration files");
            Vec::new()
        }
    };
    LocalSettings { sizing, next }
}

const CITUS_FIT: &str = "citus fit";
const CITUS: &str = "citus";

/// How many findings a message names; `-o json` lists them all.
const NAMED_FINDINGS: usize = 5;

/// What holds for advisory locks and notifications whatever the catalog says: both stay on the node
/// that runs them, under Citus too.
const NODE_LOCAL: &str = "advisory locks and LISTEN/NOTIFY stay on the node that runs them: botctl takes its \
     migration and runtime locks, and each bot its outbox locks, on its own connection to this server, and no tenant \
     trigger notifies since tenant migration 0009, so every connection must go to this server (a Citus coordinator, \
     never a worker; see DEPLOYMENT.md)";

/// The tenant schemas of the operator's server against Citus schema-based sharding, and Citus's own
/// settings where the server has it. Per server: it reads only what `database` connects to.
async fn citus_checks(database: &Database) -> Vec<Check> {
    let report = async {
        let mut conn = database.pool.acquire().await?;
        citus::check(&mut conn).await
    };
    match report.await {
        Ok(report) => {
            let mut checks = vec![fit_check(&report.lint, report.citus.is_some())];
            checks.extend(report.citus.as_ref().map(|c| citus_check(c, report.lint.schemas)));
            checks
        }
        Err(e) => vec![Check::fail(CITUS_FIT, format!("cannot read the tenant schemas: {e}"), "check the database")],
    }
}

/// The lint's verdict. A schema Citus would refuse fails only on a server that has Citus; elsewhere
/// it is a warning about a move not yet made.
fn fit_check(lint: &Lint, has_citus: bool) -> Check {
    let schemas = count(countable(lint.schemas), "tenant schema", "tenant schemas");
    if lint.findings.is_empty() {
        if lint.schemas == 0 {
            return Check::ok(CITUS_FIT, format!("no tenant schemas on this server; {NODE_LOCAL}"));
        }
        return Check::ok(
            CITUS_FIT,
            format!(
                "{schemas} ({}) fit Citus schema-based sharding: no foreign keys across schemas, inheritance, foreign \
                 tables, rules, extension objects, sequences narrower than bigint, statement-level or notifying \
                 triggers; {} distribute, though Citus cannot undistribute their tables; {NODE_LOCAL}",
                count(countable(lint.tables), "table", "tables"),
                count(countable(lint.identity_columns), "bigint identity column", "bigint identity columns"),
            ),
        );
    }
    let named: Vec<String> = lint.findings.iter().take(NAMED_FINDINGS).map(Finding::to_string).collect();
    let more = lint.findings.len().saturating_sub(NAMED_FINDINGS);
    let how = if lint.blocking() { "would not fit" } else { "fit only with caveats" };
    let mut message = format!(
        "{} of {schemas} {how} Citus schema-based sharding: {}",
        lint.schemas_with_findings(),
        named.join("; ")
    );
    if more > 0 {
        message.push_str(&format!("; and {more} more (`-o json` lists them all)"));
    }
    let mut fixes: Vec<&str> = lint.rules().into_iter().map(citus::Rule::fix).collect();
    fixes.dedup();
    let fix = format!("{} (see DEPLOYMENT.md, \"Tenants' server as a Citus coordinator\")", fixes.join("; "));
    let mut check = if lint.blocking() && has_citus {
        Check::fail(CITUS_FIT, message, fix)
    } else {
        Check::warn(CITUS_FIT, message, fix)
    };
    check.findings = lint.findings.clone();
    check
}

/// What Citus says on a server that has it; `tenant_schemas` is how many the lint found.
fn citus_check(c: &Citus, tenant_schemas: u64) -> Check {
    let mut facts = vec![format!(
        "Citus {} on PostgreSQL {}",
        c.version.map_or_else(|| c.extension_version.clone(), |v| v.to_string()),
        c.postgres_major
    )];
    // (status, problem, fix), worst first once sorted.
    let mut problems: Vec<(Status, String, String)> = Vec::new();
    match c.version {
        None => problems.push((
            Status::Warn,
            format!("extension version `{}` not understood", c.extension_version),
            "check `SELECT citus_version()`".into(),
        )),
        Some(v) if !v.has_schema_sharding() => problems.push((
            Status::Fail,
            format!("Citus {v} has no schema-based sharding (12.0 or later)"),
            "upgrade Citus to 12.1 or later (13.x on PostgreSQL 15)".into(),
        )),
        Some(v) if !v.has_schema_move() => facts.push("no citus_schema_move before 12.1".into()),
        Some(_) => {}
    }
    if c.version.is_some_and(|v| v.major < 14) && c.postgres_major == 15 {
        facts.push("Citus 14 drops PostgreSQL 15: upgrade PostgreSQL before Citus".into());
    }
    if c.coordinator == Some(false) {
        problems.push((
            Status::Fail,
            "botctl is connected to a worker, not the coordinator".into(),
            "point database.url at the coordinator".into(),
        ));
    }
    if c.version.is_some_and(CitusVersion::has_schema_sharding) {
        facts.push(format!(
            "{}, {} of {tenant_schemas} tenant schemas distributed",
            count(countable(c.workers), "worker", "workers"),
            c.distributed
        ));
        if c.schema_sharding != Some(true) {
            problems.push((
                Status::Warn,
                "citus.enable_schema_based_sharding is off for botctl's sessions: new tenant schemas stay on the \
                 coordinator"
                    .into(),
                "ALTER ROLE <botctl's role> SET citus.enable_schema_based_sharding = on".into(),
            ));
        }
        if !c.undistributed.is_empty() {
            problems.push((
                Status::Warn,
                format!("not distributed: {}", listed(&c.undistributed)),
                "SELECT citus_schema_distribute('<schema>') for each, once `citus fit` passes".into(),
            ));
        }
        if c.other_distributed.iter().any(|s| s == "botctl") {
            problems.push((
                Status::Warn,
                "botctl's control schema is distributed".into(),
                "SELECT citus_schema_undistribute('botctl'), and turn schema-based sharding on only after `botctl init`"
                    .into(),
            ));
        }
    }
    facts.push(match &c.roles_without_authinfo {
        None => "pg_dist_authinfo is for superusers only: check that each tenant role can log in to every worker \
                 (pg_dist_authinfo, or the workers' pg_hba.conf for the coordinator's address)"
            .into(),
        Some(roles) if roles.is_empty() => "each tenant role has pg_dist_authinfo for the workers".into(),
        Some(roles) => format!(
            "no pg_dist_authinfo for {}: the workers' pg_hba.conf must let them in from the coordinator",
            listed(roles)
        ),
    });
    problems.sort_by_key(|p| std::cmp::Reverse(p.0));
    let status = problems.first().map_or(Status::Ok, |p| p.0);
    let mut message = facts.join("; ");
    for (_, problem, _) in &problems {
        message.push_str("; ");
        message.push_str(problem);
    }
    let fix = problems.iter().map(|p| p.2.as_str()).collect::<Vec<_>>().join("; ");
    Check::new(CITUS, status, message, (status != Status::Ok).then_some(fix))
}

/// The first few of `names` and how many more.
fn listed(names: &[String]) -> String {
    let mut text = names.iter().take(NAMED_FINDINGS).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > NAMED_FINDINGS {
        text.push_str(&format!(" and {} more", names.len() - NAMED_FINDINGS));
    }
    text
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
    let mut checks = vec![docker, image];
    if options.mode == crate::runtime::Mode::Swarm {
        checks.push(match engine.swarm().await {
            Ok(swarm) => swarm_check(&swarm),
            Err(e) => Check::fail(SWARM, format!("{e:#}"), "check the Docker engine's logs"),
        });
    }
    (checks, reachable.then_some(engine))
}

const SWARM: &str = "swarm";

/// In swarm mode: the engine manages an active swarm, and its nodes are ready.
fn swarm_check(swarm: &crate::runtime::service::SwarmState) -> Check {
    if !swarm.manager {
        let error = swarm.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        return Check::fail(
            SWARM,
            format!("runtime.mode is swarm, but this engine is no swarm manager (swarm {}{error})", swarm.state),
            "run `docker swarm init` here, or point docker.host at a manager of the swarm",
        );
    }
    let ready = swarm.ready.unwrap_or(0);
    let message = format!(
        "swarm {}: {}, {} ({} ready)",
        swarm.state,
        count(usize::try_from(swarm.nodes).unwrap_or(0), "node", "nodes"),
        count(usize::try_from(swarm.managers).unwrap_or(0), "manager", "managers"),
        ready
    );
    if ready < swarm.nodes {
        Check::warn(SWARM, message, "see `docker node ls`: services cannot be placed on nodes that are not ready")
    } else {
        Check::ok(SWARM, message)
    }
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

/// A count from the server, for [`count`]'s wording.
fn countable(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
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
        Budget { running, per_tenant: 5, own: 4, reserved: 3, max, open: 2, open_tenants: 0 }
    }

    #[test]
    fn the_local_cluster_is_sized_for_the_connections_a_bot_opens() {
        assert_eq!(sizing::TENANT_CONNECTIONS, u64::from(serve::MAX_CONNECTIONS));
    }

    #[test]
    fn the_budget_warns_from_80_percent_and_fails_beyond_100() {
        // 7 + 5 × running against max_connections 100, while every running tenant may be busy at once.
        assert_eq!(budget(0, 100).needed(), 7);
        assert_eq!(budget(0, 100).status(), Status::Ok);
        assert_eq!(budget(10, 100).needed(), 57);
        assert_eq!(budget(10, 100).status(), Status::Ok);
        assert_eq!(budget(15, 80).needed(), 57);
        assert_eq!(budget(15, 72).status(), Status::Ok);
        assert_eq!(budget(15, 71).status(), Status::Warn);
        assert_eq!(budget(18, 58).status(), Status::Warn);
        assert_eq!(budget(19, 56).status(), Status::Fail);
        // Exactly 80 % warns; exactly 100 % still fits.
        let tiny = Budget { running: 1, per_tenant: 1, own: 3, reserved: 0, max: 5, open: 0, open_tenants: 0 };
        assert_eq!(tiny.status(), Status::Warn);
        assert_eq!(Budget { running: 2, ..tiny }.status(), Status::Warn);
        assert_eq!(Budget { running: 0, ..tiny }.status(), Status::Ok);
        assert_eq!(Budget { running: 3, ..tiny }.status(), Status::Fail);
    }

    #[test]
    fn a_large_fleet_budgets_one_busy_tenant_in_ten() {
        // 500 running tenants: 50 busy × 5 + 7, not 2507.
        let fleet = budget(500, 660);
        assert_eq!(fleet.busy(), 50);
        assert_eq!(fleet.needed(), 257);
        assert_eq!(fleet.all_at_once(), 2507);
        assert_eq!(fleet.status(), Status::Ok);
        assert_eq!(budget(500, 300).status(), Status::Warn);
        assert_eq!(budget(500, 256).status(), Status::Fail);
        assert!(
            fleet.message().starts_with(
                "257 of max_connections 660 (38 %): 50 of 500 running tenants busy at once × 5 (all at once: 2507) \
                 for the bots, 4 for botctl, 3 reserved for superusers; 2 backends open now, 0 of them tenants'"
            ),
            "{}",
            fleet.message()
        );
    }

    #[test]
    fn many_open_backends_warn_even_when_the_plan_fits() {
        let crowded = Budget { open: 85, open_tenants: 60, ..budget(2, 100) };
        let check = crowded.check(None);
        assert_eq!(check.status, Status::Warn);
        assert!(check.message.contains("85 backends open now, 60 of them tenants'"), "{}", check.message);
        assert!(check.message.ends_with(": open backends at or over 80 %"), "{}", check.message);
    }

    #[test]
    fn the_budget_check_says_the_numbers_and_a_fix() {
        let ok = budget(2, 100).check(None);
        assert_eq!(
            ok.message,
            "17 of max_connections 100 (17 %): 2 running tenants × 5 for the bots, 4 for botctl, 3 reserved for superusers; \
             2 backends open now, 0 of them tenants'"
        );
        assert!(ok.fix.is_none());
        let warned = budget(15, 70).check(None);
        assert_eq!(warned.status, Status::Warn);
        assert!(warned.message.starts_with("57 of max_connections 70 (81 %)"), "{}", warned.message);
        assert!(warned.message.ends_with(": at or over 80 %"), "{}", warned.message);
        assert!(warned.fix.as_deref().unwrap().contains("max_connections in postgresql.conf"));
        assert!(warned.fix.as_deref().unwrap().contains("PgBouncer"));
        assert_eq!(budget(19, 56).check(None).status, Status::Fail);
        // A server answering nonsense gets a verdict, not a panic.
        assert_eq!(budget(0, 0).check(None).status, Status::Fail);
    }

    fn citus(version: &str) -> Citus {
        Citus {
            extension_version: version.into(),
            version: version.parse().ok(),
            postgres_major: 15,
            coordinator: Some(true),
            schema_sharding: Some(true),
            workers: 2,
            distributed: 3,
            undistributed: Vec::new(),
            other_distributed: Vec::new(),
            roles_without_authinfo: None,
        }
    }

    #[test]
    fn a_citus_coordinator_sharding_every_tenant_schema_is_ok_and_says_what_to_check_by_hand() {
        let check = citus_check(&citus("12.1-1"), 3);
        assert_eq!(check.status, Status::Ok, "{check:?}");
        assert!(check.fix.is_none());
        assert_eq!(
            check.message,
            "Citus 12.1 on PostgreSQL 15; Citus 14 drops PostgreSQL 15: upgrade PostgreSQL before Citus; \
             2 workers, 3 of 3 tenant schemas distributed; pg_dist_authinfo is for superusers only: check that each \
             tenant role can log in to every worker (pg_dist_authinfo, or the workers' pg_hba.conf for the \
             coordinator's address)"
        );
        let on_16 = Citus { postgres_major: 16, roles_without_authinfo: Some(Vec::new()), ..citus("13.0-1") };
        let check = citus_check(&on_16, 3);
        assert!(!check.message.contains("drops PostgreSQL 15"), "{}", check.message);
        assert!(check.message.ends_with("each tenant role has pg_dist_authinfo for the workers"), "{}", check.message);
        let missing = Citus { roles_without_authinfo: Some(vec!["tenant_a".into()]), ..citus("13.0-1") };
        assert!(
            citus_check(&missing, 3).message.contains("no pg_dist_authinfo for tenant_a: the workers' pg_hba.conf")
        );
    }

    #[test]
    fn citus_without_schema_sharding_or_on_a_worker_fails() {
        let old = citus_check(&Citus { coordinator: None, ..citus("11.3-1") }, 3);
        assert_eq!(old.status, Status::Fail);
        assert!(old.message.contains("Citus 11.3 has no schema-based sharding (12.0 or later)"), "{}", old.message);
        assert!(!old.message.contains("distributed"), "{}", old.message);
        let worker = citus_check(&Citus { coordinator: Some(false), ..citus("12.1-1") }, 3);
        assert_eq!(worker.status, Status::Fail);
        assert!(worker.message.contains("botctl is connected to a worker, not the coordinator"));
        assert_eq!(worker.fix.as_deref(), Some("point database.url at the coordinator"));
        let odd = citus_check(&citus("devel"), 3);
        assert_eq!(odd.status, Status::Warn);
        assert!(odd.message.starts_with("Citus devel on PostgreSQL 15; "), "{}", odd.message);
        assert!(odd.message.ends_with("; extension version `devel` not understood"), "{}", odd.message);
    }

    #[test]
    fn undistributed_tenant_schemas_and_sharding_off_warn_with_the_sql_that_fixes_them() {
        let schemas: Vec<String> = (1..=7).map(|i| format!("tenant_t{i}")).collect();
        let off = Citus { schema_sharding: Some(false), distributed: 0, undistributed: schemas, ..citus("12.1-1") };
        let check = citus_check(&off, 7);
        assert_eq!(check.status, Status::Warn);
        assert!(check.message.contains("0 of 7 tenant schemas distributed"), "{}", check.message);
        assert!(check.message.contains("citus.enable_schema_based_sharding is off for botctl's sessions"));
        assert!(
            check
                .message
                .ends_with("; not distributed: tenant_t1, tenant_t2, tenant_t3, tenant_t4, tenant_t5 and 2 more"),
            "{}",
            check.message
        );
        let fix = check.fix.unwrap();
        assert!(fix.contains("ALTER ROLE <botctl's role> SET citus.enable_schema_based_sharding = on"), "{fix}");
        assert!(fix.contains("SELECT citus_schema_distribute('<schema>')"), "{fix}");
        let control = Citus { other_distributed: vec!["botctl".into()], ..citus("12.1-1") };
        let check = citus_check(&control, 3);
        assert_eq!(check.status, Status::Warn);
        assert!(check.fix.unwrap().starts_with("SELECT citus_schema_undistribute('botctl')"));
    }

    fn lint(findings: &[(&str, citus::Rule)]) -> Lint {
        let mut findings: Vec<Finding> = findings
            .iter()
            .map(|(schema, rule)| Finding {
                schema: schema.to_string(),
                rule: *rule,
                object: "x".into(),
                blocks: rule.blocks(),
            })
            .collect();
        findings.sort();
        Lint { schemas: 4, tables: 40, identity_columns: 20, findings }
    }

    #[test]
    fn the_fit_check_passes_with_counts_and_says_what_holds_for_locks() {
        let check = fit_check(&lint(&[]), false);
        assert_eq!(check.status, Status::Ok);
        assert!(
            check.message.starts_with("4 tenant schemas (40 tables) fit Citus schema-based sharding: no foreign keys"),
            "{}",
            check.message
        );
        assert!(check.message.contains("; 20 bigint identity columns distribute"), "{}", check.message);
        assert!(check.message.contains("never a worker"), "{}", check.message);
        let empty = fit_check(&Lint::default(), true);
        assert_eq!(empty.status, Status::Ok);
        assert!(empty.message.starts_with("no tenant schemas on this server; advisory locks"), "{}", empty.message);
    }

    #[test]
    fn a_schema_citus_would_refuse_fails_only_where_citus_is() {
        use citus::Rule::*;
        let broken = lint(&[("tenant_a", ForeignKeyOut), ("tenant_a", ForeignKeyIn), ("tenant_b", NarrowSequence)]);
        let without = fit_check(&broken, false);
        assert_eq!(without.status, Status::Warn);
        assert_eq!(
            without.message,
            "2 of 4 tenant schemas would not fit Citus schema-based sharding: \
             tenant_a: foreign key to another schema (x); tenant_a: foreign key from another schema (x); \
             tenant_b: sequence narrower than bigint (x)"
        );
        assert_eq!(
            without.fix.as_deref(),
            Some(
                "drop foreign keys that cross schemas; make columns filled from sequences bigint \
                 (see DEPLOYMENT.md, \"Tenants' server as a Citus coordinator\")"
            )
        );
        assert_eq!(without.findings.len(), 3);
        assert_eq!(fit_check(&broken, true).status, Status::Fail);
        let caveats = fit_check(&lint(&[("tenant_b", NarrowSequence), ("tenant_c", NotifyTrigger)]), true);
        assert_eq!(caveats.status, Status::Warn);
        assert!(caveats.message.starts_with("2 of 4 tenant schemas fit only with caveats"), "{}", caveats.message);
        let many: Vec<(&str, citus::Rule)> = (0..8).map(|_| ("tenant_a", StatementTrigger)).collect();
        let check = fit_check(&lint(&many), false);
        assert!(check.message.ends_with("; and 3 more (`-o json` lists them all)"), "{}", check.message);
        assert_eq!(serde_json::to_value(&check).unwrap()["findings"].as_array().unwrap().len(), 8);
    }

    fn local(next: Vec<NextSetting>) -> LocalSettings {
        LocalSettings { sizing: Some(Sizing::for_host(Host { memory_mib: 24_105, cpus: 2 })), next }
    }

    fn next(name: &str, value: &str, altered: bool, pending: bool) -> NextSetting {
        NextSetting { name: name.into(), value: value.into(), altered, pending }
    }

    #[test]
    fn the_local_cluster_says_what_it_was_sized_for_and_what_waits_for_a_restart() {
        assert_eq!(
            local(Vec::new()).to_string(),
            "local cluster sized for 23.5 GiB and 2 CPUs: max_connections 660, shared_buffers 3013MB"
        );
        let waiting =
            local(vec![next("max_connections", "660", false, true), next("shared_buffers", "3013MB", false, true)]);
        assert!(
            waiting.to_string().ends_with(
                "; max_connections 660 takes effect at the cluster's next start; \
                 shared_buffers 3013MB takes effect at the cluster's next start"
            ),
            "{waiting}"
        );
        let altered = local(vec![next("max_connections", "60", true, false)]);
        assert!(altered.to_string().ends_with("; max_connections 60 set by ALTER SYSTEM"), "{altered}");
        let unknown = LocalSettings { sizing: None, next: Vec::new() };
        assert!(unknown.to_string().contains("not sized"), "{unknown}");

        // Short of connections: a larger value waiting for the next start is the fix, else ALTER SYSTEM.
        let short = budget(200, 100);
        let check = short.check(Some(&waiting));
        assert_eq!(check.status, Status::Fail);
        assert!(check.message.contains("; local cluster sized for 23.5 GiB"), "{}", check.message);
        assert!(check.fix.as_deref().unwrap().contains("starts it with max_connections 660"), "{check:?}");
        let check = short.check(Some(&altered));
        assert!(check.fix.as_deref().unwrap().contains("ALTER SYSTEM SET max_connections"), "{check:?}");
    }
}
