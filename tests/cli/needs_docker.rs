//! Tests that need a Docker engine. Without one they are ignored with the reason; CI sets
//! BOTCTL_REQUIRE_DOCKER=1, which makes them run (and fail) even where no engine is found.

use serde_json::Value;

use crate::support::{Sandbox, TestDb, http};

#[test]
#[cfg_attr(
    not(docker_engine),
    ignore = "needs a Docker engine (none at /var/run/docker.sock or DOCKER_HOST); set BOTCTL_REQUIRE_DOCKER=1 to require it"
)]
fn doctor_reports_the_engine_and_its_api_version() {
    let sandbox = Sandbox::new();
    let db = TestDb::new();
    sandbox.botctl().args(["--database-url", &db.url(), "init", "-q"]).assert().success();
    let mut cmd = sandbox.botctl();
    cmd.args(["--database-url", &db.url(), "doctor", "-o", "json"]).env("BOTCTL_TELEGRAM_API_URL", http::answering());
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        cmd.env("DOCKER_HOST", host);
    }
    // The tenant image is not built yet, so doctor warns but does not fail: exit 0.
    let output = cmd.assert().success().get_output().clone();
    let checks: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let docker = checks.iter().find(|c| c["name"] == "docker").unwrap();
    assert_eq!(docker["status"], "ok", "{docker}");
    let message = docker["message"].as_str().unwrap();
    assert!(regex::Regex::new(r"^Docker \S+ \(API 1\.\d+, ").unwrap().is_match(message), "{message}");
    let image = checks.iter().find(|c| c["name"] == "tenant image").unwrap();
    assert_ne!(image["status"], "fail", "{image}");
}
