//! `botctl migrate`: per-tenant ledgers, skipping current tenants, and one failure not stopping others.

use crate::support::block_on;
use crate::tenant::{BOT_A, BOT_B, BOT_C, Fixture};

/// Makes a tenant look as if it had never been migrated: its tables and ledger gone, the control plane
/// told so (the schema, role and grants stay, as `create` made them).
fn roll_back(f: &Fixture, slug: &str) {
    let schema = format!("tenant_{slug}");
    exec(
        f,
        &format!(
            "DO $$ DECLARE t text; BEGIN \
               FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = '{schema}' AND tablename <> '_sqlx_migrations' \
               LOOP EXECUTE format('DROP TABLE IF EXISTS %I.%I CASCADE', '{schema}', t); END LOOP; END $$"
        ),
    );
    forget_ledger(f, slug);
}

/// Makes a tenant's next migration fail: its ledger forgets 0001, but the tables 0001 creates remain.
fn forget_ledger(f: &Fixture, slug: &str) {
    exec(f, &format!("DELETE FROM tenant_{slug}._sqlx_migrations"));
    exec(f, &format!("UPDATE botctl.tenants SET schema_version = 0 WHERE slug = '{slug}'"));
}

fn exec(f: &Fixture, sql: &str) {
    let mut conn = f.db.connect();
    block_on(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn)).unwrap();
}

/// How many tenant migrations this build has (they are numbered 1, 2, …).
fn latest() -> i64 {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/tenant")).unwrap().count() as i64
}

#[test]
fn migrate_all_applies_per_tenant_and_reports_each_failure() {
    let f = Fixture::new();
    let (a, b, c) = (f.create(BOT_A), f.create(BOT_B), f.create(BOT_C));
    roll_back(&f, &a);
    roll_back(&f, &b);
    forget_ledger(&f, &c);

    let status = f.json(&["migrate", "status"]);
    assert!(status.as_array().unwrap().iter().all(|s| s["pending"] == latest() && s["version"] == 0), "{status}");

    let dry = f.json(&["migrate", "--all", "--dry-run"]);
    assert_eq!(dry["tenants"].as_array().unwrap().len(), 3);
    assert!(dry["tenants"].as_array().unwrap().iter().all(|t| t["migrations"][0]["version"] == 1), "{dry}");
    assert!(!f.scalar::<bool>(&format!("SELECT to_regclass('tenant_{a}.services') IS NOT NULL")));

    let output =
        f.botctl().args(["migrate", "--all", "--jobs", "2", "-o", "json"]).assert().code(1).get_output().clone();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let tenants = report["tenants"].as_array().unwrap();
    let result = |slug: &str| tenants.iter().find(|t| t["tenant"] == slug).unwrap().clone();
    assert_eq!(result(&a)["to"], latest());
    assert!(result(&a)["error"].is_null());
    assert_eq!(result(&b)["migrations"][0]["version"], 1);
    assert!(result(&c)["error"].as_str().unwrap().contains("already exists"), "{report}");

    // Re-created tables are open to the tenant's role through the schema's default privileges.
    assert!(f.scalar::<bool>(&format!("SELECT has_table_privilege('tenant_{a}', 'tenant_{a}.services', 'INSERT')")));
    assert!(!f.scalar::<bool>(&format!("SELECT has_table_privilege('tenant_{a}', 'tenant_{a}.services', 'TRUNCATE')")));

    let status = f.json(&["migrate", "status"]);
    let pending =
        |slug: &str| status.as_array().unwrap().iter().find(|s| s["tenant"] == slug).unwrap()["pending"].clone();
    assert_eq!((pending(&a), pending(&b), pending(&c)), (0.into(), 0.into(), latest().into()));

    let table = f.botctl().args(["migrate", "--all"]).assert().code(1).get_output().clone();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains(&format!("{c} ")) && text.contains("failed:"), "{text}");
    assert!(text.contains(&format!("2 already at version {}", latest())), "{text}");
    assert_eq!(String::from_utf8(table.stderr).unwrap().trim(), "error: 1 of 1 tenant migrations failed");
}

#[test]
fn current_tenants_are_skipped_and_unknown_names_refused() {
    let f = Fixture::new();
    let a = f.create(BOT_A);
    let report = f.json(&["migrate", &a]);
    assert_eq!(report["already_current"], 1);
    assert_eq!(report["tenants"], serde_json::json!([]));
    f.botctl().args(["migrate", "nosuchtenant"]).assert().code(2);
    f.botctl().args(["migrate"]).assert().code(2);
    f.botctl().args(["migrate", "a;drop"]).assert().code(2);
}

#[test]
fn migrate_fails_a_tenant_whose_table_is_locked_naming_it_and_an_interrupt_ends_the_wait() {
    let f = Fixture::new();
    let (a, b) = (f.create(BOT_A), f.create(BOT_B));
    roll_back(&f, &a);
    roll_back(&f, &b);
    let held = f.lock(&format!("tenant_{a}._sqlx_migrations"));
    let output = f
        .botctl()
        .args(["migrate", "--all", "--lock-timeout", "1s", "-o", "json"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let result =
        |slug: &str| report["tenants"].as_array().unwrap().iter().find(|t| t["tenant"] == slug).unwrap().clone();
    let error = result(&a)["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains(&format!("tenant_{a}._sqlx_migrations is locked by another session")), "{report}");
    assert!(result(&b)["error"].is_null(), "{report}");

    let mut migrate = f.process();
    migrate.args(["migrate", &a, "--lock-timeout", "1h"]);
    f.interrupt_while_waiting(migrate, nix::sys::signal::Signal::SIGTERM);
    drop(held);
    f.botctl().args(["migrate", &a]).assert().success();
}

/// `tenant create` applies its migrations in one round trip, writing the ledger itself: the rows must be
/// the ones sqlx's migrator writes and accepts (same versions, descriptions and checksums), so that
/// sqlx's own runner finds nothing to apply and nothing changed.
#[test]
fn a_new_tenants_ledger_is_the_one_sqlx_writes_and_accepts() {
    let f = Fixture::new();
    let a = f.create(BOT_A);
    let migrator = botctl::db::migrate::tenant_migrator(&a.parse().unwrap());
    let mut conn = f.db.connect();
    let rows: Vec<(i64, String, bool, Vec<u8>, i64)> = block_on(
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT version, description, success, checksum, execution_time FROM tenant_{a}._sqlx_migrations ORDER BY version"
        )))
        .fetch_all(&mut conn),
    )
    .unwrap();
    let expected: Vec<(i64, String, bool, Vec<u8>)> =
        migrator.iter().map(|m| (m.version, m.description.to_string(), true, m.checksum.to_vec())).collect();
    let written: Vec<(i64, String, bool, Vec<u8>)> =
        rows.iter().map(|(v, d, s, c, _)| (*v, d.clone(), *s, c.clone())).collect();
    assert_eq!(written, expected);
    assert!(rows.iter().all(|(_, _, _, _, nanos)| *nanos >= 0), "{rows:?}");
    block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET search_path TO tenant_{a}"))).execute(&mut conn)).unwrap();
    block_on(migrator.run_direct(None, &mut conn, false)).expect("sqlx's migrator accepts the ledger as it is");
    let count: i64 = block_on(
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM tenant_{a}._sqlx_migrations")))
            .fetch_one(&mut conn),
    )
    .unwrap();
    assert_eq!(count, latest());
}
