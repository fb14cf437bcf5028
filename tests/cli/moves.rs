//! `botctl tenant move` between real PostgreSQL clusters: a tenant with bookings moves row for row and
//! leaves nothing behind, refusals, a failure before the switch that changes nothing, failures injected
//! on the target while the copy loads and while it is verified, each rolled back, a move a crash
//! interrupted finished or rolled back by the next one, and `--all-from` draining a server.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::{Connection, PgConnection};

use crate::backup::Backups;
use crate::support::{ExtraDb, block_on, token, unique_slug};
use crate::tenant::{BOT_C, Fixture};

/// The cluster these tests share with the servers tests (each test has its own database on it).
const SHARED: usize = 1;

/// Runs `sql` on `url`, returning every row of a one-column text query.
fn query(url: &str, sql: &str) -> Vec<String> {
    block_on(async {
        let mut conn = PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(&mut conn).await.unwrap()
    })
}

fn execute(url: &str, sql: &str) {
    block_on(async {
        let mut conn = PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.unwrap();
    });
}

/// Every table of the tenant's schema on `url` (but the migration ledger), each as its rows in a
/// stable order.
fn contents(url: &str, slug: &str) -> BTreeMap<String, Value> {
    let tables = query(
        url,
        &format!(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'tenant_{slug}' AND tablename <> '_sqlx_migrations'"
        ),
    );
    tables
        .into_iter()
        .map(|table| {
            let sql = format!(
                "SELECT coalesce(json_agg(row_to_json(r) ORDER BY r::text), '[]')::text FROM tenant_{slug}.{table} r"
            );
            let rows = query(url, &sql).remove(0);
            (table, serde_json::from_str(&rows).unwrap())
        })
        .collect()
}

fn add_server(f: &Fixture, name: &str, db: &ExtraDb) {
    f.botctl().args(["server", "add", name, "--url", &db.url(), "--capacity", "100"]).assert().success();
}

fn server_of(f: &Fixture, slug: &str) -> String {
    f.json(&["tenant", "show", slug])["server"].as_str().unwrap().to_string()
}

fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

fn moved(t: &Backups, args: &[&str]) -> Value {
    let out = t.botctl(&["tenant", "move"]).args(args).args(["--yes", "-o", "json"]).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn journal(f: &Fixture, slug: &str) -> Vec<(String, Option<String>)> {
    let mut conn = f.db.connect();
    block_on(
        sqlx::query_as("SELECT step, error FROM botctl.tenant_moves WHERE tenant = $1 ORDER BY id")
            .bind(slug)
            .fetch_all(&mut conn),
    )
    .unwrap()
}

fn actions(f: &Fixture, slug: &str) -> Vec<String> {
    let events = f.json(&["events", slug]);
    events.as_array().unwrap().iter().filter_map(|e| e["action"].as_str().map(String::from)).collect()
}

#[test]
fn a_stopped_tenant_with_bookings_moves_row_for_row_and_leaves_nothing_behind() {
    let t = Backups::new();
    let f = &t.f;
    let pg2 = ExtraDb::new(SHARED);
    add_server(f, "pg2", &pg2);
    let slug = t.a.clone();
    let before = contents(&f.db.url(), &slug);
    assert_eq!(before["bookings"].as_array().unwrap().len(), 3);

    let out = moved(&t, &[&slug, "--to", "pg2"]);
    assert_eq!((out["from"].as_str(), out["to"].as_str()), (Some("main"), Some("pg2")));
    assert_eq!(out["downtime_ms"], Value::Null, "a stopped tenant has no downtime: {out}");
    assert_eq!(out["running"], false);
    let tables = out["tables"].as_array().unwrap();
    let bookings = tables.iter().find(|t| t["table"] == "bookings").unwrap();
    assert_eq!(bookings["rows"], 3);
    let rows: u64 = tables.iter().map(|t| t["rows"].as_u64().unwrap()).sum();
    assert_eq!(out["rows"].as_u64(), Some(rows));

    assert_eq!(contents(&pg2.url(), &slug), before, "every table equal on the target, row by row");
    assert!(!f.role_exists(&slug) && !f.schema_exists(&slug), "the source schema and role are gone");
    assert!(pg2.role_exists(&slug) && pg2.schema_exists(&slug));
    assert_eq!(server_of(f, &slug), "pg2");
    assert_eq!(f.scalar::<String>(&format!("SELECT status FROM botctl.tenants WHERE slug = '{slug}'")), "stopped");
    // The archive the move took stays where backups go, and is a good one.
    let archive = out["archive"].as_str().unwrap();
    assert!(archive.starts_with(t.dest.path().to_str().unwrap()) && std::path::Path::new(archive).is_file());
    t.botctl(&["backup", "verify", archive]).assert().success();
    assert!(actions(f, &slug).contains(&"tenant.move".to_string()));
    assert_eq!(journal(f, &slug), [("done".to_string(), None)]);

    // Life goes on there as the tenant's own role (new rows take fresh ids), and the tenant moves back.
    let mut as_tenant = url::Url::parse(&pg2.url()).unwrap();
    execute(&pg2.url(), &format!("ALTER ROLE tenant_{slug} PASSWORD 'pw-{slug}'"));
    as_tenant.set_username(&format!("tenant_{slug}")).unwrap();
    as_tenant.set_password(Some(&format!("pw-{slug}"))).unwrap();
    let customers = before["customers"].as_array().unwrap().len();
    execute(as_tenant.as_str(), "INSERT INTO customers (user_id, first_name) VALUES (990001, 'Moved')");
    // As people read it: the rows per table, the downtime, where the archive is.
    let back = t.botctl(&["tenant", "move", &slug, "--to", "main", "--yes"]).assert().success();
    let told = String::from_utf8_lossy(&back.get_output().stdout).into_owned();
    assert!(told.contains(&format!("tenant {slug} moved from server pg2 to main")), "{told}");
    assert!(told.contains("bot downtime: none") && told.contains("archive: /"), "{told}");
    assert!(told.lines().any(|l| l.starts_with("bookings") && l.trim_end().ends_with('3')), "{told}");
    assert_eq!(contents(&f.db.url(), &slug)["customers"].as_array().unwrap().len(), customers + 1);
    assert!(!pg2.role_exists(&slug) && !pg2.schema_exists(&slug));
    // The other tenant was never touched.
    assert_eq!(server_of(f, &t.b), "main");
}

#[test]
fn moves_are_refused_with_their_reasons_and_change_nothing() {
    let t = Backups::new();
    let f = &t.f;
    let pg2 = ExtraDb::new(SHARED);
    add_server(f, "pg2", &pg2);
    let slug = t.a.clone();
    let refused = |args: &[&str], says: &str| {
        let assert = t.botctl(&["tenant", "move"]).args(args).assert().code(2);
        let said = stderr(&assert);
        assert!(said.contains(says), "{args:?}: {said}");
    };
    refused(&[&slug, "--to", "pg2"], "without --yes");
    refused(&["nobody_here", "--to", "pg2", "--yes"], "no tenant `nobody_here`");
    refused(&[&slug, "--to", "pg9", "--yes"], "no server `pg9`");
    refused(&[&slug, "--to", "PG2", "--yes"], "invalid server name");
    refused(&[&slug, "--to", "main", "--yes"], "on server `main` already");
    refused(&["--all-from", "pg9", "--yes"], "no server `pg9`");
    refused(&["--all-from", "pg2", "--to", "pg2", "--yes"], "the server being drained");
    f.botctl().args(["server", "drain", "pg2"]).assert().success();
    refused(&[&slug, "--to", "pg2", "--yes"], "server `pg2` is draining");
    let deleting = &t.b;
    f.scalar::<i64>(&format!(
        "WITH u AS (UPDATE botctl.tenants SET status = 'deleting' WHERE slug = '{deleting}' RETURNING 1) SELECT count(*) FROM u"
    ));
    refused(&[deleting, "--to", "pg2", "--yes", "--force"], "is being deleted");

    assert!(!pg2.role_exists(&slug) && !pg2.schema_exists(&slug));
    assert!(journal(f, &slug).is_empty());
    assert_eq!(server_of(f, &slug), "main");

    // --force moves onto a draining server.
    assert_eq!(moved(&t, &[&slug, "--to", "pg2", "--force"])["to"], "pg2");
}

#[test]
fn a_failure_before_the_switch_leaves_the_tenant_on_the_source_untouched_and_the_target_clean() {
    let t = Backups::new();
    let f = &t.f;
    let pg2 = ExtraDb::new(SHARED);
    add_server(f, "pg2", &pg2);
    let slug = t.a.clone();
    let before = contents(&f.db.url(), &slug);
    // The target refuses to build the tenant's tables.
    let refuse = format!("refuse_{slug}");
    execute(
        &pg2.url(),
        &format!(
            "CREATE FUNCTION public.{refuse}() RETURNS event_trigger LANGUAGE plpgsql AS \
             $$BEGIN RAISE EXCEPTION 'the target refuses tables today'; END$$; \
             CREATE EVENT TRIGGER {refuse} ON ddl_command_end WHEN TAG IN ('CREATE TABLE') \
             EXECUTE FUNCTION public.{refuse}()"
        ),
    );
    let assert = t.botctl(&["tenant", "move", &slug, "--to", "pg2", "--yes"]).assert().code(1);
    let said = stderr(&assert);
    execute(&pg2.url(), &format!("DROP EVENT TRIGGER {refuse}; DROP FUNCTION public.{refuse}()"));
    assert!(said.contains("the target refuses tables today"), "{said}");
    assert!(said.contains("stays on server `main`") && said.contains("preparing the target"), "{said}");

    assert_eq!(server_of(f, &slug), "main");
    assert_eq!(contents(&f.db.url(), &slug), before, "the source is untouched");
    assert!(!pg2.role_exists(&slug) && !pg2.schema_exists(&slug), "the target is clean");
    let steps = journal(f, &slug);
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].0, "rolled_back");
    assert!(steps[0].1.as_deref().unwrap().contains("the target refuses tables today"), "{steps:?}");
    assert!(actions(f, &slug).contains(&"tenant.move.failed".to_string()));

    // Nothing stands in the way of the next try.
    assert_eq!(moved(&t, &[&slug, "--to", "pg2"])["to"], "pg2");
    assert_eq!(contents(&pg2.url(), &slug), before);
}

/// Breaks moves of `slug` onto the database at `url` in the middle of the copy, with the server's own
/// features and nothing in botctl: an event trigger, on the tenant's `table` being created there (the
/// move prepares the target first), gives that table a BEFORE INSERT row trigger running `row`
/// (PL/pgSQL), which the snapshot's COPY fires. Returns what removes both.
fn break_copy_on(url: &str, slug: &str, table: &str, row: &str) -> impl FnOnce() + use<> {
    let name = format!("break_{slug}");
    // A table created referencing `table` reports it among its commands too, hence OR REPLACE.
    execute(
        url,
        &format!(
            "CREATE FUNCTION public.{name}_row() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN {row} END$$; \
             CREATE FUNCTION public.{name}() RETURNS event_trigger LANGUAGE plpgsql AS $$ \
             DECLARE made record; \
             BEGIN \
               FOR made IN SELECT object_identity FROM pg_event_trigger_ddl_commands() \
                 WHERE object_type = 'table' AND object_identity = 'tenant_{slug}.{table}' LOOP \
                 EXECUTE format('CREATE OR REPLACE TRIGGER {name} BEFORE INSERT ON %s FOR EACH ROW \
                   EXECUTE FUNCTION public.{name}_row()', made.object_identity); \
               END LOOP; \
             END$$; \
             CREATE EVENT TRIGGER {name} ON ddl_command_end WHEN TAG IN ('CREATE TABLE') \
             EXECUTE FUNCTION public.{name}()"
        ),
    );
    let url = url.to_string();
    move || {
        execute(
            &url,
            &format!(
                "DROP EVENT TRIGGER {name}; DROP FUNCTION public.{name}(); DROP FUNCTION public.{name}_row() CASCADE"
            ),
        )
    }
}

/// A failure injected on the target while the move loads or verifies the copy (the bot stopped, the
/// snapshot taken): the user is told the step and the cause, the tenant stays on the source with its
/// rows and works there, the target holds nothing of it, the journal shows the rollback, and the next
/// move succeeds.
fn a_failure_mid_copy_is_rolled_back(row: &str, step: &str, cause: &str) {
    let t = Backups::new();
    let f = &t.f;
    let pg2 = ExtraDb::new(SHARED);
    add_server(f, "pg2", &pg2);
    let slug = t.a.clone();
    let before = contents(&f.db.url(), &slug);

    let heal = break_copy_on(&pg2.url(), &slug, "bookings", row);
    let assert = t.botctl(&["tenant", "move", &slug, "--to", "pg2", "--yes"]).assert().code(1);
    let said = stderr(&assert);
    heal();
    assert!(said.contains(step) && said.contains(cause), "the step and the cause: {said}");
    assert!(said.contains(&format!("tenant `{slug}` was not moved: it stays on server `main`")), "{said}");
    assert!(said.contains("the archive it took is /"), "{said}");

    assert_eq!(server_of(f, &slug), "main");
    assert_eq!(contents(&f.db.url(), &slug), before, "the source's rows are intact");
    assert!(f.role_exists(&slug) && f.schema_exists(&slug));
    assert!(!pg2.role_exists(&slug) && !pg2.schema_exists(&slug), "the target holds nothing of it");
    let steps = journal(f, &slug);
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0].0, "rolled_back");
    assert!(steps[0].1.as_deref().unwrap().contains(cause), "{steps:?}");
    assert!(actions(f, &slug).contains(&"tenant.move.failed".to_string()));

    // It still works on the source as its own role (no lock of the move is left held), and moves next time.
    execute(&f.tenant_url(&slug), "INSERT INTO customers (user_id, first_name) VALUES (990002, 'Stayed')");
    let after = contents(&f.db.url(), &slug);
    let out = moved(&t, &[&slug, "--to", "pg2"]);
    assert_eq!(out["to"], "pg2", "{out}");
    assert_eq!(contents(&pg2.url(), &slug), after);
    let steps: Vec<String> = journal(f, &slug).into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, ["rolled_back", "done"]);
}

#[test]
fn a_failure_while_loading_the_copy_is_rolled_back_and_told() {
    a_failure_mid_copy_is_rolled_back(
        "RAISE EXCEPTION 'the target refuses bookings today';",
        "loading the snapshot on server `pg2`",
        "the target refuses bookings today",
    );
}

#[test]
fn a_copy_that_differs_from_the_snapshot_is_rolled_back_and_told() {
    // The target quietly changes every booking it is given: only the row-by-row verify can tell.
    a_failure_mid_copy_is_rolled_back(
        "NEW.service_name := NEW.service_name || ' (changed)'; RETURN NEW;",
        "verifying the copy on server `pg2`",
        "the 3 rows of table bookings differ from the snapshot's in column service_name",
    );
}

#[test]
fn a_move_a_crash_interrupted_is_rolled_back_or_finished_by_the_next_move() {
    let t = Backups::new();
    let f = &t.f;
    let pg2 = ExtraDb::new(SHARED);
    add_server(f, "pg2", &pg2);
    let slug = t.a.clone();
    let before = contents(&f.db.url(), &slug);
    let leave = |source: &str, target: &str, step: &str| {
        f.scalar::<i64>(&format!(
            "WITH m AS (INSERT INTO botctl.tenant_moves (tenant, source, target, step, was_running) \
             VALUES ('{slug}', '{source}', '{target}', '{step}', false) RETURNING id) SELECT id FROM m"
        ))
    };
    let half_made = |url: &str| {
        execute(url, &format!("CREATE ROLE tenant_{slug}; CREATE SCHEMA tenant_{slug} AUTHORIZATION tenant_{slug}"))
    };

    // Crashed after loading, before the switch: the record still names main.
    half_made(&pg2.url());
    leave("main", "pg2", "loaded");
    // `doctor` tells of it.
    let mut doctor = f.botctl();
    doctor.args(["doctor", "-o", "json"]).env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let checks: Value = serde_json::from_slice(&doctor.output().unwrap().stdout).unwrap();
    let moves = checks.as_array().unwrap().iter().find(|c| c["name"] == "tenant moves").unwrap();
    assert_eq!(moves["status"], "warn", "{moves}");
    assert!(moves["fix"].as_str().unwrap().contains(&format!("botctl tenant move {slug} --to pg2")), "{moves}");
    // Meanwhile, other commands that would touch its bot or schema are refused.
    t.botctl(&["backup", &slug, "-q"]).assert().success();
    let archive = t.archives(&slug);
    let said = stderr(
        &t.botctl(&["restore", &slug, "--from", archive[0].to_str().unwrap(), "--force", "--yes"]).assert().code(2),
    );
    assert!(said.contains("is being moved") && said.contains(&format!("tenant move {slug} --to pg2")), "{said}");
    let out = moved(&t, &[&slug, "--to", "pg2"]);
    assert_eq!(out["recovered"]["outcome"], "rolled_back", "{out}");
    assert_eq!(out["recovered"]["step"], "loaded");
    assert_eq!(out["to"], "pg2", "then the move asked for: {out}");
    assert_eq!(contents(&pg2.url(), &slug), before);
    assert!(!f.role_exists(&slug) && !f.schema_exists(&slug));

    // Crashed after the switch, before the source was dropped: the record names pg2.
    half_made(&f.db.url());
    leave("main", "pg2", "switched");
    let out = moved(&t, &[&slug, "--to", "pg2"]);
    assert_eq!(out["recovered"]["outcome"], "done", "{out}");
    assert!(!f.role_exists(&slug) && !f.schema_exists(&slug), "the source is dropped");
    assert_eq!(contents(&pg2.url(), &slug), before, "the target untouched");
    assert_eq!(server_of(f, &slug), "pg2");
    let steps: Vec<String> = journal(f, &slug).into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, ["rolled_back", "done", "done"]);
    assert!(actions(f, &slug).contains(&"tenant.move.recovered".to_string()));
}

#[test]
fn all_from_drains_a_server_and_one_failure_does_not_stop_the_others() {
    let t = Backups::new();
    let f = &t.f;
    let pg2 = ExtraDb::new(SHARED);
    add_server(f, "pg2", &pg2);
    f.botctl().args(["server", "add", "main", "--capacity", "100"]).assert().success();
    let c = unique_slug();
    let token_c = token(BOT_C);
    f.botctl()
        .args(["tenant", "create", "--no-start", &c, "--token", &token_c, "--admin", "1001", "--server", "pg2"])
        .args(["--template", "barbershop"])
        .assert()
        .success();
    // Both of main's tenants go to pg2 first, then all three drain back to main.
    let (a, b) = (t.a.clone(), t.b.clone());
    let before = contents(&f.db.url(), &a);
    for slug in [&a, &b] {
        moved(&t, &[slug, "--to", "pg2"]);
    }
    f.scalar::<i64>(&format!(
        "WITH u AS (UPDATE botctl.tenants SET status = 'deleting' WHERE slug = '{b}' RETURNING 1) SELECT count(*) FROM u"
    ));

    let out = t.botctl(&["tenant", "move", "--all-from", "pg2", "--yes", "-o", "json", "--jobs", "2"]).assert().code(1);
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let rows = report["tenants"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{report}");
    let row = |slug: &str| rows.iter().find(|r| r["tenant"] == slug).unwrap().clone();
    for slug in [&a, &c] {
        assert!(row(slug)["error"].is_null(), "{report}");
        assert_eq!(row(slug)["to"], "main", "placement picks the one server not draining: {report}");
        assert_eq!(server_of(f, slug), "main");
        assert!(!pg2.schema_exists(slug));
    }
    assert!(row(&b)["error"].as_str().unwrap().contains("is being deleted"), "{report}");
    assert_eq!(contents(&f.db.url(), &a), before);
    assert_eq!(f.json(&["server", "list"])[1]["draining"], true, "the drained server stays draining");
}

mod with_docker {
    //! A running tenant moves: its bot answers from the target afterwards, and the downtime is told;
    //! a bot that cannot get healthy on the target is switched back.

    use super::*;
    use crate::needs_docker::{ContainerGuard, assert_serving, bot_answers, build_image, docker_test, runtime_botctl};
    use crate::support::extra_cluster;
    use crate::tenant::BOT_A;

    /// A running tenant on main and a second server whose containers reach it at `container_host`
    /// (`None`: through its shared socket directory).
    struct Running {
        image: String,
        slug: String,
        pg2: ExtraDb,
        dest: tempfile::TempDir,
        // Dropped in this order: the container before its image.
        _container: ContainerGuard,
        _image: crate::needs_docker::ImageGuard,
    }

    impl Running {
        fn new(f: &Fixture, container_host: Option<&str>) -> Self {
            let (image, _, _image) = build_image(&f.sandbox);
            let slug = f.create(BOT_A);
            let _container = ContainerGuard(format!("botctl-{slug}"));
            let pg2 = ExtraDb::new(SHARED);
            let socket = extra_cluster(SHARED).0.shared_socket_dir().display().to_string();
            let host = container_host.map_or(socket, str::to_string);
            f.botctl()
                .args(["server", "add", "pg2", "--url", &pg2.url(), "--container-host", &host])
                .assert()
                .success();
            let r = Self { image, slug, pg2, dest: tempfile::tempdir().unwrap(), _container, _image };
            r.botctl(f).args(["tenant", "start", &r.slug]).assert().success();
            bot_answers(f, 7801);
            r
        }

        fn botctl(&self, f: &Fixture) -> assert_cmd::Command {
            let mut cmd = runtime_botctl(f, &self.image);
            cmd.env("BOTCTL_BACKUP_DIR", self.dest.path());
            cmd
        }
    }

    docker_test! {
        fn a_running_tenant_moves_and_its_bot_answers_from_the_target() {
            let f = Fixture::new();
            let r = Running::new(&f, None);
            let slug = &r.slug;
            let out = r.botctl(&f).args(["tenant", "move", slug, "--to", "pg2", "--yes", "-o", "json"]).assert().success();
            let out: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
            assert_eq!(out["running"], true, "{out}");
            assert!(out["downtime_ms"].as_u64().is_some(), "the downtime is told: {out}");
            assert_serving(&format!("botctl-{slug}"));
            assert_eq!(f.json(&["tenant", "show", slug])["status"], "running");
            assert!(!f.schema_exists(slug) && !f.role_exists(slug));

            // A new customer's /start is answered, and the bot recorded them on the target.
            bot_answers(&f, 7802);
            let on_target: i64 = r.pg2.scalar(&format!("SELECT count(*) FROM tenant_{slug}.customers WHERE user_id = 7802"));
            assert_eq!(on_target, 1);
            let earlier: i64 = r.pg2.scalar(&format!("SELECT count(*) FROM tenant_{slug}.customers WHERE user_id = 7801"));
            assert_eq!(earlier, 1, "the customer from before the move came along");
        }
    }

    docker_test! {
        fn a_running_tenant_whose_copy_fails_to_load_is_answered_from_the_source_again() {
            let f = Fixture::new();
            let r = Running::new(&f, None);
            let slug = &r.slug;
            let heal = break_copy_on(&r.pg2.url(), slug, "customers", "RAISE EXCEPTION 'no customers here today';");
            let assert = r.botctl(&f).args(["tenant", "move", slug, "--to", "pg2", "--yes"]).assert().code(1);
            let said = stderr(&assert);
            heal();
            assert!(said.contains("loading customers") && said.contains("no customers here today"), "{said}");
            assert!(said.contains("stays on server `main`, its bot running again"), "{said}");
            assert_eq!(server_of(&f, slug), "main");
            assert_serving(&format!("botctl-{slug}"));
            assert_eq!(f.json(&["tenant", "show", slug])["status"], "running");
            assert!(!r.pg2.schema_exists(slug) && !r.pg2.role_exists(slug), "the target holds nothing of it");
            // The bot answers from the source, and recorded the new customer there.
            bot_answers(&f, 7804);
            let on_source: i64 = f.scalar(&format!("SELECT count(*) FROM tenant_{slug}.customers WHERE user_id = 7804"));
            assert_eq!(on_source, 1);
            let steps: Vec<String> = journal(&f, slug).into_iter().map(|(s, _)| s).collect();
            assert_eq!(steps, ["rolled_back"]);

            let out = r.botctl(&f).args(["tenant", "move", slug, "--to", "pg2", "--yes", "-o", "json"]).assert().success();
            let out: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
            assert_eq!(out["running"], true, "{out}");
            assert_serving(&format!("botctl-{slug}"));
            let on_target: i64 = r.pg2.scalar(&format!("SELECT count(*) FROM tenant_{slug}.customers WHERE user_id = 7804"));
            assert_eq!(on_target, 1);
        }
    }

    docker_test! {
        fn a_bot_that_cannot_get_healthy_on_the_target_is_switched_back_and_runs_on_the_source() {
            let f = Fixture::new();
            // Containers are told to reach pg2 through a directory that does not exist.
            let r = Running::new(&f, Some("/nonexistent/botctl-move-test"));
            let slug = &r.slug;
            let assert = r.botctl(&f).args(["tenant", "move", slug, "--to", "pg2", "--yes"]).assert().code(1);
            let said = stderr(&assert);
            assert!(said.contains("the move was undone") && said.contains("server `main` again"), "{said}");
            assert_eq!(server_of(&f, slug), "main");
            assert_serving(&format!("botctl-{slug}"));
            assert_eq!(f.json(&["tenant", "show", slug])["status"], "running");
            assert!(!r.pg2.schema_exists(slug) && !r.pg2.role_exists(slug), "the target is dropped");
            bot_answers(&f, 7803);
            let steps: Vec<String> = journal(&f, slug).into_iter().map(|(s, _)| s).collect();
            assert_eq!(steps, ["rolled_back"]);
        }
    }
}
