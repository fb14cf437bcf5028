//! Tests that need a Docker engine. Without one they are ignored with the reason; CI sets
//! BOTCTL_REQUIRE_DOCKER=1, which makes them run (and fail) even where no engine is found.

use serde_json::Value;

use crate::support::{Sandbox, TestDb, block_on, http, unique_name};

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

/// Removes the test's image (and any container left from it) however the test ends.
struct ImageGuard(String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::default().force(true).build();
        let _ = block_on(docker.remove_image(&self.0, Some(options), None));
    }
}

#[test]
#[cfg_attr(
    not(docker_engine),
    ignore = "needs a Docker engine (none at /var/run/docker.sock or DOCKER_HOST); set BOTCTL_REQUIRE_DOCKER=1 to require it"
)]
fn image_build_needs_no_base_image_and_the_image_runs_botctl_as_nobody() {
    use bollard::query_parameters::{CreateContainerOptions, LogsOptionsBuilder, RemoveContainerOptionsBuilder};
    use futures_util::StreamExt;

    let sandbox = Sandbox::new();
    let tag = format!("{}:test", unique_name("botctl-image").replace('_', "-"));
    let _guard = ImageGuard(tag.clone());
    let mut cmd = sandbox.botctl();
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        cmd.env("DOCKER_HOST", host);
    }
    let output = cmd.args(["image", "build", "--tag", &tag, "-o", "json"]).assert().success();
    let built: Value = serde_json::from_slice(&output.get_output().stdout).unwrap();
    assert_eq!(built["tag"], tag.as_str());
    assert!(built["files"]["/usr/local/bin/botctl"].is_string(), "{built}");
    assert!(built["size_bytes"].as_i64().unwrap() > 1_000_000, "{built}");

    let docker = bollard::Docker::connect_with_defaults().unwrap();
    let image = block_on(docker.inspect_image(&tag)).unwrap();
    let config = image.config.unwrap();
    assert_eq!(config.user.as_deref(), Some("65534:65534"));
    assert_eq!(config.entrypoint, Some(vec!["/usr/local/bin/botctl".to_string()]));
    assert_eq!(config.cmd, Some(vec!["serve".to_string()]));

    // The image runs the binary: its version, as nobody, with nothing else in the file system.
    let body = bollard::models::ContainerCreateBody {
        image: Some(tag.clone()),
        cmd: Some(vec!["--version".to_string()]),
        ..Default::default()
    };
    let created = block_on(docker.create_container(None::<CreateContainerOptions>, body)).unwrap();
    block_on(docker.start_container(&created.id, None)).unwrap();
    let exit = block_on(docker.wait_container(&created.id, None).next()).unwrap().unwrap();
    let logs: Vec<_> = block_on(
        docker
            .logs(&created.id, Some(LogsOptionsBuilder::default().stdout(true).stderr(true).build()))
            .collect::<Vec<_>>(),
    );
    let logs: String = logs.into_iter().map(|l| l.unwrap().to_string()).collect();
    block_on(docker.remove_container(&created.id, Some(RemoveContainerOptionsBuilder::default().force(true).build())))
        .unwrap();
    assert_eq!(exit.status_code, 0, "{logs}");
    assert_eq!(logs.trim(), format!("botctl {}", env!("CARGO_PKG_VERSION")));
}
