//! What the YooKassa client makes of refusals, lost answers, hangs and garbage; the emulator's controls.

use super::*;

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
