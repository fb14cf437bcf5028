//! Tenants on several PostgreSQL servers: `botctl server add|list|drain|remove` and their refusals,
//! placement, a tenant whose schema lives on a second (real, throwaway) cluster through its whole life,
//! fleet commands with that server stopped, isolation there, and a create whose control-plane commit
//! failed after the second server's.

use serde_json::Value;
use sqlx::{Connection, PgConnection};

use crate::support::{ExtraDb, TestDb, block_on, extra_cluster, token, unique_name, unique_slug, url_for};
use crate::tenant::{BOT_A, BOT_B, BOT_C, Fixture};

/// The cluster most tests share; the stopped-server test has one of its own.
const SHARED: usize = 1;
const STOPPED: usize = 9;
/// Stopped by the upgrade test, which runs beside the one that stops `STOPPED`.
const STOPPED_UPGRADING: usize = 8;

fn add(f: &Fixture, name: &str, db: &ExtraDb, extra: &[&str]) -> Value {
    let out = f
        .botctl()
        .args(["server", "add", name, "--url", &db.url(), "-o", "json"])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

/// What a command said, wherever it said it (with `-o json` an error goes to stdout).
fn stderr_of(assert: assert_cmd::assert::Assert) -> String {
    let output = assert.get_output();
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn create_on(f: &Fixture, bot: i64, server: Option<&str>) -> assert_cmd::assert::Assert {
    create_named(f, &unique_slug(), bot, server)
}

fn create_named(f: &Fixture, slug: &str, bot: i64, server: Option<&str>) -> assert_cmd::assert::Assert {
    let token = token(bot);
    let mut args = vec!["tenant", "create", "--no-start", slug, "--token", &token, "--admin", "1001"];
    args.extend(["--template", "barbershop", "-o", "json"]);
    if let Some(server) = server {
        args.extend(["--server", server]);
    }
    f.botctl().args(&args).assert()
}

fn server_of(f: &Fixture, slug: &str) -> String {
    f.json(&["tenant", "show", slug])["server"].as_str().unwrap().to_string()
}

/// A bot the fixture's emulator knows, beyond its three.
fn bot(f: &Fixture, id: i64) -> i64 {
    f.emulator.add_bot(&token(id), id, &format!("bot_{id}"));
    id
}

#[test]
fn servers_are_added_listed_drained_and_removed_and_bad_ones_refused() {
    let f = Fixture::new();
    let (pg2, other_db) = (ExtraDb::new(SHARED), ExtraDb::new(SHARED));

    let refused = |args: &[&str]| stderr_of(f.botctl().args(args).assert().code(2));
    assert!(refused(&["server", "add", "pg2", "--url", "not a url"]).contains("invalid server URL"));
    assert!(refused(&["server", "add", "main", "--url", &pg2.url()]).contains("takes no --url"));
    assert!(refused(&["server", "add", "pg2"]).contains("needs its URL"));
    assert!(refused(&["server", "add", "Pg2", "--url", &pg2.url()]).contains("invalid server name"));
    let secret = "sw0rdfish-secret";
    let nowhere = format!("postgres://someone:{secret}@localhost/x?host=/nonexistent-botctl-dir&port=5999");
    let said = refused(&["server", "add", "pg2", "--url", &nowhere]);
    assert!(said.contains("cannot reach server `pg2`") && !said.contains(secret), "{said}");

    // A role that may not create roles.
    let (role, password) = (unique_name("limited"), unique_name("pw"));
    block_on(async {
        let mut admin = PgConnection::connect(&pg2.url()).await.unwrap();
        let sql = format!("CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
    });
    let mut limited = url::Url::parse(&pg2.url()).unwrap();
    limited.set_username(&role).unwrap();
    limited.set_password(Some(&password)).unwrap();
    let said = refused(&["server", "add", "pg2", "--url", limited.as_str()]);
    assert!(said.contains("CREATEROLE") && !said.contains(&password), "{said}");
    // The main cluster under another name, through another of its databases.
    let main_again = TestDb::new();
    let said = refused(&["server", "add", "pg2", "--url", &url_for(&main_again.name, None)]);
    assert!(said.contains("same PostgreSQL cluster as server `main`"), "{said}");
    assert!(f.json(&["server", "list"]).as_array().unwrap().len() == 1, "nothing refused was recorded");

    let added = add(&f, "pg2", &pg2, &["--capacity", "5"]);
    assert_eq!(added["outcome"], "added");
    assert_eq!(added["server"]["capacity"], 5);
    // Idempotent: the same URL again changes nothing, or what is given.
    assert_eq!(add(&f, "pg2", &pg2, &[])["outcome"], "unchanged");
    assert_eq!(add(&f, "pg2", &pg2, &["--capacity", "7"])["outcome"], "updated");
    let url_file = f.sandbox.path().join("pg2.url");
    std::fs::write(&url_file, pg2.url()).unwrap();
    let out = f.botctl().args(["server", "add", "pg2", "--url-file"]).arg(&url_file).args(["-o", "json"]).output();
    assert_eq!(serde_json::from_slice::<Value>(&out.unwrap().stdout).unwrap()["outcome"], "unchanged");
    let said = refused(&["server", "add", "pg2", "--url", &other_db.url()]);
    assert!(said.contains("already recorded with another URL"), "{said}");
    let said = refused(&["server", "add", "pg3", "--url", &other_db.url()]);
    assert!(said.contains("same PostgreSQL cluster as server `pg2`"), "{said}");
    f.botctl().args(["server", "add", "main", "--capacity", "3"]).assert().success();

    let listed = f.json(&["server", "list"]);
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["main", "pg2"]);
    let (main, second) = (&listed[0], &listed[1]);
    assert_eq!((main["capacity"].as_i64(), main["url"].is_null()), (Some(3), true));
    assert_eq!(second["capacity"], 7);
    assert_eq!(second["reachable"], true);
    assert!(second["version"].as_str().unwrap().starts_with(char::is_numeric), "{second}");
    assert_eq!(second["draining"], false);

    assert_eq!(f.json(&["server", "drain", "pg2"])["draining"], true);
    assert_eq!(f.json(&["server", "list"])[1]["draining"], true);
    assert_eq!(f.json(&["server", "drain", "pg2", "--undo"])["draining"], false);

    // A server with a live tenant stays; an empty one goes, confirmed.
    let slug = unique_slug();
    create_named(&f, &slug, BOT_A, Some("pg2")).success();
    let said = refused(&["server", "remove", "pg2", "--yes"]);
    assert!(said.contains("1 live tenant") && said.contains("tenant move --all-from pg2"), "{said}");
    f.botctl().args(["tenant", "delete", &slug, "--yes", "--no-backup"]).assert().success();
    let said = refused(&["server", "remove", "pg2"]);
    assert!(said.contains("without --yes"), "{said}");
    assert!(refused(&["server", "remove", "main", "--yes"]).contains("stays"));
    f.botctl().args(["server", "remove", "pg2", "--yes"]).assert().success();
    assert_eq!(f.json(&["server", "list"]).as_array().unwrap().len(), 1);

    let events = f.json(&["events"]);
    let actions: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["server.add", "server.update", "server.drain", "server.resume", "server.remove"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(!events.to_string().contains(&password));
}

#[test]
fn placement_fills_by_room_skips_draining_and_full_servers_and_follows_server() {
    let f = Fixture::new();
    let pg2 = ExtraDb::new(SHARED);
    f.botctl().args(["server", "add", "main", "--capacity", "1"]).assert().success();
    add(&f, "pg2", &pg2, &["--capacity", "2"]);

    let placed = |bot: i64, server: Option<&str>| -> String {
        let out = create_on(&f, bot, server).success().get_output().stdout.clone();
        serde_json::from_slice::<Value>(&out).unwrap()["server"].as_str().unwrap().to_string()
    };
    // pg2 has more room (2 against 1); then a tie goes to main; then pg2's last place.
    assert_eq!(placed(BOT_A, None), "pg2");
    assert_eq!(placed(BOT_B, None), "main");
    assert_eq!(placed(BOT_C, None), "pg2");
    let said = stderr_of(create_on(&f, bot(&f, 500_000_104), None).code(2));
    assert!(said.contains("no server has room"), "{said}");
    // Named, a server takes a tenant past its capacity.
    assert_eq!(placed(500_000_104, Some("main")), "main");
    assert!(stderr_of(create_on(&f, bot(&f, 500_000_105), Some("pg9")).code(2)).contains("no server `pg9`"));

    // A draining server takes none, however much room it has.
    add(&f, "pg2", &pg2, &["--capacity", "100"]);
    f.botctl().args(["server", "add", "main", "--capacity", "10"]).assert().success();
    f.botctl().args(["server", "drain", "pg2"]).assert().success();
    assert_eq!(placed(500_000_105, None), "main");
    let listed = f.json(&["tenant", "list"]);
    let on_pg2 = listed.as_array().unwrap().iter().filter(|t| t["server"] == "pg2").count();
    assert_eq!(on_pg2, 2);
    let table = String::from_utf8(f.botctl().args(["tenant", "list"]).output().unwrap().stdout).unwrap();
    assert!(table.lines().next().unwrap().contains("SERVER") && table.contains("pg2"), "{table}");
}

#[test]
fn a_tenant_on_the_second_server_is_created_changed_migrated_backed_up_restored_and_deleted_there() {
    let f = Fixture::new();
    let pg2 = ExtraDb::new(SHARED);
    add(&f, "pg2", &pg2, &["--capacity", "100"]);
    f.botctl().args(["server", "add", "main", "--capacity", "1"]).assert().success();
    let slug = unique_slug();
    create_named(&f, &slug, BOT_A, Some("pg2")).success();
    assert!(pg2.role_exists(&slug) && pg2.schema_exists(&slug));
    assert!(!f.role_exists(&slug) && !f.schema_exists(&slug), "nothing of it on main");
    assert_eq!(server_of(&f, &slug), "pg2");
    let schema = format!("tenant_{slug}");

    f.botctl().args(["tenant", "update", &slug, "--display-name", "Second Server Cuts"]).assert().success();
    let name: String = pg2.scalar(&format!("SELECT display_name FROM {schema}.settings"));
    assert_eq!(name, "Second Server Cuts");
    let shown = f.json(&["tenant", "show", &slug]);
    assert!(shown["outbox"].is_object(), "show reads the schema on pg2: {shown}");

    // Migrations read pg2's ledger: without its last entry there, the last migration is pending.
    let latest: i64 = pg2.scalar(&format!("SELECT max(version) FROM {schema}._sqlx_migrations"));
    let ledger = |sql: String| {
        block_on(async {
            let mut conn = PgConnection::connect(&pg2.url()).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        })
    };
    ledger(format!(
        "CREATE TABLE public.saved AS SELECT * FROM {schema}._sqlx_migrations WHERE version = {latest}; \
         DELETE FROM {schema}._sqlx_migrations WHERE version = {latest}"
    ));
    f.scalar::<i64>(&format!(
        "WITH u AS (UPDATE botctl.tenants SET schema_version = 0 WHERE slug = '{slug}' RETURNING 1) SELECT count(*) FROM u"
    ));
    let pending = f.json(&["migrate", &slug, "--dry-run"]);
    assert_eq!(pending["tenants"][0]["migrations"][0]["version"], latest, "{pending}");
    ledger(format!("INSERT INTO {schema}._sqlx_migrations SELECT * FROM public.saved; DROP TABLE public.saved"));
    let migrated = f.json(&["migrate", &slug]);
    assert_eq!(migrated["tenants"][0]["tenant"], slug.as_str());
    assert!(migrated["tenants"][0]["error"].is_null(), "{migrated}");
    assert_eq!(f.scalar::<i64>(&format!("SELECT schema_version FROM botctl.tenants WHERE slug = '{slug}'")), latest);

    // Backed up from pg2, restored into pg2.
    block_on(async {
        let mut conn = PgConnection::connect(&pg2.url()).await.unwrap();
        let sql = format!("INSERT INTO {schema}.customers (user_id, first_name) VALUES (777, 'Kept')");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    });
    let dest = f.sandbox.path().join("backups");
    let backed = f.json(&["backup", &slug, "--dest", dest.to_str().unwrap()]);
    let archive = backed["tenants"][0]["path"].as_str().unwrap().to_string();
    assert_eq!(backed["tenants"][0]["rows"].as_u64().map(|r| r > 0), Some(true));
    block_on(async {
        let mut conn = PgConnection::connect(&pg2.url()).await.unwrap();
        let sql = format!("DELETE FROM {schema}.customers WHERE user_id = 777");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    });
    f.botctl().args(["restore", &slug, "--from", &archive, "--force", "--yes"]).assert().success();
    let kept: i64 = pg2.scalar(&format!("SELECT count(*) FROM {schema}.customers WHERE user_id = 777"));
    assert_eq!(kept, 1);
    f.botctl().args(["backup", "verify", &archive, "--deep"]).assert().success();

    // A restore under a new name is placed like a create: pg2 has the most room (99 against 1).
    let copy = unique_slug();
    f.botctl()
        .args(["restore", &slug, "--from", &archive, "--as", &copy, "--token", &token(BOT_B), "--yes"])
        .assert()
        .success();
    assert_eq!(server_of(&f, &copy), "pg2");
    assert!(pg2.schema_exists(&copy) && !f.schema_exists(&copy));
    let copied: i64 = pg2.scalar(&format!("SELECT count(*) FROM tenant_{copy}.customers WHERE user_id = 777"));
    assert_eq!(copied, 1);

    // --server names the --as tenant's server, past placement (pg2 has the most room); a server
    // botctl does not know is refused before anything is made.
    let nowhere = unique_slug();
    let unknown = f
        .botctl()
        .args(["restore", &slug, "--from", &archive, "--as", &nowhere, "--token", &token(BOT_C), "--server", "pg7"])
        .assert()
        .code(2);
    assert!(stderr_of(unknown).contains("no server `pg7`"));
    assert!(!f.schema_exists(&nowhere) && !pg2.schema_exists(&nowhere));
    let named = unique_slug();
    f.botctl()
        .args(["restore", &slug, "--from", &archive, "--as", &named, "--token", &token(BOT_C), "--server", "main"])
        .assert()
        .success();
    assert_eq!(server_of(&f, &named), "main");
    assert!(f.schema_exists(&named) && !pg2.schema_exists(&named));
    let on_main: i64 = f.scalar(&format!("SELECT count(*) FROM tenant_{named}.customers WHERE user_id = 777"));
    assert_eq!(on_main, 1);
    f.botctl().args(["restore", &slug, "--from", &archive, "--server", "main"]).assert().code(2);

    for gone in [&slug, &copy, &named] {
        f.botctl().args(["tenant", "delete", gone, "--yes", "--no-backup"]).assert().success();
        assert!(!pg2.role_exists(gone) && !pg2.schema_exists(gone));
    }
}

#[test]
fn fleet_commands_fail_only_the_tenants_of_a_server_that_is_down() {
    let f = Fixture::new();
    let pg9 = ExtraDb::new(STOPPED);
    add(&f, "pg9", &pg9, &[]);
    let on_main = unique_slug();
    let on_pg9 = unique_slug();
    create_named(&f, &on_main, BOT_A, Some("main")).success();
    create_named(&f, &on_pg9, BOT_B, Some("pg9")).success();
    // Both behind, so that migrate opens both.
    f.scalar::<i64>("WITH u AS (UPDATE botctl.tenants SET schema_version = 0 RETURNING 1) SELECT count(*) FROM u");
    extra_cluster(STOPPED).0.stop().unwrap();

    let run = |args: &[&str]| -> Value {
        let out = f.botctl().args(args).args(["-o", "json"]).assert().code(1).get_output().stdout.clone();
        serde_json::from_slice(&out).unwrap()
    };
    let dest = f.sandbox.path().join("backups");
    for report in [run(&["migrate", "--all"]), run(&["backup", "--all", "--dest", dest.to_str().unwrap()])] {
        let tenants = report["tenants"].as_array().unwrap();
        let of = |slug: &str| tenants.iter().find(|t| t["tenant"] == slug).unwrap().clone();
        assert!(of(&on_main)["error"].is_null(), "{report}");
        let error = of(&on_pg9)["error"].as_str().unwrap().to_string();
        assert!(error.starts_with("server `pg9` unreachable:"), "{error}");
    }
    let listed = f.json(&["server", "list"]);
    assert_eq!(listed[1]["reachable"], false);
    assert_eq!(listed[0]["reachable"], true);
    let out = f
        .botctl()
        .args(["doctor", "-o", "json"])
        .env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let checks: Vec<Value> = serde_json::from_slice(&out).unwrap();
    let servers = checks.iter().find(|c| c["name"] == "servers").unwrap();
    assert_eq!(servers["status"], "fail");
    let message = servers["message"].as_str().unwrap();
    assert!(message.contains("server `pg9` unreachable (1 tenant)") && !message.contains("`main`"), "{message}");
}

#[test]
fn a_tenant_role_on_the_second_server_touches_only_its_own_tables() {
    let f = Fixture::new();
    let pg2 = ExtraDb::new(SHARED);
    add(&f, "pg2", &pg2, &[]);
    let (mine, other) = (unique_slug(), unique_slug());
    create_named(&f, &mine, BOT_A, Some("pg2")).success();
    create_named(&f, &other, BOT_B, Some("pg2")).success();
    let password = unique_name("pw");
    let mut url = url::Url::parse(&pg2.url()).unwrap();
    block_on(async {
        let mut admin = PgConnection::connect(url.as_str()).await.unwrap();
        let sql = format!("ALTER ROLE tenant_{mine} PASSWORD '{password}'");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
    });
    url.set_username(&format!("tenant_{mine}")).unwrap();
    url.set_password(Some(&password)).unwrap();
    let mut conn = block_on(PgConnection::connect(url.as_str())).unwrap();
    let run = |conn: &mut PgConnection, sql: &str| {
        block_on(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(conn)).map_err(|e| e.to_string())
    };
    run(&mut conn, "SELECT * FROM settings").unwrap();
    for sql in [
        format!("SELECT * FROM tenant_{other}.services"),
        format!("INSERT INTO tenant_{other}.admins (user_id) VALUES (1)"),
        "CREATE TABLE mine (x int)".to_string(),
        "CREATE SCHEMA evil".to_string(),
        format!("SET ROLE tenant_{other}"),
    ] {
        let err = run(&mut conn, &sql).expect_err(&sql);
        assert!(err.contains("permission denied") || err.contains("must be owner"), "{sql}: {err}");
    }
}

/// The control plane's commit fails after pg2's (a deferred check that refuses the new tenant at
/// commit): the role and schema just made on pg2 are dropped again. A leftover that could not be
/// dropped (made here by hand) is found and dropped by the next create of the slug.
#[test]
fn a_create_whose_control_commit_fails_leaves_nothing_on_the_second_server_and_a_leftover_is_cleaned() {
    let f = Fixture::new();
    let pg2 = ExtraDb::new(SHARED);
    add(&f, "pg2", &pg2, &[]);
    let slug = unique_slug();
    let mut admin = f.db.connect();
    block_on(async {
        for sql in [
            format!(
                "CREATE FUNCTION public.refuse_{slug}() RETURNS trigger LANGUAGE plpgsql AS \
                 $$BEGIN IF NEW.slug = '{slug}' THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NEW; END$$"
            ),
            format!(
                "CREATE CONSTRAINT TRIGGER refuse_{slug} AFTER INSERT ON botctl.tenants DEFERRABLE INITIALLY DEFERRED \
                 FOR EACH ROW EXECUTE FUNCTION public.refuse_{slug}()"
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
        }
    });
    let said = stderr_of(create_named(&f, &slug, BOT_A, Some("pg2")).code(1));
    assert!(said.contains("refused at commit"), "{said}");
    assert!(!pg2.role_exists(&slug) && !pg2.schema_exists(&slug), "the new role and schema were dropped again");
    block_on(
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER refuse_{slug} ON botctl.tenants"))).execute(&mut admin),
    )
    .unwrap();

    // As if that drop had failed too: a role and schema of the slug, and no tenant.
    block_on(async {
        let mut conn = PgConnection::connect(&pg2.url()).await.unwrap();
        for sql in
            [format!("CREATE ROLE tenant_{slug}"), format!("CREATE SCHEMA tenant_{slug} AUTHORIZATION tenant_{slug}")]
        {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        }
    });
    create_named(&f, &slug, BOT_A, Some("pg2")).success();
    let tables: i64 = pg2.scalar(&format!(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'tenant_{slug}' AND tableowner <> 'tenant_{slug}'"
    ));
    assert!(tables > 0, "the schema is botctl's new one, not the leftover");
    assert_eq!(server_of(&f, &slug), "pg2");
}

crate::needs_docker::docker_test! {
    fn a_tenant_on_the_second_server_starts_in_its_container_and_its_bot_answers() {
        use crate::needs_docker::{ContainerGuard, assert_serving, bot_answers, build_image, runtime_botctl};

        let f = Fixture::new();
        let pg2 = ExtraDb::new(SHARED);
        let (image, _, _image_guard) = build_image(&f.sandbox);
        // Containers reach the second cluster through its shared socket directory, as they reach main's.
        let socket = extra_cluster(SHARED).0.shared_socket_dir();
        add(&f, "pg2", &pg2, &["--container-host", socket.to_str().unwrap()]);
        let slug = unique_slug();
        create_named(&f, &slug, BOT_A, Some("pg2")).success();
        let name = format!("botctl-{slug}");
        let _container_guard = ContainerGuard(name.clone());
        runtime_botctl(&f, &image).args(["tenant", "start", &slug]).assert().success();
        assert_serving(&name);
        bot_answers(&f, 7601);
        let customers: i64 = pg2.scalar(&format!("SELECT count(*) FROM tenant_{slug}.customers WHERE user_id = 7601"));
        assert_eq!(customers, 1, "the bot wrote its customer on pg2");

        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let inspected = block_on(
            docker.inspect_container(&name, None::<bollard::query_parameters::InspectContainerOptions>),
        )
        .unwrap();
        let env = inspected.config.unwrap().env.unwrap_or_default();
        let url = env.iter().find_map(|e| e.strip_prefix("DATABASE_URL=")).unwrap();
        assert!(url.contains(&format!("/{}?", pg2.name)), "pg2's database: {}", url.split('@').nth(1).unwrap_or(""));
        let mounts = inspected.mounts.unwrap_or_default();
        assert!(mounts.iter().any(|m| m.source.as_deref() == socket.to_str()), "pg2's socket directory is mounted");
        runtime_botctl(&f, &image).args(["tenant", "stop", &slug]).assert().success();
    }
}

crate::needs_docker::docker_test! {
    fn upgrade_all_fails_only_the_tenants_of_a_server_that_is_down() {
        use crate::needs_docker::{build_image, runtime_botctl};

        let f = Fixture::new();
        let pg8 = ExtraDb::new(STOPPED_UPGRADING);
        add(&f, "pg8", &pg8, &[]);
        let (on_main, on_pg8) = (unique_slug(), unique_slug());
        create_named(&f, &on_main, BOT_A, Some("main")).success();
        create_named(&f, &on_pg8, BOT_B, Some("pg8")).success();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        extra_cluster(STOPPED_UPGRADING).0.stop().unwrap();

        let out = runtime_botctl(&f, &image)
            .args(["tenant", "upgrade", "--all", "--image", &image, "-o", "json"])
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone();
        let report: Value = serde_json::from_slice(&out).unwrap();
        let tenants = report["tenants"].as_array().unwrap();
        let of = |slug: &str| tenants.iter().find(|t| t["tenant"] == slug).unwrap().clone();
        assert_eq!(of(&on_main)["outcome"], "upgraded", "{report}");
        assert_eq!(f.json(&["tenant", "show", &on_main])["image"], image.as_str());
        assert_eq!(of(&on_pg8)["outcome"], "failed", "{report}");
        let error = of(&on_pg8)["error"].as_str().unwrap().to_string();
        assert!(error.starts_with("server `pg8` unreachable:"), "{error}");
        let recorded: String =
            f.scalar(&format!("SELECT coalesce(image, '') FROM botctl.tenants WHERE slug = '{on_pg8}'"));
        assert_ne!(recorded, image, "nothing recorded for it");
    }
}

/// The billing clock's notices of a tenant on pg2 go to its outbox there, and are written once.
#[test]
fn billing_notices_of_a_tenant_on_the_second_server_reach_its_outbox_there() {
    use botctl::billing::clock::{self, ClockOptions};
    use botctl::billing::notice::NoticeOptions;
    use chrono::{TimeZone, Utc};

    let f = Fixture::new();
    let pg2 = ExtraDb::new(SHARED);
    add(&f, "pg2", &pg2, &[]);
    let slug = unique_slug();
    create_named(&f, &slug, BOT_A, Some("pg2")).success();
    f.scalar::<i64>(&format!(
        "WITH u AS (UPDATE botctl.subscriptions SET state = 'trial', paid_until = '2030-01-01T00:00:00Z' \
         WHERE tenant_id = (SELECT id FROM botctl.tenants WHERE slug = '{slug}') RETURNING 1) SELECT count(*) FROM u"
    ));
    let options = ClockOptions {
        grace: std::time::Duration::from_secs(3 * 86_400),
        notices: NoticeOptions { contact: None, renew_url: None },
        actor: "platform:test".into(),
    };
    let pool = block_on(sqlx::PgPool::connect(&f.db.url())).unwrap();
    let servers = crate::support::servers(&pool);
    let day_before = Utc.with_ymd_and_hms(2029, 12, 31, 1, 0, 0).unwrap();
    let after = Utc.with_ymd_and_hms(2030, 1, 1, 1, 0, 0).unwrap();
    for (now, notices) in [(day_before, 1), (day_before, 0), (after, 1), (after, 0)] {
        let advanced = block_on(clock::advance(&servers, now, &options)).unwrap();
        assert_eq!((advanced.notices, advanced.notice_failures), (notices, 0), "at {now}");
    }
    let outbox: i64 = pg2.scalar(&format!("SELECT count(*) FROM tenant_{slug}.outbox WHERE kind = 'billing'"));
    assert_eq!(outbox, 2, "the day-before and the grace notices, to the one owner");
    let keys: i64 = f.scalar(&format!(
        "SELECT count(*) FROM botctl.billing_notices n JOIN botctl.tenants t ON t.id = n.tenant_id WHERE t.slug = '{slug}'"
    ));
    assert_eq!(keys, 2);
}
