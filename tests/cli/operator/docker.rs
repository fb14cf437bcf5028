//! The operator bot as operators meet it: inside `botctl platform serve`, configured by its settings,
//! acting on real containers through the Docker engine.

use super::{Desk, OWNER, words};
use crate::needs_docker::{
    ContainerGuard, PlatformDaemon, assert_serving, build_image, docker_test, engine, runtime_botctl,
};
use crate::support::block_on;
use crate::support::chat::Chat;
use crate::tenant::{BOT_A, Fixture};
use botctl::platform::operator::texts::Text;

/// `platform serve` with the operator bot on the fixture's engine and image, its log (at the most
/// verbose level the product allows) going to `log`.
fn daemon(f: &Fixture, image: &str, token: &str, log: impl Into<std::process::Stdio>) -> PlatformDaemon {
    let env = [
        ("BOTCTL_PLATFORM_OPERATOR_BOT_TOKEN", token.to_string()),
        ("BOTCTL_PLATFORM_OPERATORS", format!("{OWNER}:owner")),
        ("BOTCTL_LOG", "trace".to_string()),
    ];
    PlatformDaemon::start(f, image, &env, log.into())
}

docker_test! {
    fn an_owner_stops_and_starts_a_bot_from_the_platform_daemons_operator_bot() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let slug = f.create(BOT_A);
        let container = botctl::tenant::runtime::container_name(&slug);
        let _container_guard = ContainerGuard(container.clone());
        runtime_botctl(&f, &image).args(["tenant", "start", &slug]).assert().success();
        assert_serving(&container);

        let desk = Desk::attach(f, slug.clone());
        let _daemon = daemon(&desk.f, &image, &desk.token, std::process::Stdio::null());
        let owner = Desk::user(OWNER);
        let card = desk.card(&owner);
        assert!(card.text.as_deref().is_some_and(|t| t.contains("running")), "{:?}", card.text);
        desk.press(&owner, &card, &format!("a:sp:{slug}"));
        let confirm = desk.says_text(&owner, &words(Text::ConfirmText));
        desk.press(&owner, &confirm, &format!("d:sp:{slug}"));
        desk.says_text(&owner, "done");
        let state = block_on(engine().container(&container)).unwrap();
        assert!(state.as_ref().is_none_or(|c| c.status != "running"), "the container is stopped: {state:?}");
        let status: String = desk.scalar(&format!("SELECT status FROM botctl.tenants WHERE slug = '{slug}'"));
        assert_eq!(status, "stopped");
        let by: i64 = desk.scalar(&format!(
            "SELECT count(*) FROM botctl.events WHERE actor = 'telegram:{OWNER}' AND tenant = '{slug}' AND action = 'tenant.stop'"
        ));
        assert_eq!(by, 1, "the stop is recorded with the operator's Telegram id");

        // And started again from the same card, as `tenant start` does: healthy before it says done.
        let card = desk.card(&owner);
        assert!(card.text.as_deref().is_some_and(|t| t.contains("no container") || t.contains("exited")), "{:?}", card.text);
        desk.press(&owner, &card, &format!("a:st:{slug}"));
        let confirm = desk.says_text(&owner, &words(Text::ConfirmText));
        desk.press(&owner, &confirm, &format!("d:st:{slug}"));
        desk.says_within(std::time::Duration::from_secs(120), &owner, |m| {
            m.text.as_deref().is_some_and(|t| t.contains("done"))
        });
        assert_serving(&container);
    }
}

docker_test! {
    fn an_owner_creates_a_tenant_from_a_pasted_token_and_its_bot_runs_healthy() {
        let f = Fixture::new();
        let (image, _, _image_guard) = build_image(&f.sandbox);
        let existing = f.create(BOT_A);
        let desk = Desk::attach(f, existing);
        let log_path = desk.f.sandbox.path().join("platform.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let daemon = daemon(&desk.f, &image, &desk.token, log);

        let owner = Desk::user(OWNER);
        let menu = desk.menu(&owner);
        desk.press(&owner, &menu, "n");
        desk.says_text(&owner, &words(Text::CreateTokenPrompt));
        let secret = crate::support::token(crate::tenant::BOT_B);
        let pasted = desk.text(&owner, &secret);
        desk.says_text(&owner, "@b_bot");
        assert!(desk.chat(&owner).iter().any(|m| m.message_id == pasted && m.deleted), "the token's message is deleted");
        let slug = crate::support::unique_slug();
        let container = botctl::tenant::runtime::container_name(&slug);
        let _container_guard = ContainerGuard(container.clone());
        desk.text(&owner, &slug);
        desk.says_text(&owner, &words(Text::CreateOwnerPrompt));
        desk.text(&owner, "4242");
        let templates = desk.says(&owner, |m| !m.callbacks("nt:").is_empty());
        desk.press(&owner, &templates, "nt:barbershop");
        let zones = desk.says(&owner, |m| !m.callbacks("nz:").is_empty());
        desk.press(&owner, &zones, "nz:Europe/Samara");
        let confirm = desk.says(&owner, |m| !m.callbacks("ny").is_empty());
        desk.press(&owner, &confirm, "ny");
        let done = desk.says_within(std::time::Duration::from_secs(120), &owner, |m| {
            m.text.as_deref().is_some_and(|t| t.contains("created"))
        });
        assert!(done.text.as_deref().is_some_and(|t| t.contains(&slug)), "{:?}", done.text);
        assert_serving(&container);

        drop(daemon);
        let (_, key) = secret.split_once(':').unwrap();
        for sent in desk.emulator().sent(&desk.token) {
            assert!(!sent.params.to_string().contains(key), "{} echoed the token", sent.method);
        }
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert!(log.contains("TRACE") || log.contains("DEBUG"), "the daemon logged verbosely");
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains(key)).collect();
        assert!(leaks.is_empty(), "the token reached the daemon's log: {leaks:#?}");
    }
}
