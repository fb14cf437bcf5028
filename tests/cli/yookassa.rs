//! The YooKassa client against botctl's YooKassa emulator: payments, idempotence, notifications,
//! refunds and the failures a client must survive.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use botctl::billing::{Currency, Money};
use botctl::payments::yookassa::emulator::{Attempt, Emulator, Failure, Operation, Release};
use botctl::payments::yookassa::{
    Client, ClientOptions, Customer, Error, NewPayment, Notification, Notified, PaymentMode, PaymentStatus,
    PaymentSubject, Receipt, ReceiptItem, RefundStatus, SecretKey, VatCode,
};
use serde_json::{Value, json};

use crate::support::block_on;

mod failures;
mod notifications;
mod orders;
mod webhook;

const SHOP: &str = "506751";
const SECRET: &str = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0";
const WAIT: Duration = Duration::from_secs(10);

fn rub(minor: i64) -> Money {
    Money::new(minor, Currency::Rub)
}

async fn emulator() -> Emulator {
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    emulator.add_shop(SHOP, SECRET);
    emulator
}

fn client_with(emulator: &Emulator, secret: &str, timeout: Duration) -> Client {
    Client::new(ClientOptions {
        base_url: emulator.api_url(),
        shop_id: SHOP.into(),
        secret_key: SecretKey::new(secret),
        timeout,
    })
    .unwrap()
}

fn client(emulator: &Emulator) -> Client {
    client_with(emulator, SECRET, WAIT)
}

fn order(id: &str, minor: i64) -> NewPayment {
    NewPayment {
        amount: rub(minor),
        description: format!("Order {id}"),
        return_url: "https://t.me/botctl_sales_bot".parse().unwrap(),
        metadata: BTreeMap::from([("order_id".to_string(), id.to_string())]),
        receipt: None,
    }
}

/// A shop's notification endpoint: records every body and answers from a script (then 200).
struct Receiver {
    url: url::Url,
    got: Arc<Mutex<Vec<Notification>>>,
}

async fn receiver(script: &[u16]) -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<u16>>()));
    let (seen, script) = (Arc::clone(&got), Arc::clone(&answers));
    let app = axum::Router::new().route(
        "/yookassa",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (seen, script) = (Arc::clone(&seen), Arc::clone(&script));
            async move {
                seen.lock().unwrap().push(serde_json::from_slice::<Notification>(&body).unwrap());
                let status = script.lock().unwrap().pop_front().unwrap_or(200);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/yookassa", listener.local_addr().unwrap()).parse().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, got }
}

fn acknowledged(attempts: &[Attempt]) -> usize {
    attempts.iter().filter(|a| a.status == Some(200)).count()
}

#[test]
fn a_payment_is_pending_until_its_confirmation_page_is_opened() {
    block_on(async {
        let emulator = emulator().await;
        let receiver = receiver(&[]).await;
        emulator.set_notification_url(SHOP, Some(receiver.url.clone())).unwrap();
        let client = client(&emulator);

        let created = client.create_payment(&order("o-1", 29_900), "order-o-1").await.unwrap();
        assert_eq!(created.status, PaymentStatus::Pending);
        assert!(!created.paid);
        assert_eq!(created.amount, rub(29_900));
        assert_eq!(created.metadata["order_id"], "o-1");
        let page = created.confirmation_url().unwrap().clone();
        assert_eq!(page.path(), format!("/pay/{}", created.id));

        let opened = reqwest::get(page.clone()).await.unwrap();
        assert_eq!(opened.status().as_u16(), 200);
        assert!(opened.text().await.unwrap().contains("https://t.me/botctl_sales_bot"));
        let paid = client.get_payment(&created.id).await.unwrap();
        assert_eq!((paid.status.clone(), paid.paid), (PaymentStatus::Succeeded, true));
        assert_eq!(paid.created_at, created.created_at);

        let attempts = emulator.wait_attempts(|a| acknowledged(a) == 1, WAIT).await.unwrap();
        assert_eq!((attempts[0].event.as_str(), attempts[0].object_id.as_str()), ("payment.succeeded", &*created.id));
        let got = receiver.got.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].kind.as_str(), got[0].event.as_str()), ("notification", "payment.succeeded"));
        assert_eq!(got[0].object_id(), Some(created.id.as_str()));
        assert_eq!(got[0].object["status"], "succeeded");

        // Opening the page again pays nothing twice and notifies no one.
        assert_eq!(reqwest::get(page).await.unwrap().status().as_u16(), 200);
        assert_eq!(emulator.attempts().len(), 1);
    });
}

#[test]
fn one_idempotence_key_makes_one_payment_and_refuses_another_body() {
    block_on(async {
        let emulator = emulator().await;
        let client = client(&emulator);
        let first = client.create_payment(&order("o-2", 29_900), "order-o-2").await.unwrap();
        let again = client.create_payment(&order("o-2", 29_900), "order-o-2").await.unwrap();
        assert_eq!(first.id, again.id);
        assert_eq!(emulator.payments().len(), 1);

        let other = client.create_payment(&order("o-2", 79_900), "order-o-2").await.unwrap_err();
        match &other {
            Error::Api { status, code, description, parameter } => {
                assert_eq!((*status, code.as_str()), (400, "invalid_request"));
                assert_eq!(description, "Idempotence key duplicated");
                assert_eq!(parameter.as_deref(), Some("Idempotence-Key"));
            }
            e => panic!("expected an API refusal, got {e:?}"),
        }
        assert!(!other.is_retryable());
        assert_eq!(emulator.payments().len(), 1);

        let next = client.create_payment(&order("o-3", 29_900), "order-o-3").await.unwrap();
        assert_ne!(next.id, first.id);
        assert_eq!(emulator.payments().len(), 2);
    });
}

#[test]
fn the_api_answers_a_duplicated_or_missing_key_as_yookassa_does() {
    block_on(async {
        let emulator = emulator().await;
        let url = emulator.api_url().join("payments").unwrap();
        let http = reqwest::Client::new();
        let body = json!({"amount": {"value": "299.00", "currency": "RUB"}, "capture": true,
            "confirmation": {"type": "redirect", "return_url": "https://example.com/back"}});
        let post = |body: &Value, key: Option<&str>| {
            let mut request = http.post(url.clone()).basic_auth(SHOP, Some(SECRET)).json(body);
            if let Some(key) = key {
                request = request.header("Idempotence-Key", key);
            }
            request.send()
        };
        assert_eq!(post(&body, Some("k1")).await.unwrap().status().as_u16(), 200);
        let mut changed = body.clone();
        changed["amount"]["value"] = json!("300.00");
        let refused = post(&changed, Some("k1")).await.unwrap();
        assert_eq!(refused.status().as_u16(), 400);
        let mut error: Value = refused.json().await.unwrap();
        assert!(error.as_object_mut().unwrap().remove("id").is_some());
        assert_eq!(
            error,
            json!({"type":"error","code":"invalid_request","description":"Idempotence key duplicated",
                   "parameter":"Idempotence-Key"})
        );
        let missing = post(&body, None).await.unwrap();
        assert_eq!(missing.status().as_u16(), 400);
        let error: Value = missing.json().await.unwrap();
        assert_eq!(
            (error["code"].as_str(), error["parameter"].as_str()),
            (Some("invalid_request"), Some("Idempotence-Key"))
        );
        let anonymous = http.get(emulator.api_url().join("payments/x").unwrap()).send().await.unwrap();
        assert_eq!(anonymous.status().as_u16(), 401);
        assert_eq!(emulator.payments().len(), 1);
    });
}

#[test]
fn a_refund_succeeds_once_and_never_exceeds_the_payment() {
    block_on(async {
        let emulator = emulator().await;
        let receiver = receiver(&[]).await;
        emulator.set_notification_url(SHOP, Some(receiver.url.clone())).unwrap();
        let client = client(&emulator);
        let payment = client.create_payment(&order("o-10", 29_900), "order-o-10").await.unwrap();
        let early = client.create_refund(&payment.id, rub(100), "refund-o-10").await.unwrap_err();
        assert_eq!((early.code(), early.is_retryable()), (Some("invalid_request"), false));
        emulator.pay(&payment.id).unwrap();

        let refund = client.create_refund(&payment.id, rub(10_000), "refund-o-10-a").await.unwrap();
        assert_eq!(
            (refund.status.clone(), refund.amount, refund.payment_id.as_str()),
            (RefundStatus::Succeeded, rub(10_000), &*payment.id)
        );
        let again = client.create_refund(&payment.id, rub(10_000), "refund-o-10-a").await.unwrap();
        assert_eq!(again.id, refund.id);
        assert_eq!(client.get_refund(&refund.id).await.unwrap(), refund);
        let too_much = client.create_refund(&payment.id, rub(19_901), "refund-o-10-b").await.unwrap_err();
        assert!(
            matches!(&too_much, Error::Api { status: 400, parameter: Some(p), .. } if p == "amount"),
            "{too_much:?}"
        );
        let rest = client.create_refund(&payment.id, rub(19_900), "refund-o-10-c").await.unwrap();
        assert_eq!(emulator.refunds().len(), 2);

        let attempts = emulator.wait_attempts(|a| acknowledged(a) == 3, WAIT).await.unwrap();
        let refunds: Vec<&str> =
            attempts.iter().filter(|a| a.event == "refund.succeeded").map(|a| a.object_id.as_str()).collect();
        assert_eq!(refunds.len(), 2);
        assert!(refunds.contains(&refund.id.as_str()) && refunds.contains(&rest.id.as_str()));
        let missing = client.get_refund("00000000-000f-5000-8000-000000000000").await.unwrap_err();
        assert_eq!(missing.code(), Some("not_found"));
    });
}

#[test]
fn a_receipt_goes_with_the_payment_and_must_add_up() {
    block_on(async {
        let emulator = emulator().await;
        let client = client(&emulator);
        let item = |minor| ReceiptItem {
            description: "botctl, 1 month".into(),
            quantity: 1,
            amount: rub(minor),
            vat_code: VatCode::NO_VAT,
            payment_mode: PaymentMode::FullPrepayment,
            payment_subject: PaymentSubject::Service,
        };
        let customer = Customer { email: Some("owner@example.com".into()), phone: None };
        let mut with_receipt = order("o-15", 29_900);
        with_receipt.receipt =
            Some(Receipt { customer: customer.clone(), items: vec![item(29_900)], tax_system_code: None });
        let created = client.create_payment(&with_receipt, "order-o-15").await.unwrap();
        assert_eq!(created.status, PaymentStatus::Pending);

        let mut wrong = order("o-16", 29_900);
        wrong.receipt = Some(Receipt { customer, items: vec![item(10_000)], tax_system_code: None });
        let error = client.create_payment(&wrong, "order-o-16").await.unwrap_err();
        assert!(
            matches!(&error, Error::Api { status: 400, parameter: Some(p), .. } if p == "receipt.items"),
            "{error:?}"
        );

        let stars = NewPayment { amount: Money::new(150, Currency::Xtr), ..order("o-17", 0) };
        let error = client.create_payment(&stars, "order-o-17").await.unwrap_err();
        assert!(matches!(error, Error::Request(_)), "{error:?}");
        assert_eq!(emulator.payments().len(), 1);
    });
}
