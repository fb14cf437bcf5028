//! `botctl config show` and the precedence rule, through the real binary.

use serde_json::Value;

use crate::support::Sandbox;

fn show(cmd: &mut assert_cmd::Command) -> Value {
    let out = cmd.args(["config", "show", "-o", "json"]).assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

fn setting<'a>(shown: &'a Value, key: &str) -> (&'a str, &'a str) {
    let entry = shown["settings"].as_array().unwrap().iter().find(|e| e["key"] == key).unwrap();
    (entry["value"].as_str().unwrap(), entry["source"].as_str().unwrap())
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let sandbox = Sandbox::new();
    let file = sandbox.write_config("data_dir: /from/file\ntelegram:\n  api_url: http://file.example/\n");

    let shown = show(&mut sandbox.botctl());
    assert_eq!(setting(&shown, "data_dir"), ("/from/file", &*format!("config file {}", file.display())));
    assert_eq!(setting(&shown, "docker.image").1, "default");

    let shown = show(sandbox.botctl().env("BOTCTL_DATA_DIR", "/from/env"));
    assert_eq!(setting(&shown, "data_dir"), ("/from/env", "environment BOTCTL_DATA_DIR"));

    let shown = show(sandbox.botctl().env("BOTCTL_DATA_DIR", "/from/env").args(["--data-dir", "/from/flag"]));
    assert_eq!(setting(&shown, "data_dir"), ("/from/flag", "flag --data-dir"));

    let shown = show(sandbox.botctl().env("BOTCTL_TELEGRAM_API_URL", "http://env.example/"));
    assert_eq!(setting(&shown, "telegram.api_url"), ("http://env.example/", "environment BOTCTL_TELEGRAM_API_URL"));
}

#[test]
fn explicit_config_file_replaces_the_standard_places() {
    let sandbox = Sandbox::new();
    sandbox.write_config("output: yaml\n");
    let other = sandbox.path().join("other.yaml");
    std::fs::write(&other, "docker:\n  image: custom:1\n").unwrap();
    let shown = show(sandbox.botctl().arg("--config").arg(&other));
    assert_eq!(setting(&shown, "docker.image"), ("custom:1", &*format!("config file {}", other.display())));
    assert_eq!(setting(&shown, "config").1, "flag --config");
}

#[test]
fn passwords_are_redacted_in_config_show() {
    let sandbox = Sandbox::new();
    sandbox.write_config("database:\n  url: postgres://op:file-secret@db.example/botctl\n");
    for args in [&["config", "show"][..], &["config", "show", "-o", "json"], &["config", "show", "-o", "yaml"]] {
        let out = sandbox.botctl().args(args).assert().success().get_output().stdout.clone();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("file-secret"), "{text}");
        assert!(text.contains("postgres://op:***@db.example/botctl"), "{text}");
    }
    let out = sandbox
        .botctl()
        .args(["config", "show"])
        .env("BOTCTL_DATABASE_URL", "postgres://op:env-secret@db.example/botctl")
        .assert()
        .success()
        .get_output()
        .clone();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("env-secret"), "{text}");
    assert!(text.contains("environment BOTCTL_DATABASE_URL"), "{text}");
}

#[test]
fn table_output_lists_key_value_and_source() {
    let sandbox = Sandbox::new();
    let out = sandbox
        .botctl()
        .args(["config", "show", "--data-dir", "/srv/botctl"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("KEY") && header.contains("VALUE") && header.contains("SOURCE"), "{text}");
    let line = text.lines().find(|l| l.starts_with("data_dir ")).unwrap();
    assert!(line.contains("/srv/botctl") && line.contains("flag --data-dir"), "{line}");
}

#[test]
fn boolean_environment_twins_accept_the_usual_spellings() {
    let sandbox = Sandbox::new();
    for value in ["1", "true", "yes", "on"] {
        let shown = show(sandbox.botctl().env("BOTCTL_NO_PROGRESS", value));
        assert_eq!(setting(&shown, "no_progress"), ("true", "environment BOTCTL_NO_PROGRESS"), "{value}");
    }
    let shown = show(sandbox.botctl().env("BOTCTL_NO_PROGRESS", "0"));
    assert_eq!(setting(&shown, "no_progress"), ("false", "default"));
    let shown = show(sandbox.botctl().env("BOTCTL_VERBOSE", "2"));
    assert_eq!(setting(&shown, "verbosity").1, "environment BOTCTL_VERBOSE");
}

/// A YAML 1.1 reader (PyYAML, as Ansible uses) reads `-o yaml` as the same data `-o json` gives.
#[test]
fn yaml_output_reads_back_as_strings_in_a_yaml_1_1_reader() {
    let sandbox = Sandbox::new();
    let run = |format: &str| {
        let mut cmd = sandbox.botctl();
        cmd.args(["config", "show", "-o", format])
            .env("BOTCTL_DOCKER_IMAGE", "yes")
            .env("BOTCTL_DOCKER_HOST", "off")
            .env("BOTCTL_RUNTIME_DATABASE_HOST", "No")
            .env("BOTCTL_TENANT_DEFAULTS_TIMEZONE", "12:30")
            .env("BOTCTL_BACKUP_DIR", "~");
        cmd.assert().success().get_output().stdout.clone()
    };
    let yaml = run("yaml");
    let text = String::from_utf8(yaml.clone()).unwrap();
    for word in ["\"yes\"", "\"off\"", "\"No\"", "\"12:30\"", "\"~\""] {
        assert!(text.contains(&format!("value: {word}\n")), "{word} is not quoted:\n{text}");
    }
    let mut python = std::process::Command::new("python3")
        .args(["-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (.ci/run installs it with PyYAML)");
    std::io::Write::write_all(&mut python.stdin.take().unwrap(), &yaml).unwrap();
    let read = python.wait_with_output().unwrap();
    assert!(read.status.success(), "PyYAML could not read:\n{text}");
    let as_read: Value = serde_json::from_slice(&read.stdout).unwrap();
    let json: Value = serde_json::from_slice(&run("json")).unwrap();
    // `source` says which flag chose the format; everything else must be identical.
    let without_output = |v: &Value| {
        v["settings"].as_array().unwrap().iter().filter(|e| e["key"] != "output").cloned().collect::<Vec<_>>()
    };
    assert_eq!(without_output(&as_read), without_output(&json));
}
