//! What operators see: the tenants list with its pages and search, a card, and an owner's action
//! carried out from its confirmation to its outcome.

use super::{Desk, OWNER, words};
use crate::support::chat::Chat;
use botctl::platform::operator::texts::Text;

#[test]
fn tenants_page_by_page_and_by_search_down_to_a_card() {
    let desk = Desk::start();
    let mut others = Vec::new();
    for bot in [crate::tenant::BOT_B, crate::tenant::BOT_C] {
        others.push(desk.f.create(bot));
    }
    // Six more make nine: two pages of eight.
    for bot in 700_000_001..=700_000_006 {
        desk.emulator().add_bot(&crate::support::token(bot), bot, &format!("extra_{bot}_bot"));
        desk.f.create(bot);
    }
    let owner = Desk::user(OWNER);
    let menu = desk.menu(&owner);
    desk.press(&owner, &menu, "l:1");
    let list = desk.says(&owner, |m| !m.callbacks("c:").is_empty());
    assert!(list.text.as_deref().is_some_and(|t| t.contains("page 1 of 2 · 9 in all")), "{:?}", list.text);
    assert_eq!(list.callbacks("c:").len(), 8);
    desk.press(&owner, &list, "l:2");
    let second = desk.says(&owner, |m| m.text.as_deref().is_some_and(|t| t.contains("page 2 of 2")));
    assert_eq!(second.callbacks("c:").len(), 1);
    assert!(second.callbacks("l:2").is_empty() && !second.callbacks("l:1").is_empty());

    desk.press(&owner, &second, "s");
    desk.says_text(&owner, &words(Text::TenantsSearchPrompt));
    desk.text(&owner, &others[1][..others[1].len() - 2]);
    let found = desk.says(&owner, |m| m.text.as_deref().is_some_and(|t| t.contains("found")));
    assert_eq!(found.callbacks("c:"), vec![format!("c:{}", others[1])]);

    let card = desk.card(&owner);
    let text = card.text.clone().unwrap_or_default();
    for needle in [desk.slug.as_str(), "@a_bot", "1001, 1002", "complimentary"] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    assert!(!card.callbacks(&format!("a:st:{}", desk.slug)).is_empty());
}

#[test]
fn an_owner_backs_a_tenant_up_from_its_card_after_confirming() {
    let desk = Desk::start();
    let owner = Desk::user(OWNER);
    let card = desk.card(&owner);
    desk.press(&owner, &card, &format!("a:bk:{}", desk.slug));
    let confirm = desk.says_text(&owner, &words(Text::ConfirmText));
    assert!(confirm.text.as_deref().is_some_and(|t| t.contains(&desk.slug)), "the confirmation names the tenant");
    desk.press(&owner, &confirm, &format!("d:bk:{}", desk.slug));
    let done = desk.says_text(&owner, "done");
    let text = done.text.unwrap_or_default();
    assert!(text.contains(".tar.zst"), "{text}");
    let archives: i64 = desk
        .scalar(&format!("SELECT count(*) FROM botctl.backups WHERE tenant = '{}' AND pruned_at IS NULL", desk.slug));
    assert_eq!(archives, 1);
    let events: i64 = desk
        .scalar(&format!("SELECT count(*) FROM botctl.events WHERE actor = 'telegram:{OWNER}' AND action = 'backup'"));
    assert_eq!(events, 1, "the action is recorded with the operator's Telegram id");
}

#[test]
fn the_fleet_counts_bots_subscriptions_and_this_months_money() {
    let desk = Desk::start();
    desk.f
        .botctl()
        .args(["billing", "credit", &desk.slug, "--plan", "1m", "--amount", "299RUB", "--reference", "fleet-1"])
        .assert()
        .success();
    let owner = Desk::user(OWNER);
    let menu = desk.menu(&owner);
    desk.press(&owner, &menu, "f");
    let fleet = desk.says_text(&owner, &words(Text::FleetText));
    let text = fleet.text.unwrap_or_default();
    assert!(text.contains("1 tenants"), "{text}");
    assert!(text.contains("1 paid"), "{text}");
    assert!(text.contains("299RUB"), "{text}");
    // No engine here: the containers are unknown, not made up.
    assert!(text.contains(&format!("Bots: {}", en_raw(Text::Unknown))), "{text}");
}

#[test]
fn an_owner_extends_a_trial_by_the_days_chosen_on_a_screen_that_names_the_tenant() {
    let desk = Desk::start();
    let ends = "2031-01-10 09:00:00+00";
    // The fixture's tenant starts complimentary: make it a trial ending at `ends`.
    let mut conn = desk.f.db.connect();
    crate::support::block_on(
        sqlx::query(
            "UPDATE botctl.subscriptions SET state = 'trial', paid_until = $2::timestamptz \
             WHERE tenant_id = (SELECT id FROM botctl.tenants WHERE slug = $1)",
        )
        .bind(&desk.slug)
        .bind(ends)
        .execute(&mut conn),
    )
    .unwrap();
    let owner = Desk::user(OWNER);
    let card = desk.card(&owner);
    desk.press(&owner, &card, &format!("t:{}", desk.slug));
    let choose = desk.says_text(&owner, &words(Text::TrialChoose));
    assert!(choose.text.as_deref().is_some_and(|t| t.contains(&desk.slug) && t.contains("2031-01-10")));
    desk.press(&owner, &choose, &format!("e:7:{}", desk.slug));
    desk.says_text(&owner, "2031-01-17");
    let moved: bool = desk.scalar(&format!(
        "SELECT paid_until = '2031-01-17 09:00:00+00' FROM botctl.subscriptions s JOIN botctl.tenants t \
         ON t.id = s.tenant_id WHERE t.slug = '{}'",
        desk.slug
    ));
    assert!(moved);
    let recorded: i64 = desk.scalar(&format!(
        "SELECT count(*) FROM botctl.events WHERE actor = 'telegram:{OWNER}' AND tenant = '{}'",
        desk.slug
    ));
    assert_eq!(recorded, 1);
}

#[test]
fn deleting_from_telegram_needs_the_tenants_name_typed_and_takes_a_final_backup() {
    let desk = Desk::start();
    let owner = Desk::user(OWNER);
    let card = desk.card(&owner);
    desk.press(&owner, &card, &format!("a:dl:{}", desk.slug));
    desk.says_text(&owner, &words(Text::DeletePrompt));
    desk.text(&owner, "not-the-name");
    desk.says_text(&owner, &words(Text::DeleteMismatch));
    assert!(desk.f.schema_exists(&desk.slug), "a wrong name deletes nothing");

    let card = desk.card(&owner);
    desk.press(&owner, &card, &format!("a:dl:{}", desk.slug));
    desk.says_text(&owner, &words(Text::DeletePrompt));
    desk.text(&owner, &desk.slug);
    let done = desk.says_text(&owner, "done");
    let text = done.text.unwrap_or_default();
    assert!(text.contains(".tar.zst"), "the final backup is named: {text}");
    assert!(!desk.f.schema_exists(&desk.slug));
    let deleted: bool =
        desk.scalar(&format!("SELECT deleted_at IS NOT NULL FROM botctl.tenants WHERE slug = '{}'", desk.slug));
    assert!(deleted);
    let by: i64 = desk.scalar(&format!(
        "SELECT count(*) FROM botctl.events WHERE actor = 'telegram:{OWNER}' AND action = 'tenant.delete'"
    ));
    assert_eq!(by, 1);
}

fn en_raw(text: Text) -> String {
    super::en().raw(text).to_string()
}
