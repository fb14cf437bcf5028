//! Creating a tenant from Telegram: a pasted token's message is deleted at once and the token appears
//! in no message the bot sends and no dialogue row once the flow ends; a malformed, rejected or taken
//! token is refused; viewers cannot start the flow; /cancel, or any other button, leaves nothing behind.

use super::{Desk, OWNER, VIEWER, en, words};
use crate::support::chat::Chat;
use crate::support::{token, unique_slug};
use crate::tenant::{BOT_A, BOT_B, BOT_C};
use botctl::platform::operator::texts::Text;
use botctl::telegram::emulator::TgUser;

fn flows(desk: &Desk, id: i64) -> i64 {
    desk.scalar(&format!(
        "SELECT count(*) FROM botctl.operator_dialogues WHERE chat_id = {id} AND state <> '\"Idle\"'::jsonb"
    ))
}

/// Whether any dialogue row holds `secret` (looked for here: a query naming it would log it).
fn held(desk: &Desk, secret: &str) -> bool {
    let all: String = desk.scalar("SELECT coalesce(string_agg(state::text, ' '), '') FROM botctl.operator_dialogues");
    all.contains(secret)
}

fn tenants(desk: &Desk) -> i64 {
    desk.scalar("SELECT count(*) FROM botctl.tenants")
}

/// Opens the flow from the menu and pastes `pasted`; returns the pasted message's id.
fn paste(desk: &Desk, owner: &TgUser, pasted: &str) -> i64 {
    let menu = desk.menu(owner);
    assert_eq!(menu.callbacks("n"), vec!["n".to_string()], "an owner's menu offers a new tenant");
    desk.press(owner, &menu, "n");
    desk.says_text(owner, &words(Text::CreateTokenPrompt));
    desk.text(owner, pasted)
}

fn deleted(desk: &Desk, user: &TgUser, message: i64) -> bool {
    desk.chat(user).iter().any(|m| m.message_id == message && m.deleted)
}

#[test]
fn an_owner_creates_a_tenant_from_a_pasted_token_that_leaves_the_chat_at_once() {
    let desk = Desk::start();
    let owner = Desk::user(OWNER);
    let secret = token(BOT_B);
    let pasted = paste(&desk, &owner, &secret);
    desk.says_text(&owner, "@b_bot");
    assert!(deleted(&desk, &owner, pasted), "the token's message is deleted");

    let slug = unique_slug();
    desk.text(&owner, &slug);
    desk.says_text(&owner, &words(Text::CreateOwnerPrompt));
    desk.text(&owner, "not a number");
    desk.says_text(&owner, &words(Text::CreateOwnerBad));
    desk.text(&owner, "4242");
    let templates = desk.says(&owner, |m| !m.callbacks("nt:").is_empty());
    assert!(templates.callbacks("nt:").contains(&"nt:barbershop".to_string()));
    desk.press(&owner, &templates, "nt:barbershop");
    let zones = desk.says(&owner, |m| !m.callbacks("nz:").is_empty());
    desk.press(&owner, &zones, "nz:Europe/Samara");
    let confirm = desk.says(&owner, |m| !m.callbacks("ny").is_empty());
    let text = confirm.text.clone().unwrap_or_default();
    for needle in [slug.as_str(), "@b_bot", "4242", "barbershop", "Europe/Samara"] {
        assert!(text.contains(needle), "the confirmation names {needle}: {text}");
    }
    assert_eq!(tenants(&desk), 1, "nothing is created before the confirmation");
    desk.press(&owner, &confirm, "ny");
    let done = desk.says_text(&owner, "created");
    assert!(done.text.as_deref().is_some_and(|t| t.contains(&slug) && t.contains("@b_bot")), "{:?}", done.text);
    assert_eq!(done.callbacks("c:"), vec![format!("c:{slug}")], "a button to its card");

    let row = format!("FROM botctl.tenants WHERE slug = '{slug}' AND deleted_at IS NULL");
    let zone: String = desk.scalar(&format!("SELECT timezone {row}"));
    assert_eq!(zone, "Europe/Samara");
    let admins: Vec<i64> = desk.scalar(&format!("SELECT admins {row}"));
    assert_eq!(admins, vec![4242]);
    let schemas: i64 = desk.scalar(&format!("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_{slug}'"));
    assert_eq!(schemas, 1, "its schema exists");
    let events: i64 = desk.scalar(&format!(
        "SELECT count(*) FROM botctl.events WHERE actor = 'telegram:{OWNER}' AND action = 'tenant.create' AND tenant = '{slug}'"
    ));
    assert_eq!(events, 1, "recorded with the operator's Telegram id");
    assert_eq!(flows(&desk, OWNER), 0, "the flow that held the token is gone");

    let (_, key) = secret.split_once(':').unwrap();
    assert!(!held(&desk, key), "no dialogue row holds the token");
    for sent in desk.emulator().sent(&desk.token) {
        let params = sent.params.to_string();
        assert!(!params.contains(key), "{} echoed the token: {params}", sent.method);
    }
    // The daemon's own log is read for the token in `docker::an_owner_creates_a_tenant_…`.
}

#[test]
fn malformed_rejected_and_taken_tokens_are_deleted_and_refused() {
    let desk = Desk::start();
    let owner = Desk::user(OWNER);
    // Pasted with no flow waiting for it: deleted all the same, and not used.
    let stray = desk.text(&owner, &token(BOT_C));
    desk.says_text(&owner, &words(Text::CreateTokenOutOfPlace));
    assert!(deleted(&desk, &owner, stray));
    let malformed = "123456:this-is-no-token";
    let pasted = paste(&desk, &owner, malformed);
    desk.says_text(&owner, &words(Text::CreateTokenMalformed));
    assert!(deleted(&desk, &owner, pasted), "a malformed token's message is deleted too");

    // Well-formed, but no bot has it: Telegram says no.
    let unknown = token(500_000_099);
    let pasted = desk.text(&owner, &unknown);
    desk.says_text(&owner, &words(Text::CreateTokenRejected));
    assert!(deleted(&desk, &owner, pasted));

    let taken = desk.text(&owner, &token(BOT_A));
    let refused = desk.says_text(&owner, &words(Text::CreateBotTaken));
    assert!(refused.text.as_deref().is_some_and(|t| t.contains(&desk.slug)), "names the tenant it serves");
    assert!(deleted(&desk, &owner, taken));
    assert_eq!(tenants(&desk), 1);
    assert_eq!(flows(&desk, OWNER), 0, "the flow ended");
    for sent in desk.emulator().sent(&desk.token) {
        let params = sent.params.to_string();
        for secret in [malformed, &unknown, &token(BOT_A), &token(BOT_C)] {
            assert!(!params.contains(secret), "{} echoed a token: {params}", sent.method);
        }
    }
}

#[test]
fn a_viewer_cannot_start_the_flow() {
    let desk = Desk::start();
    let viewer = Desk::user(VIEWER);
    let menu = desk.menu(&viewer);
    assert!(menu.callbacks("n").is_empty(), "no new tenant for a viewer: {:?}", menu.callbacks(""));
    let answer = desk.press(&viewer, &menu, "n");
    assert_eq!(answer.as_deref(), Some(en().raw(Text::AccessViewer)));
    assert_eq!(flows(&desk, VIEWER), 0);
}

#[test]
fn cancel_mid_flow_leaves_nothing_behind() {
    let desk = Desk::start();
    let owner = Desk::user(OWNER);
    let secret = token(BOT_B);
    let pasted = paste(&desk, &owner, &secret);
    desk.says_text(&owner, "@b_bot");
    assert!(deleted(&desk, &owner, pasted));
    let slug = unique_slug();
    desk.text(&owner, &slug);
    desk.says_text(&owner, &words(Text::CreateOwnerPrompt));
    assert_eq!(flows(&desk, OWNER), 1, "the flow is under way");
    let cancel = desk.text(&owner, "/cancel");
    desk.says(&owner, |m| m.message_id > cancel && !m.callbacks("l:").is_empty());
    assert_eq!(flows(&desk, OWNER), 0, "no flow is left");
    assert!(!held(&desk, secret.split_once(':').unwrap().1), "and no row holds the token");
    assert_eq!(tenants(&desk), 1);
    let schemas: i64 = desk.scalar(&format!("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_{slug}'"));
    assert_eq!(schemas, 0);
    // A typed line after the cancel is no longer taken as an answer.
    let typed = desk.text(&owner, "4242");
    desk.says(&owner, |m| m.message_id > typed && !m.callbacks("l:").is_empty());
    assert_eq!(flows(&desk, OWNER), 0);
}

#[test]
fn leaving_the_flow_by_another_button_drops_the_pasted_token() {
    let desk = Desk::start();
    let owner = Desk::user(OWNER);
    let secret = token(BOT_B);
    paste(&desk, &owner, &secret);
    let named = desk.says_text(&owner, "@b_bot");
    assert!(held(&desk, secret.split_once(':').unwrap().1), "the flow holds the token between steps");
    let menu = desk.menu(&owner);
    desk.press(&owner, &menu, "l:1");
    desk.says(&owner, |m| m.message_id >= named.message_id && !m.callbacks("c:").is_empty());
    assert!(!held(&desk, secret.split_once(':').unwrap().1), "the tenants list took the token's flow away");
    assert_eq!(flows(&desk, OWNER), 0);
}
