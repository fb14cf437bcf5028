//! The YooKassa client against botctl's YooKassa emulator: payments, idempotence, notifications,
//! refunds and the failures a client must survive.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use botctl::billing::{Currency, Money};
use botctl::payments::yookassa::emulator::{Attempt, Emulator, Failure, Operation, Release};
use botctl::payments::yookassa::{
    Client, ClientOptions, Customer, Error, NewPayment, Notification, PaymentMode, PaymentStatus, PaymentSubject,
    Receipt, ReceiptItem, RefundStatus, SecretKey, VatCode,
};
use serde_json::{Value, json};

use crate::support::block_on;

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
fn notifications_are_duplicated_on_demand_and_retried_after_a_500() {
    block_on(async {
        let emulator = emulator().await;
        let receiver = receiver(&[500]).await;
        emulator.set_notification_url(SHOP, Some(receiver.url.clone())).unwrap();
        emulator.set_retry_schedule(vec![Duration::from_millis(20), Duration::from_millis(20)]);
        let client = client(&emulator);
        let payment = client.create_payment(&order("o-4", 29_900), "order-o-4").await.unwrap();

        emulator.duplicate_next_notification(1);
        emulator.pay(&payment.id).unwrap();
        let attempts = emulator.wait_attempts(|a| acknowledged(a) == 2, WAIT).await.unwrap();
        assert_eq!(attempts.len(), 3, "{attempts:?}");
        assert!(attempts.iter().all(|a| a.notification == attempts[0].notification && a.event == "payment.succeeded"));
        let failed = attempts.iter().find(|a| a.status == Some(500)).unwrap();
        assert_eq!(failed.number, 1);
        let retried = attempts.iter().find(|a| a.copy == failed.copy && a.number == 2).unwrap();
        assert_eq!(retried.status, Some(200));
        let mut copies: Vec<u32> = attempts.iter().filter(|a| a.status == Some(200)).map(|a| a.copy).collect();
        copies.sort_unstable();
        assert_eq!(copies, [0, 1]);
        let got = receiver.got.lock().unwrap().clone();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|n| n.object_id() == Some(payment.id.as_str())));

        // Only the next notification was duplicated.
        let second = client.create_payment(&order("o-5", 100), "order-o-5").await.unwrap();
        emulator.cancel(&second.id, "yoo_money", "expired_on_confirmation").unwrap();
        let attempts = emulator.wait_attempts(|a| acknowledged(a) == 3, WAIT).await.unwrap();
        assert_eq!(attempts.iter().filter(|a| a.event == "payment.canceled").count(), 1);
    });
}

#[test]
fn a_receiver_that_never_acknowledges_is_given_up_after_the_schedule() {
    block_on(async {
        let emulator = emulator().await;
        let receiver = receiver(&[503, 503, 503, 503]).await;
        emulator.set_notification_url(SHOP, Some(receiver.url.clone())).unwrap();
        emulator.set_retry_schedule(vec![Duration::from_millis(5), Duration::from_millis(5)]);
        let client = client(&emulator);
        let payment = client.create_payment(&order("o-6", 29_900), "order-o-6").await.unwrap();
        emulator.pay(&payment.id).unwrap();
        let attempts = emulator.wait_attempts(|a| a.len() == 3, WAIT).await.unwrap();
        assert_eq!(
            attempts.iter().map(|a| (a.number, a.status)).collect::<Vec<_>>(),
            [(1, Some(503)), (2, Some(503)), (3, Some(503))]
        );
        // A fourth payment's notification is the next thing recorded: the first was given up.
        let other = client.create_payment(&order("o-7", 100), "order-o-7").await.unwrap();
        emulator.pay(&other.id).unwrap();
        let attempts = emulator.wait_attempts(|a| a.len() == 4, WAIT).await.unwrap();
        assert_eq!((attempts[3].object_id.as_str(), attempts[3].status), (other.id.as_str(), Some(503)));
    });
}

#[test]
fn held_notifications_arrive_in_the_order_asked_for() {
    block_on(async {
        let emulator = emulator().await;
        let receiver = receiver(&[]).await;
        emulator.set_notification_url(SHOP, Some(receiver.url.clone())).unwrap();
        let client = client(&emulator);
        let first = client.create_payment(&order("o-8", 100), "order-o-8").await.unwrap();
        let second = client.create_payment(&order("o-9", 200), "order-o-9").await.unwrap();
        emulator.hold_notifications();
        emulator.pay(&first.id).unwrap();
        emulator.cancel(&second.id, "payment_network", "card_expired").unwrap();
        assert!(emulator.attempts().is_empty());
        emulator.release_notifications(Release::Reversed);
        emulator.wait_attempts(|a| acknowledged(a) == 2, WAIT).await.unwrap();
        let got = receiver.got.lock().unwrap().clone();
        let order: Vec<(&str, Option<&str>)> = got.iter().map(|n| (n.event.as_str(), n.object_id())).collect();
        assert_eq!(
            order,
            [("payment.canceled", Some(second.id.as_str())), ("payment.succeeded", Some(first.id.as_str()))]
        );

        let canceled = client.get_payment(&second.id).await.unwrap();
        assert_eq!(canceled.status, PaymentStatus::Canceled);
        let details = canceled.cancellation_details.clone().unwrap();
        assert_eq!((details.party.as_str(), details.reason.as_str()), ("payment_network", "card_expired"));
        let page = reqwest::get(canceled.confirmation_url().unwrap().clone()).await.unwrap();
        assert_eq!(page.status().as_u16(), 409);
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
fn a_wrong_secret_is_refused_and_never_printed() {
    block_on(async {
        let emulator = emulator().await;
        let wrong = "live_wrong_secret_0123456789";
        let client = client_with(&emulator, wrong, WAIT);
        let error = client.create_payment(&order("o-11", 29_900), "order-o-11").await.unwrap_err();
        assert!(matches!(&error, Error::Api { status: 401, code, .. } if code == "invalid_credentials"), "{error:?}");
        let shown = format!("{error} {error:?} {client:?}");
        assert!(!shown.contains(wrong), "{shown}");
        let error = client.get_payment("x").await.unwrap_err();
        assert_eq!(error.code(), Some("invalid_credentials"));
        assert!(emulator.payments().is_empty());

        // A transport failure's text names neither the secret nor the URL it was sent to.
        let nowhere = Client::new(ClientOptions {
            base_url: "http://127.0.0.1:9/v3".parse().unwrap(),
            shop_id: SHOP.into(),
            secret_key: SecretKey::new(SECRET),
            timeout: WAIT,
        })
        .unwrap();
        let error = nowhere.get_payment("p1").await.unwrap_err();
        assert!(error.is_retryable(), "{error:?}");
        let shown = format!("{error} {error:?} {nowhere:?}");
        assert!(!shown.contains(SECRET) && !shown.contains("/v3/payments"), "{shown}");
    });
}

#[test]
fn a_lost_answer_is_retryable_and_the_retry_finds_the_same_payment() {
    block_on(async {
        let emulator = emulator().await;
        let client = client(&emulator);
        emulator.fail(Operation::CreatePayment, Failure::LostAnswer, 1);
        let error = client.create_payment(&order("o-12", 29_900), "order-o-12").await.unwrap_err();
        assert!(matches!(error, Error::Transport { status: Some(500), .. }), "{error:?}");
        assert!(error.is_retryable());
        assert_eq!(emulator.payments().len(), 1);
        let retried = client.create_payment(&order("o-12", 29_900), "order-o-12").await.unwrap();
        assert_eq!(emulator.payments(), [retried]);

        emulator.fail(Operation::GetPayment, Failure::ServerError(503), 2);
        let id = emulator.payments()[0].id.clone();
        for _ in 0..2 {
            let error = client.get_payment(&id).await.unwrap_err();
            assert!(matches!(error, Error::Transport { status: Some(503), .. }), "{error:?}");
        }
        assert_eq!(client.get_payment(&id).await.unwrap().id, id);
    });
}

#[test]
fn a_hung_call_times_out_as_a_retryable_error() {
    block_on(async {
        let emulator = emulator().await;
        let impatient = client_with(&emulator, SECRET, Duration::from_millis(200));
        emulator.fail(Operation::CreatePayment, Failure::Hang, 1);
        let error = impatient.create_payment(&order("o-13", 29_900), "order-o-13").await.unwrap_err();
        assert!(matches!(error, Error::Transport { status: None, .. }), "{error:?}");
        assert!(emulator.payments().is_empty());
        let created = impatient.create_payment(&order("o-13", 29_900), "order-o-13").await.unwrap();
        assert_eq!(created.status, PaymentStatus::Pending);
        emulator.shutdown().await;
    });
}

#[test]
fn a_malformed_answer_is_invalid_not_a_panic() {
    block_on(async {
        let emulator = emulator().await;
        let client = client(&emulator);
        let payment = client.create_payment(&order("o-14", 29_900), "order-o-14").await.unwrap();
        let mut body = serde_json::to_value(&payment).unwrap();
        for amount in [
            json!({"value": "299.9.9", "currency": "RUB"}),
            json!({"value": "2.999", "currency": "RUB"}),
            json!({"value": 299.0, "currency": "RUB"}),
            json!({"value": "299.00"}),
            json!("299.00"),
        ] {
            body["amount"] = amount.clone();
            emulator.fail(Operation::GetPayment, Failure::Answer { status: 200, body: body.clone() }, 1);
            let error = client.get_payment(&payment.id).await.unwrap_err();
            assert!(matches!(error, Error::Invalid { status: 200, .. }), "{amount}: {error:?}");
            assert!(!error.is_retryable());
        }
        emulator.fail(Operation::GetPayment, Failure::Answer { status: 400, body: json!(["not", "an", "error"]) }, 1);
        let error = client.get_payment(&payment.id).await.unwrap_err();
        assert!(matches!(error, Error::Invalid { status: 400, .. }), "{error:?}");
        // The next answer is the real one again, and a new status does not fail parsing.
        body["amount"] = json!({"value": "299.00", "currency": "RUB"});
        body["status"] = json!("some_new_status");
        emulator.fail(Operation::GetPayment, Failure::Answer { status: 200, body }, 1);
        let odd = client.get_payment(&payment.id).await.unwrap();
        assert_eq!(odd.status, PaymentStatus::Unknown("some_new_status".into()));
        assert_eq!(client.get_payment(&payment.id).await.unwrap(), payment);
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
        with_receipt.receipt = Some(Receipt { customer: customer.clone(), items: vec![item(29_900)] });
        let created = client.create_payment(&with_receipt, "order-o-15").await.unwrap();
        assert_eq!(created.status, PaymentStatus::Pending);

        let mut wrong = order("o-16", 29_900);
        wrong.receipt = Some(Receipt { customer, items: vec![item(10_000)] });
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

#[test]
fn a_delayed_notification_is_overtaken_by_a_later_one() {
    block_on(async {
        let emulator = emulator().await;
        let receiver = receiver(&[]).await;
        emulator.set_notification_url(SHOP, Some(receiver.url.clone())).unwrap();
        let client = client(&emulator);
        let slow = client.create_payment(&order("o-18", 100), "order-o-18").await.unwrap();
        let fast = client.create_payment(&order("o-19", 200), "order-o-19").await.unwrap();
        // Far longer than the test: the slow one must not arrive while it runs.
        emulator.delay_notifications(Duration::from_secs(600));
        emulator.pay(&slow.id).unwrap();
        emulator.delay_notifications(Duration::ZERO);
        emulator.pay(&fast.id).unwrap();
        let attempts = emulator.wait_attempts(|a| !a.is_empty(), WAIT).await.unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].object_id, fast.id);
        // The server answers at once whatever its notifications are waiting for.
        assert_eq!(client.get_payment(&slow.id).await.unwrap().status, PaymentStatus::Succeeded);
        emulator.shutdown().await;
        assert_eq!(receiver.got.lock().unwrap().len(), 1);
    });
}

#[test]
fn people_drive_the_emulator_over_http_as_tests_do_through_the_handle() {
    block_on(async {
        let emulator = Emulator::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let receiver = receiver(&[]).await;
        let http = reqwest::Client::new();
        let control = |path: &str| emulator.url().join(&format!("_emulator/{path}")).unwrap();
        let shop = json!({"shop_id": SHOP, "secret_key": SECRET, "notification_url": receiver.url});
        assert_eq!(http.post(control("shops")).json(&shop).send().await.unwrap().status().as_u16(), 201);
        let refused =
            http.post(control("shops")).json(&json!({"shop_id": SHOP, "secret": SECRET})).send().await.unwrap();
        assert_eq!(refused.status().as_u16(), 400);
        assert!(!refused.text().await.unwrap().contains(SECRET));

        let client = client(&emulator);
        let payment = client.create_payment(&order("o-20", 29_900), "order-o-20").await.unwrap();
        let cancel = json!({"reason": "expired_on_confirmation"});
        let canceled =
            http.post(control(&format!("payments/{}/cancel", payment.id))).json(&cancel).send().await.unwrap();
        assert_eq!(canceled.status().as_u16(), 200);
        let details = client.get_payment(&payment.id).await.unwrap().cancellation_details.unwrap();
        assert_eq!((details.party.as_str(), details.reason.as_str()), ("yoo_money", "expired_on_confirmation"));
        let pay = http.post(control(&format!("payments/{}/pay", payment.id))).send().await.unwrap();
        assert_eq!(pay.status().as_u16(), 409);

        let fail = json!({"operation": "get_payment", "failure": {"server_error": 502}});
        assert_eq!(http.post(control("failures")).json(&fail).send().await.unwrap().status().as_u16(), 204);
        let error = client.get_payment(&payment.id).await.unwrap_err();
        assert!(matches!(error, Error::Transport { status: Some(502), .. }), "{error:?}");

        let listed: Vec<Value> = http.get(control("payments")).send().await.unwrap().json().await.unwrap();
        assert_eq!((listed.len(), listed[0]["status"].as_str()), (1, Some("canceled")));
        emulator.wait_attempts(|a| acknowledged(a) == 1, WAIT).await.unwrap();
        let sent: Vec<Value> = http.get(control("notifications")).send().await.unwrap().json().await.unwrap();
        assert_eq!((sent[0]["event"].as_str(), sent[0]["status"].as_u64()), (Some("payment.canceled"), Some(200)));
    });
}
