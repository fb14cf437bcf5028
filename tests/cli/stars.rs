//! Telegram Stars for orders against real PostgreSQL and the Bot API emulator: the invoice at the plan's
//! whole-Star price with the order awaiting it, the pre-checkout check (a price changed since → refused
//! with the reason), `successful_payment` taking the order to paid once, and a payment of another sum
//! named as unmatched. The test plays the sales bot's side of the wire itself.

use std::cell::Cell;

use botctl::billing::{Currency, Money, Provider};
use botctl::locale::Locale;
use botctl::payments::stars::{self, Invoice, StarsPayment};
use botctl::platform::orders::{self, Buyer, Kind, Lookup, NewOrder, Order, State, Unmatched};
use botctl::telegram::emulator::TgUser;
use chrono::Utc;
use serde_json::{Value, json};

use crate::support::{block_on, token};
use crate::tenant::{BOT_A, Plane};

/// The sales bot buyers pay in Stars.
pub const SALES_BOT: i64 = 500_000_090;

/// A control plane with a tenant whose renewals are sold, plan `1m` priced at 150 Stars, and the sales
/// bot in the emulator, whose wire this harness speaks.
pub struct Shop {
    pub plane: Plane,
    pub tenant: String,
    pub sales_token: String,
    http: reqwest::Client,
    offset: Cell<i64>,
}

impl Shop {
    pub fn new() -> Self {
        let plane = Plane::new();
        let sales_token = token(SALES_BOT);
        plane.f.emulator.add_bot(&sales_token, SALES_BOT, "botctl_sales_bot");
        let tenant = plane.f.create(BOT_A);
        plane.f.botctl().args(["billing", "plan", "set", "1m", "--price", "150XTR"]).assert().success();
        Self { plane, tenant, sales_token, http: reqwest::Client::new(), offset: Cell::new(0) }
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.plane.pool
    }

    /// A renewal of the shop's tenant by Telegram user `user`, as a draft.
    pub fn order(&self, user: i64) -> Order {
        let new = NewOrder {
            buyer: Buyer { user_id: user, chat_id: user, language: Locale::En },
            kind: Kind::Renewal,
            tenant: Some(self.tenant.parse().unwrap()),
            plan: None,
        };
        block_on(async { orders::create(&mut *self.pool().acquire().await?, &new, "test", Utc::now()).await }).unwrap()
    }

    pub fn find(&self, order: &Order) -> Order {
        block_on(async { orders::find(&mut *self.pool().acquire().await?, Lookup::Id(order.id)).await })
            .unwrap()
            .unwrap()
    }

    pub fn request(&self, order: &Order, plan: &str) -> anyhow::Result<Invoice> {
        block_on(stars::request(self.pool(), order.id, plan, Utc::now()))
    }

    /// A Bot API call as the sales bot: the answer's whole JSON.
    pub fn call(&self, method: &str, body: Value) -> Value {
        let url = format!("{}bot{}/{method}", self.plane.f.api, self.sales_token);
        block_on(async { self.http.post(url).json(&body).send().await?.json::<Value>().await }).unwrap()
    }

    fn control(&self, path: &str, body: Value) -> Value {
        let url = format!("{}_emulator/{}/{path}", self.plane.f.api, self.sales_token);
        block_on(async { self.http.post(url).json(&body).send().await?.json::<Value>().await }).unwrap()
    }

    /// The next update of `kind` the sales bot receives, confirming those before it.
    fn next_update(&self, kind: &str) -> Value {
        for _ in 0..20 {
            let got = self.call("getUpdates", json!({"offset": self.offset.get(), "timeout": 1}));
            for update in got["result"].as_array().cloned().unwrap_or_default() {
                self.offset.set(update["update_id"].as_i64().unwrap() + 1);
                if let Some(body) = update.get(kind) {
                    return body.clone();
                }
            }
        }
        panic!("no {kind} update came");
    }

    /// Sends the invoice to `user` as the sales bot does (`sendInvoice`, XTR, no provider token, one
    /// price); returns its message id.
    pub fn send_invoice(&self, user: &TgUser, invoice: &Invoice) -> i64 {
        self.plane.f.emulator.open_chat(&self.sales_token, user);
        let sent = self.call(
            "sendInvoice",
            json!({
                "chat_id": user.id,
                "title": invoice.title,
                "description": invoice.description,
                "payload": invoice.payload,
                "currency": "XTR",
                "prices": [{"label": invoice.label, "amount": invoice.stars}],
            }),
        );
        assert_eq!(sent["ok"], true, "{sent}");
        sent["result"]["message_id"].as_i64().unwrap()
    }

    /// The buyer presses Pay: the pre-checkout query the bot gets, checked by `stars::pre_checkout` and
    /// answered with its verdict. `Ok` carries the `successful_payment` that follows.
    pub fn pay(&self, user: &TgUser, message_id: i64) -> Result<StarsPayment, String> {
        let asked = self.control("payments", json!({"user": user, "message_id": message_id}));
        let query_id = asked["pre_checkout_query_id"].as_str().unwrap().to_string();
        let query = self.next_update("pre_checkout_query");
        assert_eq!(query["id"], query_id.as_str());
        let verdict = block_on(stars::pre_checkout(
            self.pool(),
            query["invoice_payload"].as_str().unwrap(),
            query["currency"].as_str().unwrap(),
            u32::try_from(query["total_amount"].as_u64().unwrap()).unwrap(),
            Utc::now(),
        ));
        let answer = match &verdict {
            Ok(()) => json!({"pre_checkout_query_id": query_id, "ok": true}),
            Err(reason) => json!({"pre_checkout_query_id": query_id, "ok": false, "error_message": reason}),
        };
        assert_eq!(self.call("answerPreCheckoutQuery", answer)["ok"], true);
        verdict?;
        let message = self.next_update("message");
        let paid = &message["successful_payment"];
        Ok(StarsPayment {
            charge_id: paid["telegram_payment_charge_id"].as_str().unwrap().to_string(),
            payload: paid["invoice_payload"].as_str().unwrap().to_string(),
            currency: paid["currency"].as_str().unwrap().to_string(),
            total_amount: u32::try_from(paid["total_amount"].as_u64().unwrap()).unwrap(),
        })
    }

    pub fn paid(&self, payment: &StarsPayment) -> anyhow::Result<Order> {
        block_on(stars::paid(self.pool(), payment, Utc::now()))
    }

    /// A renewal requested, invoiced and paid in Stars by `user`, taken to its order: the order and the charge.
    pub fn bought(&self, user: &TgUser) -> (Order, StarsPayment) {
        let order = self.order(user.id);
        let invoice = self.request(&order, "1m").unwrap();
        let message = self.send_invoice(user, &invoice);
        let payment = self.pay(user, message).unwrap();
        (self.paid(&payment).unwrap(), payment)
    }
}

fn xtr(stars: i64) -> Option<Money> {
    Some(Money::new(stars, Currency::Xtr))
}

#[test]
fn an_invoice_asks_the_plans_whole_star_price_and_the_order_awaits_it() {
    let shop = Shop::new();
    let order = shop.order(7001);
    let invoice = shop.request(&order, "1m").unwrap();
    assert_eq!(invoice.stars, 150, "whole Stars, never ×100");
    assert_eq!(invoice.payload, order.reference);
    assert!(!invoice.title.is_empty() && invoice.title.chars().count() <= 32, "{invoice:?}");
    assert!(invoice.description.contains("30 days"), "{invoice:?}");
    let awaiting = shop.find(&order);
    assert_eq!(awaiting.state, State::AwaitingPayment);
    assert_eq!(
        (awaiting.provider, awaiting.amount, awaiting.plan.as_deref()),
        (Some(Provider::Stars), xtr(150), Some("1m"))
    );
    assert_eq!(awaiting.payment_id, None, "a Stars payment has no id until it succeeds");
    assert_eq!(awaiting.idempotence_key, Some(order.payment_idempotence_key()));

    // Asked again (a double tap, a resumed bot): the same invoice, and the order moved once.
    assert_eq!(shop.request(&order, "1m").unwrap(), invoice);
    let history = block_on(async { orders::history(&mut *shop.pool().acquire().await?, order.id).await }).unwrap();
    assert_eq!(history.iter().filter(|h| h.event == "payment_requested").count(), 1);

    // The emulator takes it as Telegram would: XTR, one price, no provider token.
    let user = TgUser::new(7001, "Ann");
    let message = shop.send_invoice(&user, &invoice);
    let chat = shop.plane.f.emulator.chat(&shop.sales_token, 7001);
    let shown = chat.iter().find(|m| m.message_id == message).and_then(|m| m.invoice.clone()).unwrap();
    assert_eq!((shown.currency.as_str(), shown.total_amount), ("XTR", 150));
}

#[test]
fn a_plan_without_a_stars_price_or_an_order_past_its_draft_is_refused_clearly() {
    let shop = Shop::new();
    let order = shop.order(7002);
    let err = shop.request(&order, "3m").unwrap_err();
    assert!(botctl::error::has::<botctl::error::BadInput>(&err), "{err:#}");
    assert!(format!("{err:#}").contains("no price in Telegram Stars"), "{err:#}");
    assert_eq!(shop.find(&order).state, State::Draft, "nothing moved");
    let err = shop.request(&order, "nope").unwrap_err();
    assert!(format!("{err:#}").contains("nope"), "{err:#}");
    shop.request(&order, "1m").unwrap();
    // Awaiting Stars for 1m, it is not re-priced for another plan.
    shop.plane.f.botctl().args(["billing", "plan", "set", "3m", "--price", "400XTR"]).assert().success();
    let err = shop.request(&order, "3m").unwrap_err();
    assert!(format!("{err:#}").contains("only from a draft"), "{err:#}");
}

#[test]
fn a_paid_invoice_pays_its_order_once() {
    let shop = Shop::new();
    let user = TgUser::new(7003, "Bob");
    let order = shop.order(user.id);
    let invoice = shop.request(&order, "1m").unwrap();
    let message = shop.send_invoice(&user, &invoice);
    let payment = shop.pay(&user, message).unwrap();
    assert_eq!((payment.currency.as_str(), payment.total_amount), ("XTR", 150));
    let paid = shop.paid(&payment).unwrap();
    assert_eq!(paid.state, State::Paid);
    assert_eq!(paid.payment_id.as_deref(), Some(payment.charge_id.as_str()));

    // The same successful_payment again (a redelivered update): nothing changes.
    let again = shop.paid(&payment).unwrap();
    assert_eq!((again.state, again.updated_at), (State::Paid, paid.updated_at));
    let history = block_on(async { orders::history(&mut *shop.pool().acquire().await?, order.id).await }).unwrap();
    assert_eq!(history.iter().filter(|h| h.event == "payment_succeeded").count(), 1);
    assert_eq!(history.last().unwrap().actor, "stars");
}

#[test]
fn a_price_changed_since_the_invoice_is_refused_at_checkout_with_the_reason() {
    let shop = Shop::new();
    let user = TgUser::new(7004, "Cat");
    let order = shop.order(user.id);
    let invoice = shop.request(&order, "1m").unwrap();
    let message = shop.send_invoice(&user, &invoice);
    shop.plane.f.botctl().args(["billing", "plan", "set", "1m", "--price", "200XTR"]).assert().success();
    let refused = shop.pay(&user, message).unwrap_err();
    assert!(refused.contains("price") && refused.contains("200"), "{refused}");
    // The buyer saw that reason, and no money moved: the order still awaits, unpaid.
    let chat = shop.plane.f.emulator.chat(&shop.sales_token, user.id);
    assert!(chat.iter().all(|m| m.successful_payment.is_none()));
    assert_eq!(shop.find(&order).state, State::AwaitingPayment);

    // Other checks: the wrong currency or sum, an unknown order.
    let check = |payload: &str, currency: &str, total: u32| {
        block_on(stars::pre_checkout(shop.pool(), payload, currency, total, Utc::now()))
    };
    shop.plane.f.botctl().args(["billing", "plan", "set", "1m", "--price", "150XTR"]).assert().success();
    assert_eq!(check(&order.reference, "XTR", 150), Ok(()));
    assert!(check(&order.reference, "RUB", 150).unwrap_err().contains("Stars only"));
    assert!(check(&order.reference, "XTR", 15_000).unwrap_err().contains("150"));
    assert!(check("zzzzzzzzzzzzzzzz", "XTR", 150).unwrap_err().contains("not found"));
}

#[test]
fn a_payment_of_another_sum_is_unmatched_and_moves_nothing() {
    let shop = Shop::new();
    let order = shop.order(7005);
    shop.request(&order, "1m").unwrap();
    let wrong = StarsPayment {
        charge_id: "stxWrongAmount0001".into(),
        payload: order.reference.clone(),
        currency: "XTR".into(),
        total_amount: 149,
    };
    let err = shop.paid(&wrong).unwrap_err();
    let unmatched = err.downcast_ref::<Unmatched>().unwrap();
    assert!(matches!(unmatched, Unmatched::Amount { .. }), "{unmatched:?}");
    assert!(err.to_string().contains("149XTR") && err.to_string().contains("150XTR"), "{err}");
    assert_eq!(shop.find(&order).state, State::AwaitingPayment);
    let nowhere = StarsPayment { payload: "zzzzzzzzzzzzzzzz".into(), ..wrong };
    let err = shop.paid(&nowhere).unwrap_err();
    assert!(matches!(err.downcast_ref::<Unmatched>(), Some(Unmatched::NoOrder { .. })), "{err:#}");
}
