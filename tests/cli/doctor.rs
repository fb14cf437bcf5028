//! `botctl doctor`: one verdict per check, a fix for each problem, exit 1 when anything fails.

use serde_json::Value;

use crate::support::{Sandbox, TestDb, block_on, http};
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
    assert_eq!(stderr.trim(), "error: 2 of 9 checks failed");
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
    for bot in [BOT_A, BOT_B] {
        f.create(bot);
    }
    let mut conn = f.db.connect();
    // Marked running without a container: the budget counts what the control plane says may run.
    block_on(sqlx::query("UPDATE botctl.tenants SET status = 'running'").execute(&mut conn)).unwrap();
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
    assert_eq!(
        budget["message"],
        format!(
            "{needed} of max_connections {max} ({} %): 2 running tenants × {per_tenant} for the bots, {own} for botctl, \
             {reserved} reserved for superusers",
            needed * 100 / max
        )
    );
    // The harness's server has room for two bots; the thresholds are the unit tests' (src/doctor.rs).
    assert!(needed * 5 < max * 4, "the harness's max_connections {max} is too small for this test");
    assert_eq!(budget["status"], "ok", "{budget}");
    assert!(budget.get("fix").is_none(), "{budget}");
}
