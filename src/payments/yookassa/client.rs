//! `Client`: botctl's typed YooKassa API v3 client (HTTP Basic as the shop, rustls, timeouts).

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::types::{NewPayment, Notification, Notified, Payment, PaymentRequest, Refund, RefundRequest};
use crate::billing::Money;

/// YooKassa's production API base.
pub const PRODUCTION_API_URL: &str = "https://api.yookassa.ru/v3/";

/// Idempotence keys longer than this are refused before sending (YooKassa's limit is believed to be 64).
const MAX_KEY_LEN: usize = 64;

/// A shop's secret key. `Display` and `Debug` never show it; only the request's auth header holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the Authorization header (and the emulator's check) only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to reach YooKassa as one shop.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `PRODUCTION_API_URL`, or an emulator's `api_url()`.
    pub base_url: url::Url,
    pub shop_id: String,
    pub secret_key: SecretKey,
    /// For the whole request; YooKassa itself answers 500 after 30 s, so a little more than that.
    pub timeout: Duration,
}

/// Why a call failed. Only `Transport` is worth retrying, and always with the same idempotence key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// YooKassa answered and refused (4xx but 429): retrying the same request gets the same answer.
    #[error("YooKassa refused the request with HTTP {status}, {code}: {description}")]
    Api { status: u16, code: String, description: String, parameter: Option<String> },
    /// No definite answer: the connection failed or timed out, or YooKassa answered 5xx or 429. The
    /// operation may or may not have happened: a 500 means "retry with the same idempotence key"
    /// (YooKassa suggests about once a minute), which returns the first result if there was one.
    #[error("no definite answer from YooKassa ({reason}); retry with the same idempotence key")]
    Transport { status: Option<u16>, reason: String },
    /// YooKassa answered, but not as API v3 does (unparseable body, a malformed amount, …).
    #[error("YooKassa answered HTTP {status} with something botctl cannot read: {reason}")]
    Invalid { status: u16, reason: String },
    /// The request was not sent: botctl was asked for something YooKassa cannot take.
    #[error("cannot send this to YooKassa: {0}")]
    Request(String),
}

impl Error {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Transport { .. })
    }

    /// YooKassa's error code (`invalid_request`, `invalid_credentials`, …) of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// YooKassa's error body: `{"type":"error","id","code","description","parameter"}`.
#[derive(Deserialize)]
struct ApiErrorBody {
    code: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameter: Option<String>,
}

/// A YooKassa API client for one shop. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: url::Url,
    shop_id: String,
    secret_key: SecretKey,
}

impl Client {
    pub fn new(options: ClientOptions) -> Result<Client, Error> {
        let mut base_url = options.base_url;
        if base_url.cannot_be_a_base() || !matches!(base_url.scheme(), "http" | "https") {
            return Err(Error::Request(format!("{base_url} is not an http(s) API base URL")));
        }
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        if options.shop_id.is_empty() {
            return Err(Error::Request("the shop id is empty".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            // The API never redirects; following one would carry the credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Request(format!("cannot build the HTTP client: {}", e.without_url())))?;
        Ok(Client { http, base_url, shop_id: options.shop_id, secret_key: options.secret_key })
    }

    /// Creates a one-stage payment with a redirect confirmation; send the buyer to its
    /// `confirmation_url()`. `idempotence_key` is the caller's, derived from its order and stored before
    /// the call: reuse it on every retry of the same order, or a retry may charge twice.
    pub async fn create_payment(&self, payment: &NewPayment, idempotence_key: &str) -> Result<Payment, Error> {
        super::format_value(payment.amount).map_err(|e| Error::Request(e.to_string()))?;
        if let Some(receipt) = &payment.receipt {
            for item in &receipt.items {
                super::format_value(item.amount).map_err(|e| Error::Request(e.to_string()))?;
            }
        }
        let body = PaymentRequest::from(payment);
        self.send(self.http.post(self.endpoint("payments", None)?).json(&body), Some(idempotence_key)).await
    }

    pub async fn get_payment(&self, payment_id: &str) -> Result<Payment, Error> {
        self.send(self.http.get(self.endpoint("payments", Some(payment_id))?), None).await
    }

    /// Refunds `amount` (all or part) of a succeeded payment; the key works as for `create_payment`.
    pub async fn create_refund(&self, payment_id: &str, amount: Money, idempotence_key: &str) -> Result<Refund, Error> {
        check_id(payment_id)?;
        super::format_value(amount).map_err(|e| Error::Request(e.to_string()))?;
        let body = RefundRequest { payment_id: payment_id.to_string(), amount };
        self.send(self.http.post(self.endpoint("refunds", None)?).json(&body), Some(idempotence_key)).await
    }

    pub async fn get_refund(&self, refund_id: &str) -> Result<Refund, Error> {
        self.send(self.http.get(self.endpoint("refunds", Some(refund_id))?), None).await
    }

    /// Fetches what a notification is about: the trusted half of handling one, since anyone can POST
    /// a notification. An error here should be answered with a 5xx, so that YooKassa delivers it again.
    pub async fn fetch_notified(&self, notification: &Notification) -> Result<Notified, Error> {
        let handled = notification.is_payment() || notification.is_refund();
        if !handled {
            return Ok(Notified::Unhandled(notification.event.clone()));
        }
        let id =
            notification.object_id().ok_or_else(|| Error::Request("the notification names no object id".into()))?;
        if notification.is_payment() {
            self.get_payment(id).await.map(|p| Notified::Payment(Box::new(p)))
        } else {
            self.get_refund(id).await.map(Notified::Refund)
        }
    }

    fn endpoint(&self, collection: &str, id: Option<&str>) -> Result<url::Url, Error> {
        let path = match id {
            Some(id) => format!("{collection}/{}", check_id(id)?),
            None => collection.to_string(),
        };
        self.base_url.join(&path).map_err(|e| Error::Request(format!("cannot build the URL: {e}")))
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        idempotence_key: Option<&str>,
    ) -> Result<T, Error> {
        let mut request = request.basic_auth(&self.shop_id, Some(self.secret_key.expose()));
        if let Some(key) = idempotence_key {
            check_key(key)?;
            request = request.header("Idempotence-Key", key);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?;
        read_answer(status, &body)
    }
}

fn read_answer<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, Error> {
    let code = status.as_u16();
    let invalid = |reason: String| Error::Invalid { status: code, reason };
    if status.is_success() {
        return serde_json::from_slice(body).map_err(|e| invalid(e.to_string()));
    }
    let error = error_body(body);
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        let said = error.map(|e| format!(", {}", e.code)).unwrap_or_default();
        return Err(Error::Transport { status: Some(code), reason: format!("HTTP {code}{said}") });
    }
    if !status.is_client_error() {
        return Err(invalid("an unexpected status".into()));
    }
    match error {
        Ok(e) => Err(Error::Api { status: code, code: e.code, description: e.description, parameter: e.parameter }),
        Err(e) => Err(invalid(format!("not a YooKassa error body: {e}"))),
    }
}

/// Only an object with `"type": "error"` is one (serde would also read a struct from a JSON array).
fn error_body(body: &[u8]) -> Result<ApiErrorBody, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if value.get("type").and_then(|t| t.as_str()) != Some("error") {
        return Err("no \"type\": \"error\"".into());
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// reqwest's errors name the URL; ours need not, and the causes below it say what went wrong.
fn transport(error: reqwest::Error) -> Error {
    let error = error.without_url();
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Transport { status: None, reason }
}

/// Ids go into the path: anything but YooKassa's id alphabet could change which resource is asked for.
fn check_id(id: &str) -> Result<&str, Error> {
    let ok =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(id) } else { Err(Error::Request(format!("`{id}` is not a YooKassa object id"))) }
}

fn check_key(key: &str) -> Result<(), Error> {
    let ok = !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::Request(format!("an idempotence key is 1 to {MAX_KEY_LEN} visible ASCII characters")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_into_refusals_retries_and_garbage() {
        let refused = read_answer::<Payment>(
            StatusCode::BAD_REQUEST,
            br#"{"type":"error","id":"x","code":"invalid_request","description":"Idempotence key duplicated","parameter":"Idempotence-Key"}"#,
        );
        assert!(matches!(refused, Err(Error::Api { status: 400, ref code, parameter: Some(ref p), .. })
            if code == "invalid_request" && p == "Idempotence-Key"));
        let busy = read_answer::<Payment>(StatusCode::INTERNAL_SERVER_ERROR, b"<html>oops</html>");
        assert!(matches!(busy, Err(Error::Transport { status: Some(500), .. })));
        assert!(busy.is_err_and(|e| e.is_retryable()));
        let garbage = read_answer::<Payment>(StatusCode::OK, b"{\"id\": 5}");
        assert!(matches!(garbage, Err(Error::Invalid { status: 200, .. })));
        let odd = read_answer::<Payment>(StatusCode::NOT_FOUND, b"not json");
        assert!(matches!(odd, Err(Error::Invalid { status: 404, .. })));
    }

    #[test]
    fn ids_and_keys_cannot_reshape_the_request() {
        assert!(check_id("2d7b5e3a-000f-5000-8000-1a2b3c4d5e6f").is_ok());
        for bad in ["", "../refunds", "a/b", "a?b=c", "a b", "%2e%2e"] {
            assert!(matches!(check_id(bad), Err(Error::Request(_))), "{bad:?}");
        }
        assert!(check_key("order-42-attempt-1").is_ok());
        assert!(check_key("").is_err() && check_key("a b").is_err() && check_key(&"k".repeat(65)).is_err());
    }

    #[test]
    fn the_secret_key_never_prints() {
        let key = SecretKey::new("live_s3cr3t");
        assert_eq!(format!("{key} {key:?}"), "*** SecretKey(***)");
    }
}
