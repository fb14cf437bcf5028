//! Refunds of payments that came through a provider, by `botctl billing refund` and by the operator
//! bot's "Refund last payment": Stars refunded by the sales bot in the Bot API emulator (once; a second
//! refund says so and changes nothing; Telegram's `CHARGE_ALREADY_REFUNDED` counts as done), YooKassa
//! refunded through its emulator (and a refund YooKassa leaves pending, reported and not recorded), the
//! confirmation a script must give with --yes, and a viewer who cannot refund.

use std::time::Duration;

use botctl::billing::credit::{self, Payment, Provider};
use botctl::billing::{CreditRequest, Currency, Money};
use botctl::error::BadInput;
use botctl::payments::yookassa::emulator::Emulator as Yookassa;
use botctl::payments::yookassa::{Client, ClientOptions, NewPayment, SecretKey};
use botctl::telegram::BotToken;
use botctl::telegram::emulator::TgUser;
use botctl::telegram::stars::refund_star_payment;
use chrono::Utc;
use serde_json::{Value, json};

use botctl::payments::refund::{Providers, StarsBot};
use botctl::platform::operator::AlertDelivery;
use botctl::platform::operator::texts::Text;

use crate::operator::{ALERTS_EVERY, Desk, OWNER, REMIND_AFTER, VIEWER, en, words};
use crate::stars::Shop;
use crate::support::block_on;
use crate::support::chat::Chat;
use crate::tenant::Plane;

const SHOP: &str = "506751";
const SECRET: &str = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0";

/// Records a provider's payment on the shop's tenant, as the order's crediting does.
fn credit(shop: &Shop, provider: Provider, reference: &str, amount: Money) {
    let payment = Payment {
        provider,
        reference: reference.to_string(),
        amount,
        days: 30,
        plan: Some("1m".into()),
        note: None,
        raw: json!({}),
    };
    let request = CreditRequest { tenant: shop.tenant.clone(), payment };
    block_on(credit::credit(shop.pool(), &request, "test", Utc::now())).unwrap();
}

fn revocations(shop: &Shop, reference: &str) -> i64 {
    shop.plane.f.scalar(&format!(
        "SELECT count(*) FROM botctl.ledger l JOIN botctl.payments p ON p.id = l.payment_id \
         WHERE l.kind = 'revocation' AND p.reference = '{reference}'"
    ))
}

fn refunds_sent(shop: &Shop) -> usize {
    shop.plane.f.emulator.sent(&shop.sales_token).iter().filter(|s| s.method == "refundStarPayment").count()
}

/// `billing refund` with the sales bot's token, as JSON; `Err` holds what a failed run printed (its
/// error as JSON on stdout, and stderr).
fn refund(shop: &Shop, provider: &str, reference: &str, extra: &[&str]) -> Result<Value, String> {
    let out = shop
        .plane
        .f
        .botctl()
        .env("BOTCTL_PLATFORM_SALES_BOT_TOKEN", &shop.sales_token)
        .args(["billing", "refund", reference, "--provider", provider, "-o", "json"])
        .args(extra)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

#[test]
fn a_stars_payment_is_refunded_by_the_sales_bot_once_then_recorded_once() {
    let shop = Shop::new();
    let user = TgUser::new(7101, "Ann");
    let (_, payment) = shop.bought(&user);
    credit(&shop, Provider::Stars, &payment.charge_id, Money::new(150, Currency::Xtr));

    // Not on a terminal, without --yes: refused, and nothing asked of Telegram.
    let refused = refund(&shop, "stars", &payment.charge_id, &[]).unwrap_err();
    assert!(refused.contains("--yes") && refused.contains("150XTR"), "{refused}");
    assert_eq!((refunds_sent(&shop), revocations(&shop, &payment.charge_id)), (0, 0));

    let done = refund(&shop, "stars", &payment.charge_id, &["--yes"]).unwrap();
    assert_eq!((done["outcome"].as_str(), done["days_revoked"].as_i64()), (Some("refunded"), Some(30)));
    assert_eq!(done["at_provider"]["state"], "refunded");
    let sent = shop.plane.f.emulator.sent(&shop.sales_token);
    let call = sent.iter().find(|s| s.method == "refundStarPayment").unwrap();
    assert_eq!(call.params["telegram_payment_charge_id"], payment.charge_id.as_str());
    assert_eq!(call.params["user_id"].to_string(), user.id.to_string());
    let chat = shop.plane.f.emulator.chat(&shop.sales_token, user.id);
    assert!(chat.iter().any(|m| m.refunded_payment.is_some()), "the buyer sees the refund");
    assert_eq!(revocations(&shop, &payment.charge_id), 1);

    // Again: already refunded, Telegram not asked, nothing recorded.
    let again = refund(&shop, "stars", &payment.charge_id, &[]).unwrap();
    assert_eq!(again["outcome"], "already_refunded");
    assert_eq!(again["at_provider"]["state"], "not_asked");
    assert_eq!((refunds_sent(&shop), revocations(&shop, &payment.charge_id)), (1, 1));
    let out =
        shop.plane.f.botctl().args(["billing", "refund", &payment.charge_id, "--provider", "stars"]).assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("refunded already"), "{stderr}");
}

#[test]
fn charge_already_refunded_from_telegram_counts_as_done_and_is_recorded_once() {
    let shop = Shop::new();
    let user = TgUser::new(7102, "Bob");
    let (_, payment) = shop.bought(&user);
    credit(&shop, Provider::Stars, &payment.charge_id, Money::new(150, Currency::Xtr));
    // Refunded at Telegram behind botctl's back (or an earlier run died before recording).
    let direct =
        shop.call("refundStarPayment", json!({"user_id": user.id, "telegram_payment_charge_id": payment.charge_id}));
    assert_eq!(direct["result"], true, "{direct}");

    let done = refund(&shop, "stars", &payment.charge_id, &["--yes"]).unwrap();
    assert_eq!(done["outcome"], "refunded");
    assert_eq!(done["at_provider"]["state"], "already_refunded");
    let answered = shop.plane.f.emulator.sent(&shop.sales_token);
    assert_eq!(answered.iter().filter(|s| s.method == "refundStarPayment").count(), 2, "botctl asked once");
    assert_eq!(revocations(&shop, &payment.charge_id), 1);
    assert_eq!(
        shop.plane
            .f
            .scalar::<String>(&format!("SELECT state FROM botctl.payments WHERE reference = '{}'", payment.charge_id)),
        "refunded"
    );
    assert_eq!(refund(&shop, "stars", &payment.charge_id, &["--yes"]).unwrap()["outcome"], "already_refunded");
    assert_eq!(revocations(&shop, &payment.charge_id), 1);
}

#[test]
fn a_stars_refund_needs_the_sales_bot_and_the_order_that_names_the_buyer() {
    let shop = Shop::new();
    // A Stars payment no order took: who paid it is unknown.
    credit(&shop, Provider::Stars, "stxNoOrder000001", Money::new(150, Currency::Xtr));
    let err = refund(&shop, "stars", "stxNoOrder000001", &["--yes"]).unwrap_err();
    assert!(err.contains("no order was paid by Stars charge"), "{err}");
    // Without the sales bot's token there is no one to refund with.
    let out = shop
        .plane
        .f
        .botctl()
        .args(["billing", "refund", "stxNoOrder000001", "--provider", "stars", "--yes"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("platform.sales_bot.token"), "{stderr}");
    assert!(!stderr.contains(&shop.sales_token), "{stderr}");
    assert_eq!((refunds_sent(&shop), revocations(&shop, "stxNoOrder000001")), (0, 0));

    // Telegram's refusal is bad input naming its reason; an unreachable API a failure. Neither shows the token.
    let bot: BotToken = shop.sales_token.parse().unwrap();
    let secret = shop.sales_token.split_once(':').unwrap().1;
    let api: url::Url = shop.plane.f.api.parse().unwrap();
    let refused = block_on(refund_star_payment(&api, &bot, 7199, "stxNoSuchCharge01")).unwrap_err();
    assert!(botctl::error::has::<BadInput>(&refused), "{refused:#}");
    assert!(format!("{refused:#}").contains("CHARGE_NOT_FOUND"), "{refused:#}");
    let down: url::Url = crate::support::http::refused().parse().unwrap();
    let unreachable = block_on(refund_star_payment(&down, &bot, 7199, "stxNoSuchCharge01")).unwrap_err();
    assert!(!botctl::error::has::<BadInput>(&unreachable), "{unreachable:#}");
    for error in [refused, unreachable] {
        assert!(!format!("{error:#} {error:?}").contains(secret), "{error:#}");
    }
}

#[test]
fn a_yookassa_payment_is_refunded_through_the_shop_and_recorded_once() {
    let shop = Shop::new();
    let yookassa = block_on(async {
        let emulator = Yookassa::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        emulator.add_shop(SHOP, SECRET);
        emulator
    });
    let client = Client::new(ClientOptions {
        base_url: yookassa.api_url(),
        shop_id: SHOP.into(),
        secret_key: SecretKey::new(SECRET),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let new = NewPayment {
        amount: Money::new(29_900, Currency::Rub),
        description: "Renewal".into(),
        return_url: "https://t.me/botctl_sales_bot".parse().unwrap(),
        metadata: [("order".to_string(), "refundtest000001".to_string())].into(),
        receipt: None,
    };
    let created = block_on(client.create_payment(&new, "botctl-order-refundtest000001")).unwrap();
    yookassa.pay(&created.id).unwrap();
    credit(&shop, Provider::Yookassa, &created.id, Money::new(29_900, Currency::Rub));

    let run = |extra: &[&str]| {
        let out = shop
            .plane
            .f
            .botctl()
            .env("BOTCTL_BILLING_YOOKASSA_SHOP_ID", SHOP)
            .env("BOTCTL_BILLING_YOOKASSA_SECRET_KEY", SECRET)
            .env("BOTCTL_BILLING_YOOKASSA_API_URL", yookassa.api_url().as_str())
            .env("BOTCTL_BILLING_YOOKASSA_RETURN_URL", "https://t.me/botctl_sales_bot")
            .args(["billing", "refund", &created.id, "--provider", "yookassa", "-o", "json"])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains(SECRET), "{stderr}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let done = run(&["--yes"]);
    assert_eq!((done["outcome"].as_str(), done["at_provider"]["state"].as_str()), (Some("refunded"), Some("refunded")));
    let refunds = yookassa.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(
        (refunds[0].payment_id.as_str(), refunds[0].amount),
        (created.id.as_str(), Money::new(29_900, Currency::Rub))
    );
    assert_eq!(revocations(&shop, &created.id), 1);

    let again = run(&[]);
    assert_eq!(again["outcome"], "already_refunded");
    assert_eq!((yookassa.refunds().len(), revocations(&shop, &created.id)), (1, 1));
}

#[test]
fn an_owner_refunds_the_last_payment_from_the_card_and_a_viewer_cannot() {
    let shop = Shop::new();
    let buyer = TgUser::new(7103, "Dan");
    let (_, payment) = shop.bought(&buyer);
    credit(&shop, Provider::Stars, &payment.charge_id, Money::new(150, Currency::Xtr));
    let (sales_token, api_url) = (shop.sales_token.clone(), shop.plane.f.emulator.url());
    let Shop { plane, tenant, .. } = shop;
    let Plane { f, .. } = plane;
    let mut desk = Desk::attach(f, tenant);
    desk.refunds = Providers { stars: Some(StarsBot { api_url, token: sales_token.parse().unwrap() }), yookassa: None };
    desk.spawn(AlertDelivery { remind_after: REMIND_AFTER, every: ALERTS_EVERY });
    let refunds_sent =
        |desk: &Desk| desk.emulator().sent(&sales_token).iter().filter(|s| s.method == "refundStarPayment").count();
    let revoked = |desk: &Desk| -> i64 { desk.scalar("SELECT count(*) FROM botctl.ledger WHERE kind = 'revocation'") };

    // A viewer's card has no refund button, and pressing one anyway (old or forged) does nothing.
    let viewer = Desk::user(VIEWER);
    let card = desk.card(&viewer);
    assert!(card.callbacks("rf:").is_empty(), "{card:?}");
    let payment_id: i64 = desk.scalar("SELECT id FROM botctl.payments");
    for data in [format!("rf:{}", desk.slug), format!("ry:{payment_id}:{}", desk.slug)] {
        assert_eq!(desk.press(&viewer, &card, &data).as_deref(), Some(en().raw(Text::AccessViewer)), "{data}");
    }
    assert_eq!((refunds_sent(&desk), revoked(&desk)), (0, 0));

    // The owner: the confirmation names tenant, amount, provider and reference.
    let owner = Desk::user(OWNER);
    let card = desk.card(&owner);
    desk.press(&owner, &card, &format!("rf:{}", desk.slug));
    let confirm = desk.says(&owner, |m| !m.callbacks("ry:").is_empty());
    let text = confirm.text.clone().unwrap_or_default();
    for needle in [desk.slug.as_str(), "150XTR", "stars", payment.charge_id.as_str()] {
        assert!(text.contains(needle), "the confirmation names {needle}: {text}");
    }
    let confirm_data = format!("ry:{payment_id}:{}", desk.slug);
    assert_eq!(confirm.callbacks("ry:"), vec![confirm_data.clone()]);
    desk.press(&owner, &confirm, &confirm_data);
    let done = desk.says_text(&owner, &words(Text::RefundDone));
    assert!(done.text.as_deref().is_some_and(|t| t.contains("30")), "{done:?}");
    assert_eq!((refunds_sent(&desk), revoked(&desk)), (1, 1));
    let chat = desk.emulator().chat(&sales_token, buyer.id);
    assert!(chat.iter().any(|m| m.refunded_payment.is_some()), "the buyer sees the refund");

    // The same confirmation pressed again: refunded already, Telegram not asked again.
    desk.press(&owner, &done, &confirm_data);
    desk.says_text(&owner, "refunded already");
    assert_eq!((refunds_sent(&desk), revoked(&desk)), (1, 1));
    // No succeeded payment is left: the card offers no refund, and an old button says so.
    let card = desk.card(&owner);
    assert!(card.callbacks("rf:").is_empty(), "{card:?}");
    desk.press(&owner, &card, &format!("rf:{}", desk.slug));
    desk.says_text(&owner, "has no payment to refund");
}

/// A YooKassa API whose refunds stay `pending`, as a bank's can for a while: the one answer the
/// emulator does not give.
fn pending_yookassa() -> url::Url {
    let app = axum::Router::new().route(
        "/v3/refunds",
        axum::routing::post(|body: axum::Json<Value>| async move {
            axum::Json(json!({
                "id": "rf-pending-0001",
                "payment_id": body["payment_id"],
                "status": "pending",
                "amount": body["amount"],
            }))
        }),
    );
    let listener = block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/v3/", listener.local_addr().unwrap());
    // Serves until the test process ends.
    block_on(async {
        tokio::spawn(async move { axum::serve(listener, app).await });
    });
    url.parse().unwrap()
}

#[test]
fn a_pending_yookassa_refund_is_reported_and_left_to_its_notification() {
    let shop = Shop::new();
    let payment_id = "2f8a3c1e-000f-5000-9000-1b2c3d4e5f60";
    credit(&shop, Provider::Yookassa, payment_id, Money::new(29_900, Currency::Rub));
    let api = pending_yookassa();
    let out = shop
        .plane
        .f
        .botctl()
        .env("BOTCTL_BILLING_YOOKASSA_SHOP_ID", SHOP)
        .env("BOTCTL_BILLING_YOOKASSA_SECRET_KEY", SECRET)
        .env("BOTCTL_BILLING_YOOKASSA_API_URL", api.as_str())
        .env("BOTCTL_BILLING_YOOKASSA_RETURN_URL", "https://t.me/botctl_sales_bot")
        .args(["billing", "refund", payment_id, "--provider", "yookassa", "--yes", "-o", "json"])
        .assert()
        .success();
    let pending: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(pending["outcome"], "pending");
    assert_eq!(pending["at_provider"], json!({"state": "pending", "refund_id": "rf-pending-0001"}));
    assert_eq!(pending["tenant"], shop.tenant.as_str());
    // Nothing recorded until YooKassa says the refund succeeded.
    assert_eq!(revocations(&shop, payment_id), 0);
    assert_eq!(
        shop.plane.f.scalar::<String>(&format!("SELECT state FROM botctl.payments WHERE reference = '{payment_id}'")),
        "succeeded"
    );
}
