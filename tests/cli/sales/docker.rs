//! The buyer's whole trial as buyers meet it: the sales bot inside `botctl platform serve`, configured
//! by its settings, making the tenant and starting its bot on the real engine, then saying it is live.

use std::time::Duration;

use botctl::locale::Locale;
use botctl::platform::sales::texts::Text;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{Shop, words};
use crate::needs_docker::{ContainerGuard, assert_serving, build_image, docker_test, runtime_process};
use crate::support::{token, unique_slug};
use crate::tenant::{BOT_B, Fixture};

/// `platform serve` with the sales bot, on the fixture's engine and image; killed with SIGTERM on drop.
struct Daemon(std::process::Child);

impl Daemon {
    fn start(f: &Fixture, image: &str, token: &str) -> Self {
        let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let child = runtime_process(f, image)
            .args(["platform", "serve"])
            .env("BOTCTL_PLATFORM_LISTEN", listen.to_string())
            .env("BOTCTL_PLATFORM_SALES_BOT_TOKEN", token)
            .env("BOTCTL_PLATFORM_SALES_BOT_SUPPORT", "@shop_support")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Daemon(child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

docker_test! {
    fn a_buyers_trial_ends_in_a_live_bot_of_their_own() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let shop = Shop::attach(f);
        let _daemon = Daemon::start(&shop.f, &image, &shop.token);
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
    }
}
