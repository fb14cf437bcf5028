//! The operators' alerts against real PostgreSQL: one alert per event whatever raises it again, first
//! sends and reminders per recipient with the time in the test's hand, and each detector — its event
//! makes exactly one alert, and a "restart" (a new pool, nothing kept in memory) makes no second one
//! nor sends one again. The detector of bots that are down runs against the real engine.

use botctl::billing::clock::{self, ClockOptions};
use botctl::billing::notice::NoticeOptions;
use botctl::platform::alerts::detect;
use botctl::platform::alerts::{self, Action, Alert, Kind, Occasion};
use botctl::tenant::fleet::Down;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::block_on;
use crate::tenant::{BOT_A, BOT_B, Plane};

const SIX_HOURS: TimeDelta = TimeDelta::hours(6);

/// An initialized control plane and a pool on it; `restart` replaces the pool, as a new daemon would.
/// The control plane the test works on.
struct Alerts(Plane);

impl std::ops::Deref for Alerts {
    type Target = Plane;

    fn deref(&self) -> &Plane {
        &self.0
    }
}

impl std::ops::DerefMut for Alerts {
    fn deref_mut(&mut self) -> &mut Plane {
        &mut self.0
    }
}

impl Alerts {
    fn new() -> Self {
        Self(Plane::new())
    }

    fn count(&self, filter: &str) -> i64 {
        self.f.scalar(&format!("SELECT count(*) FROM botctl.alerts WHERE {filter}"))
    }

    fn due(&self, recipients: &[i64], now: DateTime<Utc>) -> Vec<alerts::Due> {
        block_on(async { alerts::due(&mut *self.pool.acquire().await?, recipients, now, SIX_HOURS).await }).unwrap()
    }

    fn delivered(&self, alert: i64, chat: i64, now: DateTime<Utc>) {
        block_on(async { alerts::delivered(&mut *self.pool.acquire().await?, alert, chat, now).await }).unwrap();
    }

    fn for_tenant(&self, slug: &str) -> Vec<alerts::Raised> {
        block_on(async { alerts::for_tenant(&mut *self.pool.acquire().await?, slug).await }).unwrap()
    }

    fn sql(&self, sql: &str) {
        block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&self.pool)).unwrap();
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 10, 9, 0, 0).unwrap()
}

fn sends(due: &[alerts::Due]) -> Vec<(i64, Occasion)> {
    due.iter().map(|d| (d.chat_id, d.send)).collect()
}

#[test]
fn one_key_raised_twice_is_one_alert_sent_once_per_recipient_then_reminded_until_resolved() {
    let mut a = Alerts::new();
    let alert = Alert {
        kind: Kind::BackupFailed,
        tenant: Some("gone_tenant".into()),
        key: "backup_failed:test:1".into(),
        condition: None,
        facts: vec![("error".into(), "disk full".into())],
        raised_at: t0(),
    };
    let raise = |a: &Alerts| block_on(async { alerts::raise(&mut *a.pool.acquire().await?, &alert).await }).unwrap();
    let id = raise(&a).expect("the first raise makes the alert");
    assert_eq!(raise(&a), None, "the same key again is the same alert");
    assert_eq!(a.count("true"), 1);

    let first = a.due(&[1, 2], t0());
    assert_eq!(sends(&first), vec![(1, Occasion::First), (2, Occasion::First)]);
    assert_eq!(first[0].alert.facts, vec![("error".to_string(), "disk full".to_string())]);
    assert_eq!(first[0].alert.action(), Some(Action::BackupNow));
    a.delivered(id, 1, t0());
    assert_eq!(sends(&a.due(&[1, 2], t0() + TimeDelta::hours(1))), vec![(2, Occasion::First)]);
    a.delivered(id, 2, t0() + TimeDelta::hours(1));
    assert!(a.due(&[1, 2], t0() + TimeDelta::minutes(359)).is_empty(), "nothing before remind_after");
    assert_eq!(sends(&a.due(&[1, 2], t0() + SIX_HOURS)), vec![(1, Occasion::Reminder)]);
    a.delivered(id, 1, t0() + SIX_HOURS);
    assert!(a.due(&[1], t0() + TimeDelta::hours(7)).is_empty(), "one reminder per interval");

    // A restart keeps who had what.
    a.restart();
    assert_eq!(sends(&a.due(&[1, 2], t0() + TimeDelta::hours(7))), vec![(2, Occasion::Reminder)]);
    assert_eq!(
        a.f.scalar::<i32>(&format!("SELECT sends FROM botctl.alert_deliveries WHERE alert_id = {id} AND chat_id = 1")),
        2
    );

    let resolve = |a: &Alerts, at| {
        block_on(async { alerts::resolve(&mut *a.pool.acquire().await?, "backup_failed:test:1", at).await }).unwrap()
    };
    assert!(resolve(&a, t0() + TimeDelta::hours(8)));
    assert!(!resolve(&a, t0() + TimeDelta::hours(9)), "resolved once");
    for later in [TimeDelta::hours(30), TimeDelta::days(100)] {
        assert!(a.due(&[1, 2], t0() + later).is_empty(), "a resolved alert is never reminded");
    }
    // A recipient added later hears of an old resolved alert no more.
    assert!(a.due(&[3], t0() + TimeDelta::days(2)).is_empty());
}

/// The migrations' list of kinds and the code's are one: an alert of a kind the table refuses would fail
/// whatever raised it (a notification answered 5xx for a day, an order's failure not committed).
#[test]
fn every_kind_the_code_raises_is_one_the_table_takes() {
    let a = Alerts::new();
    for kind in Kind::ALL {
        let alert = Alert {
            kind,
            tenant: None,
            key: format!("kinds:{}", kind.as_str()),
            condition: None,
            facts: Vec::new(),
            raised_at: t0(),
        };
        let raised = block_on(async { alerts::raise(&mut *a.pool.acquire().await?, &alert).await });
        assert!(raised.is_ok_and(|id| id.is_some()), "{kind:?}");
    }
}

#[test]
fn a_payment_is_one_notice_whatever_rescans_and_restarts_and_is_never_reminded() {
    let mut a = Alerts::new();
    let slug = a.f.create(BOT_A);
    let credit = |a: &Alerts, reference: &str| {
        a.f.botctl()
            .args(["billing", "credit", &slug, "--plan", "1m", "--amount", "299RUB", "--reference", reference, "-q"])
            .assert()
            .success();
    };
    credit(&a, "pay-1");
    credit(&a, "pay-1");
    let now = Utc::now();
    assert_eq!(block_on(detect::payments(&a.pool, now)).unwrap(), (1, 0));
    assert_eq!(block_on(detect::payments(&a.pool, now)).unwrap(), (0, 0));
    let due = a.due(&[42], now);
    assert_eq!(due.len(), 1);
    let alert = &due[0].alert;
    assert_eq!(
        (alert.kind, alert.tenant.as_deref(), alert.action()),
        (Kind::PaymentReceived, Some(&*slug), Some(Action::OpenCard))
    );
    assert!(alert.facts.contains(&("amount".to_string(), "299RUB".to_string())), "{:?}", alert.facts);
    a.delivered(alert.id, 42, now);

    a.restart();
    assert_eq!(block_on(detect::payments(&a.pool, Utc::now())).unwrap(), (0, 0));
    assert!(a.due(&[42], now + TimeDelta::days(1)).is_empty(), "a notice is never reminded");
    credit(&a, "pay-2");
    assert_eq!(block_on(detect::payments(&a.pool, Utc::now())).unwrap(), (1, 0), "another payment, another notice");
    assert_eq!(a.count(&format!("kind = 'payment' AND tenant = '{slug}'")), 2);
}

#[test]
fn grace_and_suspension_are_one_alert_each_per_period_and_grace_resolves_when_suspended() {
    let mut a = Alerts::new();
    let slug = a.f.create(BOT_A);
    let now = Utc::now();
    a.sql(&format!(
        "UPDATE botctl.subscriptions SET state = 'trial', paid_until = '{}', grace_until = NULL \
         WHERE tenant_id = (SELECT id FROM botctl.tenants WHERE slug = '{slug}')",
        (now - TimeDelta::hours(1)).to_rfc3339()
    ));
    let options = ClockOptions {
        grace: std::time::Duration::from_secs(3 * 24 * 3600),
        notices: NoticeOptions { contact: None, renew_url: None },
        actor: "platform:test".into(),
    };
    block_on(clock::advance(&crate::support::servers(&a.pool), now, &options)).unwrap();
    assert_eq!(block_on(detect::billing(&a.pool, Utc::now())).unwrap(), (1, 0));
    a.restart();
    assert_eq!(block_on(detect::billing(&a.pool, Utc::now())).unwrap(), (0, 0));
    let grace = a.for_tenant(&slug);
    assert_eq!(grace.len(), 1);
    assert_eq!((grace[0].kind, grace[0].resolved_at), (Kind::Grace, None));
    a.delivered(grace[0].id, 5, now);
    a.restart();
    assert_eq!(block_on(detect::billing(&a.pool, Utc::now())).unwrap(), (0, 0));
    assert!(a.due(&[5], now + TimeDelta::hours(1)).is_empty(), "delivered once, not again after a restart");
    assert_eq!(a.due(&[5], now + SIX_HOURS).len(), 1, "open: reminded after remind_after");

    block_on(clock::advance(&crate::support::servers(&a.pool), now + TimeDelta::days(3), &options)).unwrap();
    assert_eq!(block_on(detect::billing(&a.pool, Utc::now())).unwrap(), (1, 1), "suspended raised, grace resolved");
    assert_eq!(block_on(detect::billing(&a.pool, Utc::now())).unwrap(), (0, 0));
    let all = a.for_tenant(&slug);
    assert_eq!(
        all.iter().map(|r| (r.kind, r.resolved_at.is_some())).collect::<Vec<_>>(),
        vec![(Kind::Suspended, false), (Kind::Grace, true)]
    );
}

#[test]
fn a_failed_backup_is_one_alert_with_its_reason() {
    let mut a = Alerts::new();
    let (ok, broken) = (a.f.create(BOT_A), a.f.create(BOT_B));
    a.sql(&format!("DROP SCHEMA tenant_{broken} CASCADE"));
    let dest = tempfile::tempdir().unwrap();
    a.f.botctl().args(["backup", "--all", "-q", "--dest", dest.path().to_str().unwrap()]).assert().code(1);
    assert_eq!(block_on(detect::backups(&a.pool, Utc::now())).unwrap(), (1, 0));
    a.restart();
    assert_eq!(block_on(detect::backups(&a.pool, Utc::now())).unwrap(), (0, 0));
    assert!(a.for_tenant(&ok).is_empty());
    let failed = a.for_tenant(&broken);
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].kind, failed[0].action()), (Kind::BackupFailed, Some(Action::BackupNow)));
    assert!(failed[0].facts.iter().any(|(name, value)| name == "error" && !value.is_empty()), "{:?}", failed[0].facts);

    let due = a.due(&[5], Utc::now());
    assert_eq!(due.len(), 1);
    a.delivered(due[0].alert.id, 5, Utc::now());
    a.restart();
    assert_eq!(block_on(detect::backups(&a.pool, Utc::now())).unwrap(), (0, 0));
    assert!(a.due(&[5], Utc::now()).is_empty(), "delivered once, not again after a restart");
}

#[test]
fn a_start_that_failed_is_one_alert_per_episode_resolved_when_the_start_is_no_longer_pending() {
    let mut a = Alerts::new();
    let slug = a.f.create(BOT_A);
    let pending = |a: &Alerts, on: bool| {
        a.sql(&format!(
            "UPDATE botctl.subscriptions SET start_pending = {on} \
             WHERE tenant_id = (SELECT id FROM botctl.tenants WHERE slug = '{slug}')"
        ))
    };
    pending(&a, true);
    let failed =
        |a: &Alerts, at| block_on(detect::start_failed(&a.pool, &slug, "the engine is unreachable", at)).unwrap();
    assert!(failed(&a, t0()).is_some());
    a.restart();
    assert!(failed(&a, t0() + TimeDelta::minutes(1)).is_none(), "the same episode");
    assert_eq!(block_on(detect::starts(&a.pool, t0() + TimeDelta::minutes(2))).unwrap(), 0);
    pending(&a, false);
    assert_eq!(block_on(detect::starts(&a.pool, t0() + TimeDelta::minutes(3))).unwrap(), 1);
    assert_eq!(block_on(detect::starts(&a.pool, t0() + TimeDelta::minutes(4))).unwrap(), 0);
    pending(&a, true);
    assert!(failed(&a, t0() + TimeDelta::minutes(5)).is_some(), "a new episode");
    let all = a.for_tenant(&slug);
    assert_eq!(
        all.iter().map(|r| (r.kind, r.resolved_at.is_some())).collect::<Vec<_>>(),
        vec![(Kind::StartFailed, false), (Kind::StartFailed, true)]
    );
    assert_eq!(all[0].action(), Some(Action::Start));
}

#[test]
fn taking_the_lease_from_another_host_is_alerted_once_and_a_restart_on_the_same_host_is_not() {
    let a = Alerts::new();
    let took = |host: &str, pid: u32, minutes: i64| {
        block_on(detect::took_lease(&a.pool, host, pid, t0() + TimeDelta::minutes(minutes))).unwrap()
    };
    assert_eq!(took("host-a", 100, 0), None, "the first leader takes over from nobody");
    assert_eq!(took("host-a", 101, 1), None, "a restart on the same host");
    let id = took("host-b", 200, 2).expect("a takeover from host-a");
    assert_eq!(took("host-b", 201, 3), None);
    assert_eq!(a.count("kind = 'takeover'"), 1);
    let due = a.due(&[9], t0() + TimeDelta::minutes(3));
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].alert.id, due[0].alert.action()), (id, None));
    assert!(
        due[0].alert.facts.contains(&("from".to_string(), "host-a (pid 101)".to_string())),
        "{:?}",
        due[0].alert.facts
    );
}

#[test]
fn a_bot_down_is_alerted_once_it_lasts_unhealthy_after_across_a_restart_and_resolved_when_up() {
    let mut a = Alerts::new();
    let slug = a.f.create(BOT_A);
    let down = vec![Down { tenant: slug.clone(), status: None, health: None }];
    let after = TimeDelta::minutes(5);
    let seen = |a: &Alerts, down: &[Down], minutes: i64| {
        block_on(detect::bots_seen(&a.pool, down, t0() + TimeDelta::minutes(minutes), after)).unwrap()
    };
    assert_eq!(seen(&a, &down, 0), (0, 0), "down for a moment is not news");
    assert_eq!(seen(&a, &down, 4), (0, 0));
    a.restart();
    assert_eq!(seen(&a, &down, 5), (1, 0), "the restart kept when it was first seen");
    assert_eq!(seen(&a, &down, 6), (0, 0));
    assert_eq!(seen(&a, &[], 7), (0, 1), "up again");
    assert_eq!(seen(&a, &down, 8), (0, 0), "a new episode starts its own wait");
    assert_eq!(seen(&a, &down, 13), (1, 0));
    let all = a.for_tenant(&slug);
    assert_eq!(
        all.iter().map(|r| (r.kind, r.resolved_at.is_some())).collect::<Vec<_>>(),
        vec![(Kind::BotDown, false), (Kind::BotDown, true)]
    );
    assert!(all[0].facts.contains(&("container".to_string(), "gone".to_string())), "{:?}", all[0].facts);
    assert_eq!(all[0].action(), Some(Action::Restart));
}

#[test]
fn the_platform_daemon_records_its_lease_and_raises_each_alert_once_across_its_restart() {
    let a = Alerts::new();
    let slug = a.f.create(BOT_A);
    let credit = |reference: &str| {
        a.f.botctl()
            .args(["billing", "credit", &slug, "--plan", "1m", "--amount", "299RUB", "--reference", reference, "-q"])
            .assert()
            .success();
    };
    credit("daemon-1");
    a.sql("INSERT INTO botctl.platform_leader (host, pid, since) VALUES ('elsewhere.example', 1, now())");
    let spawn = || {
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        a.f.process()
            .args(["platform", "serve"])
            .env("BOTCTL_PLATFORM_LISTEN", addr.to_string())
            // No engine: the detectors that need none still run.
            .env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let stop = |mut daemon: std::process::Child| {
        kill(Pid::from_raw(daemon.id() as i32), Signal::SIGTERM).unwrap();
        assert_eq!(daemon.wait().unwrap().code(), Some(0));
    };
    let daemon = spawn();
    assert!(a.f.eventually(|| a.count("kind = 'payment'") >= 1 && a.count("kind = 'takeover'") >= 1));
    assert_eq!(a.f.scalar::<i32>("SELECT pid FROM botctl.platform_leader"), daemon.id() as i32);
    stop(daemon);

    credit("daemon-2");
    let daemon = spawn();
    assert!(a.f.eventually(|| a.count("kind = 'payment'") >= 2), "the restarted daemon's detectors never ran");
    assert_eq!(a.count("kind = 'payment'"), 2, "one alert per payment across the restart");
    assert_eq!(a.count("kind = 'takeover'"), 1, "a restart on the same host is no takeover");
    assert_eq!(a.f.scalar::<i32>("SELECT pid FROM botctl.platform_leader"), daemon.id() as i32);
    stop(daemon);
}

#[test]
fn operator_settings_are_shown_without_the_token_and_a_bad_entry_is_a_usage_error_naming_it() {
    let sandbox = crate::support::Sandbox::new();
    let secret = crate::support::token(BOT_A);
    let output = sandbox
        .botctl()
        .args(["config", "show", "-o", "json"])
        .env("BOTCTL_PLATFORM_OPERATOR_BOT_TOKEN", &secret)
        .env("BOTCTL_PLATFORM_OPERATORS", "1001:owner,1002:viewer")
        .env("BOTCTL_PLATFORM_ALERTS_UNHEALTHY_AFTER", "0s")
        .assert()
        .success()
        .get_output()
        .clone();
    let shown = String::from_utf8_lossy(&output.stdout);
    let (_, key) = secret.split_once(':').unwrap();
    assert!(!shown.contains(key), "the token leaked: {shown}");
    assert!(shown.contains("1001 owner, 1002 viewer"), "{shown}");

    let output = sandbox
        .botctl()
        .args(["config", "show"])
        .env("BOTCTL_PLATFORM_OPERATOR_BOT_TOKEN", &secret)
        .env("BOTCTL_PLATFORM_OPERATORS", "1001:owner,1001:viewer")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("entry 2 (id 1001)") && stderr.contains("listed twice"), "{stderr}");
    assert!(!stderr.contains(key), "{stderr}");

    let output = sandbox
        .botctl()
        .args(["config", "show"])
        .env("BOTCTL_PLATFORM_OPERATOR_BOT_TOKEN", &secret)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nobody could use the operator bot"), "{stderr}");
}

mod needs_docker {
    use botctl::platform::alerts::Kind;
    use botctl::platform::alerts::detect;
    use chrono::{TimeDelta, Utc};

    use super::Alerts;
    use crate::needs_docker::{ContainerGuard, build_image, engine, runtime_botctl};
    use crate::support::block_on;
    use crate::tenant::BOT_A;

    #[test]
    #[cfg_attr(
        not(docker_engine),
        ignore = "needs a Docker engine (none at /var/run/docker.sock or DOCKER_HOST); set BOTCTL_REQUIRE_DOCKER=1 to require it"
    )]
    fn a_running_bots_container_removed_is_one_alert_and_its_start_resolves_it() {
        let mut a = Alerts::new();
        let (image, _, _image_guard) = build_image(&a.f.sandbox);
        let slug = a.f.create(BOT_A);
        let _container = ContainerGuard(format!("botctl-{slug}"));
        runtime_botctl(&a.f, &image).args(["tenant", "start", &slug]).assert().success();
        let engine = engine();
        let bots = |a: &Alerts| block_on(detect::bots(&a.pool, &engine, Utc::now(), TimeDelta::zero())).unwrap();
        assert_eq!(bots(&a), (0, 0), "a healthy bot");

        block_on(engine.remove_container(&format!("botctl-{slug}"))).unwrap();
        assert_eq!(bots(&a), (1, 0));
        assert_eq!(bots(&a), (0, 0));
        a.restart();
        assert_eq!(bots(&a), (0, 0), "still one after a restart");
        let alerts = a.for_tenant(&slug);
        assert_eq!(alerts.len(), 1);
        assert_eq!((alerts[0].kind, alerts[0].resolved_at), (Kind::BotDown, None));

        runtime_botctl(&a.f, &image).args(["tenant", "start", &slug]).assert().success();
        assert_eq!(bots(&a), (0, 1), "running again resolves it");
    }
}
