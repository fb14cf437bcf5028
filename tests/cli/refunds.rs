//! `botctl billing refund` for payments that came through a provider: Stars refunded by the sales bot
//! in the Bot API emulator (once; a second refund says so and changes nothing; Telegram's
//! `CHARGE_ALREADY_REFUNDED` counts as done), YooKassa refunded through its emulator, and the
//! confirmation that a script must give with --yes.

use std::time::Duration;

use botctl::billing::credit::{self, Payment, Provider};
use botctl::billing::{CreditRequest, Currency, Money};
use botctl::payments::yookassa::emulator::Emulator as Yookassa;
use botctl::payments::yookassa::{Client, ClientOptions, NewPayment, SecretKey};
use botctl::telegram::emulator::TgUser;
use chrono::Utc;
use serde_json::{Value, json};

use crate::stars::Shop;
use crate::support::block_on;

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
