//! The operator's read models (`platform::views`) against real PostgreSQL: the fleet overview, the
//! paged tenant search, a tenant's card; with the real engine, the container facts and the log tail,
//! and with an engine that stopped answering, cards and overviews that still come back.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use botctl::billing::{self, CreditRequest, Currency, Money, Payment, Provider, State};
use botctl::error::{BadInput, has};
use botctl::platform::views::{self, ContainerFacts, LastBackup, LastPayment, Observed, OutboxCounts};
use botctl::runtime::Engine;
use botctl::tenant::store::{self, BackupRecord, NewTenant};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use crate::support::block_on;
use crate::tenant::{BOT_A, Fixture};

fn pool(f: &Fixture) -> PgPool {
    block_on(PgPool::connect(&f.db.url())).unwrap()
}

/// A tenant in the control plane only (no schema, role or bot): enough for what lists and counts read.
fn control_tenant(pool: &PgPool, slug: &str, display_name: &str, bot_id: i64) {
    let token = crate::support::token(bot_id);
    let new = NewTenant {
        slug,
        display_name,
        bot_id,
        bot_username: &format!("{slug}_bot"),
        token: &token,
        admins: &[42],
        timezone: "Europe/Moscow",
        locale: "ru",
        template: "barbershop",
        memory_mb: None,
        cpus: None,
        server: "main",
    };
    block_on(async { store::insert(&mut pool.acquire().await.unwrap(), &new).await }).unwrap();
}

fn set_subscription(
    pool: &PgPool,
    slug: &str,
    state: &str,
    paid_until: DateTime<Utc>,
    grace_until: Option<DateTime<Utc>>,
) {
    block_on(
        sqlx::query(
            "INSERT INTO botctl.subscriptions (tenant_id, state, paid_until, grace_until) \
             SELECT id, $2, $3, $4 FROM botctl.tenants WHERE slug = $1 AND deleted_at IS NULL \
             ON CONFLICT (tenant_id) DO UPDATE SET state = $2, paid_until = $3, grace_until = $4",
        )
        .bind(slug)
        .bind(state)
        .bind(paid_until)
        .bind(grace_until)
        .execute(pool),
    )
    .unwrap();
}

fn credit(pool: &PgPool, slug: &str, provider: Provider, reference: &str, amount: Money, at: DateTime<Utc>) {
    let payment = Payment {
        provider,
        reference: reference.into(),
        amount,
        days: 30,
        plan: None,
        note: None,
        raw: serde_json::json!({}),
    };
    let request = CreditRequest { tenant: slug.into(), payment };
    block_on(billing::credit(pool, &request, "test", at)).unwrap();
}

fn backed_up(pool: &PgPool, slug: &str, at: DateTime<Utc>) {
    let record = BackupRecord {
        tenant: slug.into(),
        path: format!("/backups/{slug}/{}.tar.zst", at.timestamp_micros()),
        size_bytes: 4096,
        sha256: "a".repeat(64),
        schema_version: 10,
        rows: 7,
        created_at: at,
    };
    block_on(async { store::record_backup(&mut pool.acquire().await.unwrap(), &record).await }).unwrap();
}

/// A `botctl backup` run's event in which these tenants failed, as `tenant::backup::backup` records it.
fn backup_failed(pool: &PgPool, slugs: &[&str], at: DateTime<Utc>) {
    block_on(
        sqlx::query("INSERT INTO botctl.events (at, actor, action, details) VALUES ($1, 'cron', 'backup', $2)")
            .bind(at)
            .bind(serde_json::json!({ "dest": "/backups", "backed_up": [], "failed": slugs }))
            .execute(pool),
    )
    .unwrap();
}

#[test]
fn the_overview_counts_states_nets_revenue_by_currency_and_names_backups_and_ending_subscriptions() {
    let f = Fixture::new();
    let pool = pool(&f);
    let now = Utc::now();
    let day = TimeDelta::days(1);
    for (i, slug) in ["ana", "bob", "cat", "dan", "eve", "fay"].iter().enumerate() {
        control_tenant(&pool, slug, &slug.to_uppercase(), 700_000 + i as i64);
    }
    // Money first: crediting moves states, which are set afterwards as the clock would have.
    credit(&pool, "bob", Provider::Manual, "R-1", Money::new(29_900, Currency::Rub), now - day * 10);
    credit(&pool, "bob", Provider::Manual, "R-2", Money::new(79_900, Currency::Rub), now - day * 5);
    block_on(billing::refund(&pool, Provider::Manual, "R-2", "test", now - day * 4)).unwrap();
    credit(&pool, "eve", Provider::Stars, "S-1", Money::new(150, Currency::Xtr), now - day * 2);
    // Older than 30 days: not in the revenue.
    credit(&pool, "fay", Provider::Manual, "R-OLD", Money::new(249_900, Currency::Rub), now - day * 40);
    // A deleted tenant's money still counts; the tenant does not.
    credit(&pool, "fay", Provider::Manual, "R-3", Money::new(10_000, Currency::Rub), now - day);
    block_on(async { store::mark_deleted(&mut pool.acquire().await.unwrap(), "fay").await }).unwrap();

    set_subscription(&pool, "ana", "trial", now + day * 3, None);
    set_subscription(&pool, "bob", "active", now + day * 20, None);
    set_subscription(&pool, "cat", "grace", now - day, Some(now + day * 2));
    set_subscription(&pool, "dan", "suspended", now - day * 9, Some(now - day * 6));
    // eve is active by her credit; make her complimentary, as the operator may.
    block_on(
        sqlx::query(
            "UPDATE botctl.subscriptions SET state = 'complimentary', paid_until = NULL WHERE tenant_id = \
             (SELECT id FROM botctl.tenants WHERE slug = 'eve')",
        )
        .execute(&pool),
    )
    .unwrap();

    backed_up(&pool, "ana", now - TimeDelta::hours(2));
    // bob failed, then succeeded: ok. cat succeeded, then failed: failed.
    backup_failed(&pool, &["bob"], now - TimeDelta::hours(5));
    backed_up(&pool, "bob", now - TimeDelta::hours(1));
    backed_up(&pool, "cat", now - TimeDelta::hours(6));
    backup_failed(&pool, &["cat"], now - TimeDelta::hours(3));
    // Before last night: neither.
    backed_up(&pool, "dan", now - TimeDelta::hours(30));
    backup_failed(&pool, &["eve"], now - TimeDelta::hours(25));

    let overview = block_on(views::overview(&pool, None, now)).unwrap();
    assert_eq!(overview.tenants, 5);
    assert!(matches!(overview.containers, Observed::Unknown { .. }), "{:?}", overview.containers);
    let s = &overview.subscriptions;
    assert_eq!((s.trial, s.active, s.grace, s.suspended, s.complimentary), (1, 1, 1, 1, 1));
    assert_eq!(
        overview.revenue,
        [Money::new(29_900 + 79_900 - 79_900 + 10_000, Currency::Rub), Money::new(150, Currency::Xtr)]
    );
    assert_eq!(
        (&overview.backups.ok, &overview.backups.failed),
        (&vec!["ana".to_string(), "bob".into()], &vec!["cat".to_string()])
    );
    assert_eq!(overview.backups.until - overview.backups.since, TimeDelta::hours(24));
    let ending: Vec<_> = overview
        .ending
        .iter()
        .map(|l| (l.subscription.tenant.as_str(), l.subscription.state, l.subscription.ends(), l.display_name.as_str()))
        .collect();
    let stored = |t: DateTime<Utc>| DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap();
    assert_eq!(
        ending,
        [
            ("cat", State::Grace, Some(stored(now + day * 2)), "CAT"),
            ("ana", State::Trial, Some(stored(now + day * 3)), "ANA")
        ]
    );
}

#[test]
fn tenants_page_in_slug_order_and_search_slug_and_display_name_literally() {
    let f = Fixture::new();
    let pool = pool(&f);
    let names = |n: u32| match n {
        3 => "100% Natural".to_string(),
        4 => "100 natural".to_string(),
        5 => "Rose Beauty".to_string(),
        6 => "a_b".to_string(),
        7 => "axb".to_string(),
        n => format!("Shop {n:02}"),
    };
    for n in 1..=25 {
        control_tenant(&pool, &format!("shop_{n:02}"), &names(n), 800_000 + i64::from(n));
    }
    control_tenant(&pool, "gone_shop", "Gone", 800_100);
    block_on(async {
        let mut conn = pool.acquire().await.unwrap();
        store::mark_deleted(&mut conn, "gone_shop").await.unwrap();
        store::mark_deleting(&mut conn, "shop_25", None).await.unwrap();
    });

    let page = block_on(views::tenants(&pool, None, 2, 10)).unwrap();
    assert_eq!((page.page, page.per_page, page.total, page.pages), (2, 10, 25, 3));
    let slugs: Vec<_> = page.items.iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(slugs, (11..=20).map(|n| format!("shop_{n:02}")).collect::<Vec<_>>());
    assert_eq!(page.items[0].display_name, "Shop 11");
    assert_eq!(page.items[0].bot_username, "shop_11_bot");
    assert_eq!(page.items[0].status, "stopped");
    assert_eq!(page.items[0].subscription.state, State::Complimentary);
    // The last page holds the rest; the one being deleted is listed as such, the deleted one not at all.
    let last = block_on(views::tenants(&pool, None, 3, 10)).unwrap();
    let rest: Vec<_> = last.items.iter().map(|t| (t.slug.as_str(), t.status.as_str())).collect();
    assert_eq!(
        rest,
        [
            ("shop_21", "stopped"),
            ("shop_22", "stopped"),
            ("shop_23", "stopped"),
            ("shop_24", "stopped"),
            ("shop_25", "deleting")
        ]
    );
    let past = block_on(views::tenants(&pool, None, 4, 10)).unwrap();
    assert_eq!((past.items.len(), past.total, past.pages), (0, 25, 3));

    let search = |text: &str| {
        let page = block_on(views::tenants(&pool, Some(text), 1, 10)).unwrap();
        let slugs: Vec<String> = page.items.iter().map(|t| t.slug.clone()).collect();
        (page.total, slugs)
    };
    assert_eq!(search("NATURAL"), (2, vec!["shop_03".into(), "shop_04".into()]), "display name, any case");
    assert_eq!(search(" beauty "), (1, vec!["shop_05".into()]));
    assert_eq!(search("100%"), (1, vec!["shop_03".into()]), "`%` is a percent sign");
    assert_eq!(search("a_b"), (1, vec!["shop_06".into()]), "`_` is an underscore");
    let (total, slugs) = search("OP_1");
    assert_eq!((total, slugs.len()), (10, 10), "by slug: shop_10 … shop_19");
    assert!(slugs.iter().all(|s| s.starts_with("shop_1")), "{slugs:?}");
    assert_eq!(search("gone"), (0, vec![]), "a deleted tenant is not found");
    assert_eq!(search("'; DROP TABLE botctl.tenants; --"), (0, vec![]));
    assert_eq!(search("   ").0, 25, "a blank search lists everyone");

    for (page, per_page) in [(0, 10), (1, 0), (1, 101)] {
        let err = block_on(views::tenants(&pool, None, page, per_page)).unwrap_err();
        assert!(has::<BadInput>(&err), "{err:#}");
    }
}

#[test]
fn a_card_shows_every_field_and_a_missing_tenant_is_bad_input() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let pool = pool(&f);
    let paid_at = Utc::now() - TimeDelta::hours(1);
    credit(&pool, &slug, Provider::Manual, "INV-7", Money::new(29_900, Currency::Rub), paid_at);
    let dest = f.sandbox.path().join("backups");
    f.botctl().args(["backup", &slug, "--dest", dest.to_str().unwrap(), "-q"]).assert().success();
    let (backup_at, backup_size): (DateTime<Utc>, i64) = block_on(
        sqlx::query_as("SELECT created_at, size_bytes FROM botctl.backups WHERE tenant = $1")
            .bind(&slug)
            .fetch_one(&pool),
    )
    .unwrap();
    f.execute_sql(&format!(
        "INSERT INTO tenant_{slug}.outbox (kind, recipient, due_at, expires_at, state, dedupe_key) VALUES \
         ('reminder', 1001, now(), now() + interval '1 day', 'pending', 'p1'), \
         ('reminder', 1001, now(), now() + interval '1 day', 'pending', 'p2'), \
         ('reminder', 1002, now() - interval '3 days', now(), 'failed', 'f1'), \
         ('reminder', 1002, now(), now() + interval '1 day', 'cancelled', 'c1')"
    ));

    let card = block_on(views::card(&pool, None, &slug)).unwrap();
    let shown = block_on(botctl::tenant::ops::show(&crate::support::servers(&pool), &slug.parse().unwrap())).unwrap();
    assert_eq!(card.slug, slug);
    assert_eq!(card.display_name, shown.display_name);
    assert_eq!(card.bot_username, "a_bot");
    assert_eq!(card.owners, [1001, 1002]);
    assert_eq!(card.status, "stopped");
    assert!(matches!(card.container, Observed::Unknown { .. }), "no engine given: {:?}", card.container);
    assert_eq!(card.image, None, "never started");
    assert_eq!(card.schema_version, Some(botctl::db::migrate::tenant_latest()));
    assert_eq!(card.subscription.state, State::Active);
    assert_eq!(card.subscription.ends(), card.subscription.paid_until);
    let stored_paid = DateTime::from_timestamp_micros(paid_at.timestamp_micros()).unwrap();
    assert_eq!(
        card.subscription.paid_until,
        Some(stored_paid + TimeDelta::days(30)),
        "a first payment counts from then"
    );
    let stored_paid_at = block_on(
        sqlx::query_scalar::<_, DateTime<Utc>>("SELECT created_at FROM botctl.payments WHERE reference = 'INV-7'")
            .fetch_one(&pool),
    )
    .unwrap();
    assert_eq!(
        card.last_payment,
        Some(LastPayment { amount: Money::new(29_900, Currency::Rub), provider: "manual".into(), at: stored_paid_at })
    );
    assert_eq!(card.last_backup, Some(LastBackup { at: backup_at, ok: true, size_bytes: Some(backup_size) }));
    assert_eq!(card.outbox, Some(OutboxCounts { pending: 2, failed: 1 }));

    // A later run that failed for this tenant is its last backup now.
    let failed_at = backup_at + TimeDelta::minutes(5);
    backup_failed(&pool, &[&slug], failed_at);
    let card = block_on(views::card(&pool, None, &slug)).unwrap();
    let stored = DateTime::from_timestamp_micros(failed_at.timestamp_micros()).unwrap();
    assert_eq!(card.last_backup, Some(LastBackup { at: stored, ok: false, size_bytes: None }));

    for name in ["nobody_here", "Not A Slug!"] {
        let err = block_on(views::card(&pool, None, name)).unwrap_err();
        assert!(has::<BadInput>(&err), "{name}: {err:#}");
    }
}

/// An engine that answered when connected and is gone now: it answers the version negotiation once,
/// then its port refuses every connection.
fn engine_that_died() -> Engine {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("tcp://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        answer_version(&mut stream);
        // The listener goes with this thread: the port refuses from now on.
    });
    let engine = block_on(Engine::connect(&host, Duration::from_secs(5))).unwrap();
    server.join().unwrap();
    engine
}

/// An engine that answers the version negotiation, then holds every connection without a word.
fn engine_that_hangs() -> Engine {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("tcp://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, stream) in listener.incoming().enumerate() {
            let mut stream = stream.unwrap();
            if n == 0 {
                answer_version(&mut stream);
            } else {
                held.push(stream);
            }
        }
    });
    block_on(Engine::connect(&host, Duration::from_secs(600))).unwrap()
}

fn answer_version(stream: &mut std::net::TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf);
    let body = r#"{"Version":"27.0.0","ApiVersion":"1.47","Os":"linux","Arch":"amd64"}"#;
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
}

#[test]
fn an_engine_that_hangs_is_given_up_on_and_the_card_comes_back() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let pool = pool(&f);
    let engine = engine_that_hangs();
    let card = block_on(views::card(&pool, Some(&engine), &slug)).unwrap();
    let Observed::Unknown { reason } = &card.container else { panic!("{:?}", card.container) };
    assert!(reason.contains("did not answer within 10s"), "{reason}");
    assert_eq!((card.slug.as_str(), card.status.as_str()), (slug.as_str(), "stopped"));
    // A tenant that does not exist is bad input, whatever the engine does meanwhile.
    let err = block_on(views::card(&pool, Some(&engine), "nobody_here")).unwrap_err();
    assert!(has::<BadInput>(&err), "{err:#}");
}

#[test]
fn an_engine_that_stopped_answering_leaves_container_facts_unknown_and_the_rest_intact() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let pool = pool(&f);
    let engine = engine_that_died();
    let card = block_on(views::card(&pool, Some(&engine), &slug)).unwrap();
    let Observed::Unknown { reason } = &card.container else { panic!("{:?}", card.container) };
    assert!(reason.contains(&format!("botctl-{slug}")), "{reason}");
    assert_eq!(card.bot_username, "a_bot");
    assert_eq!(card.outbox, Some(OutboxCounts { pending: 0, failed: 0 }));
    let overview = block_on(views::overview(&pool, Some(&engine), Utc::now())).unwrap();
    assert!(matches!(overview.containers, Observed::Unknown { .. }), "{:?}", overview.containers);
    assert_eq!((overview.tenants, overview.subscriptions.complimentary), (1, 1));
    assert!(block_on(views::log_tail(&engine, &slug, 20)).is_err());
}

mod needs_docker {
    use super::*;
    use crate::needs_docker::{ContainerGuard, build_image, engine, runtime_botctl};

    #[test]
    #[cfg_attr(
        not(docker_engine),
        ignore = "needs a Docker engine (none at /var/run/docker.sock or DOCKER_HOST); set BOTCTL_REQUIRE_DOCKER=1 to require it"
    )]
    fn a_running_tenants_card_shows_its_container_and_its_log_tail_has_the_bots_lines() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug = f.create(BOT_A);
        let _container_guard = ContainerGuard(format!("botctl-{slug}"));
        runtime_botctl(&f, &image).args(["tenant", "start", &slug, "-q"]).assert().success();
        let pool = pool(&f);
        let engine = engine();

        let card = block_on(views::card(&pool, Some(&engine), &slug)).unwrap();
        let facts = ContainerFacts { status: "running".into(), health: Some("healthy".into()), image: image.clone() };
        assert_eq!(card.container, Observed::Known(Some(facts)));
        assert_eq!(card.image.as_deref(), Some(image.as_str()));
        assert_eq!(card.status, "running");

        let lines = block_on(views::log_tail(&engine, &slug, 20)).unwrap();
        assert!(!lines.is_empty() && lines.len() <= 20, "{lines:#?}");
        assert!(lines.iter().any(|l| l.contains("serving")), "{lines:#?}");
        assert!(lines.iter().all(|l| !l.ends_with('\n')), "{lines:#?}");

        let overview = block_on(views::overview(&pool, Some(&engine), Utc::now())).unwrap();
        let counts = overview.containers.known().unwrap();
        assert_eq!((counts.running, counts.unhealthy, counts.stopped, counts.down.len()), (1, 0, 0, 0));

        runtime_botctl(&f, &image).args(["tenant", "stop", &slug, "-q"]).assert().success();
        let card = block_on(views::card(&pool, Some(&engine), &slug)).unwrap();
        let stopped = card.container.known().cloned().flatten().map(|c| c.status);
        assert!(matches!(stopped.as_deref(), None | Some("exited")), "{stopped:?}");
    }
}
