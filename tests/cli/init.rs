//! `botctl init` against a server URL and against the embedded local cluster.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use sqlx::Connection;

use crate::support::{ClusterGuard, Sandbox, TestDb, TestRole, block_on};

fn init_json(cmd: &mut assert_cmd::Command) -> Value {
    let out = cmd.args(["init", "-o", "json"]).assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn init_twice_against_a_server_applies_once_then_does_nothing() {
    let sandbox = Sandbox::new();
    let db = TestDb::new();

    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/control")).unwrap().count();
    let first = init_json(sandbox.botctl().args(["--database-url", &db.url()]));
    assert_eq!(first["changed"], true);
    assert_eq!(first["applied"].as_array().unwrap().len(), migrations);
    assert_eq!(first["applied"][0]["version"], 1);
    assert!(first["location"].as_str().unwrap().starts_with("server postgres://"));

    let second = init_json(sandbox.botctl().args(["--database-url", &db.url()]));
    assert_eq!(second["changed"], false);
    assert_eq!(second["applied"], Value::Array(vec![]));
    assert_eq!(second["version"], first["version"]);

    let stderr =
        sandbox.botctl().args(["--database-url", &db.url(), "init"]).assert().success().get_output().stderr.clone();
    assert!(String::from_utf8(stderr).unwrap().contains("nothing to do"));

    let mut conn = db.connect();
    let applied: i64 =
        block_on(sqlx::query_scalar("SELECT count(*) FROM botctl._sqlx_migrations").fetch_one(&mut conn)).unwrap();
    assert_eq!(applied, migrations as i64);
}

#[test]
fn the_control_schema_is_closed_to_other_roles() {
    let sandbox = Sandbox::new();
    let db = TestDb::new();
    sandbox.botctl().args(["--database-url", &db.url(), "init", "-q"]).assert().success();
    let outsider = TestRole::new();
    let mut conn =
        block_on(async { <sqlx::PgConnection as sqlx::Connection>::connect(&outsider.url(&db)).await }).unwrap();
    let usable: bool =
        block_on(sqlx::query_scalar("SELECT has_schema_privilege('botctl', 'USAGE')").fetch_one(&mut conn)).unwrap();
    assert!(!usable, "a role without grants can use the control schema");
}

#[test]
fn init_without_privileges_prints_the_exact_grants() {
    let sandbox = Sandbox::new();
    let db = TestDb::new();
    let role = TestRole::new();
    let output =
        sandbox.botctl().args(["--database-url", &role.url(&db), "init"]).assert().code(1).get_output().clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&format!("role `{}` lacks privileges", role.name)), "{stderr}");
    assert!(stderr.contains(&format!("ALTER ROLE \"{}\" CREATEROLE;", role.name)), "{stderr}");
    assert!(stderr.contains(&format!("GRANT CREATE ON DATABASE \"{}\" TO \"{}\";", db.name, role.name)), "{stderr}");
    assert!(!stderr.contains(&role.password), "{stderr}");

    // Running exactly what it printed is enough.
    role.grant(&format!("ALTER ROLE \"{}\" CREATEROLE", role.name));
    role.grant(&format!("GRANT CREATE ON DATABASE \"{}\" TO \"{}\"", db.name, role.name));
    let report = init_json(sandbox.botctl().args(["--database-url", &role.url(&db)]));
    assert_eq!(report["changed"], true);
    assert_eq!(report["role"], role.name.as_str());
}

#[test]
fn init_twice_against_the_embedded_default_creates_the_cluster_once() {
    let sandbox = Sandbox::new();
    let data_dir = sandbox.path().join("data/botctl");
    let _stop = ClusterGuard(data_dir.clone());

    let first = init_json(&mut sandbox.botctl());
    let location = first["location"].as_str().unwrap();
    assert!(location.contains(&format!("local cluster in {}", data_dir.join("postgres").display())), "{location}");
    assert!(location.contains("created and started now"), "{location}");
    assert_eq!(first["changed"], true);

    let second = init_json(&mut sandbox.botctl());
    assert!(second["location"].as_str().unwrap().ends_with("(running)"), "{second}");
    assert_eq!(second["changed"], false);

    // Socket only: the cluster must not listen on TCP.
    let conf = std::fs::read_to_string(data_dir.join("postgres/postgresql.conf")).unwrap();
    assert!(conf.contains("listen_addresses = ''"), "{conf}");
    // The second socket, for tenant containers, sits alone in a directory anyone may enter; a role
    // other than the operator's still needs its password there.
    let shared = data_dir.join("socket");
    assert_eq!(std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777, 0o755);
    let entries: Vec<String> =
        std::fs::read_dir(&shared).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(entries.iter().all(|e| e.starts_with(".s.PGSQL.5432")), "{entries:?}");
    let url = |user: &str| format!("postgres://{user}@localhost/botctl?host={}&port=5432", shared.display());
    let mut operator = block_on(sqlx::PgConnection::connect(&url("botctl"))).unwrap();
    block_on(sqlx::query("CREATE ROLE shared_probe LOGIN PASSWORD 'probe-pw'").execute(&mut operator)).unwrap();
    block_on(sqlx::PgConnection::connect(&url("shared_probe:wrong"))).unwrap_err();
    block_on(sqlx::PgConnection::connect(&url("shared_probe:probe-pw"))).unwrap();
}

#[test]
fn a_stopped_embedded_cluster_is_started_on_demand() {
    let sandbox = Sandbox::new();
    let data_dir = sandbox.path().join("data/botctl");
    let _stop = ClusterGuard(data_dir.clone());
    init_json(&mut sandbox.botctl());
    botctl::db::cluster::LocalCluster::new(&data_dir, None).unwrap().stop().unwrap();
    // As a cluster made before the shared socket existed: one socket directory, inside PGDATA.
    let conf = data_dir.join("postgres/postgresql.conf");
    let pgdata = data_dir.join("postgres").display().to_string();
    let old = regex::Regex::new(r"unix_socket_directories = '[^']*'").unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, old.replace_all(&text, format!("unix_socket_directories = '{pgdata}'")).as_ref()).unwrap();
    std::fs::remove_dir_all(data_dir.join("socket")).unwrap();

    let again = init_json(&mut sandbox.botctl());
    assert!(again["location"].as_str().unwrap().ends_with("(started now)"), "{again}");
    assert_eq!(again["changed"], false);
    assert!(data_dir.join("socket/.s.PGSQL.5432").exists(), "the shared socket is added on start");
}
