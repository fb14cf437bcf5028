//! `botctl backup`, `backup list|verify` and the final backup of `tenant delete`, through the real
//! binary against real tenant schemas.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use botctl::booking::store::{self, NewCustomer};
use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::Value;

use crate::support::block_on;
use crate::tenant::{BOT_A, BOT_B, Fixture};

/// Two tenants, the first with customers, bookings and their outbox rows; and a backup directory.
pub struct Backups {
    pub f: Fixture,
    pub a: String,
    pub b: String,
    pub dest: tempfile::TempDir,
}

impl Backups {
    pub fn new() -> Self {
        let f = Fixture::new();
        let (a, b) = (f.create(BOT_A), f.create(BOT_B));
        let backups = Self { f, a, b, dest: tempfile::tempdir().unwrap() };
        backups.book(&backups.a, 3);
        backups
    }

    /// Books `count` visits for as many new customers of `slug`, from Tuesday 2030-03-05 on.
    pub fn book(&self, slug: &str, count: i64) {
        let pool = self.pool(slug);
        let now = chrono_tz::Europe::Moscow.with_ymd_and_hms(2030, 3, 4, 8, 0, 0).unwrap().with_timezone(&Utc);
        block_on(async {
            let service = store::services(&mut pool.acquire().await.unwrap()).await.unwrap().remove(0);
            let taken: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(&pool).await.unwrap();
            for i in taken..taken + count {
                let c = NewCustomer { user_id: 5000 + i, first_name: "Олег", username: None, language_code: None };
                store::upsert_customer(&mut pool.acquire().await.unwrap(), &c).await.unwrap();
                // Two hours apart, four a day from 12:00 (Sundays open at 11:00).
                let start = now + TimeDelta::days(1 + i / 4) + TimeDelta::hours(4 + 2 * (i % 4));
                store::book(&pool, c.user_id, service.id, start, now).await.unwrap();
            }
        });
    }

    pub fn pool(&self, slug: &str) -> sqlx::PgPool {
        block_on(sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&self.f.tenant_url(slug))).unwrap()
    }

    pub fn botctl(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = self.f.botctl();
        cmd.args(args).env("BOTCTL_BACKUP_DIR", self.dest.path());
        cmd
    }

    pub fn archives(&self, slug: &str) -> Vec<PathBuf> {
        botctl::backup::list(&self.dest.path().join(slug), slug).unwrap().into_iter().map(|s| s.path).collect()
    }

    pub fn count(&self, slug: &str, table: &str) -> u64 {
        self.f.scalar::<i64>(&format!("SELECT count(*) FROM tenant_{slug}.{table}")) as u64
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn backup_writes_one_owner_only_archive_per_tenant_with_every_table_and_records_it() {
    let t = Backups::new();
    let output = t.botctl(&["backup", "--all", "-o", "json"]).assert().success().get_output().stdout.clone();
    let report: Value = serde_json::from_slice(&output).unwrap();
    assert_eq!(report["tenants"].as_array().unwrap().len(), 2, "{report}");

    let path = t.archives(&t.a).remove(0);
    assert_eq!((mode(t.dest.path().join(&t.a).as_path()), mode(&path)), (0o700, 0o600));
    let archive = botctl::backup::read(&path).unwrap();
    let m = &archive.manifest;
    assert_eq!((m.tenant.as_str(), m.botctl_version.as_str()), (t.a.as_str(), env!("CARGO_PKG_VERSION")));
    assert_eq!(
        m.schema_version,
        t.f.scalar::<i64>(&format!("SELECT schema_version FROM botctl.tenants WHERE slug = '{}'", t.a))
    );
    let tables: Vec<&str> = m.tables.iter().map(|f| f.table.as_str()).collect();
    for table in ["settings", "services", "customers", "bookings", "outbox", "dialogues", "texts", "admins"] {
        assert!(tables.contains(&table), "{table} missing from {tables:?}");
        let rows = m.tables.iter().find(|f| f.table == table).unwrap().rows;
        assert_eq!(rows, t.count(&t.a, table), "{table}");
    }
    let position = |name: &str| tables.iter().position(|t| *t == name).unwrap();
    assert!(position("customers") < position("bookings") && position("bookings") < position("outbox"));
    assert_eq!(m.tables.iter().find(|f| f.table == "bookings").unwrap().rows, 3);

    let recorded: i64 = t.f.scalar("SELECT count(*) FROM botctl.backups WHERE pruned_at IS NULL");
    assert_eq!(recorded, 2);
    let listed = t.f.json(&["backup", "list", "--dest", t.dest.path().to_str().unwrap()]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let verified =
        t.botctl(&["backup", "verify", "--all", "-o", "json"]).assert().success().get_output().stdout.clone();
    let verified: Value = serde_json::from_slice(&verified).unwrap();
    assert!(verified.as_array().unwrap().iter().all(|v| v["recorded"] == true && v["error"].is_null()), "{verified}");
}

#[test]
fn verify_refuses_a_flipped_byte_a_truncated_file_a_replaced_file_and_a_foreign_one_naming_each() {
    let t = Backups::new();
    t.botctl(&["backup", &t.a, "-q"]).assert().success().stdout("").stderr("");
    let good = t.archives(&t.a).remove(0);
    let bytes = std::fs::read(&good).unwrap();
    let verify = |path: &Path| {
        let output = t.botctl(&["backup", "verify", path.to_str().unwrap()]).assert().code(1).get_output().clone();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };

    // The recorded archive itself, one byte changed: its sha256 is no longer the recorded one.
    let mut copy = bytes.clone();
    copy[10] ^= 0x01;
    std::fs::write(&good, &copy).unwrap();
    let out = verify(&good);
    assert!(out.contains("failed"), "{out}");
    std::fs::write(&good, &bytes).unwrap();

    let flipped = t.dest.path().join("flipped.tar.zst");
    let mut copy = bytes.clone();
    let middle = copy.len() / 2;
    copy[middle] ^= 0x01;
    std::fs::write(&flipped, &copy).unwrap();
    let out = verify(&flipped);
    assert!(out.contains("flipped.tar.zst") && out.contains("failed"), "{out}");

    let truncated = t.dest.path().join("truncated.tar.zst");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let out = verify(&truncated);
    assert!(out.contains("truncated or not a botctl archive"), "{out}");

    let foreign = t.dest.path().join("foreign.tar.zst");
    std::fs::write(&foreign, b"PK\x03\x04 not even zstd").unwrap();
    assert!(verify(&foreign).contains("failed"));

    // A sound archive, but not the file the control plane recorded at that path.
    t.book(&t.a, 1);
    t.botctl(&["backup", &t.a, "-q"]).assert().success();
    let newer = t.archives(&t.a).remove(0);
    std::fs::copy(&newer, &good).unwrap();
    let out = verify(&good);
    assert!(out.contains("archive checksum failed"), "{out}");
}

#[test]
fn retention_keeps_exactly_the_newest_n() {
    let t = Backups::new();
    for _ in 0..4 {
        t.botctl(&["backup", &t.a, "--keep", "2", "-q"]).assert().success();
    }
    assert_eq!(t.archives(&t.a).len(), 2);
    let live: i64 =
        t.f.scalar(&format!("SELECT count(*) FROM botctl.backups WHERE tenant = '{}' AND pruned_at IS NULL", t.a));
    let pruned: i64 =
        t.f.scalar(&format!("SELECT count(*) FROM botctl.backups WHERE tenant = '{}' AND pruned_at IS NOT NULL", t.a));
    assert_eq!((live, pruned), (2, 2));
}

#[test]
fn a_cron_run_with_one_broken_tenant_backs_up_the_others_and_exits_1_with_the_reason() {
    let t = Backups::new();
    block_on(
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA tenant_{} CASCADE", t.b)))
            .execute(&mut t.f.db.connect()),
    )
    .unwrap();
    let output = t.botctl(&["backup", "--all", "-q"]).assert().code(1).get_output().clone();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&t.b) && stdout.contains("failed:"), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 of 2 tenant backups failed"));
    assert_eq!(t.archives(&t.a).len(), 1);
    assert!(t.archives(&t.b).is_empty());
}

#[test]
fn a_backup_taken_while_bookings_are_written_is_one_instant() {
    let t = Backups::new();
    let writer = {
        let pool = t.pool(&t.a);
        let now = chrono_tz::Europe::Moscow.with_ymd_and_hms(2030, 3, 4, 8, 0, 0).unwrap().with_timezone(&Utc);
        std::thread::spawn(move || {
            block_on(async {
                let service = store::services(&mut pool.acquire().await.unwrap()).await.unwrap().remove(0);
                for i in 0..60 {
                    let c =
                        NewCustomer { user_id: 8000 + i, first_name: "Ира", username: None, language_code: None };
                    store::upsert_customer(&mut pool.acquire().await.unwrap(), &c).await.unwrap();
                    let start = now + TimeDelta::days(5 + i / 4) + TimeDelta::hours(4 + 2 * (i % 4));
                    store::book(&pool, c.user_id, service.id, start, now).await.unwrap();
                    // Slow enough for several backups to land in the middle.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            })
        })
    };
    while !writer.is_finished() {
        t.botctl(&["backup", &t.a, "-q"]).assert().success();
    }
    writer.join().unwrap();
    let mut midway = 0;
    for path in t.archives(&t.a) {
        let archive = botctl::backup::read(&path).unwrap();
        let ids = |table: &str, column: &str| -> Vec<i64> {
            let mut reader = csv::Reader::from_reader(archive.tables[table].as_slice());
            let at = reader.headers().unwrap().iter().position(|h| h == column).unwrap();
            reader.records().filter_map(|r| r.unwrap().get(at).and_then(|v| v.parse().ok())).collect()
        };
        let bookings = ids("bookings", "id");
        let customers = ids("customers", "user_id");
        // Every booking's customer and every outbox row's booking are in the same archive, and every
        // booking has its rows: each booking transaction is in it entirely or not at all.
        assert!(ids("bookings", "customer_id").iter().all(|c| customers.contains(c)), "{}", path.display());
        let outbox = ids("outbox", "booking_id");
        assert!(outbox.iter().all(|b| bookings.contains(b)), "{}", path.display());
        assert!(bookings.iter().all(|b| outbox.contains(b)), "{}", path.display());
        midway += usize::from(bookings.len() > 3 && bookings.len() < 63);
    }
    assert!(midway >= 1, "no backup was taken while bookings were being written");
}

#[test]
fn tenant_delete_takes_a_final_backup_and_says_where_unless_told_not_to() {
    let t = Backups::new();
    let output = t.botctl(&["tenant", "delete", &t.a, "--yes"]).assert().success().get_output().stderr.clone();
    let stderr = String::from_utf8_lossy(&output);
    let archive = t.archives(&t.a).remove(0);
    assert!(stderr.contains(&archive.display().to_string()), "{stderr}");
    assert_eq!(
        botctl::backup::read(&archive).unwrap().manifest.tables.iter().find(|f| f.table == "bookings").unwrap().rows,
        3
    );

    t.botctl(&["tenant", "delete", &t.b, "--yes", "--no-backup"]).assert().success();
    assert!(t.archives(&t.b).is_empty());
}

#[test]
fn backup_all_fails_a_tenant_whose_table_is_locked_names_the_table_and_backs_up_the_others() {
    let t = Backups::new();
    let _held = t.f.lock(&format!("tenant_{}.bookings", t.a));
    let output =
        t.botctl(&["backup", "--all", "--lock-timeout", "1s", "-o", "json"]).assert().code(1).get_output().clone();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let result =
        |slug: &str| report["tenants"].as_array().unwrap().iter().find(|r| r["tenant"] == slug).unwrap().clone();
    let error = result(&t.a)["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains(&format!("tenant_{}.bookings is locked by another session", t.a)), "{report}");
    assert!(result(&t.b)["error"].is_null(), "{report}");
    assert_eq!((t.archives(&t.a).len(), t.archives(&t.b).len()), (0, 1));

    // The config key's environment twin sets it too; the default is not "forever".
    let output =
        t.botctl(&["backup", &t.a]).env("BOTCTL_BACKUP_LOCK_TIMEOUT", "1s").assert().code(1).get_output().clone();
    assert!(String::from_utf8_lossy(&output.stdout).contains("is locked by another session"), "{output:?}");
    let shown = t.f.json(&["config", "show"]);
    assert!(shown.to_string().contains("backup.lock_timeout"), "{shown}");
    t.botctl(&["backup", &t.a, "--lock-timeout", "0s"]).assert().code(2);
}

#[test]
fn an_interrupted_backup_leaves_no_server_backend_waiting_on_the_lock() {
    let t = Backups::new();
    let _held = t.f.lock(&format!("tenant_{}.bookings", t.a));
    let mut backup = t.f.process();
    backup.args(["backup", &t.a, "--lock-timeout", "1h"]).env("BOTCTL_BACKUP_DIR", t.dest.path());
    t.f.interrupt_while_waiting(backup, nix::sys::signal::Signal::SIGINT);
}

#[test]
fn keep_0_is_refused_before_anything_is_written() {
    let t = Backups::new();
    let output = t.botctl(&["backup", &t.a, "--keep", "0"]).assert().code(2).get_output().clone();
    assert!(String::from_utf8_lossy(&output.stderr).contains("keep at least 1"), "{output:?}");
    assert!(t.archives(&t.a).is_empty());
}
