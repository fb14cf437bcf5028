//! `botctl doctor`: one verdict per check, a fix for each problem, exit 1 when anything fails.

use botctl::db::cluster::LocalCluster;
use botctl::db::cluster::sizing::{Host, Sizing, mib};
use serde_json::Value;
use sqlx::Connection;

use crate::support::{ClusterGuard, Sandbox, TestDb, block_on, http};
use crate::tenant::{BOT_A, BOT_B, Fixture};

fn checks(output: &std::process::Output) -> Vec<Value> {
    serde_json::from_slice::<Value>(&output.stdout).unwrap().as_array().unwrap().clone()
}

/// `doctor -o json` with no Docker engine to reach, which fails the run: the checks' JSON.
fn doctor_without_docker(mut botctl: assert_cmd::Command) -> Vec<Value> {
    let output = botctl
        .args(["doctor", "-o", "json"])
        .env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .assert()
        .code(1)
        .get_output()
        .clone();
    checks(&output)
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no `{name}` check in {checks:?}"))
}

#[test]
fn doctor_json_has_one_object_per_check_and_fails_without_docker() {
    let sandbox = Sandbox::new();
    let db = TestDb::new();
    sandbox.botctl().args(["--database-url", &db.url(), "init", "-q"]).assert().success();
    let output = sandbox
        .botctl()
        .args(["--database-url", &db.url(), "doctor", "-o", "json"])
        .env("BOTCTL_TELEGRAM_API_URL", http::answering())
        .env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let checks = checks(&output);
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "database",
            "privileges",
            "control schema",
            "connection budget",
            "servers",
            "tenant moves",
            "citus fit",
            "docker",
            "tenant image",
            "containers",
            "running tenants",
            "telegram"
        ]
    );
    for c in &checks {
        assert!(["ok", "warn", "fail"].contains(&c["status"].as_str().unwrap()), "{c}");
        assert!(!c["message"].as_str().unwrap().is_empty(), "{c}");
        if c["status"] != "ok" {
            assert!(!c["fix"].as_str().unwrap_or_default().is_empty(), "a problem without a fix: {c}");
        }
    }
    assert_eq!(check(&checks, "database")["status"], "ok");
    assert!(check(&checks, "database")["message"].as_str().unwrap().starts_with("server postgres://"));
    // The harness connects as a superuser, which production should not.
    assert_eq!(check(&checks, "privileges")["status"], "warn");
    assert_eq!(check(&checks, "control schema")["status"], "ok");
    let budget = check(&checks, "connection budget");
    assert_eq!(budget["status"], "ok", "{budget}");
    assert!(
        budget["message"].as_str().unwrap().contains(": 0 running tenants × 5 for the bots, 4 for botctl"),
        "{budget}"
    );
    assert_eq!(check(&checks, "telegram")["status"], "ok");
    assert_eq!(check(&checks, "docker")["status"], "fail");
    assert_eq!(check(&checks, "tenant image")["status"], "warn");
    assert_eq!(check(&checks, "containers")["message"], "not checked: the Docker engine is unreachable");
    // The report is the whole of stdout: no second error document after it.
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn doctor_sends_an_uninitialized_database_to_botctl_init() {
    let sandbox = Sandbox::new();
    let db = TestDb::new();
    let output = sandbox
        .botctl()
        .args(["--database-url", &db.url(), "doctor", "-o", "json"])
        .env("BOTCTL_TELEGRAM_API_URL", http::answering())
        .assert()
        .code(1)
        .get_output()
        .clone();
    let checks = checks(&output);
    let control = check(&checks, "control schema");
    assert_eq!(control["status"], "fail");
    assert_eq!(control["fix"], "run `botctl init`");
}

#[test]
fn doctor_reports_unreachable_telegram_and_database_as_failures() {
    let sandbox = Sandbox::new();
    let port = http::refused().trim_start_matches("http://127.0.0.1:").trim_end_matches('/').to_string();
    let output = sandbox
        .botctl()
        .args(["--database-url", &format!("postgres://op:hunter2@127.0.0.1:{port}/x"), "doctor", "-o", "json"])
        .env("BOTCTL_TELEGRAM_API_URL", http::refused())
        .env("BOTCTL_DATABASE_CONNECT_TIMEOUT", "2s")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("hunter2"), "{text}");
    let checks = checks(&output);
    assert_eq!(check(&checks, "database")["status"], "fail");
    assert_eq!(check(&checks, "privileges")["status"], "warn");
    assert_eq!(check(&checks, "telegram")["status"], "fail");
}

#[test]
fn doctor_table_prints_every_check_and_the_failure_count() {
    let sandbox = Sandbox::new();
    let db = TestDb::new();
    let output = sandbox
        .botctl()
        .args(["--database-url", &db.url(), "doctor"])
        .env("BOTCTL_TELEGRAM_API_URL", http::answering())
        .env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("CHECK"), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("control schema")).count(), 1, "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("connection budget")).count(), 1, "{stdout}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim(), "error: 2 of 12 checks failed");
}

#[test]
fn a_bot_api_url_that_answers_404_is_a_failure_not_ok() {
    let sandbox = Sandbox::new();
    let db = TestDb::new();
    sandbox.botctl().args(["--database-url", &db.url(), "init", "-q"]).assert().success();
    let wrong = http::not_found();
    let mut botctl = sandbox.botctl();
    botctl.args(["--database-url", &db.url()]).env("BOTCTL_TELEGRAM_API_URL", &wrong);
    let telegram = check(&doctor_without_docker(botctl), "telegram").clone();
    assert_eq!(telegram["status"], "fail", "{telegram}");
    let message = telegram["message"].as_str().unwrap();
    assert!(message.contains("404") && message.contains(&wrong), "{message}");
    assert!(telegram["fix"].as_str().unwrap().contains("telegram.api_url"), "{telegram}");
}

#[test]
fn doctor_budgets_the_connections_of_the_running_tenants_against_max_connections() {
    let f = Fixture::new();
    let slugs = [BOT_A, BOT_B].map(|bot| f.create(bot));
    let mut conn = f.db.connect();
    // Marked running without a container: the budget counts what the control plane says may run.
    block_on(sqlx::query("UPDATE botctl.tenants SET status = 'running'").execute(&mut conn)).unwrap();
    // One backend open as a tenant's role, as a busy bot's would be.
    let _tenant = block_on(sqlx::PgConnection::connect(&f.tenant_url(&slugs[0]))).unwrap();
    let (max, reserved): (i64, i64) = block_on(
        sqlx::query_as(
            "SELECT current_setting('max_connections')::bigint, \
                    current_setting('superuser_reserved_connections')::bigint",
        )
        .fetch_one(&mut conn),
    )
    .unwrap();
    let per_tenant = i64::from(botctl::bot::serve::MAX_CONNECTIONS);
    let own = i64::from(botctl::db::DbOptions::DEFAULT_MAX_CONNECTIONS);
    let needed = 2 * per_tenant + own + reserved;
    let checks = doctor_without_docker(f.botctl());
    let budget = check(&checks, "connection budget");
    let message = budget["message"].as_str().unwrap();
    let planned = format!(
        "{needed} of max_connections {max} ({} %): 2 running tenants × {per_tenant} for the bots, {own} for botctl, \
         {reserved} reserved for superusers; ",
        needed * 100 / max
    );
    assert!(message.starts_with(&planned), "{message}");
    // Open backends are counted on the whole server, which other tests share; the tenants' are this
    // installation's only.
    assert!(message.ends_with("backends open now, 1 of them tenants'"), "{message}");
    // The harness's server has room for two bots; the thresholds are the unit tests' (src/doctor.rs).
    assert!(needed * 5 < max * 4, "the harness's max_connections {max} is too small for this test");
    assert_eq!(budget["status"], "ok", "{budget}");
    assert!(budget.get("fix").is_none(), "{budget}");
}

/// `SHOW name` on botctl's local cluster under `data_dir`.
fn show(data_dir: &std::path::Path, name: &str) -> String {
    let url = LocalCluster::new(data_dir, None).unwrap().url();
    block_on(async {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {name}"))).fetch_one(&mut conn).await.unwrap()
    })
}

fn alter_system(data_dir: &std::path::Path, sql: &str) {
    let url = LocalCluster::new(data_dir, None).unwrap().url();
    block_on(async {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.unwrap();
    });
}

#[test]
fn the_local_cluster_is_sized_for_this_machine_and_alter_system_still_wins() {
    let sandbox = Sandbox::new();
    let data_dir = sandbox.path().join("data/botctl");
    let _stop = ClusterGuard(data_dir.clone());
    let sizing = Sizing::for_host(Host::this_machine().expect("this machine's memory and CPUs"));
    let stop = || LocalCluster::new(&data_dir, None).unwrap().stop().unwrap();
    let doctor = || {
        let mut botctl = sandbox.botctl();
        botctl.env("BOTCTL_TELEGRAM_API_URL", http::answering());
        check(&doctor_without_docker(botctl), "connection budget").clone()
    };
    sandbox.botctl().args(["init", "-q"]).assert().success();
    assert_eq!(show(&data_dir, "max_connections"), sizing.max_connections.to_string());
    assert_eq!(show(&data_dir, "shared_buffers"), mib(sizing.shared_buffers_mib));
    assert_eq!(show(&data_dir, "work_mem"), mib(sizing.work_mem_mib));
    let budget = doctor();
    assert_eq!(budget["status"], "ok", "{budget}");
    let sized = format!(
        "; local cluster sized for {}: max_connections {}, shared_buffers {}",
        sizing.host,
        sizing.max_connections,
        mib(sizing.shared_buffers_mib)
    );
    assert!(budget["message"].as_str().unwrap().ends_with(&sized), "{budget}");

    // A cluster made by an earlier botctl (no include, no file) is sized at its next start.
    stop();
    let conf = data_dir.join("postgres/postgresql.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let include = "include_if_exists = 'postgresql.botctl.conf'";
    assert_eq!(text.matches(include).count(), 1, "{text}");
    std::fs::write(&conf, text.replace(include, "")).unwrap();
    std::fs::remove_file(data_dir.join("postgres/postgresql.botctl.conf")).unwrap();
    sandbox.botctl().args(["init", "-q"]).assert().success();
    assert_eq!(show(&data_dir, "max_connections"), sizing.max_connections.to_string());
    assert_eq!(std::fs::read_to_string(&conf).unwrap().matches(include).count(), 1);

    // The operator's ALTER SYSTEM wins over botctl's file, at the next start and after it.
    alter_system(&data_dir, "ALTER SYSTEM SET max_connections = 60");
    let budget = doctor();
    let message = budget["message"].as_str().unwrap();
    assert!(
        message.ends_with("; max_connections 60 set by ALTER SYSTEM takes effect at the cluster's next start"),
        "{message}"
    );
    stop();
    sandbox.botctl().args(["init", "-q"]).assert().success();
    assert_eq!(show(&data_dir, "max_connections"), "60");
    let written = std::fs::read_to_string(data_dir.join("postgres/postgresql.botctl.conf")).unwrap();
    assert!(written.contains(&format!("\nmax_connections = {}\n", sizing.max_connections)), "{written}");
    let budget = doctor();
    let message = budget["message"].as_str().unwrap();
    assert!(message.starts_with("7 of max_connections 60 (11 %)"), "{message}");
    assert!(message.ends_with(&format!("{sized}; max_connections 60 set by ALTER SYSTEM")), "{message}");

    // Too few slots for what may be open: a warning before the server refuses anyone.
    alter_system(&data_dir, "ALTER SYSTEM SET max_connections = 8");
    stop();
    let budget = doctor();
    assert_eq!(budget["status"], "warn", "{budget}");
    let message = budget["message"].as_str().unwrap();
    assert!(message.starts_with("7 of max_connections 8 (87 %)"), "{message}");
    assert!(
        message.contains(": 0 running tenants × 5 for the bots, 4 for botctl, 3 reserved for superusers; "),
        "{message}"
    );
    assert!(message.ends_with(": at or over 80 %"), "{message}");
    assert!(budget["fix"].as_str().unwrap().contains("ALTER SYSTEM SET max_connections"), "{budget}");

    // Reset, botctl's size comes back at the next start.
    alter_system(&data_dir, "ALTER SYSTEM RESET max_connections");
    stop();
    sandbox.botctl().args(["init", "-q"]).assert().success();
    assert_eq!(show(&data_dir, "max_connections"), sizing.max_connections.to_string());
}
