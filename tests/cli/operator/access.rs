//! Who may use the operator bot: a stranger's every command and every button an owner was shown is
//! refused with one polite line and changes nothing; a viewer sees but cannot act.

use super::{Desk, OWNER, STRANGER, VIEWER, en, words};
use crate::support::chat::Chat;
use botctl::platform::operator::texts::Text;

/// Every button data the owner meets on the way to the tenant's card and its confirmations.
fn owners_buttons(desk: &Desk) -> Vec<String> {
    let owner = Desk::user(OWNER);
    let menu = desk.menu(&owner);
    let card = desk.card(&owner);
    let mut all: Vec<String> = menu.callbacks("");
    all.extend(card.callbacks(""));
    // The confirmation's own buttons, and what a forging client could make of them.
    for data in card.callbacks("a:") {
        if data.starts_with("a:dl:") {
            continue;
        }
        desk.press(&owner, &card, &data);
        let confirm = desk.says(&owner, |m| !m.callbacks("d:").is_empty());
        all.extend(confirm.callbacks("d:"));
        desk.press(&owner, &confirm, &format!("c:{}", desk.slug));
        desk.says(&owner, |m| !m.callbacks("a:").is_empty());
    }
    all.push(format!("d:dl:{}", desk.slug));
    all.sort();
    all.dedup();
    all
}

fn events_by(desk: &Desk, id: i64) -> i64 {
    desk.scalar(&format!("SELECT count(*) FROM botctl.events WHERE actor = 'telegram:{id}'"))
}

#[test]
fn a_stranger_gets_one_polite_line_per_try_and_nothing_else() {
    let desk = Desk::start();
    let buttons = owners_buttons(&desk);
    assert!(buttons.iter().any(|d| d.starts_with("d:st:")), "the owner was shown actions: {buttons:?}");
    let status: String = desk.scalar(&format!("SELECT status FROM botctl.tenants WHERE slug = '{}'", desk.slug));

    let stranger = Desk::user(STRANGER);
    for command in ["/start", "/menu", "/cancel", "hello", &desk.slug] {
        desk.text(&stranger, command);
    }
    let refusal = en().render(Text::AccessRefused, &[]);
    desk.says(&stranger, |_| true);
    let last = desk.says(&stranger, |m| m.text.as_deref() == Some(refusal.as_str()));
    for data in &buttons {
        let answer = desk.press(&stranger, &last, data);
        assert!(
            answer.is_none() || answer.as_deref() == Some(en().raw(Text::Stale)),
            "{data}: the stranger was answered {answer:?}"
        );
    }
    // Wait for every command's answer, then look at the whole chat.
    let chat = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let chat = desk.chat(&stranger);
            if chat.iter().filter(|m| m.from_bot).count() >= 5 || std::time::Instant::now() > deadline {
                break chat;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let said: Vec<_> = chat.iter().filter(|m| m.from_bot).collect();
    assert_eq!(said.len(), 5, "one line per message: {said:#?}");
    for message in said {
        assert_eq!(message.text.as_deref(), Some(refusal.as_str()));
        assert!(message.callbacks("").is_empty(), "no button for a stranger: {message:?}");
    }
    assert_eq!(events_by(&desk, STRANGER), 0);
    let dialogues: i64 =
        desk.scalar(&format!("SELECT count(*) FROM botctl.operator_dialogues WHERE chat_id = {STRANGER}"));
    assert_eq!(dialogues, 0, "a stranger leaves no dialogue behind");
    let after: String = desk.scalar(&format!("SELECT status FROM botctl.tenants WHERE slug = '{}'", desk.slug));
    assert_eq!(after, status);
    // Nothing the bot sent anyone else mentions the tenant to the stranger.
    assert!(
        !desk.chat(&stranger).iter().any(|m| m.text.as_deref().is_some_and(|t| t.contains(&desk.slug) && m.from_bot))
    );
}

#[test]
fn a_viewer_sees_the_fleet_and_cards_but_every_action_is_refused() {
    let desk = Desk::start();
    let buttons = owners_buttons(&desk);
    let viewer = Desk::user(VIEWER);
    let menu = desk.menu(&viewer);
    assert!(menu.text.as_deref().is_some_and(|t| t.contains(en().raw(Text::RoleViewer))));
    let card = desk.card(&viewer);
    assert!(card.text.as_deref().is_some_and(|t| t.contains(&desk.slug)));
    assert!(card.callbacks("a:").is_empty(), "a viewer is shown no action: {:?}", card.callbacks(""));
    assert!(!card.callbacks("g:").is_empty(), "but may read the logs");
    for data in buttons.iter().filter(|d| d.starts_with("a:") || d.starts_with("d:")) {
        let answer = desk.press(&viewer, &card, data);
        assert_eq!(answer.as_deref(), Some(en().raw(Text::AccessViewer)), "{data}");
    }
    assert_eq!(events_by(&desk, VIEWER), 0);
    // The card is still the card: no confirmation, no progress replaced it.
    let newest = desk.says(&viewer, |_| true);
    assert!(newest.text.as_deref().is_some_and(|t| !t.contains(&words(Text::ConfirmText))));
}
