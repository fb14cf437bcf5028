//! The emulator's state and the API's rules over it: shops, payments, refunds, idempotence keys and
//! injected failures. Every operation is a short synchronous step under the lock; the notifications
//! a change causes are returned for `notify` to deliver outside it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use serde_json::Value;

use super::{Attempt, EmulatorError, Failure, Operation};
use crate::billing::{Currency, Money};
use crate::payments::yookassa::types::{PaymentRequest, RefundRequest};
use crate::payments::yookassa::{
    CancellationDetails, Confirmation, Notification, Payment, PaymentStatus, Refund, RefundStatus,
};

/// YooKassa forgets an idempotence key 24 hours after its first use.
const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A refusal as YooKassa words it: HTTP status, code, description and the offending parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub description: String,
    pub parameter: Option<&'static str>,
}

impl Refusal {
    pub fn invalid(description: impl Into<String>, parameter: Option<&'static str>) -> Self {
        Refusal { status: 400, code: "invalid_request", description: description.into(), parameter }
    }

    pub fn not_found() -> Self {
        Refusal { status: 404, code: "not_found", description: "Object not found".into(), parameter: None }
    }

    pub fn unauthorized() -> Self {
        let description = "Login or password is incorrect. Check that you use the shop id and its secret key".into();
        Refusal { status: 401, code: "invalid_credentials", description, parameter: None }
    }
}

/// A notification on its way to a shop's URL.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    pub id: u64,
    /// 0 for the original, 1.. for duplicates asked for with `duplicate_next_notification`.
    pub copy: u32,
    pub url: url::Url,
    pub body: Notification,
    /// The delivery settings when the event happened, so that changing them later affects only later events.
    pub delay: Duration,
    pub retry_schedule: Vec<Duration>,
    pub timeout: Duration,
}

struct Shop {
    secret: String,
    notification_url: Option<url::Url>,
}

struct StoredPayment {
    shop: String,
    payment: Payment,
    refunded: i64,
}

struct StoredRefund {
    shop: String,
    refund: Refund,
}

struct RememberedKey {
    body: Value,
    id: String,
    at: SystemTime,
}

pub(super) struct NotifySettings {
    pub retry_schedule: Vec<Duration>,
    pub delay: Duration,
    pub timeout: Duration,
    duplicates: u32,
    held: Option<Vec<Outgoing>>,
}

pub(super) struct State {
    pay_page: url::Url,
    shops: HashMap<String, Shop>,
    payments: HashMap<String, StoredPayment>,
    refunds: HashMap<String, StoredRefund>,
    keys: HashMap<(String, Operation, String), RememberedKey>,
    failures: HashMap<Operation, VecDeque<Failure>>,
    pub notify: NotifySettings,
    pub attempts: Vec<Attempt>,
    next_notification: u64,
}

impl State {
    pub fn new(pay_page: url::Url) -> Self {
        State {
            pay_page,
            shops: HashMap::new(),
            payments: HashMap::new(),
            refunds: HashMap::new(),
            keys: HashMap::new(),
            failures: HashMap::new(),
            notify: NotifySettings {
                // Real YooKassa keeps trying for 24 hours at unpublished intervals; this is a plausible spread.
                retry_schedule: [60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600].map(Duration::from_secs).to_vec(),
                delay: Duration::ZERO,
                timeout: Duration::from_secs(10),
                duplicates: 0,
                held: None,
            },
            attempts: Vec::new(),
            next_notification: 1,
        }
    }

    pub fn add_shop(&mut self, shop_id: &str, secret: &str) {
        let url = self.shops.remove(shop_id).and_then(|s| s.notification_url);
        self.shops.insert(shop_id.to_string(), Shop { secret: secret.to_string(), notification_url: url });
    }

    pub fn set_notification_url(&mut self, shop_id: &str, url: Option<url::Url>) -> Result<(), EmulatorError> {
        let shop = self.shops.get_mut(shop_id).ok_or_else(|| EmulatorError::UnknownShop(shop_id.to_string()))?;
        shop.notification_url = url;
        Ok(())
    }

    /// The shop these credentials open, if they open one.
    pub fn authenticate(&self, shop_id: &str, secret: &str) -> Option<String> {
        self.shops.get(shop_id).filter(|s| s.secret == secret).map(|_| shop_id.to_string())
    }

    pub fn fail(&mut self, operation: Operation, failure: Failure, times: u32) {
        let queue = self.failures.entry(operation).or_default();
        queue.extend(std::iter::repeat_n(failure, times as usize));
    }

    pub fn take_failure(&mut self, operation: Operation) -> Option<Failure> {
        self.failures.get_mut(&operation).and_then(VecDeque::pop_front)
    }

    pub fn create_payment(&mut self, shop: &str, key: &str, body: Value) -> Result<Payment, Refusal> {
        if let Some(id) = self.repeated(shop, Operation::CreatePayment, key, &body)? {
            return self.payment(shop, &id).ok_or_else(Refusal::not_found);
        }
        let request: PaymentRequest =
            serde_json::from_value(body.clone()).map_err(|e| Refusal::invalid(e.to_string(), None))?;
        check_payment(&request)?;
        let id = object_id();
        let mut confirmation_url = self.pay_page.clone();
        confirmation_url.set_path(&format!("/pay/{id}"));
        let payment = Payment {
            id: id.clone(),
            status: PaymentStatus::Pending,
            amount: request.amount,
            paid: false,
            description: request.description,
            metadata: request.metadata,
            confirmation: Some(Confirmation {
                kind: "redirect".into(),
                confirmation_url: Some(confirmation_url),
                return_url: request.confirmation.return_url,
            }),
            cancellation_details: None,
            created_at: Utc::now(),
        };
        self.payments
            .insert(id.clone(), StoredPayment { shop: shop.to_string(), payment: payment.clone(), refunded: 0 });
        self.remember(shop, Operation::CreatePayment, key, body, id);
        Ok(payment)
    }

    pub fn payment(&self, shop: &str, id: &str) -> Option<Payment> {
        self.payments.get(id).filter(|p| p.shop == shop).map(|p| p.payment.clone())
    }

    pub fn any_payment(&self, id: &str) -> Option<Payment> {
        self.payments.get(id).map(|p| p.payment.clone())
    }

    pub fn payments(&self) -> Vec<Payment> {
        let mut all: Vec<Payment> = self.payments.values().map(|p| p.payment.clone()).collect();
        all.sort_by_key(|p| p.created_at);
        all
    }

    pub fn refund(&self, shop: &str, id: &str) -> Option<Refund> {
        self.refunds.get(id).filter(|r| r.shop == shop).map(|r| r.refund.clone())
    }

    pub fn refunds(&self) -> Vec<Refund> {
        let mut all: Vec<Refund> = self.refunds.values().map(|r| r.refund.clone()).collect();
        all.sort_by_key(|r| r.created_at);
        all
    }

    /// The buyer pays (the confirmation page or a control call): pending → succeeded.
    pub fn pay(&mut self, id: &str) -> Result<(Payment, Vec<Outgoing>), EmulatorError> {
        self.finish(id, PaymentStatus::Succeeded, None)
    }

    pub fn cancel(&mut self, id: &str, party: &str, reason: &str) -> Result<(Payment, Vec<Outgoing>), EmulatorError> {
        let details = CancellationDetails { party: party.to_string(), reason: reason.to_string() };
        self.finish(id, PaymentStatus::Canceled, Some(details))
    }

    fn finish(
        &mut self,
        id: &str,
        status: PaymentStatus,
        details: Option<CancellationDetails>,
    ) -> Result<(Payment, Vec<Outgoing>), EmulatorError> {
        let stored = self.payments.get_mut(id).ok_or_else(|| EmulatorError::UnknownPayment(id.to_string()))?;
        if stored.payment.status == status {
            // Opening the page again after paying changes nothing and notifies no one.
            return Ok((stored.payment.clone(), Vec::new()));
        }
        if stored.payment.status != PaymentStatus::Pending {
            return Err(EmulatorError::NotPending { id: id.to_string(), status: stored.payment.status.clone() });
        }
        stored.payment.paid = status == PaymentStatus::Succeeded;
        stored.payment.status = status;
        stored.payment.cancellation_details = details;
        let (payment, shop) = (stored.payment.clone(), stored.shop.clone());
        let event = format!("payment.{}", payment.status);
        let object = serde_json::to_value(&payment).unwrap_or(Value::Null);
        let outgoing = self.emit(&shop, &event, object);
        Ok((payment, outgoing))
    }

    /// Refunds succeed at once, as YooKassa's do for cards.
    pub fn create_refund(&mut self, shop: &str, key: &str, body: Value) -> Result<(Refund, Vec<Outgoing>), Refusal> {
        if let Some(id) = self.repeated(shop, Operation::CreateRefund, key, &body)? {
            return Ok((self.refund(shop, &id).ok_or_else(Refusal::not_found)?, Vec::new()));
        }
        let request: RefundRequest =
            serde_json::from_value(body.clone()).map_err(|e| Refusal::invalid(e.to_string(), None))?;
        let stored = self
            .payments
            .get_mut(&request.payment_id)
            .filter(|p| p.shop == shop)
            .ok_or_else(|| Refusal::invalid("Payment not found", Some("payment_id")))?;
        if stored.payment.status != PaymentStatus::Succeeded {
            return Err(Refusal::invalid("Only a succeeded payment can be refunded", Some("payment_id")));
        }
        let left = stored.payment.amount.minor - stored.refunded;
        if request.amount.minor <= 0 || request.amount.minor > left {
            let left = Money::new(left, Currency::Rub);
            return Err(Refusal::invalid(format!("The amount must be above zero and at most {left}"), Some("amount")));
        }
        stored.refunded += request.amount.minor;
        let id = object_id();
        let refund = Refund {
            id: id.clone(),
            payment_id: request.payment_id,
            status: RefundStatus::Succeeded,
            amount: request.amount,
            created_at: Some(Utc::now()),
        };
        self.refunds.insert(id.clone(), StoredRefund { shop: shop.to_string(), refund: refund.clone() });
        self.remember(shop, Operation::CreateRefund, key, body, id);
        let object = serde_json::to_value(&refund).unwrap_or(Value::Null);
        let outgoing = self.emit(shop, "refund.succeeded", object);
        Ok((refund, outgoing))
    }

    /// The id this key made before for this very body; a refusal if it came with another body.
    fn repeated(
        &mut self,
        shop: &str,
        operation: Operation,
        key: &str,
        body: &Value,
    ) -> Result<Option<String>, Refusal> {
        let slot = (shop.to_string(), operation, key.to_string());
        let expired = self.keys.get(&slot).is_some_and(|k| k.at.elapsed().unwrap_or_default() > KEY_LIFETIME);
        if expired {
            self.keys.remove(&slot);
        }
        match self.keys.get(&slot) {
            Some(known) if known.body == *body => Ok(Some(known.id.clone())),
            Some(_) => Err(Refusal::invalid("Idempotence key duplicated", Some("Idempotence-Key"))),
            None => Ok(None),
        }
    }

    fn remember(&mut self, shop: &str, operation: Operation, key: &str, body: Value, id: String) {
        let slot = (shop.to_string(), operation, key.to_string());
        self.keys.insert(slot, RememberedKey { body, id, at: SystemTime::now() });
    }

    fn emit(&mut self, shop: &str, event: &str, object: Value) -> Vec<Outgoing> {
        let Some(url) = self.shops.get(shop).and_then(|s| s.notification_url.clone()) else { return Vec::new() };
        let id = self.next_notification;
        self.next_notification += 1;
        let copies = 1 + std::mem::take(&mut self.notify.duplicates);
        let body = Notification { kind: "notification".into(), event: event.to_string(), object };
        let settings = &self.notify;
        let outgoing: Vec<Outgoing> = (0..copies)
            .map(|copy| Outgoing {
                id,
                copy,
                url: url.clone(),
                body: body.clone(),
                delay: settings.delay,
                retry_schedule: settings.retry_schedule.clone(),
                timeout: settings.timeout,
            })
            .collect();
        match &mut self.notify.held {
            Some(held) => {
                held.extend(outgoing);
                Vec::new()
            }
            None => outgoing,
        }
    }

    pub fn duplicate_next(&mut self, copies: u32) {
        self.notify.duplicates = copies;
    }

    pub fn hold(&mut self) {
        self.notify.held.get_or_insert_with(Vec::new);
    }

    pub fn release(&mut self) -> Vec<Outgoing> {
        self.notify.held.take().unwrap_or_default()
    }
}

/// The checks YooKassa makes that matter to botctl's requests.
fn check_payment(request: &PaymentRequest) -> Result<(), Refusal> {
    if request.amount.minor <= 0 {
        return Err(Refusal::invalid("The amount must be above zero", Some("amount")));
    }
    if !request.capture {
        return Err(Refusal {
            status: 400,
            code: "not_supported",
            description: "The emulator takes one-stage payments only (capture: true)".into(),
            parameter: Some("capture"),
        });
    }
    if request.confirmation.kind != "redirect" || request.confirmation.return_url.is_none() {
        return Err(Refusal::invalid("A redirect confirmation needs a return_url", Some("confirmation")));
    }
    if request.description.as_ref().is_some_and(|d| d.chars().count() > 128) {
        return Err(Refusal::invalid("The description is longer than 128 characters", Some("description")));
    }
    check_metadata(&request.metadata)?;
    if let Some(receipt) = &request.receipt {
        if receipt.customer.email.is_none() && receipt.customer.phone.is_none() {
            return Err(Refusal::invalid("The receipt needs the customer's email or phone", Some("receipt.customer")));
        }
        let mut total: i64 = 0;
        for item in &receipt.items {
            let line = item.amount.minor.checked_mul(i64::from(item.quantity));
            total = line
                .and_then(|l| total.checked_add(l))
                .ok_or_else(|| Refusal::invalid("The receipt's sum overflows", Some("receipt.items")))?;
        }
        if receipt.items.is_empty() || total != request.amount.minor {
            return Err(Refusal::invalid(
                "The receipt's items do not add up to the payment's amount",
                Some("receipt.items"),
            ));
        }
    }
    Ok(())
}

fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), Refusal> {
    let too_long = metadata.iter().any(|(k, v)| k.chars().count() > 32 || v.chars().count() > 512);
    if metadata.len() > 16 || too_long {
        return Err(Refusal::invalid(
            "Metadata takes at most 16 keys of 32 characters with values of 512",
            Some("metadata"),
        ));
    }
    Ok(())
}

/// Shaped like YooKassa's ids (a UUID with a fixed middle).
fn object_id() -> String {
    let (a, b): (u32, u64) = (rand::random(), rand::random());
    format!("{a:08x}-000f-5000-8000-{:012x}", b & 0xffff_ffff_ffff)
}
