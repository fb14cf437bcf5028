//! Orders carried out against real PostgreSQL and the Bot API emulator: a trial and a purchase made into
//! tenants exactly once (also after a crash between the tenant's commit and the order's), a renewal's
//! days credited, permanent failures failing the order with one operator alert, and the resumer telling
//! buyers once across restarts and asking the provider about payments it has not heard of. The
//! container step runs in `needs_docker`, on a real engine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use botctl::billing::{self, Currency, Money, Provider};
use botctl::locale::Locale;
use botctl::platform::fleet::Fleet;
use botctl::platform::orders::resume::{self, Buyers, PaymentCheck, Resumer};
use botctl::platform::orders::{
    self, Buyer, CheckedBot, DraftChanges, Event, Facts, Fulfiller, Kind, Lookup, NewOrder, Order, State, Transition,
};
use botctl::progress::NoProgress;
use chrono::Utc;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::support::{block_on, token, unique_slug};
use crate::tenant::{BOT_A, BOT_B, BOT_C, Plane};

/// A bot the emulator does not know: `getMe` answers 401, as for a token revoked in @BotFather.
const REVOKED: i64 = 500_000_009;
const BUYER: i64 = 8001;

fn no_engine(pool: &sqlx::PgPool) -> Fleet {
    Fleet::new(
        crate::support::servers(pool),
        Err("these tests run no containers".into()),
        "unix:///nonexistent/docker.sock",
    )
}

struct Shop {
    plane: Plane,
}

impl std::ops::Deref for Shop {
    type Target = Plane;

    fn deref(&self) -> &Plane {
        &self.plane
    }
}

impl Shop {
    fn new() -> Self {
        Self { plane: Plane::new() }
    }

    fn fulfiller(&self, fleet: Fleet) -> Fulfiller {
        Fulfiller {
            pool: self.pool.clone(),
            fleet,
            telegram_api_url: self.f.api.parse().unwrap(),
            trial_days: 14,
            actor: "platform:sales".into(),
        }
    }

    fn order(&self, kind: Kind, user: i64, tenant: Option<&str>) -> Order {
        let new = NewOrder {
            buyer: Buyer { user_id: user, chat_id: user, language: Locale::En },
            kind,
            tenant: tenant.map(|t| t.parse().unwrap()),
            plan: Some("1m".into()),
        };
        block_on(async { orders::create(&mut *self.pool.acquire().await?, &new, "test", Utc::now()).await }).unwrap()
    }

    /// A new business's order with everything chosen, still a draft.
    fn draft(&self, kind: Kind, user: i64, bot: i64) -> Order {
        let order = self.order(kind, user, None);
        let changes = DraftChanges {
            business_name: Some("Borodach".into()),
            tenant: Some(unique_slug().parse().unwrap()),
            bot: Some(CheckedBot { token: token(bot).parse().unwrap(), username: format!("bot{bot}_bot") }),
            template: Some("barbershop".into()),
            timezone: Some(chrono_tz::Europe::Samara),
            plan: None,
        };
        block_on(async { orders::update_draft(&mut *self.pool.acquire().await?, order.id, &changes, Utc::now()).await })
            .unwrap()
    }

    fn advance(&self, order: &Order, event: Event, facts: Facts) -> Order {
        let step =
            Transition { order: order.id, from: order.state, event, facts, actor: "test".into(), at: Utc::now() };
        block_on(async { orders::advance(&mut *self.pool.acquire().await?, &step).await }).unwrap().order
    }

    /// Requested and confirmed as the payment paths do it.
    fn paid(&self, order: &Order, payment_id: &str) -> Order {
        let terms = Facts {
            plan: Some("1m".into()),
            amount: Some(Money::new(29_900, Currency::Rub)),
            provider: Some(Provider::Yookassa),
            idempotence_key: Some(order.payment_idempotence_key()),
            ..Facts::default()
        };
        let awaiting = self.advance(order, Event::PaymentRequested, terms);
        let paid = Facts { payment_id: Some(payment_id.into()), ..Facts::default() };
        self.advance(&awaiting, Event::PaymentSucceeded, paid)
    }

    fn find(&self, order: &Order) -> Order {
        block_on(async { orders::find(&mut *self.pool.acquire().await?, Lookup::Id(order.id)).await }).unwrap().unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.f.scalar(sql)
    }

    fn sql(&self, sql: &str) {
        block_on(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&self.pool)).unwrap();
    }

    fn slug(order: &Order) -> String {
        order.tenant.as_ref().unwrap().to_string()
    }
}

/// The steps before the container all succeed; the start waits for an engine (tried again later).
fn carried_to_the_engine(f: &Fulfiller, order: &Order) -> anyhow::Error {
    let err = block_on(f.carry(order.id, &NoProgress)).unwrap_err();
    assert!(format!("{err:#}").contains(&order.reference), "the error names the order: {err:#}");
    err
}

#[test]
fn a_trial_becomes_a_tenant_on_trial_with_the_buyer_as_admin_once_and_waits_for_the_engine_to_start() {
    let shop = Shop::new();
    let fulfiller = shop.fulfiller(no_engine(&shop.pool));
    let order = shop.draft(Kind::Trial, BUYER, BOT_A);
    let slug = Shop::slug(&order);
    let err = carried_to_the_engine(&fulfiller, &order);
    assert!(format!("{err:#}").contains("run no containers"), "{err:#}");
    assert_eq!(shop.find(&order).state, State::Credited, "left in its state, to be started later");
    let tenant: (i64, String, String, String) = block_on(
        sqlx::query_as(
            "SELECT bot_id, display_name, timezone, template FROM botctl.tenants WHERE slug = $1 AND $2 = ANY(admins)",
        )
        .bind(&slug)
        .bind(BUYER)
        .fetch_one(&shop.pool),
    )
    .unwrap();
    assert_eq!(tenant, (BOT_A, "Borodach".into(), "Europe/Samara".into(), "barbershop".into()));
    let sub = format!(
        "SELECT count(*) FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
         WHERE t.slug = '{slug}' AND s.state = 'trial' AND s.paid_until BETWEEN now() + interval '13 days' \
         AND now() + interval '15 days'"
    );
    assert_eq!(shop.count(&sub), 1, "a 14-day trial");

    // Carried again: nothing is made twice, and the order waits for the engine still.
    carried_to_the_engine(&fulfiller, &order);
    assert_eq!(shop.count(&format!("SELECT count(*) FROM botctl.tenants WHERE slug = '{slug}'")), 1);
    let history = block_on(async { orders::history(&mut *shop.pool.acquire().await?, order.id).await }).unwrap();
    let credited: Vec<_> = history.iter().filter(|h| h.to_state == "credited").collect();
    assert_eq!(credited.len(), 1);
    assert_eq!(credited[0].actor, "platform:sales");
}

#[test]
fn two_carries_of_one_order_at_once_make_one_tenant_and_neither_fails_it() {
    let shop = Shop::new();
    let (one, two) = (shop.fulfiller(no_engine(&shop.pool)), shop.fulfiller(no_engine(&shop.pool)));
    let order = shop.paid(&shop.draft(Kind::Purchase, BUYER, BOT_A), "pay-race-1");
    let (a, b) = block_on(async { tokio::join!(one.carry(order.id, &NoProgress), two.carry(order.id, &NoProgress)) });
    for carried in [a, b] {
        let err = carried.unwrap_err();
        assert!(format!("{err:#}").contains("run no containers"), "only the engine is missing: {err:#}");
    }
    assert_eq!(shop.find(&order).state, State::Credited);
    assert_eq!(shop.count("SELECT count(*) FROM botctl.tenants"), 1);
    assert_eq!(shop.count("SELECT count(*) FROM botctl.payments WHERE reference = 'pay-race-1'"), 1);
    assert_eq!(order_alerts(&shop, &order), 0);
}

#[test]
fn an_incomplete_trial_is_not_carried() {
    let shop = Shop::new();
    let order = shop.order(Kind::Trial, BUYER, None);
    let carried = block_on(shop.fulfiller(no_engine(&shop.pool)).carry(order.id, &NoProgress)).unwrap();
    assert_eq!(carried.state, State::Draft);
    assert_eq!(shop.count("SELECT count(*) FROM botctl.tenants"), 0);
}

#[test]
fn a_paid_purchase_is_credited_once_with_its_tenant() {
    let shop = Shop::new();
    let fulfiller = shop.fulfiller(no_engine(&shop.pool));
    let order = shop.paid(&shop.draft(Kind::Purchase, BUYER, BOT_A), "pay-purchase-1");
    let slug = Shop::slug(&order);
    carried_to_the_engine(&fulfiller, &order);
    carried_to_the_engine(&fulfiller, &order);
    assert_eq!(shop.find(&order).state, State::Credited);
    let payments = "SELECT count(*) FROM botctl.payments WHERE provider = 'yookassa' AND reference = 'pay-purchase-1'";
    assert_eq!(shop.count(payments), 1, "credited once");
    let active = format!(
        "SELECT count(*) FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
         JOIN botctl.payments p ON p.tenant_id = t.id \
         WHERE t.slug = '{slug}' AND s.state = 'active' AND s.plan = '1m' AND p.days = 30 AND p.amount = 29900 \
         AND s.paid_until BETWEEN now() + interval '29 days' AND now() + interval '31 days'"
    );
    assert_eq!(shop.count(&active), 1, "30 paid days from the plan");
}

#[test]
fn a_tenant_made_before_a_crash_is_found_and_the_order_only_moves_on() {
    let shop = Shop::new();
    let fulfiller = shop.fulfiller(no_engine(&shop.pool));
    let order = shop.paid(&shop.draft(Kind::Purchase, BUYER, BOT_B), "pay-crash-1");
    let slug = Shop::slug(&order);
    // What `carry` commits before the crash: the tenant with its payment. The order stays `paid`.
    let template = botctl::config::template::embedded("barbershop", Locale::En).unwrap();
    let options = botctl::tenant::ops::CreateOptions {
        slug: order.tenant.clone().unwrap(),
        token: token(BOT_B).parse().unwrap(),
        admins: vec![BUYER],
        timezone: chrono_tz::Europe::Samara,
        locale: Locale::En,
        display_name: Some("Borodach".into()),
        template,
        memory_mb: None,
        cpus: None,
        telegram_api_url: shop.f.api.parse().unwrap(),
        server: None,
    };
    let payment = billing::Payment {
        provider: Provider::Yookassa,
        reference: "pay-crash-1".into(),
        amount: Money::new(29_900, Currency::Rub),
        days: 30,
        plan: Some("1m".into()),
        note: None,
        raw: serde_json::json!({}),
    };
    let start = billing::Start::Paid(payment);
    block_on(botctl::tenant::lifecycle::create(
        &crate::support::servers(&shop.pool),
        &options,
        &start,
        None,
        "platform:sales",
        &NoProgress,
    ))
    .unwrap();
    assert_eq!(shop.find(&order).state, State::Paid);

    carried_to_the_engine(&fulfiller, &order);
    assert_eq!(shop.find(&order).state, State::Credited);
    assert_eq!(shop.count(&format!("SELECT count(*) FROM botctl.tenants WHERE slug = '{slug}'")), 1);
    assert_eq!(shop.count("SELECT count(*) FROM botctl.payments WHERE reference = 'pay-crash-1'"), 1);
    assert_eq!(shop.count("SELECT count(*) FROM botctl.ledger WHERE kind = 'credit'"), 1, "one ledger credit");
}

#[test]
fn a_renewal_adds_its_days_to_the_tenant_and_makes_no_other() {
    let shop = Shop::new();
    let slug = shop.f.create(BOT_C);
    let order = shop.paid(&shop.order(Kind::Renewal, BUYER, Some(&slug)), "pay-renew-1");
    let carried = block_on(shop.fulfiller(no_engine(&shop.pool)).carry(order.id, &NoProgress)).unwrap();
    assert_eq!(carried.state, State::Credited, "a renewal's bot runs already: it waits to be delivered");
    let again = block_on(shop.fulfiller(no_engine(&shop.pool)).carry(order.id, &NoProgress)).unwrap();
    assert_eq!(again.state, State::Credited);
    assert_eq!(shop.count("SELECT count(*) FROM botctl.tenants"), 1, "no new tenant");
    assert_eq!(shop.count("SELECT count(*) FROM botctl.payments WHERE reference = 'pay-renew-1'"), 1);
    let renewed = format!(
        "SELECT count(*) FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
         WHERE t.slug = '{slug}' AND s.state = 'active' \
         AND s.paid_until BETWEEN now() + interval '29 days' AND now() + interval '31 days'"
    );
    assert_eq!(shop.count(&renewed), 1, "30 days added");
}

fn order_alerts(shop: &Shop, order: &Order) -> i64 {
    shop.count(&format!(
        "SELECT count(*) FROM botctl.alerts WHERE kind = 'order_failed' AND dedupe_key = 'order_failed:{}'",
        order.reference
    ))
}

#[test]
fn a_revoked_token_fails_a_paid_order_with_one_alert_however_often_it_is_carried() {
    let shop = Shop::new();
    let fulfiller = shop.fulfiller(no_engine(&shop.pool));
    let order = shop.paid(&shop.draft(Kind::Purchase, BUYER, REVOKED), "pay-revoked-1");
    let failed = block_on(fulfiller.carry(order.id, &NoProgress)).unwrap();
    assert_eq!(failed.state, State::Failed);
    let reason = failed.reason.clone().unwrap();
    assert!(reason.contains("rejected the token"), "{reason}");
    assert!(!reason.contains(&token(REVOKED)), "no token in the reason: {reason}");
    let again = block_on(fulfiller.carry(order.id, &NoProgress)).unwrap();
    assert_eq!(again.state, State::Failed);
    assert_eq!(order_alerts(&shop, &order), 1);
    assert_eq!(shop.count("SELECT count(*) FROM botctl.tenants"), 0);
    assert_eq!(shop.count("SELECT count(*) FROM botctl.payments"), 0, "no money recorded for a tenant never made");
    let facts: serde_json::Value = shop
        .f
        .scalar(&format!("SELECT facts FROM botctl.alerts WHERE dedupe_key = 'order_failed:{}'", order.reference));
    let shown = facts.to_string();
    for expected in [order.reference.as_str(), "8001", "pay-revoked-1", "refund", "rejected the token"] {
        assert!(shown.contains(expected), "{expected} in {shown}");
    }
    let text = botctl::platform::operator::texts::Text::AlertOrderFailed;
    let en = botctl::platform::operator::texts::Catalog::defaults(Locale::En);
    assert!(en.raw(text).contains("refund"), "the operator is told what to do");
}

#[test]
fn a_trial_with_a_revoked_token_or_a_name_taken_meanwhile_fails_without_an_alert() {
    let shop = Shop::new();
    let fulfiller = shop.fulfiller(no_engine(&shop.pool));
    let revoked = shop.draft(Kind::Trial, BUYER, REVOKED);
    let failed = block_on(fulfiller.carry(revoked.id, &NoProgress)).unwrap();
    assert_eq!(failed.state, State::Failed);
    assert_eq!(order_alerts(&shop, &revoked), 0, "no money was taken");

    // Someone made a tenant of that name with another bot after the buyer chose it.
    let order = shop.paid(&shop.draft(Kind::Purchase, BUYER + 1, BOT_A), "pay-taken-1");
    let options = shop.f.create_options(order.tenant.as_ref().unwrap(), BOT_C);
    block_on(botctl::tenant::ops::create(&crate::support::servers(&shop.pool), &options, "test", &NoProgress)).unwrap();
    let failed = block_on(fulfiller.carry(order.id, &NoProgress)).unwrap();
    assert_eq!(failed.state, State::Failed);
    assert!(failed.reason.as_deref().is_some_and(|r| r.contains("was taken")), "{:?}", failed.reason);
    assert_eq!(order_alerts(&shop, &order), 1);
}

/// The sales bot, as the resumer sees it: who it was asked to tell, and in what state.
#[derive(Default, Clone)]
struct Told(Arc<Mutex<Vec<(String, State)>>>);

impl Buyers for Told {
    fn tell(&self, order: Order) -> BoxFuture<'static, anyhow::Result<()>> {
        let told = self.0.clone();
        Box::pin(async move {
            told.lock().unwrap().push((order.reference, order.state));
            Ok(())
        })
    }
}

impl Told {
    fn of(&self, order: &Order) -> Vec<State> {
        self.0.lock().unwrap().iter().filter(|(r, _)| *r == order.reference).map(|(_, s)| *s).collect()
    }
}

/// The payment provider, as the resumer sees it: which orders it was asked about.
#[derive(Default, Clone)]
struct Asked(Arc<Mutex<Vec<String>>>);

impl PaymentCheck for Asked {
    fn check(&self, order: Order) -> BoxFuture<'static, anyhow::Result<()>> {
        let asked = self.0.clone();
        Box::pin(async move {
            asked.lock().unwrap().push(order.reference);
            Ok(())
        })
    }
}

/// `resume::run` on the harness's runtime until dropped.
struct Running {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    fn start(shop: &Shop, told: &Told, asked: Option<&Asked>) -> Self {
        let resumer = Resumer {
            fulfiller: Arc::new(shop.fulfiller(no_engine(&shop.pool))),
            payments: asked.map(|a| Arc::new(a.clone()) as Arc<dyn PaymentCheck>),
            buyers: Arc::new(told.clone()),
        };
        let stop = CancellationToken::new();
        let task = spawn(resume::run(resumer, stop.clone()));
        Self { stop, task: Some(task) }
    }

    fn stop(mut self) {
        self.stop.cancel();
        let task = self.task.take().unwrap();
        block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await }).unwrap().unwrap().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Runs `future` on the harness's runtime, beyond the `block_on` that starts it.
fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> tokio::task::JoinHandle<T> {
    block_on(async { tokio::runtime::Handle::current() }).spawn(future)
}

fn eventually(mut condition: impl FnMut() -> bool, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}

#[test]
fn the_resumer_tells_a_provisioned_buyer_once_and_the_order_is_done_across_a_restart() {
    let shop = Shop::new();
    let told = Told::default();
    let order = shop.draft(Kind::Trial, BUYER, BOT_A);
    let provisioned =
        shop.advance(&shop.advance(&order, Event::Credited, Facts::default()), Event::Provisioned, Facts::default());
    let running = Running::start(&shop, &told, None);
    assert!(eventually(|| shop.find(&order).state == State::Done, Duration::from_secs(10)), "delivered");
    assert_eq!(told.of(&order), [State::Provisioned]);
    running.stop();

    // A new daemon: the order is over, nothing is told again.
    let running = Running::start(&shop, &told, None);
    std::thread::sleep(Duration::from_secs(2));
    running.stop();
    assert_eq!(told.of(&order), [State::Provisioned]);
    let history = block_on(async { orders::history(&mut *shop.pool.acquire().await?, provisioned.id).await }).unwrap();
    let delivered = history.last().unwrap();
    assert_eq!((delivered.to_state.as_str(), delivered.actor.as_str()), ("done", resume::ACTOR));
}

#[test]
fn the_resumer_wakes_on_a_transition_and_tells_a_failed_buyer_once_across_a_restart() {
    let shop = Shop::new();
    let told = Told::default();
    let running = Running::start(&shop, &told, None);
    std::thread::sleep(Duration::from_millis(500));
    // Failed while the resumer sleeps: the transition's notification wakes it, long before its schedule.
    let order = shop.draft(Kind::Trial, BUYER, BOT_A);
    let reason = Facts { reason: Some("the template is gone".into()), ..Facts::default() };
    let failed = shop.advance(&order, Event::Failed, reason);
    assert!(eventually(|| told.of(&order) == [State::Failed], Duration::from_secs(10)), "told of the failure");
    assert!(eventually(|| shop.find(&order).buyer_told_at.is_some(), Duration::from_secs(5)), "recorded");
    running.stop();
    let running = Running::start(&shop, &told, None);
    std::thread::sleep(Duration::from_secs(2));
    running.stop();
    assert_eq!(told.of(&failed), [State::Failed], "told once");
}

#[test]
fn the_resumer_asks_the_provider_about_a_quiet_payment_and_gives_up_after_a_day() {
    let shop = Shop::new();
    let (told, asked) = (Told::default(), Asked::default());
    let terms = Facts {
        plan: Some("1m".into()),
        amount: Some(Money::new(29_900, Currency::Rub)),
        provider: Some(Provider::Yookassa),
        ..Facts::default()
    };
    let with_key = |order: &Order| Facts { idempotence_key: Some(order.payment_idempotence_key()), ..terms.clone() };
    let fresh = shop.draft(Kind::Purchase, BUYER, BOT_A);
    let fresh = shop.advance(&fresh, Event::PaymentRequested, with_key(&fresh));
    let quiet = shop.draft(Kind::Purchase, BUYER + 1, BOT_B);
    let quiet = shop.advance(&quiet, Event::PaymentRequested, with_key(&quiet));
    let old = shop.draft(Kind::Purchase, BUYER + 2, BOT_C);
    let old = shop.advance(&old, Event::PaymentRequested, with_key(&old));
    let left = shop.draft(Kind::Trial, BUYER + 3, REVOKED);
    shop.sql(&format!("UPDATE botctl.orders SET updated_at = now() - interval '2 minutes' WHERE id = {}", quiet.id));
    shop.sql(&format!("UPDATE botctl.orders SET updated_at = now() - interval '25 hours' WHERE id = {}", old.id));
    shop.sql(&format!("UPDATE botctl.orders SET updated_at = now() - interval '8 days' WHERE id = {}", left.id));

    let running = Running::start(&shop, &told, Some(&asked));
    assert!(eventually(|| shop.find(&old).state == State::Canceled, Duration::from_secs(10)), "given up");
    assert!(eventually(|| shop.find(&left).state == State::Canceled, Duration::from_secs(10)), "draft expired");
    assert!(eventually(|| told.of(&old) == [State::Canceled], Duration::from_secs(10)), "buyer told");
    running.stop();
    let asked = asked.0.lock().unwrap().clone();
    assert!(asked.contains(&quiet.reference), "the quiet payment is asked about: {asked:?}");
    assert!(asked.contains(&old.reference), "asked once more before giving up: {asked:?}");
    assert!(!asked.contains(&fresh.reference), "a fresh payment is not asked about yet: {asked:?}");
    assert_eq!(asked.iter().filter(|r| **r == quiet.reference).count(), 1, "at most once a minute");
    assert_eq!(shop.find(&quiet).state, State::AwaitingPayment);
    assert_eq!(shop.find(&old).reason.as_deref(), Some(resume::PAYMENT_EXPIRED));
    assert_eq!(shop.find(&left).reason.as_deref(), Some(resume::DRAFT_EXPIRED));
    assert_eq!(told.of(&left), [State::Canceled]);
    assert_eq!(shop.find(&fresh).state, State::AwaitingPayment);
}

mod needs_docker {
    use super::*;
    use crate::needs_docker::{ContainerGuard, assert_serving, build_image, docker_test, engine, runtime_options};

    docker_test! {
        fn a_trial_and_a_purchase_are_carried_to_running_bots_and_the_buyers_told() {
            let shop = Shop::new();
            let (image, _, _image_guard) = build_image(&shop.f.sandbox);
            let runtime = runtime_options(&shop.f, &shop.pool, &image);
            let fleet = Fleet::new(crate::support::servers(&shop.pool), Ok(runtime), crate::needs_docker::docker_host());
            let trial = shop.draft(Kind::Trial, BUYER, BOT_A);
            let _trial_guard = ContainerGuard(botctl::tenant::runtime::container_name(&Shop::slug(&trial)));
            let carried = block_on(shop.fulfiller(fleet.clone()).carry(trial.id, &NoProgress)).unwrap();
            assert_eq!(carried.state, State::Provisioned);
            assert_serving(&botctl::tenant::runtime::container_name(&Shop::slug(&trial)));
            let status: String =
                shop.f.scalar(&format!("SELECT status FROM botctl.tenants WHERE slug = '{}'", Shop::slug(&trial)));
            assert_eq!(status, "running");
            let tokens = shop.count(&format!("SELECT count(*) FROM botctl.order_tokens WHERE order_id = {}", trial.id));
            assert_eq!(tokens, 0, "the token left the order once the tenant had it");

            // A paid one, carried by the resumer alone, and its buyer told.
            let purchase = shop.paid(&shop.draft(Kind::Purchase, BUYER + 1, BOT_B), "pay-docker-1");
            let _purchase_guard = ContainerGuard(botctl::tenant::runtime::container_name(&Shop::slug(&purchase)));
            let told = Told::default();
            let resumer = Resumer {
                fulfiller: Arc::new(shop.fulfiller(fleet)),
                payments: None,
                buyers: Arc::new(told.clone()),
            };
            let stop = CancellationToken::new();
            let task = spawn(resume::run(resumer, stop.clone()));
            let done = eventually(|| shop.find(&purchase).state == State::Done, Duration::from_secs(120));
            stop.cancel();
            block_on(task).unwrap().unwrap();
            assert!(done, "the purchase ended {:?}", shop.find(&purchase).state);
            assert_serving(&botctl::tenant::runtime::container_name(&Shop::slug(&purchase)));
            assert_eq!(told.of(&purchase), [State::Provisioned]);
            assert_eq!(told.of(&trial), [State::Provisioned], "the trial, provisioned, is delivered too");

            for order in [&trial, &purchase] {
                let slug = Shop::slug(order);
                block_on(botctl::tenant::runtime::remove(&crate::support::servers(&shop.pool), &engine(), &slug.parse().unwrap())).unwrap();
            }
        }
    }
}
