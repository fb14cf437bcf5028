//! What operators see: the tenants list with its pages and search, a card, and an owner's action
//! carried out from its confirmation to its outcome.

use super::{Desk, OWNER, words};
use botctl::platform::operator::texts::Text;

#[test]
fn tenants_page_by_page_and_by_search_down_to_a_card() {
    let desk = Desk::start();
    let mut others = Vec::new();
    for bot in [crate::tenant::BOT_B, crate::tenant::BOT_C] {
        others.push(desk.f.create(bot));
    }
    let owner = Desk::user(OWNER);
    let menu = desk.menu(&owner);
    desk.press(&owner, &menu, "l:1");
    let list = desk.says(&owner, |m| !m.callbacks("c:").is_empty());
    assert!(list.text.as_deref().is_some_and(|t| t.contains("3 in all")), "{:?}", list.text);
    assert_eq!(list.callbacks("c:").len(), 3);

    desk.press(&owner, &list, "s");
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
