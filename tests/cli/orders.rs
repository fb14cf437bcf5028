//! Sales orders against real PostgreSQL: a purchase walked from draft to done with one history row per
//! transition, a duplicate step that changes nothing, refused transitions, one trial per buyer, two
//! buyers racing for one name (one wins), history the database will not let anyone change, and the
//! resumer's scan finding stuck orders from a new pool, as after a restart.

use botctl::billing::{Currency, Money, Provider};
use botctl::error::BadInput;
use botctl::locale::Locale;
use botctl::platform::orders::{
    self, Buyer, CheckedBot, DraftChanges, Event, Facts, InvalidTransition, Kind, Lookup, NewOrder, Order, Outcome,
    State, Transition,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::support::{block_on, token, unique_slug};
use crate::tenant::{BOT_A, BOT_B, BOT_C, Plane};

/// An initialized control plane and a pool on it; `restart` replaces the pool, as a new daemon would.
struct Orders(Plane);

impl std::ops::Deref for Orders {
    type Target = Plane;

    fn deref(&self) -> &Plane {
        &self.0
    }
}

impl std::ops::DerefMut for Orders {
    fn deref_mut(&mut self) -> &mut Plane {
        &mut self.0
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 1, 12, 0, 0).unwrap()
}

fn minutes(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(n)
}

fn buyer(user_id: i64) -> Buyer {
    Buyer { user_id, chat_id: user_id, language: Locale::Ru }
}

fn bad_input(err: &anyhow::Error) -> String {
    assert!(botctl::error::has::<BadInput>(err), "not a BadInput: {err:#}");
    format!("{err:#}")
}

fn step(order: &Order, from: State, event: Event, facts: Facts, at: DateTime<Utc>) -> Transition {
    Transition { order: order.id, from, event, facts, actor: "test".into(), at }
}

fn payment_terms(order: &Order) -> Facts {
    Facts {
        plan: Some("1m".into()),
        amount: Some(Money::new(29_900, Currency::Rub)),
        provider: Some(Provider::Yookassa),
        idempotence_key: Some(order.payment_idempotence_key()),
        ..Facts::default()
    }
}

fn paid_with(payment_id: &str) -> Facts {
    Facts { payment_id: Some(payment_id.into()), ..Facts::default() }
}

impl Orders {
    fn new() -> Self {
        Self(Plane::new())
    }

    fn create(&self, kind: Kind, user: i64, tenant: Option<&str>, at: DateTime<Utc>) -> anyhow::Result<Order> {
        let new = NewOrder { buyer: buyer(user), kind, tenant: tenant.map(|t| t.parse().unwrap()), plan: None };
        block_on(async { orders::create(&mut *self.pool.acquire().await?, &new, "test", at).await })
    }

    fn update(&self, order: &Order, changes: DraftChanges, at: DateTime<Utc>) -> anyhow::Result<Order> {
        block_on(async { orders::update_draft(&mut *self.pool.acquire().await?, order.id, &changes, at).await })
    }

    fn advance(&self, step: &Transition) -> anyhow::Result<orders::Advanced> {
        block_on(async { orders::advance(&mut *self.pool.acquire().await?, step).await })
    }

    fn moved(&self, order: &Order, from: State, event: Event, facts: Facts, at: DateTime<Utc>) -> Order {
        let advanced = self.advance(&step(order, from, event, facts, at)).unwrap();
        assert_eq!(advanced.outcome, Outcome::Moved);
        advanced.order
    }

    fn find(&self, lookup: Lookup<'_>) -> Option<Order> {
        block_on(async { orders::find(&mut *self.pool.acquire().await?, lookup).await }).unwrap()
    }

    fn history(&self, order: &Order) -> Vec<orders::HistoryRow> {
        block_on(async { orders::history(&mut *self.pool.acquire().await?, order.id).await }).unwrap()
    }

    fn token(&self, order: &Order) -> Option<String> {
        block_on(async { orders::token(&mut *self.pool.acquire().await?, order.id).await })
            .unwrap()
            .map(|t| t.expose().to_string())
    }

    /// A new business's order with everything chosen, still a draft.
    fn ready_draft(&self, kind: Kind, user: i64, bot: i64, at: DateTime<Utc>) -> Order {
        let order = self.create(kind, user, None, at).unwrap();
        self.update(&order, setup(&unique_slug(), bot), at).unwrap()
    }

    fn sql(&self, sql: &str) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
        block_on(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&self.pool))
    }
}

fn checked(bot: i64) -> CheckedBot {
    CheckedBot { token: token(bot).parse().unwrap(), username: format!("bot{bot}_bot") }
}

fn setup(slug: &str, bot: i64) -> DraftChanges {
    DraftChanges {
        business_name: Some("Барбершоп «Борода»".into()),
        tenant: Some(slug.parse().unwrap()),
        bot: Some(checked(bot)),
        template: Some("barbershop".into()),
        timezone: Some(chrono_tz::Europe::Moscow),
        plan: Some("1m".into()),
    }
}

#[test]
fn a_purchase_walks_from_draft_to_done_with_one_history_row_per_state_and_its_token_dropped() {
    let o = Orders::new();
    let order = o.create(Kind::Purchase, 7001, None, t0()).unwrap();
    assert_eq!((order.state, order.kind), (State::Draft, Kind::Purchase));
    assert_eq!(order.reference.len(), 16);
    let slug = unique_slug();
    let order = o.update(&order, setup(&slug, BOT_A), minutes(1)).unwrap();
    assert_eq!(order.tenant.as_ref().map(|t| t.as_str()), Some(slug.as_str()));
    assert_eq!(order.bot.as_ref().map(|b| (b.id, b.username.as_str())), Some((BOT_A, "bot500000001_bot")));
    assert_eq!(order.timezone, Some(chrono_tz::Europe::Moscow));
    assert!(order.missing().is_empty());
    assert_eq!(o.token(&order), Some(token(BOT_A)), "the token waits apart for the provisioner");
    let stored: i64 = o.f.scalar(&format!(
        "SELECT count(*) FROM botctl.orders WHERE id = {} AND row(orders.*)::text LIKE '%AAHd%'",
        order.id
    ));
    assert_eq!(stored, 0, "the order row itself holds no token");

    let terms = payment_terms(&order);
    let order = o.moved(&order, State::Draft, Event::PaymentRequested, terms.clone(), minutes(2));
    assert_eq!(order.state, State::AwaitingPayment);
    assert_eq!(order.amount, Some(Money::new(29_900, Currency::Rub)));
    assert_eq!((order.provider, order.idempotence_key.clone()), (Some(Provider::Yookassa), terms.idempotence_key));
    let order = o.moved(&order, State::AwaitingPayment, Event::PaymentSucceeded, paid_with("yk-1"), minutes(3));
    assert_eq!((order.state, order.payment_id.as_deref()), (State::Paid, Some("yk-1")));
    let order = o.moved(&order, State::Paid, Event::Credited, Facts::default(), minutes(4));
    assert!(o.token(&order).is_some(), "the tenant is not made yet: the token is still needed");
    let order = o.moved(&order, State::Credited, Event::Provisioned, Facts::default(), minutes(5));
    assert_eq!(o.token(&order), None, "the tenant holds the token now");
    let order = o.moved(&order, State::Provisioned, Event::Delivered, Facts::default(), minutes(6));
    assert_eq!((order.state, order.updated_at, order.created_at), (State::Done, minutes(6), t0()));

    let history = o.history(&order);
    let walked: Vec<(Option<&str>, &str, &str, DateTime<Utc>)> =
        history.iter().map(|h| (h.from_state.as_deref(), h.to_state.as_str(), h.event.as_str(), h.at)).collect();
    assert_eq!(
        walked,
        [
            (None, "draft", "created", t0()),
            (Some("draft"), "awaiting_payment", "payment_requested", minutes(2)),
            (Some("awaiting_payment"), "paid", "payment_succeeded", minutes(3)),
            (Some("paid"), "credited", "credited", minutes(4)),
            (Some("credited"), "provisioned", "provisioned", minutes(5)),
            (Some("provisioned"), "done", "delivered", minutes(6)),
        ]
    );
    assert_eq!(history[1].facts["amount"]["minor"], 29_900);
    assert_eq!(history[2].facts["payment_id"], "yk-1");

    let by_reference = o.find(Lookup::Reference(&order.reference)).unwrap();
    assert_eq!((by_reference.id, by_reference.state), (order.id, State::Done));
    assert!(o.find(Lookup::Reference("zzzzzzzzzzzzzzzz")).is_none());
    let mine = block_on(async { orders::by_buyer(&mut *o.pool.acquire().await?, 7001).await }).unwrap();
    assert_eq!(mine.iter().map(|m| m.id).collect::<Vec<_>>(), [order.id]);
}

#[test]
fn a_second_advance_from_a_stale_state_changes_nothing_and_says_so() {
    let o = Orders::new();
    let order = o.ready_draft(Kind::Purchase, 7002, BOT_A, t0());
    let order = o.moved(&order, State::Draft, Event::PaymentRequested, payment_terms(&order), minutes(1));
    let paid = o.moved(&order, State::AwaitingPayment, Event::PaymentSucceeded, paid_with("yk-2"), minutes(2));
    let rows = o.history(&order).len();

    // The same notification again, later, as YooKassa retries and the poller re-fetches.
    let again =
        o.advance(&step(&order, State::AwaitingPayment, Event::PaymentSucceeded, paid_with("yk-2"), minutes(9)));
    let again = again.unwrap();
    assert_eq!(again.outcome, Outcome::NotInState);
    assert_eq!((again.order.state, again.order.updated_at), (State::Paid, paid.updated_at));
    assert_eq!(o.history(&order).len(), rows, "no history row for a step that did not happen");

    // Moved on further, an old step is still a no-op, not a jump back.
    o.moved(&order, State::Paid, Event::Credited, Facts::default(), minutes(3));
    let late = o.advance(&step(&order, State::Draft, Event::PaymentRequested, payment_terms(&order), minutes(10)));
    assert_eq!(late.unwrap().order.state, State::Credited);
}

#[test]
fn transitions_the_rules_refuse_change_nothing() {
    let o = Orders::new();
    let order = o.ready_draft(Kind::Purchase, 7003, BOT_A, t0());

    let err = o.advance(&step(&order, State::Draft, Event::Provisioned, Facts::default(), minutes(1))).unwrap_err();
    let invalid = err.downcast_ref::<InvalidTransition>().expect("names the refused transition");
    assert_eq!((invalid.from, invalid.event), (State::Draft, Event::Provisioned));

    let terms = Facts { payment_id: Some("yk-3".into()), ..payment_terms(&order) };
    let order = o.moved(&order, State::Draft, Event::PaymentRequested, terms, minutes(1));
    // A notification naming another payment than the one this order asked for moves nothing.
    let err = o.advance(&step(&order, State::AwaitingPayment, Event::PaymentSucceeded, paid_with("yk-x"), minutes(2)));
    assert!(bad_input(&err.unwrap_err()).contains("is paid by payment `yk-3`, not `yk-x`"));
    let order = o.moved(&order, State::AwaitingPayment, Event::PaymentSucceeded, paid_with("yk-3"), minutes(2));
    let cancel = Facts { reason: Some("buyer changed their mind".into()), ..Facts::default() };
    let err = o.advance(&step(&order, State::Paid, Event::Canceled, cancel, minutes(3))).unwrap_err();
    assert!(err.to_string().contains("never canceled"), "{err}");

    // A payment request without its terms, and Stars asked for rubles, are refused too.
    let other = o.ready_draft(Kind::Purchase, 7004, BOT_B, t0());
    let err = o.advance(&step(&other, State::Draft, Event::PaymentRequested, Facts::default(), minutes(1)));
    assert!(bad_input(&err.unwrap_err()).contains("provider, amount, plan and idempotence key"));
    let stars = Facts { provider: Some(Provider::Stars), ..payment_terms(&other) };
    let err = o.advance(&step(&other, State::Draft, Event::PaymentRequested, stars, minutes(1)));
    assert!(bad_input(&err.unwrap_err()).contains("stars takes XTR"));
    let cheap = Facts { amount: Some(Money::new(100, Currency::Rub)), ..payment_terms(&other) };
    let err = o.advance(&step(&other, State::Draft, Event::PaymentRequested, cheap, minutes(1)));
    assert!(bad_input(&err.unwrap_err()).contains("plan `1m` costs 299RUB, not 1RUB"));
    let stars = Facts {
        provider: Some(Provider::Stars),
        amount: Some(Money::new(150, Currency::Xtr)),
        ..payment_terms(&other)
    };
    let err = o.advance(&step(&other, State::Draft, Event::PaymentRequested, stars, minutes(1)));
    assert!(bad_input(&err.unwrap_err()).contains("not sold in XTR"), "Stars prices are the operator's to set");
    // An unfinished draft cannot ask for money.
    let bare = o.create(Kind::Purchase, 7005, None, t0()).unwrap();
    let err = o.advance(&step(&bare, State::Draft, Event::PaymentRequested, payment_terms(&bare), minutes(1)));
    assert!(bad_input(&err.unwrap_err()).contains("business name, tenant name, bot, template, time zone"));

    assert_eq!(o.find(Lookup::Id(order.id)).unwrap().state, State::Paid);
    assert_eq!(o.history(&order).len(), 3, "created, payment requested, paid: nothing from the refusals");
    assert_eq!(o.find(Lookup::Id(other.id)).unwrap().state, State::Draft);

    // A failure is allowed from a paid state, needs its reason, and drops the waiting token.
    let err = o.advance(&step(&order, State::Paid, Event::Failed, Facts::default(), minutes(4)));
    assert!(bad_input(&err.unwrap_err()).contains("needs its reason"));
    let failed = Facts { reason: Some("tenant creation failed".into()), ..Facts::default() };
    let order = o.moved(&order, State::Paid, Event::Failed, failed, minutes(4));
    assert_eq!((order.state, order.reason.as_deref()), (State::Failed, Some("tenant creation failed")));
    assert_eq!(o.token(&order), None);
}

#[test]
fn a_buyer_gets_one_trial_and_a_canceled_one_does_not_count() {
    let o = Orders::new();
    let first = o.create(Kind::Trial, 7010, None, t0()).unwrap();
    let err = o.create(Kind::Trial, 7010, None, minutes(1)).unwrap_err();
    assert!(bad_input(&err).contains("has had the free trial already"));
    // Another buyer, and a purchase by the same one, are not affected.
    o.create(Kind::Trial, 7011, None, minutes(1)).unwrap();
    o.create(Kind::Purchase, 7010, None, minutes(1)).unwrap();

    let cancel = Facts { reason: Some("buyer left".into()), ..Facts::default() };
    o.moved(&first, State::Draft, Event::Canceled, cancel, minutes(2));
    let again = o.create(Kind::Trial, 7010, None, minutes(3)).unwrap();

    // A trial walks draft → credited → provisioned → done, with no payment.
    let again = o.update(&again, setup(&unique_slug(), BOT_C), minutes(3)).unwrap();
    let err = o.advance(&step(&again, State::Draft, Event::PaymentRequested, payment_terms(&again), minutes(4)));
    assert!(err.unwrap_err().downcast_ref::<InvalidTransition>().is_some());
    let again = o.moved(&again, State::Draft, Event::Credited, Facts::default(), minutes(4));
    let again = o.moved(&again, State::Credited, Event::Provisioned, Facts::default(), minutes(5));
    let again = o.moved(&again, State::Provisioned, Event::Delivered, Facts::default(), minutes(6));
    assert_eq!((again.state, again.provider, again.amount), (State::Done, None, None));
    let err = o.create(Kind::Trial, 7010, None, minutes(7)).unwrap_err();
    assert!(bad_input(&err).contains("one trial per buyer"));
}

#[test]
fn two_buyers_racing_for_one_name_or_one_bot_one_wins_and_a_live_tenant_keeps_its_own() {
    let o = Orders::new();
    let a = o.create(Kind::Purchase, 7020, None, t0()).unwrap();
    let b = o.create(Kind::Purchase, 7021, None, t0()).unwrap();
    let slug = unique_slug();
    let claim = |order: &Order, bot: i64| {
        let changes = DraftChanges { business_name: Some("Nails".into()), ..setup(&slug, bot) };
        let pool = o.pool.clone();
        let id = order.id;
        async move { orders::update_draft(&mut *pool.acquire().await?, id, &changes, minutes(1)).await }
    };
    let (first, second) = block_on(async { tokio::join!(claim(&a, BOT_A), claim(&b, BOT_B)) });
    let (won, lost) = match (first, second) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        (first, second) => panic!("exactly one must win: {first:?} / {second:?}"),
    };
    assert!(bad_input(&lost).contains(&format!("the name `{slug}` is being taken by another buyer")));
    assert_eq!(won.tenant.as_ref().map(|t| t.as_str()), Some(slug.as_str()));
    let loser = if won.id == a.id { &b } else { &a };
    assert_eq!(o.find(Lookup::Id(loser.id)).unwrap().tenant, None, "the loser's draft is unchanged");
    assert_eq!(o.token(loser), None, "nor is its token kept");

    // One bot, two orders: refused the same way.
    let winner_bot = won.bot.as_ref().unwrap().id;
    let err = o.update(loser, DraftChanges { bot: Some(checked(winner_bot)), ..DraftChanges::default() }, minutes(2));
    assert!(bad_input(&err.unwrap_err()).contains("is already in another order"));

    // The winner gives up: the name is free again.
    let cancel = Facts { reason: Some("buyer left".into()), ..Facts::default() };
    o.moved(&won, State::Draft, Event::Canceled, cancel, minutes(3));
    o.update(loser, DraftChanges { tenant: Some(slug.parse().unwrap()), ..DraftChanges::default() }, minutes(4))
        .unwrap();

    // A live tenant's name and bot are its own.
    let live = unique_slug();
    o.sql(&format!(
        "INSERT INTO botctl.tenants (slug, display_name, bot_id, bot_username, token, admins, timezone, locale, \
         template, status) VALUES ('{live}', 'Live', {BOT_C}, 'c_bot', '{}', '{{1}}', 'Europe/Moscow', 'ru', \
         'clinic', 'stopped')",
        token(BOT_C)
    ))
    .unwrap();
    let c = o.create(Kind::Purchase, 7022, None, t0()).unwrap();
    let err = o.update(&c, DraftChanges { tenant: Some(live.parse().unwrap()), ..DraftChanges::default() }, minutes(5));
    assert!(bad_input(&err.unwrap_err()).contains("is taken"));
    let err = o.update(&c, DraftChanges { bot: Some(checked(BOT_C)), ..DraftChanges::default() }, minutes(5));
    assert!(bad_input(&err.unwrap_err()).contains(&format!("already serves tenant `{live}`")));
    // Its renewal needs no name of its own, and a renewal of nothing is refused.
    let renewal = o.create(Kind::Renewal, 7022, Some(&live), minutes(6)).unwrap();
    assert_eq!(renewal.tenant.as_ref().map(|t| t.as_str()), Some(live.as_str()));
    let err = o.update(
        &renewal,
        DraftChanges { tenant: Some(unique_slug().parse().unwrap()), ..DraftChanges::default() },
        minutes(6),
    );
    assert!(bad_input(&err.unwrap_err()).contains("a renewal keeps its tenant's name"));
    let renewal = o.moved(&renewal, State::Draft, Event::PaymentRequested, payment_terms(&renewal), minutes(7));
    let renewal = o.moved(&renewal, State::AwaitingPayment, Event::PaymentSucceeded, paid_with("yk-r"), minutes(8));
    let renewal = o.moved(&renewal, State::Paid, Event::Credited, Facts::default(), minutes(9));
    let renewal = o.moved(&renewal, State::Credited, Event::Delivered, Facts::default(), minutes(10));
    assert_eq!(renewal.state, State::Done, "a renewal provisions nothing: its tenant runs already");
    let err = o.create(Kind::Renewal, 7022, Some("no_such_tenant"), minutes(6)).unwrap_err();
    assert!(bad_input(&err).contains("no tenant `no_such_tenant`"));
}

#[test]
fn history_rows_cannot_be_updated_or_deleted() {
    let o = Orders::new();
    let order = o.ready_draft(Kind::Purchase, 7030, BOT_A, t0());
    o.moved(&order, State::Draft, Event::PaymentRequested, payment_terms(&order), minutes(1));
    let err = o.sql(&format!("UPDATE botctl.order_events SET actor = 'someone' WHERE order_id = {}", order.id));
    assert!(err.unwrap_err().to_string().contains("append-only: UPDATE refused"));
    let err = o.sql(&format!("DELETE FROM botctl.order_events WHERE order_id = {}", order.id));
    assert!(err.unwrap_err().to_string().contains("append-only: DELETE refused"));
    let actors: Vec<String> = o.history(&order).into_iter().map(|h| h.actor).collect();
    assert_eq!(actors, ["test", "test"]);
}

#[test]
fn pending_finds_the_orders_stuck_in_a_state_after_a_restart() {
    let mut o = Orders::new();
    let order = |user, bot| o.ready_draft(Kind::Purchase, user, bot, t0());
    let (waiting, paid, credited) = (order(7040, BOT_A), order(7041, BOT_B), order(7042, BOT_C));
    for (i, (ord, pay)) in [(&waiting, "yk-w"), (&paid, "yk-p"), (&credited, "yk-c")].into_iter().enumerate() {
        let at = minutes(i as i64);
        o.moved(ord, State::Draft, Event::PaymentRequested, payment_terms(ord), at);
        if ord.id != waiting.id {
            o.moved(ord, State::AwaitingPayment, Event::PaymentSucceeded, paid_with(pay), at + TimeDelta::seconds(10));
        }
    }
    o.moved(&credited, State::Paid, Event::Credited, Facts::default(), minutes(30));
    let fresh = order(7043, 500_000_004);
    o.moved(&fresh, State::Draft, Event::PaymentRequested, payment_terms(&fresh), minutes(59));

    o.restart();
    let pending = |states: &[State], older_than| {
        let found = block_on(async { orders::pending(&mut *o.pool.acquire().await?, states, older_than).await });
        found.unwrap().into_iter().map(|p| (p.id, p.state)).collect::<Vec<_>>()
    };
    assert_eq!(
        pending(&[State::Paid, State::Credited], minutes(60)),
        [(paid.id, State::Paid), (credited.id, State::Credited)],
        "oldest first"
    );
    assert_eq!(pending(&[State::Paid, State::Credited], minutes(20)), [(paid.id, State::Paid)]);
    assert_eq!(
        pending(&[State::AwaitingPayment], minutes(60)),
        [(waiting.id, State::AwaitingPayment), (fresh.id, State::AwaitingPayment)]
    );
    assert_eq!(pending(&[State::AwaitingPayment], minutes(30)), [(waiting.id, State::AwaitingPayment)]);
    assert!(pending(&[State::Provisioned], minutes(60)).is_empty());
}
