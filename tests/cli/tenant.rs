//! The tenant lifecycle through the real binary: create, list, show, update, delete and events.

use serde_json::Value;
use sqlx::{Connection, PgConnection};

use crate::support::{Sandbox, TestDb, block_on, http, token, unique_slug};

/// An initialized database, a fake Bot API that knows two bots, and a sandbox pointed at both.
pub struct Fixture {
    pub sandbox: Sandbox,
    pub db: TestDb,
    pub api: String,
    pub emulator: botctl::telegram::emulator::Emulator,
}

/// A fixture with a pool on its control plane, which a test drops and opens again as a restarted
/// daemon would: only the database carries over.
pub struct Plane {
    pub f: Fixture,
    pub pool: sqlx::PgPool,
}

impl Plane {
    pub fn new() -> Self {
        let f = Fixture::new();
        let pool = block_on(sqlx::PgPool::connect(&f.db.url())).unwrap();
        Self { f, pool }
    }

    pub fn restart(&mut self) {
        let pool = block_on(sqlx::PgPool::connect(&self.f.db.url())).unwrap();
        block_on(std::mem::replace(&mut self.pool, pool).close());
    }
}

pub const BOT_A: i64 = 500_000_001;
pub const BOT_B: i64 = 500_000_002;
pub const BOT_C: i64 = 500_000_003;

impl Fixture {
    /// What `tenant create NAME --token … --admin 1001 --template clinic` asks for, for library calls.
    pub fn create_options(&self, slug: &botctl::tenant::TenantSlug, bot: i64) -> botctl::tenant::ops::CreateOptions {
        let template = botctl::config::template::embedded("clinic", botctl::config::template::Locale::En).unwrap();
        botctl::tenant::ops::CreateOptions {
            slug: slug.clone(),
            token: token(bot).parse().unwrap(),
            admins: vec![1001],
            timezone: chrono_tz::Europe::Moscow,
            locale: template.locale,
            display_name: None,
            template,
            memory_mb: None,
            cpus: None,
            telegram_api_url: self.api.parse().unwrap(),
            server: None,
        }
    }

    pub fn new() -> Self {
        let sandbox = Sandbox::new();
        let db = TestDb::new();
        let tokens = [token(BOT_A), token(BOT_B), token(BOT_C)];
        let emulator =
            http::emulator(&[(&tokens[0], BOT_A, "a_bot"), (&tokens[1], BOT_B, "b_bot"), (&tokens[2], BOT_C, "c_bot")]);
        let api = emulator.url().to_string();
        let fixture = Self { sandbox, db, api, emulator };
        fixture.botctl().args(["init", "-q"]).assert().success();
        fixture
    }

    pub fn botctl(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.process())
    }

    /// The same, to spawn and signal while it runs.
    pub fn process(&self) -> std::process::Command {
        let mut cmd = self.sandbox.process();
        cmd.env("BOTCTL_DATABASE_URL", self.db.url()).env("BOTCTL_TELEGRAM_API_URL", &self.api);
        cmd
    }

    /// Creates a tenant for `bot` and returns its slug.
    pub fn create(&self, bot: i64) -> String {
        let slug = unique_slug();
        self.botctl()
            .args([
                "tenant",
                "create",
                "--no-start",
                &slug,
                "--token",
                &token(bot),
                "--admin",
                "1001,1002",
                "--template",
                "barbershop",
            ])
            .assert()
            .success();
        slug
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.botctl().args(args).args(["-o", "json"]).assert().success().get_output().stdout.clone();
        serde_json::from_slice(&out).unwrap()
    }

    pub fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        let mut conn = self.db.connect();
        block_on(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&mut conn)).unwrap()
    }

    /// A URL for connecting as the tenant's own role, whose password is set here (botctl stores none).
    pub fn tenant_url(&self, slug: &str) -> String {
        let password = format!("pw-{slug}");
        let mut admin = self.db.connect();
        let sql = format!("ALTER ROLE tenant_{slug} PASSWORD '{password}'");
        block_on(sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin)).unwrap();
        crate::support::url_for(&self.db.name, Some((&format!("tenant_{slug}"), &password)))
    }

    pub fn role_exists(&self, slug: &str) -> bool {
        self.scalar(&format!("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenant_{slug}')"))
    }

    pub fn schema_exists(&self, slug: &str) -> bool {
        self.scalar(&format!("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_{slug}')"))
    }

    /// Another session, holding `table` in ACCESS EXCLUSIVE mode until it is dropped.
    pub fn lock(&self, table: &str) -> PgConnection {
        let mut conn = self.db.connect();
        block_on(async {
            sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
            let sql = format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE");
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        });
        conn
    }

    /// How many server backends of this database wait for a lock now.
    pub fn waiting_on_locks(&self) -> i64 {
        self.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
    }

    /// Waits (up to a minute, polling) until `condition` holds, and says whether it did.
    pub fn eventually(&self, mut condition: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if condition() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        condition()
    }

    /// Interrupts a botctl waiting on a lock another session holds, and checks that it ends with 130
    /// and that its server backend stops waiting too.
    pub fn interrupt_while_waiting(&self, mut command: std::process::Command, signal: nix::sys::signal::Signal) {
        let child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        assert!(self.eventually(|| self.waiting_on_locks() == 1), "botctl never waited on the lock");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
        assert!(
            self.eventually(|| self.waiting_on_locks() == 0),
            "botctl's server backend still waits on the lock after botctl ended"
        );
    }
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn create_records_the_tenant_and_builds_its_schema() {
    let f = Fixture::new();
    let slug = unique_slug();
    let created = f.json(&[
        "tenant",
        "create",
        "--no-start",
        &slug,
        "--token",
        &token(BOT_A),
        "--admin",
        "1001, 1002",
        "--timezone",
        "Asia/Almaty",
        "--locale",
        "en",
        "--display-name",
        "Acme Cuts",
        "--template",
        "barbershop",
    ]);
    assert_eq!(created["slug"], slug.as_str());
    assert_eq!(created["bot_id"], BOT_A);
    assert_eq!(created["bot_username"], "a_bot");
    assert_eq!(created["status"], "stopped");
    assert_eq!(created["timezone"], "Asia/Almaty");
    assert_eq!(created["admins"], serde_json::json!([1001, 1002]));
    assert_eq!(created["schema_version"], botctl::db::migrate::tenant_latest());
    assert!(!created.to_string().contains(&token(BOT_A)), "the token leaked: {created}");

    assert!(f.role_exists(&slug) && f.schema_exists(&slug));
    let services: i64 = f.scalar(&format!("SELECT count(*) FROM tenant_{slug}.services"));
    let template = botctl::config::template::embedded("barbershop", botctl::config::template::Locale::En).unwrap();
    assert_eq!(services, template.services.len() as i64);
    let name: String = f.scalar(&format!("SELECT display_name FROM tenant_{slug}.settings"));
    assert_eq!(name, "Acme Cuts");
    let owners: i64 = f.scalar(&format!("SELECT count(*) FROM tenant_{slug}.admins WHERE is_owner"));
    assert_eq!(owners, 2);
    let search_path: String = f.scalar(&format!(
        "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole \
         WHERE r.rolname = 'tenant_{slug}'"
    ));
    assert_eq!(search_path, format!("search_path=tenant_{slug}"));

    let listed = f.json(&["tenant", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let shown = f.json(&["tenant", "show", &slug]);
    assert_eq!(shown["token_fingerprint"].as_str().unwrap().len(), 12);
    let events = f.json(&["events", &slug]);
    assert_eq!(events[0]["action"], "tenant.create");
    assert!(!events.to_string().contains(&token(BOT_A)));
}

#[test]
fn hostile_names_are_refused_with_exit_2_and_nothing_created() {
    let f = Fixture::new();
    let long = "a".repeat(100);
    for name in ["a;drop", "\"x\"", "Tenant", long.as_str(), "public", "botctl", "pg_toast", "-rf", "tenant_x y"] {
        let output = f
            .botctl()
            .args([
                "tenant",
                "create",
                "--no-start",
                "--token",
                &token(BOT_A),
                "--admin",
                "1",
                "--template",
                "clinic",
                "--",
                name,
            ])
            .assert()
            .code(2)
            .get_output()
            .clone();
        assert!(stderr(&output).contains("tenant name"), "{name}: {}", stderr(&output));
    }
    let tenants: i64 = f.scalar("SELECT count(*) FROM botctl.tenants");
    assert_eq!(tenants, 0);
}

#[test]
fn each_bad_input_is_exit_2_naming_the_problem() {
    let f = Fixture::new();
    let good = token(BOT_A);
    let cases: [(&[&str], &str); 8] = [
        (&["--token", "12345", "--admin", "1", "--template", "clinic"], "not a Telegram bot token"),
        (&["--token", &good, "--admin", "x1", "--template", "clinic"], "`x1` is not a Telegram user id"),
        (&["--token", &good, "--admin=-5", "--template", "clinic"], "`-5` is not a Telegram user id"),
        (
            &["--token", &good, "--admin", "1", "--timezone", "Mars/Olympus", "--template", "clinic"],
            "unknown time zone",
        ),
        (&["--token", &good, "--admin", "1", "--template", "spa"], "invalid --template"),
        (&["--token", &good, "--admin", "1", "--template", "/nonexistent/t.yaml"], "invalid --template"),
        (&["--admin", "1", "--template", "clinic"], "missing --token"),
        (&["--token", &good, "--template", "clinic"], "missing --admin"),
    ];
    for (args, expected) in cases {
        let output = f
            .botctl()
            .args(["tenant", "create", "--no-start", &unique_slug()])
            .args(args)
            .assert()
            .code(2)
            .get_output()
            .clone();
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
        assert!(!stderr(&output).contains("AAHdqTcv"), "the token leaked: {}", stderr(&output));
    }
    let tenants: i64 = f.scalar("SELECT count(*) FROM botctl.tenants");
    assert_eq!(tenants, 0);
}

#[test]
fn a_token_telegram_rejects_is_exit_2_and_an_unreachable_api_exit_1() {
    let f = Fixture::new();
    let slug = unique_slug();
    let unknown = token(500_000_999);
    let output = f
        .botctl()
        .args(["tenant", "create", "--no-start", &slug, "--token", &unknown, "--admin", "1", "--template", "clinic"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(stderr(&output).contains("Telegram rejected the token for bot 500000999"), "{}", stderr(&output));
    assert!(!stderr(&output).contains(&unknown));

    let output = f
        .botctl()
        .args([
            "tenant",
            "create",
            "--no-start",
            &slug,
            "--token",
            &token(BOT_A),
            "--admin",
            "1",
            "--template",
            "clinic",
        ])
        .env("BOTCTL_TELEGRAM_API_URL", http::refused())
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(stderr(&output).contains("cannot reach the Telegram Bot API"), "{}", stderr(&output));
    assert!(!stderr(&output).contains(&token(BOT_A)), "the token leaked: {}", stderr(&output));
    assert!(!f.role_exists(&slug));
}

#[test]
fn one_bot_serves_one_tenant() {
    let f = Fixture::new();
    let first = f.create(BOT_A);
    let second = unique_slug();
    let output = f
        .botctl()
        .args([
            "tenant",
            "create",
            "--no-start",
            &second,
            "--token",
            &token(BOT_A),
            "--admin",
            "1",
            "--template",
            "clinic",
        ])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(stderr(&output).contains(&format!("bot @a_bot already serves tenant `{first}`")), "{}", stderr(&output));
    assert!(!f.role_exists(&second) && !f.schema_exists(&second));
    f.botctl()
        .args([
            "tenant",
            "create",
            "--no-start",
            &first,
            "--token",
            &token(BOT_B),
            "--admin",
            "1",
            "--template",
            "clinic",
        ])
        .assert()
        .code(2);
}

#[test]
fn an_interrupted_create_leaves_nothing_behind() {
    let f = Fixture::new();
    let slug = unique_slug();
    // Holding this lock stops the create at its last step, after the role, schema and seed data exist
    // inside its transaction.
    let mut blocker = block_on(PgConnection::connect(&f.db.url())).unwrap();
    block_on(sqlx::query("BEGIN").execute(&mut blocker)).unwrap();
    block_on(sqlx::query("LOCK TABLE botctl.events IN EXCLUSIVE MODE").execute(&mut blocker)).unwrap();

    let mut child = f
        .process()
        .args([
            "tenant",
            "create",
            "--no-start",
            &slug,
            "--token",
            &token(BOT_A),
            "--admin",
            "1",
            "--template",
            "clinic",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let waiting = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        f.scalar::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND relation = 'botctl.events'::regclass)",
        )
    });
    assert!(waiting, "the create never reached its last step");
    child.kill().unwrap();
    child.wait().unwrap();
    block_on(sqlx::query("ROLLBACK").execute(&mut blocker)).unwrap();

    // The server notices the closed connection once the lock is free, and rolls everything back.
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        !f.role_exists(&slug)
    });
    assert!(gone, "the interrupted create left its role behind");
    assert!(!f.schema_exists(&slug));
    assert_eq!(f.scalar::<i64>("SELECT count(*) FROM botctl.tenants"), 0);
    assert_eq!(f.scalar::<i64>("SELECT count(*) FROM botctl.events"), 0);
    // And the same name can be created afterwards.
    f.botctl()
        .args([
            "tenant",
            "create",
            "--no-start",
            &slug,
            "--token",
            &token(BOT_A),
            "--admin",
            "1",
            "--template",
            "clinic",
        ])
        .assert()
        .success();
}

#[test]
fn update_changes_both_copies_and_records_what_changed() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let updated = f.json(&[
        "tenant",
        "update",
        &slug,
        "--display-name",
        "New Name",
        "--timezone",
        "Europe/Berlin",
        "--admin",
        "1002,1003",
    ]);
    assert_eq!(updated["tenant"]["display_name"], "New Name");
    assert_eq!(updated["changes"]["timezone"]["from"], "Europe/Moscow");
    assert_eq!(updated["changes"]["timezone"]["to"], "Europe/Berlin");
    let tz: String = f.scalar(&format!("SELECT timezone FROM tenant_{slug}.settings"));
    assert_eq!(tz, "Europe/Berlin");
    let owners: Vec<i64> =
        f.scalar(&format!("SELECT array_agg(user_id ORDER BY user_id) FROM tenant_{slug}.admins WHERE is_owner"));
    assert_eq!(owners, vec![1002, 1003]);

    // Another bot's token needs --force, and is then accepted and re-checked with getMe.
    let output =
        f.botctl().args(["tenant", "update", &slug, "--token", &token(BOT_B)]).assert().code(2).get_output().clone();
    assert!(stderr(&output).contains("pass --force"), "{}", stderr(&output));
    let switched = f.json(&["tenant", "update", &slug, "--token", &token(BOT_B), "--force"]);
    assert_eq!(switched["tenant"]["bot_id"], BOT_B);

    f.botctl().args(["tenant", "update", &slug]).assert().code(2);
    f.botctl().args(["tenant", "update", &unique_slug(), "--display-name", "x"]).assert().code(2);

    let events = f.json(&["events", &slug]);
    let actions: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["tenant.create", "tenant.update", "tenant.update"]);
    assert!(!events.to_string().contains("AAHdqTcv"), "a token reached the events: {events}");
}

#[test]
fn delete_needs_yes_off_a_terminal_and_then_drops_everything_but_the_events() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let output = f.botctl().args(["tenant", "delete", &slug]).assert().code(2).get_output().clone();
    assert!(stderr(&output).contains("without --yes (not a terminal)"), "{}", stderr(&output));
    assert!(f.role_exists(&slug) && f.schema_exists(&slug));

    f.botctl().args(["tenant", "delete", &slug, "--yes"]).assert().success();
    assert!(!f.role_exists(&slug) && !f.schema_exists(&slug));
    assert_eq!(f.json(&["tenant", "list"]), serde_json::json!([]));
    assert_eq!(f.json(&["tenant", "list", "--status", "deleted"])[0]["slug"], slug.as_str());
    let events = f.json(&["events", &slug]);
    assert_eq!(events.as_array().unwrap().last().unwrap()["action"], "tenant.delete");
    f.botctl().args(["tenant", "delete", &slug, "--yes"]).assert().code(2);
    // The bot is free again once its tenant is gone.
    f.create(BOT_A);
}

#[test]
fn start_restart_and_upgrade_refuse_a_tenant_being_deleted_before_touching_the_engine() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    // As a delete that failed after marking the tenant leaves it.
    f.scalar::<i32>(&format!(
        "WITH d AS (UPDATE botctl.tenants SET status = 'deleting' WHERE slug = '{slug}') SELECT 1"
    ));
    let events = f.json(&["events", &slug]).as_array().unwrap().len();
    let refused: [&[&str]; 3] =
        [&["tenant", "start", &slug], &["tenant", "restart", &slug], &["tenant", "upgrade", &slug]];
    for args in refused {
        // No engine to reach, and runtime settings that cannot be used: the refusal must come first.
        let output = f
            .botctl()
            .args(args)
            .env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("BOTCTL_RUNTIME_DATABASE_HOST", "db:not-a-port")
            .assert()
            .code(2)
            .get_output()
            .clone();
        let said = stderr(&output);
        assert!(said.contains(&format!("tenant `{slug}` is being deleted")), "{args:?}: {said}");
        assert!(said.contains(&format!("`botctl tenant delete {slug}` finishes it")), "{args:?}: {said}");
        assert!(!said.contains("docker") && !said.contains("database_host"), "{args:?}: {said}");
    }
    assert_eq!(f.scalar::<String>(&format!("SELECT status FROM botctl.tenants WHERE slug = '{slug}'")), "deleting");
    assert_eq!(f.json(&["events", &slug]).as_array().unwrap().len(), events, "a refused command left an event");
    // What the refusal names finishes the tenant.
    f.botctl()
        .args(["tenant", "delete", &slug, "--yes"])
        .env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .assert()
        .success();
    assert!(!f.role_exists(&slug) && !f.schema_exists(&slug));
}

#[test]
fn tenant_commands_before_init_say_to_run_init() {
    let sandbox = Sandbox::new();
    let db = TestDb::new();
    let output =
        sandbox.botctl().args(["--database-url", &db.url(), "tenant", "list"]).assert().code(1).get_output().clone();
    assert!(stderr(&output).contains("run `botctl init` first"), "{}", stderr(&output));
}

#[test]
fn the_lifecycle_works_against_the_embedded_default_too() {
    let sandbox = Sandbox::new();
    let data_dir = sandbox.path().join("data/botctl");
    let _stop = crate::support::ClusterGuard(data_dir.clone());
    let api = http::bot_api(&[(&token(BOT_A), BOT_A, "a_bot")]);
    let botctl = || {
        let mut cmd = sandbox.botctl();
        cmd.env("BOTCTL_TELEGRAM_API_URL", &api);
        cmd
    };
    botctl().args(["init", "-q"]).assert().success();
    botctl()
        .args([
            "tenant",
            "create",
            "--no-start",
            "acme",
            "--token",
            &token(BOT_A),
            "--admin",
            "7",
            "--template",
            "beauty_salon",
        ])
        .assert()
        .success();
    let out = botctl().args(["tenant", "list", "-o", "json"]).assert().success().get_output().stdout.clone();
    let listed: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(listed[0]["slug"], "acme");
    botctl().args(["migrate", "--all"]).assert().success();
    botctl().args(["tenant", "delete", "acme", "--yes"]).assert().success();
    let out = botctl().args(["events", "acme", "-o", "json"]).assert().success().get_output().stdout.clone();
    let events: Value = serde_json::from_slice(&out).unwrap();
    let actions: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["tenant.create", "tenant.delete.begin", "tenant.delete"]);
}

#[test]
fn show_tells_what_the_business_changed_in_its_bot() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    // As the admin panel would: a new time zone, a third owner and a manager.
    let changed: i64 = f.scalar(&format!(
        "WITH tz AS (UPDATE tenant_{slug}.settings SET timezone = 'Europe/Berlin' RETURNING 1), \
         staff AS (INSERT INTO tenant_{slug}.admins (user_id, is_owner, added_by) \
                   VALUES (1003, true, 1001), (2001, false, 1001) RETURNING 1) \
         SELECT (SELECT count(*) FROM tz) + (SELECT count(*) FROM staff)"
    ));
    assert_eq!(changed, 3);
    let shown = f.json(&["tenant", "show", &slug]);
    assert_eq!(shown["business"]["timezone"], "Europe/Berlin");
    assert_eq!(shown["business"]["owners"], serde_json::json!([1001, 1002, 1003]));
    assert_eq!(shown["business"]["managers"], serde_json::json!([2001]));
    assert_eq!(shown["timezone"], "Europe/Moscow", "the operator's record stays as it was set");
    let table = f.botctl().args(["tenant", "show", &slug]).assert().success().get_output().stdout.clone();
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains("Europe/Berlin (set in the bot; created with Europe/Moscow)"), "{table}");
    assert!(table.contains("1001, 1002, 1003 (named with --admin: 1001, 1002)"), "{table}");
}

#[test]
fn delete_fails_on_a_locked_table_naming_it_and_an_interrupt_ends_the_wait() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let dest = tempfile::tempdir().unwrap();
    let dest = dest.path().to_str().unwrap();
    let held = f.lock(&format!("tenant_{slug}.bookings"));
    for no_backup in [false, true] {
        let mut cmd = f.botctl();
        cmd.args(["tenant", "delete", &slug, "--yes", "--lock-timeout", "1s", "--dest", dest]);
        if no_backup {
            cmd.arg("--no-backup");
        }
        let output = cmd.assert().code(1).get_output().clone();
        assert!(
            stderr(&output).contains(&format!("tenant_{slug}.bookings is locked by another session")),
            "{}",
            stderr(&output)
        );
        assert!(f.schema_exists(&slug) && f.role_exists(&slug));
    }
    let mut delete = f.process();
    delete.args(["tenant", "delete", &slug, "--yes", "--no-backup", "--lock-timeout", "1h"]);
    f.interrupt_while_waiting(delete, nix::sys::signal::Signal::SIGINT);
    drop(held);
    f.botctl().args(["tenant", "delete", &slug, "--yes", "--no-backup"]).assert().success();
    assert!(!f.schema_exists(&slug) && !f.role_exists(&slug));
}

/// `tenant::lifecycle` called as a library, as the operator bot calls it (no engine here: these
/// tenants have no container).
mod lifecycle {
    use botctl::progress::NoProgress;
    use botctl::runtime::Engine;
    use botctl::tenant::TenantSlug;
    use botctl::tenant::lifecycle::{self, DeleteOptions};
    use botctl::tenant::runtime::RuntimeOptions;
    use sqlx::PgPool;

    use super::{BOT_C, Fixture};
    use crate::backup::Backups;
    use crate::support::{block_on, token, unique_slug};

    fn pool(f: &Fixture) -> PgPool {
        block_on(PgPool::connect(&f.db.url())).unwrap()
    }

    fn no_engine() -> anyhow::Result<&'static Engine> {
        Err(anyhow::anyhow!("no engine in this test"))
    }

    fn actions(f: &Fixture, slug: &str) -> Vec<String> {
        let events = f.json(&["events", slug]);
        events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn delete_takes_the_final_backup_then_drops_everything_but_the_events() {
        let t = Backups::new();
        let slug: TenantSlug = t.a.parse().unwrap();
        let options = DeleteOptions { final_backup: Some(t.dest.path().to_path_buf()) };
        let deleted = block_on(lifecycle::delete(
            &crate::support::servers(&pool(&t.f)),
            no_engine(),
            &slug,
            &options,
            "operator 42",
            &NoProgress,
        ))
        .unwrap();

        let archives = t.archives(&t.a);
        assert_eq!(archives.len(), 1, "{archives:?}");
        assert_eq!(deleted.final_backup.as_deref(), archives[0].to_str());
        let manifest = botctl::backup::read(&archives[0]).unwrap().manifest;
        assert_eq!(manifest.tables.iter().find(|f| f.table == "bookings").unwrap().rows, 3, "the data is in it");
        assert!(!deleted.resumed);
        assert_eq!(deleted.tenant.slug, t.a);
        let warning = deleted.warning.unwrap_or_default();
        assert!(
            warning.contains("not removing a container") && warning.contains("no engine in this test"),
            "{warning}"
        );

        assert!(!t.f.role_exists(&t.a) && !t.f.schema_exists(&t.a));
        assert!(t.f.schema_exists(&t.b), "the other tenant is untouched");
        assert_eq!(actions(&t.f, &t.a), ["tenant.create", "tenant.delete.begin", "tenant.delete"]);
        let events = t.f.json(&["events", &t.a]);
        let last = events.as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["actor"].as_str(), last["details"]["final_backup"].as_str()),
            (Some("operator 42"), archives[0].to_str())
        );
        assert_eq!(t.f.json(&["tenant", "list", "--status", "deleted"])[0]["slug"], t.a.as_str());
    }

    #[test]
    fn an_interrupted_delete_keeps_its_backup_and_the_next_finishes_it_without_another() {
        let t = Backups::new();
        let slug: TenantSlug = t.a.parse().unwrap();
        let pool = pool(&t.f);
        let options = DeleteOptions { final_backup: Some(t.dest.path().to_path_buf()) };
        // As if its bot ran: its container must go before its role, and no engine can remove it.
        t.f.execute_sql(&format!("UPDATE botctl.tenants SET status = 'running' WHERE slug = '{}'", t.a));
        let error = block_on(lifecycle::delete(
            &crate::support::servers(&pool),
            no_engine(),
            &slug,
            &options,
            "operator 42",
            &NoProgress,
        ))
        .unwrap_err();
        let said = format!("{error:#}");
        let archives = t.archives(&t.a);
        assert_eq!(archives.len(), 1, "{archives:?}");
        let path = archives[0].display().to_string();
        assert!(said.contains("is running; its container must be removed first"), "{said}");
        assert!(said.contains(&path), "the error says where the final backup is: {said}");
        assert!(t.f.role_exists(&t.a) && t.f.schema_exists(&t.a), "nothing is dropped");
        let marked: (String, Option<String>) = (
            t.f.scalar(&format!("SELECT status FROM botctl.tenants WHERE slug = '{}'", t.a)),
            t.f.scalar(&format!("SELECT final_backup FROM botctl.tenants WHERE slug = '{}'", t.a)),
        );
        assert_eq!(marked, ("deleting".to_string(), Some(path.clone())));

        // Not running any more (its delete began): the next delete finishes it, from the same backup.
        let deleted = block_on(lifecycle::delete(
            &crate::support::servers(&pool),
            no_engine(),
            &slug,
            &options,
            "operator 42",
            &NoProgress,
        ))
        .unwrap();
        assert!(deleted.resumed);
        assert_eq!(deleted.final_backup.as_deref(), Some(path.as_str()));
        assert_eq!(t.archives(&t.a), archives, "no second final backup");
        assert!(!t.f.role_exists(&t.a) && !t.f.schema_exists(&t.a));
        assert_eq!(actions(&t.f, &t.a), ["tenant.create", "tenant.delete.begin", "tenant.delete"]);
    }

    #[test]
    fn a_create_whose_start_fails_leaves_the_tenant_created_and_stopped() {
        let f = Fixture::new();
        let pool = pool(&f);
        let slug: TenantSlug = unique_slug().parse().unwrap();
        let options = f.create_options(&slug, BOT_C);
        let start = async { Err::<(Engine, RuntimeOptions), _>(anyhow::anyhow!("cannot reach the Docker engine")) };
        let trial = botctl::billing::Start::Trial { days: 7 };
        let servers = crate::support::servers(&pool);
        let created = lifecycle::create_then_start(&servers, &options, &trial, Some(start), "operator 42", &NoProgress);
        let said = format!("{:#}", block_on(created).unwrap_err());
        assert!(
            said.contains(&format!("tenant `{slug}` was created, but its bot did not start, so it is stopped")),
            "{said}"
        );
        assert!(said.contains("cannot reach the Docker engine"), "{said}");
        let shown = f.json(&["tenant", "show", slug.as_str()]);
        assert_eq!(
            (shown["status"].as_str(), shown["subscription"]["state"].as_str()),
            (Some("stopped"), Some("trial"))
        );
        assert!(f.role_exists(slug.as_str()) && f.schema_exists(slug.as_str()));

        // Without a start, the tenant is only created.
        let other: TenantSlug = unique_slug().parse().unwrap();
        let options = botctl::tenant::ops::CreateOptions {
            slug: other.clone(),
            token: token(super::BOT_B).parse().unwrap(),
            ..options
        };
        let tenant = block_on(lifecycle::create(
            &crate::support::servers(&pool),
            &options,
            &botctl::billing::Start::Complimentary,
            None,
            "operator 42",
            &NoProgress,
        ))
        .unwrap();
        assert_eq!((tenant.slug.as_str(), tenant.status.as_str()), (other.as_str(), "stopped"));
    }
}
