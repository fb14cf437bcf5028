//! An existing customer: "My subscription" (state, paid until, payments) and a renewal paid in
//! Telegram Stars — the invoice in XTR at the plan's whole-Star price, a checkout after the price
//! changed refused with the reason, the payment credited once and the buyer told the days are on.

use std::time::Duration;

use botctl::locale::Locale;
use botctl::telegram::emulator::CheckoutOutcome;

use super::{Offer, Shop};
use crate::serve::WAIT;
use crate::support::chat::Chat;
use crate::support::{block_on, token, unique_slug};
use crate::tenant::BOT_A;

pub(crate) const CAROL: i64 = 7201;

/// A tenant on a trial whose order the buyer `CAROL` completed; returns its name.
pub(crate) fn customer(shop: &Shop) -> String {
    let slug = unique_slug();
    let bot = token(BOT_A);
    let args = ["tenant", "create", "--no-start", &slug, "--token", &bot, "--admin", "7201", "--trial"];
    shop.f.botctl().args(args).args(["--template", "clinic"]).assert().success();
    let sql = format!(
        "INSERT INTO botctl.orders (reference, buyer_user_id, buyer_chat_id, buyer_language, kind, state, \
         business_name, tenant_slug, bot_id, bot_username, template, timezone, created_at, updated_at) \
         VALUES ('carolsorder00001', {CAROL}, {CAROL}, 'en', 'trial', 'done', 'Carol''s Clinic', '{slug}', \
         {BOT_A}, 'a_bot', 'clinic', 'Europe/Moscow', now(), now())"
    );
    block_on(sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&shop.pool)).unwrap();
    slug
}

pub(crate) fn paid_until(shop: &Shop, slug: &str) -> chrono::DateTime<chrono::Utc> {
    shop.scalar(&format!(
        "SELECT s.paid_until FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
         WHERE t.slug = '{slug}'"
    ))
}

#[test]
fn my_subscription_shows_the_state_and_a_stars_renewal_adds_its_days_once() {
    let shop = Shop::start(Offer { stars: true, ..Offer::default() });
    let slug = customer(&shop);
    shop.f.botctl().args(["billing", "plan", "set", "1m", "--price", "150XTR"]).assert().success();
    let carol = Shop::buyer(CAROL, Locale::En);
    let before = paid_until(&shop, &slug);

    let welcome = shop.welcome(&carol);
    shop.press(&carol, &welcome, "s");
    let mine = shop.says_text(&carol, "Carol's Clinic");
    let shown = mine.text.clone().unwrap_or_default();
    assert!(shown.contains("@a_bot") && shown.contains("free trial") && shown.contains("none yet"), "{shown}");
    assert!(shown.contains(&before.format("%Y-%m-%d").to_string()), "paid until is shown: {shown}");

    shop.press(&carol, &mine, &format!("r:{slug}"));
    let plans = shop.says(&carol, |m| !m.callbacks("rp:").is_empty());
    let order: i64 = shop.scalar(&format!("SELECT max(id) FROM botctl.orders WHERE buyer_user_id = {CAROL}"));
    shop.press(&carol, &plans, &format!("rp:{order}:1m"));
    let methods = shop.says(&carol, |m| !m.callbacks("ps:").is_empty());
    assert!(methods.text.as_deref().is_some_and(|t| t.contains("150 ⭐")), "{:?}", methods.text);
    shop.press(&carol, &methods, &format!("ps:{order}"));
    let invoice = shop.says(&carol, |m| m.invoice.is_some());
    let sent = invoice.invoice.clone().unwrap();
    assert_eq!((sent.currency.as_str(), sent.total_amount), ("XTR", 150), "whole Stars, never ×100");

    // The price changed after the invoice went out: the checkout is refused with the reason.
    shop.f.botctl().args(["billing", "plan", "set", "1m", "--price", "160XTR"]).assert().success();
    let query = shop.emulator().pay_invoice(&shop.token, &carol, invoice.message_id).unwrap();
    match block_on(shop.emulator().wait_checkout(&query, WAIT)).unwrap() {
        CheckoutOutcome::Declined { error_message } => {
            assert!(error_message.as_deref().is_some_and(|e| !e.is_empty()), "a reason is given: {error_message:?}");
        }
        other => panic!("a checkout at a changed price must be declined: {other:?}"),
    }
    assert_eq!(paid_until(&shop, &slug), before, "nothing is credited");

    shop.f.botctl().args(["billing", "plan", "set", "1m", "--price", "150XTR"]).assert().success();
    let query = shop.emulator().pay_invoice(&shop.token, &carol, invoice.message_id).unwrap();
    let outcome = block_on(shop.emulator().wait_checkout(&query, WAIT)).unwrap();
    assert!(matches!(outcome, CheckoutOutcome::Paid { .. }), "{outcome:?}");
    shop.says_within(Duration::from_secs(30), &carol, |m| m.text.as_deref().is_some_and(|t| t.contains("paid until")));
    let state = || shop.scalar::<String>(&format!("SELECT state FROM botctl.orders WHERE id = {order}"));
    assert!(shop.f.eventually(|| state() == "done"), "the renewal is done: {}", state());
    assert_eq!(paid_until(&shop, &slug), before + chrono::TimeDelta::days(30), "30 days on top of the trial");
    let payments: i64 = shop.scalar(&format!(
        "SELECT count(*) FROM botctl.payments p JOIN botctl.tenants t ON t.id = p.tenant_id \
         WHERE t.slug = '{slug}' AND p.provider = 'stars'"
    ));
    assert_eq!(payments, 1, "credited once");

    let welcome = shop.welcome(&carol);
    shop.press(&carol, &welcome, "s");
    let mine = shop.says(&carol, |m| m.text.as_deref().is_some_and(|t| t.contains("150 ⭐")));
    let shown = mine.text.clone().unwrap_or_default();
    assert!(shown.contains("stars") && shown.contains("active"), "{shown}");
}
