//! Telegram Stars payments in the emulator: `sendInvoice`, the buyer paying it (a `pre_checkout_query`
//! the bot must answer in time), the `successful_payment` that follows, and `refundStarPayment`.
//!
//! Telegram's wording is kept where it is known; error texts Telegram does not document are marked
//! UNCONFIRMED where they are made.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::TgUser;
use super::api_error::ApiError;
use super::params::{self, Params};
use super::state::{BotState, Content, State};

/// How long Telegram waits for `answerPreCheckoutQuery` before the payment fails.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// The currency of Telegram Stars, whose amounts are whole Stars.
pub const STARS: &str = "XTR";

/// An invoice as the bot sent it; `total_amount` is in the currency's minor units (whole Stars for XTR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    pub title: String,
    pub description: String,
    pub payload: String,
    pub currency: String,
    pub total_amount: u32,
}

/// A completed payment, as `successful_payment` (and later `refunded_payment`) report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StarPayment {
    pub currency: String,
    pub total_amount: u32,
    pub invoice_payload: String,
    pub telegram_payment_charge_id: String,
    pub provider_payment_charge_id: String,
}

/// Where a buyer's payment stands after the emulator asked the bot with a `pre_checkout_query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CheckoutOutcome {
    /// Asked; the bot has not answered and its time is not up.
    Waiting,
    /// The bot said ok: the money moved and a `successful_payment` message went to the bot.
    Paid { telegram_payment_charge_id: String },
    /// The bot said not ok; the buyer sees `error_message`.
    Declined { error_message: Option<String> },
    /// No answer within the checkout timeout: the payment failed, as on Telegram.
    TimedOut,
}

/// Why the emulator would not let a buyer pay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRefused {
    #[error("no bot is registered in the emulator with this token")]
    UnknownBot,
    #[error("message {0} of this chat is not an invoice the bot sent")]
    NoInvoice(i64),
    /// An invoice message is paid once; a bot that wants more money sends another.
    #[error("the invoice in message {0} is paid already")]
    AlreadyPaid(i64),
}

/// A pre-checkout query the emulator asked; keyed by its id in `State::checkouts`.
pub(super) struct Checkout {
    pub bot_id: i64,
    pub user: TgUser,
    /// The invoice's message in the user's chat.
    pub message_id: i64,
    pub invoice: Invoice,
    pub asked: Instant,
    pub outcome: CheckoutOutcome,
}

impl Checkout {
    /// The outcome now: a query left unanswered past `timeout` has failed even if nobody looked.
    pub fn outcome(&self, timeout: Duration) -> CheckoutOutcome {
        match self.outcome {
            CheckoutOutcome::Waiting if self.asked.elapsed() >= timeout => CheckoutOutcome::TimedOut,
            ref outcome => outcome.clone(),
        }
    }
}

/// A charge that can be refunded once; keyed by `telegram_payment_charge_id` in `State::charges`.
pub(super) struct Charge {
    pub bot_id: i64,
    pub user_id: i64,
    pub payment: StarPayment,
    pub refunded: bool,
}

/// Payment state of the whole emulator: query and charge ids are global on Telegram.
#[derive(Default)]
pub(super) struct Payments {
    pub checkouts: HashMap<String, Checkout>,
    pub charges: HashMap<String, Charge>,
    /// Every Stars payment and refund in order, by bot id, as `getStarTransactions` lists them.
    transactions: Vec<(i64, Value)>,
    next_id: u64,
    /// `None` means Telegram's own 10 s; tests shorten it to see a timeout without waiting that long.
    pub timeout: Option<Duration>,
}

impl Payments {
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(CHECKOUT_TIMEOUT)
    }

    /// Where pre-checkout query `query_id` stands now, and when it times out if unanswered.
    pub fn checkout(&self, query_id: &str) -> Option<(CheckoutOutcome, Instant)> {
        let checkout = self.checkouts.get(query_id)?;
        Some((checkout.outcome(self.timeout()), checkout.asked + self.timeout()))
    }

    /// A Stars payment (`incoming`) or its refund, as a `StarTransaction` of the bot's.
    fn record(&mut self, bot_id: i64, user: &TgUser, payment: &StarPayment, incoming: bool) {
        if payment.currency != STARS {
            return;
        }
        let partner = json!({
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": super::state::user_json(user),
            "invoice_payload": payment.invoice_payload,
        });
        let mut transaction = json!({
            // A refund repeats the id of the payment it returns.
            "id": payment.telegram_payment_charge_id,
            "amount": payment.total_amount,
            "date": super::state::now(),
        });
        transaction[if incoming { "source" } else { "receiver" }] = partner;
        self.transactions.push((bot_id, transaction));
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

pub(super) fn send_invoice(bot: &mut BotState, p: &Params) -> Result<Value, ApiError> {
    let invoice = read_invoice(p)?;
    let markup = super::markup::reply_markup(p, true)?;
    let chat = super::methods::writable_chat(bot, p)?;
    let message_id = chat.push(true, Content::Invoice(invoice), markup);
    Ok(super::methods::rendered(bot, p, message_id))
}

fn read_invoice(p: &Params) -> Result<Invoice, ApiError> {
    let field = |key: &str, max: usize| -> Result<String, ApiError> {
        let value = params::text(p, key).unwrap_or_default();
        // UNCONFIRMED: Telegram's exact texts for these; the limits are the Bot API's.
        if value.is_empty() || value.chars().count() > max {
            return Err(ApiError::bad_request(format!("Bad Request: invoice {key} is invalid")));
        }
        Ok(value)
    };
    let title = field("title", 32)?;
    let description = field("description", 255)?;
    let payload = params::text(p, "payload").unwrap_or_default();
    if payload.is_empty() || payload.len() > 128 {
        return Err(ApiError::bad_request("Bad Request: INVOICE_PAYLOAD_INVALID"));
    }
    let currency = params::text(p, "currency").unwrap_or_default();
    let provider_token = params::text(p, "provider_token").unwrap_or_default();
    // Stars take no provider token; any other currency needs one (a wrong one is this same error).
    if (currency == STARS) != provider_token.is_empty() {
        return Err(ApiError::bad_request("Bad Request: PAYMENT_PROVIDER_INVALID"));
    }
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::bad_request("Bad Request: CURRENCY_INVALID"));
    }
    let prices = params::object(p, "prices")?.and_then(|v| v.as_array().cloned()).unwrap_or_default();
    let amounts: Option<Vec<u32>> = prices
        .iter()
        .map(|price| {
            let label_ok = price.get("label").and_then(Value::as_str).is_some_and(|l| !l.is_empty());
            let amount = price.get("amount").and_then(Value::as_u64).and_then(|a| u32::try_from(a).ok());
            amount.filter(|a| label_ok && *a > 0)
        })
        .collect();
    let amounts = amounts.filter(|a| !a.is_empty() && (currency != STARS || a.len() == 1));
    let total = amounts.and_then(|a| a.into_iter().try_fold(0u32, u32::checked_add));
    // UNCONFIRMED: the text for a bad price list; Stars invoices must have exactly one price.
    let total_amount = total.ok_or_else(|| ApiError::bad_request("Bad Request: prices are invalid"))?;
    Ok(Invoice { title, description, payload, currency, total_amount })
}

impl State {
    /// The buyer presses Pay on invoice `message_id`: the bot gets a `pre_checkout_query`. Returns its id.
    pub fn pay_invoice(&mut self, token: &str, user: &TgUser, message_id: i64) -> Result<String, PaymentRefused> {
        let bot = self.bots.get_mut(token).ok_or(PaymentRefused::UnknownBot)?;
        let message = bot.chats.get(&user.id).and_then(|c| c.message(message_id)).filter(|m| m.from_bot && !m.deleted);
        let Some(Content::Invoice(invoice)) = message.map(|m| &m.content) else {
            return Err(PaymentRefused::NoInvoice(message_id));
        };
        let invoice = invoice.clone();
        let (bot_id, checkouts) = (bot.id, &self.payments.checkouts);
        let paid = checkouts.values().any(|c| {
            (c.bot_id, c.user.id, c.message_id) == (bot_id, user.id, message_id)
                && matches!(c.outcome, CheckoutOutcome::Paid { .. })
        });
        if paid {
            return Err(PaymentRefused::AlreadyPaid(message_id));
        }
        let query_id = format!("{}", 4_000_000_000_000_000_000u64 + self.payments.next_id());
        bot.blocked.remove(&user.id);
        bot.chat_for(user);
        let body = json!({
            "id": query_id,
            "from": super::state::user_json(user),
            "currency": invoice.currency,
            "total_amount": invoice.total_amount,
            "invoice_payload": invoice.payload,
        });
        bot.push_update("pre_checkout_query", body);
        let checkout = Checkout {
            bot_id: bot.id,
            user: user.clone(),
            message_id,
            invoice,
            asked: Instant::now(),
            outcome: CheckoutOutcome::Waiting,
        };
        self.payments.checkouts.insert(query_id.clone(), checkout);
        Ok(query_id)
    }
}

pub(super) fn answer_pre_checkout_query(state: &mut State, token: &str, p: &Params) -> Result<Value, ApiError> {
    let State { bots, payments, .. } = state;
    let bot = bots.get_mut(token).ok_or_else(ApiError::unauthorized)?;
    let query_id = params::text(p, "pre_checkout_query_id").unwrap_or_default();
    let timeout = payments.timeout();
    let too_old =
        || ApiError::bad_request("Bad Request: query is too old and response timeout expired or query id is invalid");
    let checkout = payments.checkouts.get_mut(&query_id).filter(|c| c.bot_id == bot.id).ok_or_else(too_old)?;
    match checkout.outcome(timeout) {
        CheckoutOutcome::Waiting => {}
        CheckoutOutcome::TimedOut => {
            checkout.outcome = CheckoutOutcome::TimedOut;
            return Err(too_old());
        }
        _ => return Err(too_old()),
    }
    let error_message = params::text(p, "error_message").filter(|m| !m.is_empty());
    if !params::flag(p, "ok") {
        checkout.outcome = CheckoutOutcome::Declined { error_message };
        return Ok(json!(true));
    }
    let charge_id = format!("stxEmu{:024}", payments.next_id());
    let Some(checkout) = payments.checkouts.get_mut(&query_id) else { return Err(too_old()) };
    let invoice = &checkout.invoice;
    let payment = StarPayment {
        currency: invoice.currency.clone(),
        total_amount: invoice.total_amount,
        invoice_payload: invoice.payload.clone(),
        telegram_payment_charge_id: charge_id.clone(),
        // UNCONFIRMED: what Telegram puts here for Stars; kept distinct from the Telegram id so that a
        // bot keying on the wrong one is caught.
        provider_payment_charge_id: format!("emu-provider-{charge_id}"),
    };
    checkout.outcome = CheckoutOutcome::Paid { telegram_payment_charge_id: charge_id.clone() };
    let user = checkout.user.clone();
    bot.user_message(&user, Content::SuccessfulPayment(payment.clone()));
    payments.record(bot.id, &user, &payment, true);
    payments.charges.insert(charge_id, Charge { bot_id: bot.id, user_id: user.id, payment, refunded: false });
    Ok(json!(true))
}

pub(super) fn refund_star_payment(state: &mut State, token: &str, p: &Params) -> Result<Value, ApiError> {
    let State { bots, payments, .. } = state;
    let bot = bots.get_mut(token).ok_or_else(ApiError::unauthorized)?;
    let user_id = params::required_integer(p, "user_id")?;
    let charge_id = params::text(p, "telegram_payment_charge_id").unwrap_or_default();
    let charge = payments
        .charges
        .get_mut(&charge_id)
        .filter(|c| c.bot_id == bot.id && c.user_id == user_id)
        // UNCONFIRMED: Telegram's text for a charge it does not know.
        .ok_or_else(|| ApiError::bad_request("Bad Request: CHARGE_NOT_FOUND"))?;
    if charge.refunded {
        return Err(ApiError::bad_request("Bad Request: CHARGE_ALREADY_REFUNDED"));
    }
    charge.refunded = true;
    let payment = charge.payment.clone();
    if let Some(user) = bot.chats.get(&user_id).map(|c| c.user.clone()) {
        payments.record(bot.id, &user, &payment, false);
        // Telegram follows a refund with a `refunded_payment` service message in the buyer's chat.
        bot.user_message(&user, Content::RefundedPayment(payment));
    }
    Ok(json!(true))
}

/// `getStarTransactions(offset, limit)`: the bot's Stars payments and refunds, oldest first.
pub(super) fn get_star_transactions(state: &State, token: &str, p: &Params) -> Result<Value, ApiError> {
    let bot = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
    let offset = usize::try_from(params::integer(p, "offset")?.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
    let limit = usize::try_from(params::integer(p, "limit")?.unwrap_or(100).clamp(1, 100)).unwrap_or(100);
    let own = state.payments.transactions.iter().filter(|(bot_id, _)| *bot_id == bot.id);
    let transactions: Vec<Value> = own.skip(offset).take(limit).map(|(_, t)| t.clone()).collect();
    Ok(json!({ "transactions": transactions }))
}

/// The fields of a payment content in a rendered `Message`.
pub(super) fn render(body: &mut Value, content: &Content) {
    match content {
        Content::Invoice(invoice) => {
            body["invoice"] = json!({
                "title": invoice.title,
                "description": invoice.description,
                "start_parameter": "",
                "currency": invoice.currency,
                "total_amount": invoice.total_amount,
            });
        }
        Content::SuccessfulPayment(payment) => body["successful_payment"] = json!(payment),
        Content::RefundedPayment(payment) => body["refunded_payment"] = json!(payment),
        _ => {}
    }
}

impl super::Emulator {
    /// The buyer presses Pay on the bot's invoice `message_id` in their chat: the bot gets a
    /// `pre_checkout_query` and has the checkout timeout to answer it. Returns the query's id.
    pub fn pay_invoice(&self, token: &str, user: &TgUser, message_id: i64) -> Result<String, PaymentRefused> {
        self.inner.shared.write(|s| s.pay_invoice(token, user, message_id))
    }

    /// Where the payment asked with pre-checkout query `query_id` stands; `None` for an unknown query.
    pub fn checkout(&self, query_id: &str) -> Option<CheckoutOutcome> {
        self.inner.shared.read(|s| s.payments.checkout(query_id).map(|(outcome, _)| outcome))
    }

    /// Waits until the payment of `query_id` is no longer waiting for the bot: paid, declined or timed
    /// out. Woken by the bot's answer, or by the checkout's own deadline.
    pub async fn wait_checkout(&self, query_id: &str, timeout: Duration) -> anyhow::Result<CheckoutOutcome> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Subscribed before the look, so an answer right after it still wakes this waiter.
            let mut changes = self.inner.shared.changes();
            let Some((outcome, due)) = self.inner.shared.read(|s| s.payments.checkout(query_id)) else {
                anyhow::bail!("the emulator asked no pre-checkout query {query_id}");
            };
            if outcome != CheckoutOutcome::Waiting {
                return Ok(outcome);
            }
            let wake = deadline.min(tokio::time::Instant::from_std(due));
            tokio::select! {
                changed = changes.changed() => changed.map_err(|_| anyhow::anyhow!("the emulator is gone"))?,
                () = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= deadline {
                        anyhow::bail!("waited {timeout:?} for the bot to answer pre-checkout query {query_id}");
                    }
                }
            }
        }
    }

    /// How long bots have to answer a pre-checkout query (Telegram's 10 s unless changed), so that a
    /// test can see a timeout quickly.
    pub fn set_checkout_timeout(&self, timeout: Duration) {
        self.inner.shared.write(|s| s.payments.timeout = Some(timeout));
    }

    /// Whether the charge `telegram_payment_charge_id` was refunded; `None` for an unknown charge.
    pub fn charge_refunded(&self, telegram_payment_charge_id: &str) -> Option<bool> {
        self.inner.shared.read(|s| s.payments.charges.get(telegram_payment_charge_id).map(|c| c.refunded))
    }
}
