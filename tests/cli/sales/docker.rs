//! The buyer's whole path as buyers meet it: the sales bot inside `botctl platform serve`, configured by
//! its settings — a trial, and a purchase paid on the YooKassa emulator's page — making the tenant and
//! starting its bot on the real engine, then saying it is live.

use std::time::Duration;

use botctl::locale::Locale;
use botctl::platform::sales::texts::Text;

use super::{Shop, words};
use crate::needs_docker::{ContainerGuard, PlatformDaemon, assert_serving, build_image, docker_test};
use crate::support::block_on;
use crate::support::chat::Chat;
use crate::support::{token, unique_slug};
use crate::tenant::{BOT_B, BOT_C, Fixture};

/// `platform serve` with the sales bot (and `env`) on the fixture's engine and image.
fn daemon(f: &Fixture, image: &str, token: &str, env: &[(&str, String)], log: std::process::Stdio) -> PlatformDaemon {
    let mut all = vec![
        ("BOTCTL_PLATFORM_SALES_BOT_TOKEN", token.to_string()),
        ("BOTCTL_PLATFORM_SALES_BOT_SUPPORT", "@shop_support".to_string()),
    ];
    all.extend(env.iter().cloned());
    PlatformDaemon::start(f, image, &all, log)
}

docker_test! {
    fn a_buyers_trial_ends_in_a_live_bot_of_their_own() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let shop = Shop::attach(f);
        let log_path = shop.f.sandbox.path().join("platform.log");
        let log = std::fs::File::create(&log_path).unwrap().into();
        let daemon = daemon(&shop.f, &image, &shop.token, &[("BOTCTL_LOG", "trace".to_string())], log);
        // A name that is its own tenant name, unique on the shared engine.
        let name = unique_slug();
        let _container_guard = ContainerGuard(botctl::tenant::runtime::container_name(&name));

        let ann = Shop::buyer(7101, Locale::En);
        let welcome = shop.welcome(&ann);
        shop.press(&ann, &welcome, "t");
        shop.says_text(&ann, &words(Locale::En, Text::NamePrompt));
        let order: i64 = shop.scalar("SELECT max(id) FROM botctl.orders WHERE buyer_user_id = 7101");
        shop.text(&ann, &name);
        shop.says_text(&ann, "needs its own Telegram bot");
        shop.text(&ann, &token(BOT_B));
        let kinds = shop.says(&ann, |m| !m.callbacks("nt:").is_empty());
        shop.press(&ann, &kinds, &format!("nt:{order}:barbershop"));
        let zones = shop.says(&ann, |m| !m.callbacks("nz:").is_empty());
        shop.press(&ann, &zones, &format!("nz:{order}:Europe/Moscow"));
        let summary = shop.says(&ann, |m| !m.callbacks("ny:").is_empty());
        shop.press(&ann, &summary, &format!("ny:{order}"));

        let live = shop.says_within(Duration::from_secs(120), &ann, |m| {
            m.text.as_deref().is_some_and(|t| t.contains("is live"))
        });
        assert!(live.text.as_deref().is_some_and(|t| t.contains("@b_bot") && t.contains("/admin")), "{:?}", live.text);
        assert!(live.reply_markup.as_ref().is_some_and(|k| k.to_string().contains("https://t.me/b_bot")));
        assert_serving(&botctl::tenant::runtime::container_name(&name));
        let admins: Vec<i64> = shop.scalar(&format!(
            "SELECT admins FROM botctl.tenants WHERE slug = '{name}' AND deleted_at IS NULL"
        ));
        assert_eq!(admins, vec![7101], "the buyer owns it");
        let subscription: String = shop.scalar(&format!(
            "SELECT s.state FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id WHERE t.slug = '{name}'"
        ));
        assert_eq!(subscription, "trial");
        let ended = || shop.scalar::<String>(&format!("SELECT state FROM botctl.orders WHERE id = {order}"));
        assert!(shop.f.eventually(|| ended() == "done"), "the order is done: {}", ended());
        let kept: i64 = shop.scalar(&format!("SELECT count(*) FROM botctl.order_tokens WHERE order_id = {order}"));
        assert_eq!(kept, 0, "the tenant holds the token now, the order not");

        // My subscription shows it, with no payments yet.
        let welcome = shop.welcome(&ann);
        shop.press(&ann, &welcome, "s");
        let mine = shop.says_text(&ann, &name);
        let shown = mine.text.clone().unwrap_or_default();
        assert!(shown.contains("free trial") && shown.contains("none yet"), "{shown}");
        assert_eq!(mine.callbacks("r:"), vec![format!("r:{name}")]);

        drop(daemon);
        let secret = token(BOT_B);
        let key = secret.split_once(':').unwrap().1;
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert!(log.contains("TRACE") || log.contains("DEBUG"), "the daemon logged verbosely");
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains(key)).collect();
        assert!(leaks.is_empty(), "the pasted token reached the daemon's log: {leaks:#?}");
    }
}

docker_test! {
    fn a_purchase_paid_through_yookassa_ends_in_a_live_bot() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let shop = Shop::attach(f);
        let yookassa =
            block_on(botctl::payments::yookassa::emulator::Emulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
        yookassa.add_shop("506751", "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0");
        let env = [
            ("BOTCTL_BILLING_YOOKASSA_SHOP_ID", "506751".to_string()),
            ("BOTCTL_BILLING_YOOKASSA_SECRET_KEY", "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0".to_string()),
            ("BOTCTL_BILLING_YOOKASSA_API_URL", yookassa.api_url().to_string()),
            ("BOTCTL_BILLING_YOOKASSA_RETURN_URL", "https://t.me/platform_sales_bot".to_string()),
        ];
        let _daemon = daemon(&shop.f, &image, &shop.token, &env, std::process::Stdio::null());
        let name = unique_slug();
        let _container_guard = ContainerGuard(botctl::tenant::runtime::container_name(&name));

        let dan = Shop::buyer(7102, Locale::Ru);
        let welcome = shop.welcome(&dan);
        shop.press(&dan, &welcome, "p");
        let plans = shop.says(&dan, |m| !m.callbacks("b:").is_empty());
        shop.press(&dan, &plans, "b:1m");
        shop.says_text(&dan, &words(Locale::Ru, Text::NamePrompt));
        let order: i64 = shop.scalar("SELECT max(id) FROM botctl.orders WHERE buyer_user_id = 7102");
        shop.text(&dan, &name);
        shop.text(&dan, &token(BOT_C));
        let kinds = shop.says(&dan, |m| !m.callbacks("nt:").is_empty());
        shop.press(&dan, &kinds, &format!("nt:{order}:clinic"));
        let zones = shop.says(&dan, |m| !m.callbacks("nz:").is_empty());
        shop.press(&dan, &zones, &format!("nz:{order}:Asia/Yekaterinburg"));
        let summary = shop.says(&dan, |m| !m.callbacks("ny:").is_empty());
        assert!(summary.text.as_deref().is_some_and(|t| t.contains("299 ₽")), "{:?}", summary.text);
        shop.press(&dan, &summary, &format!("ny:{order}"));
        let methods = shop.says(&dan, |m| !m.callbacks("py:").is_empty());
        shop.press(&dan, &methods, &format!("py:{order}"));
        let link = shop.says(&dan, |m| !m.callbacks("pc:").is_empty());
        let page = link.reply_markup.clone().unwrap()["inline_keyboard"][0][0]["url"].as_str().unwrap().to_string();
        assert_eq!(block_on(reqwest::get(page)).unwrap().status().as_u16(), 200);
        shop.press(&dan, &link, &format!("pc:{order}"));

        let live = shop.says_within(Duration::from_secs(120), &dan, |m| {
            m.text.as_deref().is_some_and(|t| t.contains("@c_bot") && t.contains("/admin"))
        });
        assert!(live.reply_markup.as_ref().is_some_and(|k| k.to_string().contains("https://t.me/c_bot")));
        assert_serving(&botctl::tenant::runtime::container_name(&name));
        let subscription: String = shop.scalar(&format!(
            "SELECT s.state FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id WHERE t.slug = '{name}'"
        ));
        assert_eq!(subscription, "active");
        let payments: i64 = shop.scalar(&format!(
            "SELECT count(*) FROM botctl.payments p JOIN botctl.tenants t ON t.id = p.tenant_id \
             WHERE t.slug = '{name}' AND p.provider = 'yookassa' AND p.amount = 29900"
        ));
        assert_eq!(payments, 1, "credited once");
    }
}
