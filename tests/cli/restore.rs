//! `botctl restore`: round trips, `--as`, older and newer archives, and failures that change nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use botctl::booking::store;
use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::Value;

use crate::backup::Backups;
use crate::support::{block_on, token};
use crate::tenant::BOT_C;

/// Every table of a tenant schema (but the migration ledger), each as its rows in a stable order.
fn contents(t: &Backups, slug: &str) -> BTreeMap<String, Value> {
    let tables: Vec<String> = {
        let mut conn = t.f.db.connect();
        block_on(
            sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 AND tablename <> '_sqlx_migrations'",
            )
            .bind(format!("tenant_{slug}"))
            .fetch_all(&mut conn),
        )
        .unwrap()
    };
    tables
        .into_iter()
        .map(|table| {
            let sql = format!(
                "SELECT coalesce(json_agg(row_to_json(r) ORDER BY r::text), '[]')::text FROM tenant_{slug}.{table} r"
            );
            let rows: String = t.f.scalar(&sql);
            (table, serde_json::from_str(&rows).unwrap())
        })
        .collect()
}

/// A tenant with something in every kind of table, backed up; returns the archive.
fn backed_up(t: &Backups) -> PathBuf {
    t.f.scalar::<i32>(&format!(
        "WITH d AS (INSERT INTO tenant_{a}.dialogues (chat_id, version, state) VALUES (5000, 1, '{{\"Idle\": null}}') RETURNING 1), \
              x AS (INSERT INTO tenant_{a}.texts (key, text) VALUES ('menu.book', 'Хочу стрижку') RETURNING 1), \
              r AS (INSERT INTO tenant_{a}.admins (user_id, is_owner, added_by) VALUES (3003, false, 1001) RETURNING 1) \
         SELECT 1",
        a = t.a
    ));
    t.botctl(&["backup", &t.a, "-q"]).assert().success();
    t.archives(&t.a).remove(0)
}

fn restore(t: &Backups, args: &[&str]) -> std::process::Output {
    t.botctl(&["restore"]).args(args).output().unwrap()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_restore_brings_back_every_table_row_by_row_and_keeps_the_replaced_data() {
    let t = Backups::new();
    let archive = backed_up(&t);
    let before = contents(&t, &t.a);
    assert!(before["outbox"].as_array().unwrap().len() >= 3 && before["dialogues"].as_array().unwrap().len() == 1);

    // Life goes on, then the operator restores.
    t.book(&t.a, 2);
    t.f.scalar::<i64>(&format!("WITH d AS (DELETE FROM tenant_{}.texts RETURNING 1) SELECT count(*) FROM d", t.a));
    let refused = restore(&t, &[&t.a, "--from", archive.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--force replaces them"), "{}", stderr(&refused));

    let output = restore(&t, &[&t.a, "--from", archive.to_str().unwrap(), "--force", "--yes", "-o", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let restored: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(contents(&t, &t.a), before, "every table equal, row by row");

    // The replaced data is kept beside it; the tenant's role works on the restored schema, and new
    // rows take fresh ids.
    let previous = restored["previous"].as_str().unwrap().to_string();
    assert!(previous.starts_with(&format!("tenant_{}_prev_", t.a)), "{restored}");
    let kept: i64 = t.f.scalar(&format!("SELECT count(*) FROM {previous}.bookings"));
    assert_eq!(kept, 5);
    t.book(&t.a, 1);
    assert_eq!(t.count(&t.a, "bookings"), 4);

    // A second restore drops the first's kept schema and keeps its own; --no-keep keeps none.
    let output = restore(&t, &[&t.a, "--from", archive.to_str().unwrap(), "--force", "--yes", "-o", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let schemas = || -> i64 {
        t.f.scalar(&format!("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_{}\\_prev\\_%'", t.a))
    };
    assert_eq!(schemas(), 1);
    let output = restore(&t, &[&t.a, "--from", archive.to_str().unwrap(), "--force", "--yes", "--no-keep"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(schemas(), 0);
    assert_eq!(contents(&t, &t.a), before);
}

/// Rewrites an archive with `change` applied to its manifest and tables; checksums are made anew, so
/// only the data itself is wrong.
/// A CSV file without one of its columns.
fn without_column(csv_bytes: &[u8], column: &str) -> Vec<u8> {
    let mut reader = csv::Reader::from_reader(csv_bytes);
    let header = reader.headers().unwrap().clone();
    let drop = header.iter().position(|h| h == column).unwrap_or_else(|| panic!("no column {column}"));
    let keep = |record: &csv::StringRecord| -> Vec<String> {
        record.iter().enumerate().filter(|(i, _)| *i != drop).map(|(_, v)| v.to_string()).collect()
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(keep(&header)).unwrap();
    for record in reader.records() {
        writer.write_record(keep(&record.unwrap())).unwrap();
    }
    writer.into_inner().unwrap()
}

fn rewritten(
    t: &Backups,
    archive: &Path,
    name: &str,
    change: impl FnOnce(&mut botctl::backup::Manifest, &mut Vec<(String, u64, Vec<u8>)>),
) -> PathBuf {
    let read = botctl::backup::read(archive).unwrap();
    let mut manifest = read.manifest.clone();
    let mut tables: Vec<(String, u64, Vec<u8>)> =
        manifest.tables.iter().map(|f| (f.table.clone(), f.rows, read.tables[&f.table].clone())).collect();
    change(&mut manifest, &mut tables);
    botctl::backup::write(t.dest.path(), name, manifest, tables).unwrap().path
}

#[test]
fn a_restore_that_fails_midway_leaves_the_live_tenant_exactly_as_it_was() {
    let t = Backups::new();
    let archive = backed_up(&t);
    // The same booking twice: its primary key stops the load halfway through.
    let broken = rewritten(&t, &archive, "broken.tar.zst", |_, tables| {
        let bookings = tables.iter_mut().find(|(name, ..)| name == "bookings").unwrap();
        let text = String::from_utf8(bookings.2.clone()).unwrap();
        let first = text.lines().nth(1).unwrap().to_string();
        bookings.2 = format!("{text}{first}\n").into_bytes();
        bookings.1 += 1;
    });
    t.book(&t.a, 1);
    let before = contents(&t, &t.a);
    let output = restore(&t, &[&t.a, "--from", broken.to_str().unwrap(), "--force", "--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("loading bookings"), "{}", stderr(&output));
    assert_eq!(contents(&t, &t.a), before);
    let left: i64 = t.f.scalar(&format!("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_{}\\_%'", t.a));
    assert_eq!(left, 0, "no staging or kept schema");

    // backup verify --deep finds it too, and leaves nothing behind either.
    let output = t.botctl(&["backup", "verify", "--deep", broken.to_str().unwrap()]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("scratch schema failed"));
    t.botctl(&["backup", "verify", "--deep", archive.to_str().unwrap()]).assert().success();
    let left: i64 = t.f.scalar(&format!("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_{}\\_%'", t.a));
    assert_eq!(left, 0);

    // A damaged file is refused before anything starts, naming the file and the check.
    let truncated = t.dest.path().join("truncated.tar.zst");
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let output = restore(&t, &[&t.a, "--from", truncated.to_str().unwrap(), "--force", "--yes"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("truncated.tar.zst") && stderr(&output).contains("truncated"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_archive_restores_as_a_new_tenant_with_its_own_bot_created_stopped() {
    let t = Backups::new();
    let archive = backed_up(&t);
    let copy = crate::support::unique_slug();
    // The original's bot is taken.
    let taken = restore(
        &t,
        &[&t.a, "--from", archive.to_str().unwrap(), "--as", &copy, "--token", &token(crate::tenant::BOT_A)],
    );
    assert_eq!(taken.status.code(), Some(2), "{}", stderr(&taken));
    assert!(stderr(&taken).contains("already serves"), "{}", stderr(&taken));

    let output = restore(&t, &[&t.a, "--from", archive.to_str().unwrap(), "--as", &copy, "--token", &token(BOT_C)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = t.f.json(&["tenant", "show", &copy]);
    assert_eq!(shown["status"], "stopped");
    assert_eq!(shown["admins"], serde_json::json!([1001, 1002]), "the owners come from the archive");
    let mut original = contents(&t, &t.a);
    let mut restored = contents(&t, &copy);
    // The copy has its own settings, and the original's pending messages are expired in it (see
    // `a_restore_as_a_new_tenant_expires_the_pending_messages_of_the_old_bot_and_says_so`).
    for table in ["settings", "outbox"] {
        original.remove(table);
        restored.remove(table);
    }
    assert_eq!(restored, original);
    // Its own role reaches its own tables.
    let pool = t.pool(&copy);
    let bookings: i64 = block_on(sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(&pool)).unwrap();
    assert_eq!(bookings, 3);
    let now = chrono_tz::Europe::Moscow.with_ymd_and_hms(2030, 3, 4, 8, 0, 0).unwrap().with_timezone(&Utc);
    let service = block_on(async { store::services(&mut pool.acquire().await.unwrap()).await.unwrap().remove(0) });
    block_on(store::book(&pool, 5000, service.id, now + TimeDelta::days(12) + TimeDelta::hours(4), now)).unwrap();

    // After losing a server: the tenant is gone, and comes back under its own name and bot.
    t.botctl(&["tenant", "delete", &t.a, "--yes", "--no-backup"]).assert().success();
    let output = restore(
        &t,
        &[&t.a, "--from", archive.to_str().unwrap(), "--as", &t.a, "--token", &token(crate::tenant::BOT_A)],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(t.count(&t.a, "bookings"), 3);
}

#[test]
fn an_older_archive_is_migrated_forward_and_a_newer_one_refused() {
    let t = Backups::new();
    let archive = backed_up(&t);
    let before = contents(&t, &t.a);
    let latest: i64 = t.f.scalar(&format!("SELECT schema_version FROM botctl.tenants WHERE slug = '{}'", t.a));
    // As a botctl before the outbox (schema version 5) would have written it: without the tables and
    // columns that came later.
    let older = rewritten(&t, &archive, "older.tar.zst", |manifest, tables| {
        manifest.schema_version = 5;
        tables.retain(|(name, ..)| !["outbox", "audit_log", "broadcasts"].contains(&name.as_str()));
        for (table, column) in [
            ("admins", "permissions"),
            ("admins", "name"),
            ("services", "slot_step_minutes"),
            ("services", "deleted_at"),
            ("bookings", "cancel_reason"),
            ("customers", "blocked_at"),
        ] {
            let file = tables.iter_mut().find(|(name, ..)| name == table).unwrap();
            file.2 = without_column(&file.2, column);
        }
    });
    let output = restore(&t, &[&t.a, "--from", older.to_str().unwrap(), "--force", "--yes", "-o", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let restored: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((restored["from_version"].as_i64(), restored["to_version"].as_i64()), (Some(5), Some(latest)));
    let after = contents(&t, &t.a);
    assert_eq!(after["outbox"], serde_json::json!([]), "the outbox came with the migration, empty");
    assert_eq!(after["bookings"], before["bookings"]);
    let version: i64 = t.f.scalar(&format!("SELECT max(version) FROM tenant_{}._sqlx_migrations", t.a));
    assert_eq!(version, latest);

    let newer = rewritten(&t, &archive, "newer.tar.zst", |manifest, _| manifest.schema_version = 99);
    let output = restore(&t, &[&t.a, "--from", newer.to_str().unwrap(), "--force", "--yes"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("newer than this botctl"), "{}", stderr(&output));
}

/// The tenant's operator events' actions, oldest first.
fn actions(t: &Backups, slug: &str) -> Vec<String> {
    let events = t.f.json(&["events", slug]);
    events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_refused_restore_never_touches_the_bot() {
    let t = Backups::new();
    let archive = backed_up(&t);
    let foreign = {
        t.botctl(&["backup", &t.b, "-q"]).assert().success();
        t.archives(&t.b).remove(0)
    };
    let truncated = t.dest.path().join("truncated.tar.zst");
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let corrupt = t.dest.path().join("corrupt.tar.zst");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    std::fs::write(&corrupt, &flipped).unwrap();
    // Marked running without a container: a restore that touched the bot would stop and start it.
    t.f.scalar::<i32>(&format!(
        "WITH u AS (UPDATE botctl.tenants SET status = 'running' WHERE slug = '{}' RETURNING 1) SELECT 1",
        t.a
    ));
    let before = contents(&t, &t.a);
    let events_before = actions(&t, &t.a);
    for (from, force) in [
        ("/etc/passwd", true),
        (truncated.to_str().unwrap(), true),
        (corrupt.to_str().unwrap(), true),
        (foreign.to_str().unwrap(), true),
        (archive.to_str().unwrap(), false),
    ] {
        let mut args = vec![t.a.as_str(), "--from", from, "--yes"];
        if force {
            args.push("--force");
        }
        let output = restore(&t, &args);
        assert_eq!(output.status.code(), Some(2), "{from}: {}", stderr(&output));
        assert_eq!(actions(&t, &t.a), events_before, "{from}: the bot was stopped or started");
    }
    assert_eq!(contents(&t, &t.a), before);
}

#[test]
fn restore_force_off_a_terminal_needs_yes() {
    let t = Backups::new();
    let archive = backed_up(&t);
    t.book(&t.a, 1);
    let before = contents(&t, &t.a);
    let output = restore(&t, &[&t.a, "--from", archive.to_str().unwrap(), "--force"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("without --yes"), "{}", stderr(&output));
    assert_eq!(contents(&t, &t.a), before);
}

#[test]
fn a_restore_as_a_new_tenant_expires_the_pending_messages_of_the_old_bot_and_says_so() {
    let t = Backups::new();
    let archive = backed_up(&t);
    let pending: i64 = t.f.scalar(&format!("SELECT count(*) FROM tenant_{}.outbox WHERE state = 'pending'", t.a));
    assert!(pending >= 3);
    let copy = crate::support::unique_slug();
    let output = restore(
        &t,
        &[&t.a, "--from", archive.to_str().unwrap(), "--as", &copy, "--token", &token(BOT_C), "-o", "json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let restored: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(restored["expired_messages"], pending, "{restored}");
    let left: i64 = t.f.scalar(&format!("SELECT count(*) FROM tenant_{copy}.outbox WHERE state = 'pending'"));
    assert_eq!(left, 0);
    // Said in the human output too.
    t.botctl(&["tenant", "delete", &copy, "--yes", "--no-backup"]).assert().success();
    let output = restore(&t, &[&t.a, "--from", archive.to_str().unwrap(), "--as", &copy, "--token", &token(BOT_C)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("{pending} pending messages")), "{}", stderr(&output));
}

#[test]
fn delete_after_a_restore_drops_the_kept_schema_and_a_failed_delete_finishes_without_a_second_backup() {
    let t = Backups::new();
    let archive = backed_up(&t);
    let output = restore(&t, &[&t.a, "--from", archive.to_str().unwrap(), "--force", "--yes"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let kept: String =
        t.f.scalar(&format!("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'tenant\\_{}\\_prev\\_%'", t.a));

    // A step after the final backup fails: the kept schema's table is held by another session.
    let held = t.f.lock(&format!("{kept}.bookings"));
    let output = t.botctl(&["tenant", "delete", &t.a, "--yes", "--lock-timeout", "1s"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("{kept}.bookings is locked by another session")), "{}", stderr(&output));
    assert_eq!(t.archives(&t.a).len(), 2, "the archive restored from and the final backup");
    drop(held);

    let output = t.botctl(&["tenant", "delete", &t.a, "--yes"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(t.archives(&t.a).len(), 2, "no second final backup");
    let left: i64 = t.f.scalar(&format!(
        "SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_{a}' OR nspname LIKE 'tenant\\_{a}\\_%'",
        a = t.a
    ));
    assert_eq!(left, 0, "the live and the kept schema are dropped");
    assert!(!t.f.role_exists(&t.a));
    let token: Option<String> = t.f.scalar(&format!("SELECT token FROM botctl.tenants WHERE slug = '{}'", t.a));
    assert_eq!(token, None, "a deleted tenant keeps no token");
    assert_eq!(t.f.json(&["tenant", "list", "--status", "deleted"]).as_array().unwrap().len(), 1);
}

#[test]
fn a_restore_fails_on_a_locked_table_naming_it_and_changes_nothing() {
    let t = Backups::new();
    let archive = backed_up(&t);
    let before = contents(&t, &t.a);
    let held = t.f.lock(&format!("tenant_{}.bookings", t.a));
    // Counting what --force would replace waits on it; so does dropping the replaced schema.
    for args in [&["--lock-timeout", "1s"][..], &["--lock-timeout", "1s", "--force", "--yes", "--no-keep"]] {
        let output = restore(&t, &[&[t.a.as_str(), "--from", archive.to_str().unwrap()][..], args].concat());
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", stderr(&output));
        let named = format!("tenant_{}.bookings is locked by another session", t.a);
        assert!(stderr(&output).contains(&named), "{args:?}: {}", stderr(&output));
    }
    drop(held);
    assert_eq!(contents(&t, &t.a), before);
}
