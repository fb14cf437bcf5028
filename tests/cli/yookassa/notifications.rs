//! YooKassa notifications from the emulator: delivered, acknowledged, retried, duplicated, reordered.

use super::*;

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
        let attempts = emulator.wait_attempts(|a| a.len() >= 4, WAIT).await.unwrap();
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
fn a_notification_is_believed_only_as_far_as_the_api_confirms_it() {
    block_on(async {
        let emulator = emulator().await;
        let receiver = receiver(&[]).await;
        emulator.set_notification_url(SHOP, Some(receiver.url.clone())).unwrap();
        let client = client(&emulator);
        let payment = client.create_payment(&order("o-21", 29_900), "order-o-21").await.unwrap();

        // Anyone can POST this: it claims success for a payment nobody paid.
        let mut forged_object = serde_json::to_value(&payment).unwrap();
        forged_object["status"] = json!("succeeded");
        forged_object["paid"] = json!(true);
        let forged =
            Notification { kind: "notification".into(), event: "payment.succeeded".into(), object: forged_object };
        let Notified::Payment(now) = client.fetch_notified(&forged).await.unwrap() else { panic!("not a payment") };
        assert_eq!((now.status, now.paid), (PaymentStatus::Pending, false));

        emulator.pay(&payment.id).unwrap();
        client.create_refund(&payment.id, rub(29_900), "refund-o-21").await.unwrap();
        emulator.wait_attempts(|a| acknowledged(a) == 2, WAIT).await.unwrap();
        let got = receiver.got.lock().unwrap().clone();
        let mut confirmed = Vec::new();
        for notification in &got {
            confirmed.push(client.fetch_notified(notification).await.unwrap());
        }
        // The two may arrive in either order, as YooKassa's may.
        assert_eq!(confirmed.len(), 2);
        assert!(confirmed.iter().any(|n| matches!(n, Notified::Payment(p)
            if p.id == payment.id && p.status == PaymentStatus::Succeeded)));
        assert!(confirmed.iter().any(|n| matches!(n, Notified::Refund(r)
            if r.payment_id == payment.id && r.status == RefundStatus::Succeeded)));

        let payout = Notification { kind: "notification".into(), event: "payout.succeeded".into(), object: json!({}) };
        assert_eq!(client.fetch_notified(&payout).await.unwrap(), Notified::Unhandled("payout.succeeded".into()));
        let nameless =
            Notification { kind: "notification".into(), event: "payment.canceled".into(), object: json!({"id": 5}) };
        assert!(matches!(client.fetch_notified(&nameless).await, Err(Error::Request(_))));
        let tricky = Notification {
            kind: "notification".into(),
            event: "refund.succeeded".into(),
            object: json!({"id": "../payments/x"}),
        };
        assert!(matches!(client.fetch_notified(&tricky).await, Err(Error::Request(_))));
    });
}
