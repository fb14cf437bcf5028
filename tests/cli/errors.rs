//! Error reports and exit codes: `error:` plus `Caused by:` on stderr, or one object on stdout.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Sandbox, http};

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Snapshots stderr with the sandbox's random path replaced, as cargo's test suite redacts.
macro_rules! assert_stderr_snapshot {
    ($name:literal, $sandbox:expr, $output:expr) => {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(&regex::escape(&$sandbox.path().display().to_string()), "[SANDBOX]");
        settings.bind(|| insta::assert_snapshot!($name, stderr_of(&$output)));
    };
}

#[test]
fn malformed_yaml_names_file_line_and_key_with_exit_2() {
    let sandbox = Sandbox::new();
    sandbox.write_config("output: json\ndatabase:\n  ulr: postgres://op@db/botctl\n");
    let output = sandbox.botctl().args(["config", "show"]).assert().code(2).get_output().clone();
    assert_stderr_snapshot!("unknown_key", sandbox, output);
    assert!(output.stdout.is_empty());
}

#[test]
fn wrong_type_in_the_config_file_is_exit_2() {
    let sandbox = Sandbox::new();
    sandbox.write_config("no_progress: sometimes\n");
    let output = sandbox.botctl().args(["config", "show"]).assert().code(2).get_output().clone();
    assert_stderr_snapshot!("wrong_type", sandbox, output);
}

#[test]
fn malformed_database_url_is_exit_2_without_the_password() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .botctl()
        .args(["--database-url", "mysql://op:hunter2@db/x", "init"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert_stderr_snapshot!("bad_database_url", sandbox, output);
    assert!(!stderr_of(&output).contains("hunter2"));
}

#[test]
fn errors_become_a_json_object_on_stdout_with_o_json() {
    let sandbox = Sandbox::new();
    sandbox.write_config("colour: never\n");
    let output = sandbox.botctl().args(["config", "show", "-o", "json"]).assert().code(2).get_output().clone();
    let error: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(error["error"]["exit_code"], 2);
    assert!(error["error"]["message"].as_str().unwrap().starts_with("invalid config file"));
    assert!(error["error"]["causes"][0].as_str().unwrap().contains("unknown field `colour`"), "{error}");
    assert!(output.stderr.is_empty(), "{}", stderr_of(&output));
}

#[test]
fn errors_become_a_yaml_object_with_o_yaml() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .botctl()
        .args(["-o", "yaml", "--database-url", "postgres://x@db/x?sslmode=sometimes", "init"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("error:\n  message: invalid database URL from flag --database-url"), "{text}");
    assert!(text.contains("exit_code: 2"), "{text}");
}

#[test]
fn unreachable_database_is_exit_1_and_redacted() {
    let sandbox = Sandbox::new();
    let port = http::refused().trim_start_matches("http://127.0.0.1:").trim_end_matches('/').to_string();
    let url = format!("postgres://op:hunter2@127.0.0.1:{port}/botctl");
    let output = sandbox
        .botctl()
        .args(["--database-url", &url, "init"])
        .env("BOTCTL_DATABASE_CONNECT_TIMEOUT", "2s")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(
        stderr.starts_with("error: could not connect to PostgreSQL (server postgres://op:***@127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("Caused by:"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn missing_server_binaries_are_reported_with_the_fix() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .botctl()
        .args(["--data-dir"])
        .arg(sandbox.path().join("data"))
        .arg("init")
        .env("BOTCTL_DATABASE_POSTGRES_BIN_DIR", sandbox.path())
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("does not contain initdb"), "{stderr}");
}

#[test]
fn usage_errors_are_exit_2() {
    let sandbox = Sandbox::new();
    sandbox.botctl().args(["init", "--no-such-flag"]).assert().code(2);
    sandbox.botctl().args(["-o", "xml", "config", "show"]).assert().code(2);
    sandbox.botctl().args(["-q", "-v", "config", "show"]).assert().code(2);
    sandbox.botctl().assert().code(2);
}

#[test]
fn ctrl_c_is_exit_130() {
    let sandbox = Sandbox::new();
    // Telegram that never answers keeps `doctor` busy long enough to be interrupted.
    let child = sandbox
        .process()
        .env("BOTCTL_TELEGRAM_API_URL", http::silent())
        .env(
            "BOTCTL_DATABASE_URL",
            format!(
                "postgres://op@127.0.0.1:{}/x",
                http::silent().trim_start_matches("http://127.0.0.1:").trim_end_matches('/')
            ),
        )
        .env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .arg("doctor")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("error: interrupted"), "{}", stderr_of(&output));
    // Stderr is a pipe here: no terminal escape (such as showing the cursor) belongs in it.
    assert!(!stderr_of(&output).contains('\x1b'), "{:?}", stderr_of(&output));
}

#[test]
fn logs_go_to_stderr_as_json_lines_when_asked() {
    let sandbox = Sandbox::new();
    let db = crate::support::TestDb::new();
    let output = sandbox
        .botctl()
        .args(["--database-url", &db.url(), "--log-format", "json", "-o", "json", "init"])
        .env("BOTCTL_LOG", "botctl=debug")
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    let lines: Vec<Value> = stderr.lines().map(|l| serde_json::from_str(l).expect("each log line is JSON")).collect();
    assert!(lines.iter().any(|l| l["fields"]["message"] == "applying migration"), "{stderr}");
    // Stdout still holds exactly one document: the result.
    let _: Value = serde_json::from_slice(&output.stdout).unwrap();
}

#[test]
fn a_bad_log_filter_is_exit_2() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .botctl()
        .args(["config", "show"])
        .env("BOTCTL_LOG", "botctl=loud")
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(stderr_of(&output).contains("invalid log filter `botctl=loud`"), "{}", stderr_of(&output));
}

#[test]
fn a_missing_or_empty_token_file_is_bad_input_naming_the_file() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path().join("no-such-token");
    let empty = sandbox.path().join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    for file in [&missing, &empty] {
        let serve = sandbox
            .botctl()
            .args(["serve", "--tenant", "x", "--tenant-database-url", "postgres://u:hunter2@127.0.0.1:1/x"])
            .arg("--token-file")
            .arg(file)
            .assert()
            .code(2)
            .get_output()
            .clone();
        let create = sandbox
            .botctl()
            .args(["--database-url", "postgres://u:hunter2@127.0.0.1:1/x", "tenant", "create", "acme"])
            .args(["--admin", "1", "--template", "clinic", "--token-file"])
            .arg(file)
            .assert()
            .code(2)
            .get_output()
            .clone();
        for output in [serve, create] {
            let stderr = stderr_of(&output);
            assert!(stderr.contains(&file.display().to_string()), "{stderr}");
            assert!(!stderr.contains("hunter2"), "{stderr}");
        }
    }
}

#[test]
fn a_refused_database_connection_says_connection_refused_with_host_and_port() {
    let sandbox = Sandbox::new();
    let port = http::refused().trim_start_matches("http://127.0.0.1:").trim_end_matches('/').to_string();
    let output = sandbox
        .botctl()
        .args(["--database-url", &format!("postgres://op:hunter2@127.0.0.1:{port}/botctl"), "init"])
        .env("BOTCTL_DATABASE_CONNECT_TIMEOUT", "30s")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains("timed out"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn a_connection_the_server_refuses_for_a_limit_names_the_limit() {
    let (db, role) = (crate::support::TestDb::new(), crate::support::TestRole::new());
    role.grant(&format!("ALTER ROLE \"{}\" CONNECTION LIMIT 0", role.name));
    let sandbox = Sandbox::new();
    let output =
        sandbox.botctl().args(["--database-url", &role.url(&db), "init"]).assert().code(1).get_output().clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains(&format!("refused botctl's connection as {}", role.name)), "{stderr}");
    assert!(stderr.contains("the role's CONNECTION LIMIT is reached"), "{stderr}");
    assert!(!stderr.contains(&role.password), "{stderr}");
}

#[test]
fn a_bad_value_in_a_flags_environment_twin_names_the_variable() {
    let sandbox = Sandbox::new();
    for (var, value) in [("BOTCTL_YES", "maybe"), ("BOTCTL_QUIET", "perhaps"), ("BOTCTL_OUTPUT", "xml")] {
        let output = sandbox.botctl().args(["config", "show"]).env(var, value).assert().code(2).get_output().clone();
        let stderr = stderr_of(&output);
        assert!(stderr.contains(var) && stderr.contains(value), "{var}: {stderr}");
    }
    // On the command line the flag is still the one to blame.
    let output = sandbox.botctl().args(["-o", "xml", "config", "show"]).assert().code(2).get_output().clone();
    assert!(!stderr_of(&output).contains("BOTCTL_OUTPUT"), "{}", stderr_of(&output));
}
