//! Orders paid through YooKassa, against real PostgreSQL and the YooKassa emulator: one payment per order
//! whatever retries, paid once whatever the deliveries (duplicated, reordered, after "I have paid", after
//! a listener that died), refused from outside the networks, an amount that differs alerted and not paid,
//! a cancel with its reason, a refund taken off the ledger once, and `orders::confirm`'s refusals.

use std::net::SocketAddr;

use botctl::billing::plans::{self, PlanOptions};
use botctl::billing::{CreditRequest, Provider, credit};
use botctl::error::BadInput;
use botctl::locale::Locale;
use botctl::payments::yookassa::webhook::{self, Consumer, Sources};
use botctl::payments::yookassa::{
    Checkout, DEFAULT_RECEIPT_DESCRIPTION, OrderPayments, Payment, ReceiptSettings, new_payment,
};
use botctl::platform::alerts::Kind as AlertKind;
use botctl::platform::orders::{
    self, Buyer, CheckedBot, DraftChanges, Event, Facts, Kind, Lookup, NewOrder, Order, ProviderPayment, State,
    Transition, Unmatched,
};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::support::{token, unique_slug};
use crate::tenant::{BOT_A, BOT_B, Plane};

const RETURN_URL: &str = "https://t.me/botctl_sales_bot";

struct Shop {
    plane: Plane,
    emulator: Emulator,
    checkout: Checkout,
}

/// A control plane (with the seeded plans: `1m` is 299 RUB) and a YooKassa shop in the emulator.
fn shop() -> Shop {
    let plane = Plane::new();
    // The SQL list of alert kinds is the migrations' (the merge adds payment_unmatched to it beside the
    // order kinds); this test's own database takes every kind the code knows.
    let kinds: Vec<String> = AlertKind::ALL.iter().map(|k| format!("'{}'", k.as_str())).collect();
    block_on(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE botctl.alerts DROP CONSTRAINT alerts_kind_check, \
             ADD CONSTRAINT alerts_kind_check CHECK (kind IN ({}))",
            kinds.join(", ")
        )))
        .execute(&plane.pool),
    )
    .unwrap();
    let emulator = block_on(emulator());
    let checkout = Checkout { client: client(&emulator), return_url: RETURN_URL.parse().unwrap(), receipt: None };
    Shop { plane, emulator, checkout }
}

impl Shop {
    fn payments(&self) -> OrderPayments {
        OrderPayments::new(self.checkout.clone(), self.plane.pool.clone())
    }

    /// A purchase with everything chosen, still a draft.
    fn draft(&self, user: i64, bot: i64) -> Order {
        let new = NewOrder {
            buyer: Buyer { user_id: user, chat_id: user, language: Locale::Ru },
            kind: Kind::Purchase,
            tenant: None,
            plan: None,
        };
        let changes = DraftChanges {
            business_name: Some("Барбершоп".into()),
            tenant: Some(unique_slug().parse().unwrap()),
            bot: Some(CheckedBot { token: token(bot).parse().unwrap(), username: format!("bot{bot}_bot") }),
            template: Some("barbershop".into()),
            timezone: Some(chrono_tz::Europe::Moscow),
            plan: Some("1m".into()),
        };
        block_on(async {
            let mut conn = self.plane.pool.acquire().await?;
            let order = orders::create(&mut conn, &new, "test", Utc::now()).await?;
            orders::update_draft(&mut conn, order.id, &changes, Utc::now()).await
        })
        .unwrap()
    }

    fn request(&self, order: &Order) -> anyhow::Result<url::Url> {
        block_on(self.checkout.request(&self.plane.pool, order.id, "1m", Utc::now()))
    }

    fn order(&self, order: &Order) -> Order {
        block_on(async { orders::find(&mut *self.plane.pool.acquire().await?, Lookup::Id(order.id)).await })
            .unwrap()
            .unwrap()
    }

    fn check_now(&self, order: &Order) -> Order {
        block_on(self.checkout.check_now(&self.plane.pool, order.id, Utc::now())).unwrap()
    }

    /// How many times the order entered a state on `event`.
    fn events(&self, order: &Order, event: &str) -> usize {
        let history =
            block_on(async { orders::history(&mut *self.plane.pool.acquire().await?, order.id).await }).unwrap();
        history.iter().filter(|h| h.event == event).count()
    }

    fn count(&self, sql: &str) -> i64 {
        self.plane.f.scalar(sql)
    }

    /// Starts the listener with the orders as its consumer and points the shop's notifications at it.
    fn listen(&self, addr: &str, sources: Sources) -> Listening {
        let stop = CancellationToken::new();
        let consumer: Arc<dyn Consumer> = Arc::new(self.payments());
        let (addr, task) = block_on(webhook::listen(
            addr.parse().unwrap(),
            self.checkout.client.clone(),
            sources,
            consumer,
            stop.clone(),
        ))
        .unwrap();
        self.emulator.set_notification_url(SHOP, Some(format!("http://{addr}/").parse().unwrap())).unwrap();
        Listening { addr, stop, task }
    }

    fn wait(&self, done: impl Fn(&[Attempt]) -> bool) -> Vec<Attempt> {
        block_on(self.emulator.wait_attempts(done, WAIT)).unwrap()
    }
}

struct Listening {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Listening {
    /// Stops it and waits until its port is closed.
    fn kill(self) -> SocketAddr {
        self.stop.cancel();
        block_on(self.task).unwrap();
        self.addr
    }
}

fn loopback() -> Sources {
    Sources { allowed: vec!["127.0.0.1/32".parse().unwrap()], trusted_proxies: Vec::new() }
}

fn bad_input(err: &anyhow::Error) -> String {
    assert!(botctl::error::has::<BadInput>(err), "not a BadInput: {err:#}");
    format!("{err:#}")
}

fn payment_of(shop: &Shop, order: &Order) -> Payment {
    let id = shop.order(order).payment_id.unwrap();
    shop.emulator.payment(&id).unwrap()
}

#[test]
fn a_request_asks_one_payment_for_the_plan_and_a_retry_after_a_lost_answer_finds_it() {
    let shop = shop();
    let order = shop.draft(8101, BOT_A);
    shop.emulator.fail(Operation::CreatePayment, Failure::ServerError(503), 1);
    shop.emulator.fail(Operation::CreatePayment, Failure::LostAnswer, 1);

    let refused = shop.request(&order).unwrap_err();
    assert!(format!("{refused:#}").contains("retry with the same idempotence key"), "{refused:#}");
    assert!(shop.emulator.payments().is_empty(), "a 503 before anything is done makes nothing");
    let lost = shop.request(&order).unwrap_err();
    assert!(format!("{lost:#}").contains("HTTP 500"), "{lost:#}");
    assert_eq!(shop.emulator.payments().len(), 1, "YooKassa made the payment but its answer was lost");
    assert_eq!(shop.order(&order).state, State::Draft);

    let url = shop.request(&order).unwrap();
    let payments = shop.emulator.payments();
    assert_eq!(payments.len(), 1, "the retry found the same payment by its key");
    let payment = &payments[0];
    assert_eq!(payment.amount, rub(29_900));
    assert_eq!(payment.metadata, BTreeMap::from([("order".to_string(), order.reference.clone())]));
    assert_eq!(payment.confirmation_url(), Some(&url));
    let confirmation = payment.confirmation.as_ref().unwrap();
    assert_eq!(confirmation.return_url.as_ref().map(url::Url::as_str), Some(RETURN_URL));

    let awaiting = shop.order(&order);
    assert_eq!(awaiting.state, State::AwaitingPayment);
    assert_eq!(awaiting.payment_id.as_deref(), Some(payment.id.as_str()));
    assert_eq!(awaiting.amount, Some(rub(29_900)));
    assert_eq!(awaiting.provider, Some(Provider::Yookassa));
    assert_eq!(awaiting.idempotence_key, Some(order.payment_idempotence_key()));
    assert_eq!(awaiting.plan.as_deref(), Some("1m"));

    // A second tap: the same payment's page, nothing new asked.
    assert_eq!(shop.request(&order).unwrap(), url);
    assert_eq!(shop.emulator.payments().len(), 1);
    assert_eq!(shop.events(&order, "payment_requested"), 1);
    let other_plan = block_on(shop.checkout.request(&shop.plane.pool, order.id, "3m", Utc::now())).unwrap_err();
    assert!(bad_input(&other_plan).contains("already awaits the payment for plan `1m`"));
}

#[test]
fn a_request_sends_the_configured_receipt_which_yookassa_takes() {
    let mut shop = shop();
    shop.checkout.receipt = Some(ReceiptSettings {
        vat_code: VatCode::NO_VAT,
        tax_system_code: Some(2),
        description: DEFAULT_RECEIPT_DESCRIPTION.into(),
        customer: Customer { email: Some("receipts@example.com".into()), phone: None },
    });
    let order = shop.draft(8104, BOT_A);
    // The emulator refuses a receipt without a customer or whose lines do not add up to the amount.
    shop.request(&order).unwrap();
    assert_eq!(shop.emulator.payments().len(), 1);
    assert_eq!(shop.order(&order).state, State::AwaitingPayment);

    let plan = block_on(async { plans::require(&mut *shop.plane.pool.acquire().await?, "1m").await }).unwrap();
    let url = RETURN_URL.parse().unwrap();
    let sent = new_payment(&order, &plan, rub(29_900), &url, shop.checkout.receipt.as_ref()).unwrap();
    let receipt = sent.receipt.unwrap();
    assert_eq!(receipt.items[0].description, "Подписка на бота записи: 1 месяц, 30 дн.");
    assert_eq!((receipt.items[0].amount, receipt.items[0].quantity), (rub(29_900), 1));
    assert_eq!(receipt.tax_system_code, Some(2));
}

#[test]
fn a_payment_paid_before_its_answer_reached_botctl_pays_the_order_on_the_retry() {
    let shop = shop();
    let order = shop.draft(8105, BOT_A);
    shop.emulator.fail(Operation::CreatePayment, Failure::LostAnswer, 1);
    assert!(shop.request(&order).is_err());
    // The buyer somehow paid meanwhile (the page was reached another way); nobody told botctl.
    let made = shop.emulator.payments();
    shop.emulator.pay(&made[0].id).unwrap();
    let err = shop.request(&order).unwrap_err();
    assert!(bad_input(&err).contains("is succeeded already"), "{err:#}");
    let paid = shop.order(&order);
    assert_eq!((paid.state, paid.payment_id.as_deref()), (State::Paid, Some(made[0].id.as_str())));
    assert_eq!(shop.emulator.payments().len(), 1);
}

#[test]
fn a_plan_without_a_ruble_price_or_an_order_not_ready_asks_nothing_of_yookassa() {
    let shop = shop();
    block_on(async {
        let options = PlanOptions {
            code: "stars1m".into(),
            days: Some(30),
            prices: vec![Money::new(150, Currency::Xtr)],
            remove_prices: Vec::new(),
            name_ru: None,
            name_en: None,
        };
        plans::set(&mut *shop.plane.pool.acquire().await?, &options, "test").await
    })
    .unwrap();
    let order = shop.draft(8102, BOT_A);
    let err = block_on(shop.checkout.request(&shop.plane.pool, order.id, "stars1m", Utc::now())).unwrap_err();
    assert!(bad_input(&err).contains("no price in RUB"), "{err:#}");

    let bare = block_on(async {
        let new = NewOrder {
            buyer: Buyer { user_id: 8103, chat_id: 8103, language: Locale::En },
            kind: Kind::Purchase,
            tenant: None,
            plan: None,
        };
        orders::create(&mut *shop.plane.pool.acquire().await?, &new, "test", Utc::now()).await
    })
    .unwrap();
    let err = shop.request(&bare).unwrap_err();
    assert!(bad_input(&err).contains("has no business name"), "{err:#}");
    let trial = block_on(async {
        let new = NewOrder {
            buyer: Buyer { user_id: 8106, chat_id: 8106, language: Locale::En },
            kind: Kind::Trial,
            tenant: None,
            plan: None,
        };
        orders::create(&mut *shop.plane.pool.acquire().await?, &new, "test", Utc::now()).await
    })
    .unwrap();
    let err = shop.request(&trial).unwrap_err();
    assert!(bad_input(&err).contains("free trial: it takes no payment"), "{err:#}");
    let err = block_on(shop.checkout.request(&shop.plane.pool, 999_999, "1m", Utc::now())).unwrap_err();
    assert!(bad_input(&err).contains("there is no order 999999"));
    assert!(shop.emulator.payments().is_empty());
    assert_eq!(shop.order(&order).state, State::Draft);
}

#[test]
fn a_payment_is_paid_once_whatever_the_deliveries_and_the_checks() {
    let shop = shop();
    let listening = shop.listen("127.0.0.1:0", loopback());

    // Duplicated: three deliveries, one payment_succeeded; "I have paid" after changes nothing.
    let first = shop.draft(8111, BOT_A);
    shop.request(&first).unwrap();
    shop.emulator.duplicate_next_notification(2);
    shop.emulator.pay(&payment_of(&shop, &first).id).unwrap();
    shop.wait(|a| acknowledged(a) == 3);
    assert_eq!(shop.order(&first).state, State::Paid);
    assert_eq!(shop.check_now(&first).state, State::Paid);
    assert_eq!(shop.events(&first, "payment_succeeded"), 1);

    // Held and delivered in reverse after "I have paid" already paid it.
    let second = shop.draft(8112, BOT_B);
    shop.request(&second).unwrap();
    shop.emulator.hold_notifications();
    shop.emulator.duplicate_next_notification(1);
    shop.emulator.pay(&payment_of(&shop, &second).id).unwrap();
    let checked = shop.check_now(&second);
    assert_eq!((checked.state, checked.payment_id.clone()), (State::Paid, Some(payment_of(&shop, &second).id)));
    shop.emulator.release_notifications(Release::Reversed);
    shop.wait(|a| acknowledged(a) == 5);
    assert_eq!(shop.order(&second).state, State::Paid);
    assert_eq!(shop.events(&second, "payment_succeeded"), 1);
    assert_eq!(shop.count("SELECT count(*) FROM botctl.alerts"), 0, "nothing unmatched");
    listening.kill();
}

#[test]
fn a_notification_from_outside_the_networks_pays_nothing_and_the_check_still_does() {
    let shop = shop();
    let yookassa_only = Sources::default();
    let listening = shop.listen("127.0.0.1:0", yookassa_only);
    let order = shop.draft(8121, BOT_A);
    shop.request(&order).unwrap();
    shop.emulator.pay(&payment_of(&shop, &order).id).unwrap();
    let attempts = shop.wait(|a| !a.is_empty());
    assert_eq!(attempts[0].status, Some(403));
    assert_eq!(shop.order(&order).state, State::AwaitingPayment, "the refused notification changed nothing");
    assert_eq!(shop.check_now(&order).state, State::Paid, "the money is not lost: asking YooKassa finds it");
    listening.kill();
}

#[test]
fn a_payment_of_another_amount_is_not_the_orders_and_is_alerted_once() {
    let shop = shop();
    let listening = shop.listen("127.0.0.1:0", loopback());
    let order = shop.draft(8131, BOT_A);
    shop.request(&order).unwrap();
    // A payment naming the order, but for 1 RUB: someone else's doing, not the order's payment.
    let cheap = NewPayment {
        amount: rub(100),
        description: "not the order's".into(),
        return_url: RETURN_URL.parse().unwrap(),
        metadata: BTreeMap::from([("order".to_string(), order.reference.clone())]),
        receipt: None,
    };
    let cheap = block_on(shop.checkout.client.create_payment(&cheap, "cheap-1")).unwrap();
    shop.emulator.duplicate_next_notification(1);
    shop.emulator.pay(&cheap.id).unwrap();
    shop.wait(|a| acknowledged(a) == 2);
    assert_eq!(shop.order(&order).state, State::AwaitingPayment);
    assert_eq!(shop.events(&order, "payment_succeeded"), 0);
    let alerts = "SELECT count(*) FROM botctl.alerts WHERE kind = 'payment_unmatched'";
    assert_eq!(shop.count(alerts), 1, "one alert, however often it is delivered");
    let facts: String = shop.plane.f.scalar("SELECT facts::text FROM botctl.alerts WHERE kind = 'payment_unmatched'");
    assert!(facts.contains(&cheap.id) && facts.contains(&order.reference) && facts.contains("pays 1RUB"), "{facts}");

    // The order's own payment still pays it.
    shop.emulator.pay(&payment_of(&shop, &order).id).unwrap();
    shop.wait(|a| acknowledged(a) == 3);
    assert_eq!(shop.order(&order).state, State::Paid);
    assert_eq!(shop.count(alerts), 1);
    listening.kill();
}

#[test]
fn a_canceled_payment_cancels_its_order_with_yookassas_reason() {
    let shop = shop();
    let listening = shop.listen("127.0.0.1:0", loopback());
    let order = shop.draft(8141, BOT_A);
    shop.request(&order).unwrap();
    shop.emulator.cancel(&payment_of(&shop, &order).id, "payment_network", "insufficient_funds").unwrap();
    shop.wait(|a| acknowledged(a) == 1);
    let canceled = shop.order(&order);
    assert_eq!((canceled.state, canceled.reason.as_deref()), (State::Canceled, Some("insufficient_funds")));
    assert_eq!(shop.check_now(&order).state, State::Canceled);
    assert_eq!(shop.events(&order, "canceled"), 1);
    let err = shop.request(&order).unwrap_err();
    assert!(bad_input(&err).contains("is canceled"), "{err:#}");
    listening.kill();
}

#[test]
fn a_refund_is_taken_off_the_ledger_once() {
    let shop = shop();
    let listening = shop.listen("127.0.0.1:0", loopback());
    let order = shop.draft(8151, BOT_A);
    shop.request(&order).unwrap();
    let payment = payment_of(&shop, &order);
    shop.emulator.pay(&payment.id).unwrap();
    shop.wait(|a| acknowledged(a) == 1);
    // The payment credited to a tenant, as the order's fulfilment does.
    let tenant = shop.plane.f.create(BOT_B);
    let request = CreditRequest {
        tenant: tenant.clone(),
        payment: botctl::billing::Payment {
            provider: Provider::Yookassa,
            reference: payment.id.clone(),
            amount: rub(29_900),
            days: 30,
            plan: Some("1m".into()),
            note: None,
            raw: json!({}),
        },
    };
    block_on(credit(&shop.plane.pool, &request, "test", Utc::now())).unwrap();

    shop.emulator.duplicate_next_notification(1);
    block_on(shop.checkout.client.create_refund(&payment.id, rub(29_900), "refund-1")).unwrap();
    shop.wait(|a| acknowledged(a) == 3);
    let refunded =
        format!("SELECT count(*) FROM botctl.payments WHERE reference = '{}' AND state = 'refunded'", payment.id);
    assert_eq!(shop.count(&refunded), 1);
    assert_eq!(shop.count("SELECT count(*) FROM botctl.ledger WHERE kind = 'revocation'"), 1);
    listening.kill();
}

#[test]
fn a_listener_killed_before_it_answered_loses_nothing() {
    let shop = shop();
    shop.emulator.set_retry_schedule(vec![Duration::from_millis(200); 20]);
    let addr = shop.listen("127.0.0.1:0", loopback()).kill();

    // Paid while nobody listens: no 200, so YooKassa keeps delivering.
    let order = shop.draft(8161, BOT_A);
    shop.request(&order).unwrap();
    shop.emulator.pay(&payment_of(&shop, &order).id).unwrap();
    shop.wait(|a| a.len() >= 2);
    assert_eq!(shop.order(&order).state, State::AwaitingPayment);

    // "I have paid" first, then the daemon is back and the retry arrives: paid once.
    assert_eq!(shop.check_now(&order).state, State::Paid);
    let listening = shop.listen(&addr.to_string(), loopback());
    shop.wait(|a| acknowledged(a) == 1);
    assert_eq!(shop.events(&order, "payment_succeeded"), 1);

    // And with no check at all, the retry alone pays it.
    let later = shop.draft(8162, BOT_B);
    shop.request(&later).unwrap();
    let addr = listening.kill();
    let id = payment_of(&shop, &later).id;
    shop.emulator.pay(&id).unwrap();
    shop.wait(|a| a.iter().filter(|a| a.object_id == id).count() >= 2);
    let listening = shop.listen(&addr.to_string(), loopback());
    shop.wait(|a| acknowledged(a) == 2);
    assert_eq!(shop.order(&later).state, State::Paid);
    assert_eq!(shop.events(&later, "payment_succeeded"), 1);
    listening.kill();
}

#[test]
fn the_poller_check_pays_or_cancels_and_leaves_a_pending_payment_alone() {
    let shop = shop();
    let payments = shop.payments();
    let order = shop.draft(8171, BOT_A);
    shop.request(&order).unwrap();
    block_on(payments.check(&shop.order(&order))).unwrap();
    assert_eq!(shop.order(&order).state, State::AwaitingPayment, "still pending at YooKassa");
    shop.emulator.pay(&payment_of(&shop, &order).id).unwrap();
    block_on(payments.check(&shop.order(&order))).unwrap();
    assert_eq!(shop.order(&order).state, State::Paid);

    let other = shop.draft(8172, BOT_B);
    shop.request(&other).unwrap();
    shop.emulator.cancel(&payment_of(&shop, &other).id, "yoo_money", "expired_on_confirmation").unwrap();
    block_on(payments.check(&shop.order(&other))).unwrap();
    assert_eq!(shop.order(&other).reason.as_deref(), Some("expired_on_confirmation"));
}

#[test]
fn confirm_refuses_a_payment_for_no_order_another_amount_another_provider_or_an_order_over() {
    let shop = shop();
    let order = shop.draft(8181, BOT_A);
    shop.request(&order).unwrap();
    let confirm = |paid: &ProviderPayment| {
        block_on(async { orders::confirm(&mut *shop.plane.pool.acquire().await?, paid, "test", Utc::now()).await })
    };
    let unmatched = |paid: &ProviderPayment| {
        let err = confirm(paid).unwrap_err();
        err.downcast_ref::<Unmatched>().cloned().unwrap_or_else(|| panic!("not Unmatched: {err:#}"))
    };
    let paid = ProviderPayment {
        provider: Provider::Yookassa,
        payment_id: "pay-1".into(),
        amount: rub(29_900),
        reference: order.reference.clone(),
    };

    let nobody = ProviderPayment { reference: "zzzzzzzzzzzzzzzz".into(), ..paid.clone() };
    assert!(matches!(unmatched(&nobody), Unmatched::NoOrder { .. }));
    let cheap = ProviderPayment { amount: rub(100), ..paid.clone() };
    let refused = unmatched(&cheap);
    assert!(matches!(refused, Unmatched::Amount { .. }));
    assert!(refused.to_string().contains("pays 1RUB, but order"), "{refused}");
    let stars = ProviderPayment { provider: Provider::Stars, amount: Money::new(150, Currency::Xtr), ..paid.clone() };
    assert!(matches!(unmatched(&stars), Unmatched::Provider { .. }));
    assert_eq!(shop.order(&order).state, State::AwaitingPayment, "no refusal changed the order");

    // Canceled meanwhile: a payment arriving now is money for an order that is over.
    let cancel = Transition {
        order: order.id,
        from: State::AwaitingPayment,
        event: Event::Canceled,
        facts: Facts { reason: Some("buyer gave up".into()), ..Facts::default() },
        actor: "test".into(),
        at: Utc::now(),
    };
    block_on(async { orders::advance(&mut *shop.plane.pool.acquire().await?, &cancel).await }).unwrap();
    let over = unmatched(&paid);
    assert!(matches!(over, Unmatched::Over { state: State::Canceled, .. }), "{over}");
    assert!(over.to_string().contains("buyer gave up"), "{over}");
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

#[test]
fn platform_serve_hears_notifications_on_a_standby_too_and_a_busy_port_stops_it_at_startup() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let shop = shop();
    let f = &shop.plane.f;
    let api = shop.emulator.api_url().to_string();
    let log = |name: &str| f.sandbox.path().join(format!("{name}.log"));
    let daemon = |name: &str, listen: SocketAddr| {
        let mut command = f.process();
        command
            .args(["platform", "serve"])
            .env("BOTCTL_PLATFORM_LISTEN", free_port().to_string())
            .env("BOTCTL_BILLING_YOOKASSA_SHOP_ID", SHOP)
            .env("BOTCTL_BILLING_YOOKASSA_SECRET_KEY", SECRET)
            .env("BOTCTL_BILLING_YOOKASSA_API_URL", &api)
            .env("BOTCTL_BILLING_YOOKASSA_RETURN_URL", RETURN_URL)
            .env("BOTCTL_BILLING_YOOKASSA_LISTEN", listen.to_string())
            .env("BOTCTL_BILLING_YOOKASSA_ALLOWED_NETWORKS", "127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log(name)).unwrap());
        command
    };
    let listening = |addr: SocketAddr| std::net::TcpStream::connect(addr).is_ok();
    let (leader_hook, standby_hook) = (free_port(), free_port());
    let mut leader = daemon("leader", leader_hook).spawn().unwrap();
    assert!(f.eventually(|| listening(leader_hook)), "{}", std::fs::read_to_string(log("leader")).unwrap());
    let mut standby = daemon("standby", standby_hook).spawn().unwrap();
    assert!(f.eventually(|| listening(standby_hook)), "{}", std::fs::read_to_string(log("standby")).unwrap());

    // YooKassa's notifications reach the standby: it only writes what YooKassa confirms.
    shop.emulator.set_notification_url(SHOP, Some(format!("http://{standby_hook}/").parse().unwrap())).unwrap();
    let order = shop.draft(8191, BOT_A);
    shop.request(&order).unwrap();
    shop.emulator.pay(&payment_of(&shop, &order).id).unwrap();
    shop.wait(|a| acknowledged(a) == 1);
    assert_eq!(shop.order(&order).state, State::Paid);

    // A port taken by another process is a startup error that names it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap();
    let status = daemon("busy", busy).status().unwrap();
    assert!(!status.success());
    let said = std::fs::read_to_string(log("busy")).unwrap();
    assert!(said.contains(&format!("cannot listen for YooKassa notifications on {busy}")), "{said}");
    assert!(!said.contains(SECRET), "{said}");

    for child in [&mut leader, &mut standby] {
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0), "SIGTERM stops the daemon and its listener");
    }
    assert!(!listening(standby_hook), "the listener stopped with its daemon");
}
