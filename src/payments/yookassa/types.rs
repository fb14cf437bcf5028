//! The API v3 objects botctl sends and reads: payments, refunds, receipts and notifications.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::amount;
use crate::billing::Money;

/// Where a payment stands. Unknown statuses are kept, not refused: YooKassa may add one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PaymentStatus {
    Pending,
    /// Two-stage payments only; botctl captures at once, so it should not be seen.
    WaitingForCapture,
    Succeeded,
    Canceled,
    Unknown(String),
}

impl PaymentStatus {
    pub fn as_str(&self) -> &str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::WaitingForCapture => "waiting_for_capture",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Canceled => "canceled",
            PaymentStatus::Unknown(other) => other,
        }
    }

    /// Succeeded and canceled never change again.
    pub fn is_final(&self) -> bool {
        matches!(self, PaymentStatus::Succeeded | PaymentStatus::Canceled)
    }
}

impl From<String> for PaymentStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "pending" => PaymentStatus::Pending,
            "waiting_for_capture" => PaymentStatus::WaitingForCapture,
            "succeeded" => PaymentStatus::Succeeded,
            "canceled" => PaymentStatus::Canceled,
            _ => PaymentStatus::Unknown(s),
        }
    }
}

impl From<PaymentStatus> for String {
    fn from(status: PaymentStatus) -> Self {
        status.as_str().to_string()
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a refund stands; unknown statuses are kept as for payments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Canceled,
    Unknown(String),
}

impl RefundStatus {
    pub fn as_str(&self) -> &str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Canceled => "canceled",
            RefundStatus::Unknown(other) => other,
        }
    }
}

impl From<String> for RefundStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "pending" => RefundStatus::Pending,
            "succeeded" => RefundStatus::Succeeded,
            "canceled" => RefundStatus::Canceled,
            _ => RefundStatus::Unknown(s),
        }
    }
}

impl From<RefundStatus> for String {
    fn from(status: RefundStatus) -> Self {
        status.as_str().to_string()
    }
}

/// How the buyer confirms: for `redirect`, the page to send them to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_url: Option<url::Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<url::Url>,
}

/// Who canceled a payment (`merchant`, `yoo_money`, `payment_network`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationDetails {
    pub party: String,
    pub reason: String,
}

/// A payment as YooKassa reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    pub status: PaymentStatus,
    #[serde(with = "amount::wire")]
    pub amount: Money,
    pub paid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the payment was created with (botctl puts its order id here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_details: Option<CancellationDetails>,
    pub created_at: DateTime<Utc>,
}

impl Payment {
    /// Where to send the buyer to pay, for a pending redirect payment.
    pub fn confirmation_url(&self) -> Option<&url::Url> {
        self.confirmation.as_ref().and_then(|c| c.confirmation_url.as_ref())
    }
}

/// A refund of (part of) a succeeded payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    pub status: RefundStatus,
    #[serde(with = "amount::wire")]
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

/// What botctl asks to be paid: always one-stage (`capture: true`) with a redirect confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub amount: Money,
    /// Shown to the buyer; YooKassa caps it at 128 characters.
    pub description: String,
    /// Where YooKassa sends the buyer back after paying.
    pub return_url: url::Url,
    /// At most 16 keys; botctl keeps its order id here to match notifications to orders.
    pub metadata: BTreeMap<String, String>,
    /// The 54-FZ receipt, for shops that send it with the payment.
    pub receipt: Option<Receipt>,
}

/// A 54-FZ receipt sent with the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub customer: Customer,
    pub items: Vec<ReceiptItem>,
    /// The seller's tax system (1-6), which some online tills need on every receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_system_code: Option<u8>,
}

/// Where the receipt goes: an email or a phone (in international form, digits only) is required.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Customer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// One line of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptItem {
    pub description: String,
    pub quantity: u32,
    /// The price of one unit; the items' `amount × quantity` must add up to the payment's amount.
    #[serde(with = "amount::wire")]
    pub amount: Money,
    pub vat_code: VatCode,
    pub payment_mode: PaymentMode,
    pub payment_subject: PaymentSubject,
}

/// The VAT rate code of a receipt line (1 = no VAT, 2 = 0%, 3 = 10%, 4 = 20%, 5 = 10/110, 6 = 20/120),
/// as the community SDKs list it; it depends on the seller's tax regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct VatCode(u8);

impl VatCode {
    pub const NO_VAT: VatCode = VatCode(1);
    pub const VAT_0: VatCode = VatCode(2);
    pub const VAT_10: VatCode = VatCode(3);
    pub const VAT_20: VatCode = VatCode(4);

    pub fn code(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for VatCode {
    type Error = String;

    fn try_from(code: u8) -> Result<Self, String> {
        if (1..=6).contains(&code) { Ok(VatCode(code)) } else { Err(format!("vat_code {code} is not 1 to 6")) }
    }
}

impl From<VatCode> for u8 {
    fn from(code: VatCode) -> u8 {
        code.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMode {
    /// Paid in full before the service is given: a subscription paid in advance.
    FullPrepayment,
    FullPayment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSubject {
    Service,
    Commodity,
}

/// The body of `POST /v3/payments` as botctl sends it; the emulator reads the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PaymentRequest {
    #[serde(with = "amount::wire")]
    pub amount: Money,
    pub capture: bool,
    pub confirmation: Confirmation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

impl From<&NewPayment> for PaymentRequest {
    fn from(new: &NewPayment) -> Self {
        PaymentRequest {
            amount: new.amount,
            capture: true,
            confirmation: Confirmation {
                kind: "redirect".to_string(),
                confirmation_url: None,
                return_url: Some(new.return_url.clone()),
            },
            description: Some(new.description.clone()).filter(|d| !d.is_empty()),
            metadata: new.metadata.clone(),
            receipt: new.receipt.clone(),
        }
    }
}

/// The body of `POST /v3/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RefundRequest {
    pub payment_id: String,
    #[serde(with = "amount::wire")]
    pub amount: Money,
}

/// What YooKassa POSTs on a status change. The object is kept raw: it is never trusted, only its id is
/// used to fetch the payment or refund from the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Always `notification`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `payment.succeeded`, `payment.canceled`, `payment.waiting_for_capture`, `refund.succeeded`, …
    pub event: String,
    pub object: serde_json::Value,
}

impl Notification {
    /// The id of the object the event is about, to fetch it; `None` if the body has no string id.
    pub fn object_id(&self) -> Option<&str> {
        self.object.get("id").and_then(|id| id.as_str())
    }

    /// Whether the event is about a payment (else a refund or something botctl does not handle).
    pub fn is_payment(&self) -> bool {
        self.event.starts_with("payment.")
    }

    pub fn is_refund(&self) -> bool {
        self.event.starts_with("refund.")
    }
}

/// The object a notification is about, as the API reports it now (not as the notification said).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    Payment(Box<Payment>),
    Refund(Refund),
    /// An event botctl does not act on (`payout.*`, `deal.*`, …), by name.
    Unhandled(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Currency;

    #[test]
    fn a_payment_parses_from_the_api_and_a_new_status_does_not_fail_it() {
        let json = serde_json::json!({
            "id": "2d7b5e3a-000f-5000-8000-1a2b3c4d5e6f", "status": "expired_somehow",
            "amount": {"value": "299.00", "currency": "RUB"}, "paid": false,
            "metadata": {"order_id": "42"}, "created_at": "2026-12-04T01:02:03.456Z",
            "confirmation": {"type": "redirect", "confirmation_url": "https://yoomoney.ru/checkout/x"},
            "recipient": {"account_id": "1", "gateway_id": "2"}, "test": true
        });
        let payment: Payment = serde_json::from_value(json).unwrap();
        assert_eq!(payment.status, PaymentStatus::Unknown("expired_somehow".into()));
        assert_eq!(payment.amount, Money::new(29_900, Currency::Rub));
        assert_eq!(payment.metadata["order_id"], "42");
        assert_eq!(payment.confirmation_url().map(url::Url::as_str), Some("https://yoomoney.ru/checkout/x"));
        let back = serde_json::to_value(&payment).unwrap();
        assert_eq!(back["status"], "expired_somehow");
        assert_eq!(back["amount"]["value"], "299.00");
    }

    #[test]
    fn the_request_is_one_stage_with_a_redirect_and_a_receipt() {
        let new = NewPayment {
            amount: Money::new(29_900, Currency::Rub),
            description: "Plan month".into(),
            return_url: "https://t.me/sales_bot".parse().unwrap(),
            metadata: BTreeMap::from([("order_id".to_string(), "7".to_string())]),
            receipt: Some(Receipt {
                customer: Customer { email: Some("a@example.com".into()), phone: None },
                items: vec![ReceiptItem {
                    description: "Plan month".into(),
                    quantity: 1,
                    amount: Money::new(29_900, Currency::Rub),
                    vat_code: VatCode::NO_VAT,
                    payment_mode: PaymentMode::FullPrepayment,
                    payment_subject: PaymentSubject::Service,
                }],
                tax_system_code: None,
            }),
        };
        let json = serde_json::to_value(PaymentRequest::from(&new)).unwrap();
        assert_eq!(json["capture"], true);
        assert_eq!(
            json["confirmation"],
            serde_json::json!({"type": "redirect", "return_url": "https://t.me/sales_bot"})
        );
        assert_eq!(json["receipt"]["items"][0]["vat_code"], 1);
        assert_eq!(json["receipt"]["items"][0]["payment_mode"], "full_prepayment");
        assert_eq!(json["receipt"]["items"][0]["payment_subject"], "service");
        assert_eq!(json["receipt"]["customer"], serde_json::json!({"email": "a@example.com"}));
        assert!(serde_json::from_value::<VatCode>(serde_json::json!(7)).is_err());
    }

    #[test]
    fn a_notification_keeps_its_object_raw() {
        let body = r#"{"type":"notification","event":"refund.succeeded","object":{"id":"r1","amount":"garbage"}}"#;
        let n: Notification = serde_json::from_str(body).unwrap();
        assert!(n.is_refund() && !n.is_payment());
        assert_eq!(n.object_id(), Some("r1"));
    }
}
