//! The buyer's path up to the confirmation: the welcome screen from the control plane in the buyer's
//! language; a trial's name, pasted token (its message deleted at once, the token in no message and no
//! dialogue row), kind and time zone; the same name taken by two buyers at once; a token already serving
//! a tenant and a token Telegram rejects; a second trial; a managed bot, its token fetched without a
//! paste; a button of an order that is no longer a draft.

use botctl::locale::Locale;
use botctl::platform::orders::{self, Buyer, Kind, NewOrder};
use botctl::platform::sales::texts::Text;
use botctl::telegram::emulator::{ChatMessage, TgUser};
use chrono::Utc;

use super::{Offer, Shop, words};
use crate::support::chat::Chat;
use crate::support::{block_on, token};
use crate::tenant::{BOT_A, BOT_B};

const ANN: i64 = 7001;
const BOB: i64 = 7002;

fn text(message: &ChatMessage) -> String {
    message.text.clone().unwrap_or_default()
}

/// The id of the buyer's newest order.
fn newest_order(shop: &Shop, buyer: i64) -> i64 {
    shop.scalar(&format!("SELECT max(id) FROM botctl.orders WHERE buyer_user_id = {buyer}"))
}

/// From `/start` to the name prompt of a trial; returns the order's id.
fn begin_trial(shop: &Shop, buyer: &TgUser, locale: Locale) -> i64 {
    let welcome = shop.welcome(buyer);
    assert_eq!(shop.press(buyer, &welcome, "t"), None);
    shop.says_text(buyer, &words(locale, Text::NamePrompt));
    newest_order(shop, buyer.id)
}

#[test]
fn start_shows_the_control_planes_plans_and_prices_in_the_buyers_language() {
    let shop = Shop::start(Offer { stars: true, ..Offer::default() });
    sqlx_exec(&shop, "INSERT INTO botctl.plan_prices (plan, currency, amount) VALUES ('1m', 'XTR', 150)");
    let ann = Shop::buyer(ANN, Locale::En);
    let welcome = text(&shop.welcome(&ann));
    for needle in [
        "1 month: 299 ₽ / 150 ⭐ for 30 days",
        "12 months: 2499 ₽",
        "first 7 days are free",
        "@shop_support",
        "@demo_salon_bot",
    ] {
        assert!(welcome.contains(needle), "the welcome shows {needle}: {welcome}");
    }
    let bob = Shop::buyer(BOB, Locale::Ru);
    let shown = shop.welcome(&bob);
    let welcome = text(&shown);
    for needle in ["1 месяц: 299 ₽ / 150 ⭐ за 30 дн.", "Первые 7 дн. бесплатно", "@shop_support"]
    {
        assert!(welcome.contains(needle), "the welcome shows {needle}: {welcome}");
    }
    for data in ["t", "p", "s", "f"] {
        assert_eq!(shown.callbacks(data).first().map(String::as_str), Some(data), "a button {data}");
    }
    shop.press(&bob, &shown, "f");
    let faq = shop.says_text(&bob, "Вопросы и ответы");
    assert!(text(&faq).contains("7 дн.") && text(&faq).contains("@shop_support"), "{}", text(&faq));
    shop.text(&bob, "/paysupport");
    let support = shop.says_text(&bob, "По любому вопросу об оплате");
    assert!(text(&support).contains("@shop_support"), "{}", text(&support));

    // The prices are the control plane's as they stand.
    sqlx_exec(&shop, "UPDATE botctl.plan_prices SET amount = 39900 WHERE plan = '1m' AND currency = 'RUB'");
    let welcome = text(&shop.welcome(&ann));
    assert!(welcome.contains("1 month: 399 ₽"), "{welcome}");
    shop.press(&ann, &shop.welcome(&ann), "p");
    let plans = shop.says(&ann, |m| !m.callbacks("b:").is_empty());
    assert_eq!(plans.callbacks("b:"), ["b:1m", "b:3m", "b:6m", "b:12m"]);
}

fn sqlx_exec(shop: &Shop, sql: &str) {
    block_on(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&shop.pool)).unwrap();
}

#[test]
fn a_trial_takes_a_name_a_pasted_token_that_leaves_the_chat_at_once_a_kind_and_a_zone() {
    let shop = Shop::start(Offer::default());
    let ann = Shop::buyer(ANN, Locale::En);
    let order = begin_trial(&shop, &ann, Locale::En);
    shop.text(&ann, "Ann's Salon\nsecond line");
    shop.says_text(&ann, &words(Locale::En, Text::NameBad));
    shop.text(&ann, "Ann's Salon");
    shop.says_text(&ann, "needs its own Telegram bot");

    let secret = token(BOT_B);
    let pasted = shop.text(&ann, &secret);
    let kinds = shop.says(&ann, |m| !m.callbacks("nt:").is_empty());
    assert!(shop.chat(&ann).iter().any(|m| m.message_id == pasted && m.deleted), "the token's message is deleted");
    assert!(shop.chat(&ann).iter().any(|m| text(m).contains("Bot @b_bot is yours")));
    assert_eq!(
        kinds.callbacks("nt:"),
        [format!("nt:{order}:barbershop"), format!("nt:{order}:beauty_salon"), format!("nt:{order}:clinic")]
    );
    shop.press(&ann, &kinds, &format!("nt:{order}:beauty_salon"));
    let zones = shop.says(&ann, |m| !m.callbacks("nz:").is_empty());
    shop.press(&ann, &zones, &format!("nz:{order}:Europe/Samara"));
    let summary = shop.says(&ann, |m| !m.callbacks("ny:").is_empty());
    for needle in ["Ann's Salon", "@b_bot", "Beauty salon", "Europe/Samara", "Free trial: 7 days"] {
        assert!(text(&summary).contains(needle), "the summary names {needle}: {}", text(&summary));
    }

    let row = format!("FROM botctl.orders WHERE id = {order}");
    let chosen: (String, String, String, String, String) = block_on(
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT business_name, tenant_slug, bot_username, template, timezone {row}"
        )))
        .fetch_one(&shop.pool),
    )
    .unwrap();
    assert_eq!(
        chosen,
        ("Ann's Salon".into(), "ann_s_salon".into(), "b_bot".into(), "beauty_salon".into(), "Europe/Samara".into())
    );
    let kept: i64 = shop.scalar(&format!("SELECT count(*) FROM botctl.order_tokens WHERE order_id = {order}"));
    assert_eq!(kept, 1, "the token waits for the tenant beside the order");
    let the_secret = secret.split_once(':').unwrap().1;
    let dialogues: String =
        shop.scalar("SELECT coalesce(string_agg(state::text, ' '), '') FROM botctl.sales_dialogues");
    assert!(!dialogues.contains(the_secret), "no dialogue row holds the token");
    for message in shop.chat(&ann).iter().filter(|m| m.from_bot) {
        assert!(!text(message).contains(the_secret), "no message of the bot shows the token");
    }
    for sent in shop.emulator().sent(&shop.token) {
        assert!(!sent.params.to_string().contains(the_secret), "the bot sent the token in {}", sent.method);
    }
}

#[test]
fn two_buyers_naming_their_business_alike_at_once_one_wins_and_the_other_is_told() {
    let shop = Shop::start(Offer::default());
    let (ann, bob) = (Shop::buyer(ANN, Locale::En), Shop::buyer(BOB, Locale::En));
    begin_trial(&shop, &ann, Locale::En);
    let welcome = shop.welcome(&bob);
    shop.press(&bob, &welcome, "b:1m");
    shop.says_text(&bob, &words(Locale::En, Text::NamePrompt));
    shop.text(&ann, "Corner Barber");
    shop.text(&bob, "Corner Barber");
    let answered = |user: &TgUser| {
        shop.says(user, |m| {
            let t = text(m);
            t.contains("needs its own Telegram bot") || t.contains("Please send another name")
        })
    };
    let (a, b) = (text(&answered(&ann)), text(&answered(&bob)));
    let won = [&a, &b].iter().filter(|t| t.contains("needs its own Telegram bot")).count();
    assert_eq!(won, 1, "exactly one wins: {a:?} / {b:?}");
    let lost = if a.contains("another name") { &a } else { &b };
    assert!(lost.contains("corner_barber"), "the refusal names the name: {lost}");
    let claimed: i64 = shop.scalar("SELECT count(*) FROM botctl.orders WHERE tenant_slug = 'corner_barber'");
    assert_eq!(claimed, 1);
}

#[test]
fn a_token_serving_a_tenant_and_a_token_telegram_rejects_are_refused_clearly() {
    let shop = Shop::start(Offer::default());
    let taken = shop.f.create(BOT_A);
    let ann = Shop::buyer(ANN, Locale::En);
    let order = begin_trial(&shop, &ann, Locale::En);
    shop.text(&ann, "Salon Two");
    shop.says_text(&ann, "needs its own Telegram bot");
    let pasted = shop.text(&ann, &token(BOT_A));
    let refused = shop.says_text(&ann, "already serves tenant");
    assert!(text(&refused).contains(&taken), "{}", text(&refused));
    assert!(shop.chat(&ann).iter().any(|m| m.message_id == pasted && m.deleted));

    // A bot deleted in BotFather: Telegram answers its token's getMe with 401.
    let gone = token(BOT_A + 77);
    shop.text(&ann, &gone);
    shop.says_text(&ann, &words(Locale::En, Text::BotTokenRejected));
    shop.text(&ann, "not a token");
    shop.says_text(&ann, &words(Locale::En, Text::BotTokenMalformed));
    let bot: Option<String> = shop.scalar(&format!("SELECT bot_username FROM botctl.orders WHERE id = {order}"));
    assert_eq!(bot, None, "the order has no bot yet");
}

#[test]
fn a_buyer_gets_one_free_trial() {
    let shop = Shop::start(Offer::default());
    let ann = Shop::buyer(ANN, Locale::Ru);
    let new = NewOrder {
        buyer: Buyer { user_id: ANN, chat_id: ANN, language: Locale::Ru },
        kind: Kind::Trial,
        tenant: None,
        plan: None,
    };
    block_on(async { orders::create(&mut shop.pool.acquire().await.unwrap(), &new, "test", Utc::now()).await })
        .unwrap();
    let welcome = shop.welcome(&ann);
    shop.press(&ann, &welcome, "t");
    shop.says_text(&ann, &words(Locale::Ru, Text::TrialUsed));
    let trials: i64 = shop.scalar(&format!("SELECT count(*) FROM botctl.orders WHERE buyer_user_id = {ANN}"));
    assert_eq!(trials, 1, "no second trial order");
}

#[test]
fn create_my_bot_takes_the_managed_bots_token_from_telegram_without_a_paste() {
    let shop = Shop::start(Offer { managed_bots: true, ..Offer::default() });
    let ann = Shop::buyer(ANN, Locale::En);
    let order = begin_trial(&shop, &ann, Locale::En);
    shop.text(&ann, "Managed Salon");
    shop.says_text(&ann, &words(Locale::En, Text::BotManagedCancel));
    let asked = shop
        .chat(&ann)
        .into_iter()
        .rev()
        .find(|m| m.reply_markup.as_ref().is_some_and(|k| k.to_string().contains("request_managed_bot")))
        .expect("a request_managed_bot button");
    let made =
        shop.emulator().create_managed_bot(&shop.token, &ann, asked.message_id, 700_000_001, "managed_salon_bot");
    let made = made.unwrap();
    shop.says(&ann, |m| !m.callbacks("nt:").is_empty());
    assert!(shop.chat(&ann).iter().any(|m| text(m).contains("@managed_salon_bot")));
    let bot: String = shop.scalar(&format!("SELECT bot_username FROM botctl.orders WHERE id = {order}"));
    assert_eq!(bot, "managed_salon_bot");
    let stored: String = shop.scalar(&format!("SELECT token FROM botctl.order_tokens WHERE order_id = {order}"));
    assert!(stored == made.token, "the managed bot's own token is kept for the tenant");
    assert!(shop.chat(&ann).iter().all(|m| m.from_bot || !text(m).contains(&made.token)), "nothing was pasted");
}

#[test]
fn a_button_of_an_order_no_longer_open_answers_politely() {
    let shop = Shop::start(Offer::default());
    let ann = Shop::buyer(ANN, Locale::En);
    let order = begin_trial(&shop, &ann, Locale::En);
    shop.text(&ann, "Stale Salon");
    shop.says_text(&ann, "needs its own Telegram bot");
    shop.text(&ann, &token(BOT_B));
    let kinds = shop.says(&ann, |m| !m.callbacks("nt:").is_empty());
    shop.text(&ann, "/cancel");
    shop.says_text(&ann, &words(Locale::En, Text::Cancelled));
    let state: String = shop.scalar(&format!("SELECT state FROM botctl.orders WHERE id = {order}"));
    assert_eq!(state, "canceled", "a dropped draft lets go of its name and bot");
    let alert = shop.press(&ann, &kinds, &format!("nt:{order}:clinic"));
    assert_eq!(alert.as_deref(), Some(super::catalog(Locale::En).raw(Text::Stale)));
    // Someone else's order, or forged data, is out of date too.
    assert!(shop.press(&ann, &kinds, "nt:999999:clinic").is_some());
    assert!(shop.press(&ann, &kinds, "nt:x").is_some());
    // The name and the bot are free again.
    let again = begin_trial(&shop, &ann, Locale::En);
    assert_ne!(again, order);
    shop.text(&ann, "Stale Salon");
    shop.says_text(&ann, "needs its own Telegram bot");
}
