//! YooKassa API v3: the typed client botctl takes card payments with, and an emulator of the API.
//!
//! What we use: one-stage payments with a redirect confirmation (optionally with a 54-FZ receipt),
//! refunds, and the notifications YooKassa POSTs when they change. Notifications are never trusted:
//! their object names a payment or refund that is then fetched with `Client::get_payment` /
//! `Client::get_refund`. Amounts cross the wire as decimal strings and are `billing::Money` here.
//!
//! ```text
//! paying:    key = derived from the order, stored before the call
//!            client.create_payment(&new_payment, key)  → Payment (pending) → send the buyer to
//!            payment.confirmation_url(); on an error with is_retryable(), retry with the SAME key
//! notified:  is_notification_source(peer ip) → serde_json::from_slice::<Notification>(body)
//!            → client.fetch_notified(&n) → credit idempotently on payment.id → answer 200
//!            (any error: answer 5xx, YooKassa delivers again)
//! refunding: client.create_refund(payment_id, amount, key)  → Refund (succeeded)
//! orders:    Checkout::request (draft → awaiting_payment, key = the order's) → the buyer pays →
//!            OrderPayments (the listener's consumer) or Checkout::check_now / OrderPayments::check
//!            → orders::confirm (paid) | canceled with YooKassa's reason | the ledger's refund
//! ```

mod amount;
mod checkout;
mod client;
pub mod emulator;
mod orders;
mod source;
mod types;
pub mod webhook;

pub use amount::{AmountError, format_value, parse_amount};
pub use checkout::{Checkout, DEFAULT_RECEIPT_DESCRIPTION, ORDER_KEY, ReceiptSettings, new_payment};
pub use client::{Client, ClientOptions, Error, PRODUCTION_API_URL, SecretKey};
pub use orders::OrderPayments;
pub use source::{is_notification_source, yookassa_networks};
pub use types::{
    CancellationDetails, Confirmation, Customer, NewPayment, Notification, Notified, Payment, PaymentMode,
    PaymentStatus, PaymentSubject, Receipt, ReceiptItem, Refund, RefundStatus, VatCode,
};
