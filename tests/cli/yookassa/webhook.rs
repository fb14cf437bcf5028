//! The notification listener: only allowed peers, the named object fetched from the API instead of the
//! body believed, and 200 only once the consumer has taken the notification in.

use std::net::SocketAddr;

use botctl::payments::yookassa::webhook::{self, Consumer, Sources};
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::*;

/// Records what it is given; fails while `failures` lasts, as a database that is down would.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<Notified>>,
    failures: Mutex<u32>,
}

impl Consumer for Recorder {
    fn consume(&self, notified: Notified) -> BoxFuture<'static, anyhow::Result<()>> {
        let failed = {
            let mut failures = self.failures.lock().unwrap();
            let failed = *failures > 0;
            *failures = failures.saturating_sub(1);
            failed
        };
        if !failed {
            self.got.lock().unwrap().push(notified);
        }
        Box::pin(async move { if failed { anyhow::bail!("the database is down") } else { Ok(()) } })
    }
}

fn loopback() -> Sources {
    Sources { allowed: vec!["127.0.0.1/32".parse().unwrap()], trusted_proxies: Vec::new() }
}

async fn listen(emulator: &Emulator, sources: Sources, recorder: &Arc<Recorder>) -> (url::Url, CancellationToken) {
    let stop = CancellationToken::new();
    let consumer: Arc<dyn Consumer> = recorder.clone();
    let (addr, _task): (SocketAddr, _) =
        webhook::listen("127.0.0.1:0".parse().unwrap(), client(emulator), sources, consumer, stop.clone())
            .await
            .unwrap();
    (format!("http://{addr}/").parse().unwrap(), stop)
}

fn payments(recorder: &Recorder) -> Vec<(String, PaymentStatus, Money)> {
    let got = recorder.got.lock().unwrap();
    got.iter()
        .filter_map(|n| match n {
            Notified::Payment(p) => Some((p.id.clone(), p.status.clone(), p.amount)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_payment_is_fetched_taken_in_and_acknowledged_only_once_taken_in() {
    block_on(async {
        let emulator = emulator().await;
        let recorder = Arc::new(Recorder { failures: Mutex::new(1), ..Recorder::default() });
        let (url, stop) = listen(&emulator, loopback(), &recorder).await;
        emulator.set_notification_url(SHOP, Some(url)).unwrap();
        emulator.set_retry_schedule(vec![Duration::from_millis(20)]);
        let payment = client(&emulator).create_payment(&order("w-1", 29_900), "order-w-1").await.unwrap();
        emulator.pay(&payment.id).unwrap();
        let attempts = emulator.wait_attempts(|a| acknowledged(a) == 1, WAIT).await.unwrap();
        assert_eq!(
            attempts.iter().map(|a| (a.number, a.status)).collect::<Vec<_>>(),
            [(1, Some(500)), (2, Some(200))],
            "not taken in → 5xx and YooKassa delivers again"
        );
        assert_eq!(payments(&recorder), [(payment.id.clone(), PaymentStatus::Succeeded, rub(29_900))]);
        stop.cancel();
    });
}

#[test]
fn a_peer_outside_the_allowed_networks_is_refused_and_nothing_is_taken_in() {
    block_on(async {
        let emulator = emulator().await;
        let recorder = Arc::new(Recorder::default());
        // YooKassa's own networks: the emulator posts from 127.0.0.1.
        let (url, stop) = listen(&emulator, Sources::default(), &recorder).await;
        emulator.set_notification_url(SHOP, Some(url.clone())).unwrap();
        emulator.set_retry_schedule(Vec::new());
        let payment = client(&emulator).create_payment(&order("w-2", 29_900), "order-w-2").await.unwrap();
        emulator.pay(&payment.id).unwrap();
        let attempts = emulator.wait_attempts(|a| !a.is_empty(), WAIT).await.unwrap();
        assert_eq!(attempts[0].status, Some(403));
        // Naming YooKassa's address in the header changes nothing without a trusted proxy.
        let forged = reqwest::Client::new()
            .post(url)
            .header("x-forwarded-for", "185.71.76.1")
            .json(&json!({"type": "notification", "event": "payment.succeeded", "object": {"id": payment.id}}))
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status().as_u16(), 403);
        assert!(recorder.got.lock().unwrap().is_empty());
        stop.cancel();
    });
}

#[test]
fn the_body_is_never_believed_the_api_is() {
    block_on(async {
        let emulator = emulator().await;
        let recorder = Arc::new(Recorder::default());
        let (url, stop) = listen(&emulator, loopback(), &recorder).await;
        let pending = client(&emulator).create_payment(&order("w-3", 29_900), "order-w-3").await.unwrap();
        let post = |body: Value| {
            let url = url.clone();
            async move { reqwest::Client::new().post(url).json(&body).send().await.unwrap().status().as_u16() }
        };
        // A forged "succeeded" for 1 kopeck about a real, unpaid payment: what is taken in is the API's word.
        let forged = json!({"type": "notification", "event": "payment.succeeded",
            "object": {"id": pending.id, "status": "succeeded", "paid": true, "amount": {"value": "0.01", "currency": "RUB"}}});
        assert_eq!(post(forged).await, 200);
        assert_eq!(payments(&recorder), [(pending.id.clone(), PaymentStatus::Pending, rub(29_900))]);
        // A payment YooKassa does not know: nothing is taken in, and a 5xx asks for it again.
        let unknown = json!({"type": "notification", "event": "payment.succeeded", "object": {"id": "2f1d8c5e-000f-5000-9000-1b3c4d5e6f70"}});
        let status = post(unknown).await;
        assert!((500..600).contains(&status), "{status}");
        assert_eq!(payments(&recorder).len(), 1);
        assert_eq!(post(json!({"hello": "world"})).await, 400);
        stop.cancel();
    });
}
