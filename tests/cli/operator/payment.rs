//! Recording a manual payment from a tenant's card: credited once per reference however often it is
//! recorded, a bad amount told and nothing recorded, and no viewer's press does anything.

use super::{Desk, OWNER, VIEWER, en, words};
use crate::serve::WAIT;
use crate::support::block_on;
use crate::support::chat::Chat;
use botctl::platform::operator::texts::Text;
use botctl::telegram::emulator::{ChatMessage, TgUser};

fn payments(desk: &Desk) -> i64 {
    desk.scalar("SELECT count(*) FROM botctl.payments")
}

fn credits(desk: &Desk) -> i64 {
    desk.scalar("SELECT count(*) FROM botctl.ledger WHERE kind = 'credit'")
}

fn paid_until(desk: &Desk) -> Option<chrono::DateTime<chrono::Utc>> {
    desk.scalar(&format!(
        "SELECT s.paid_until FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
         WHERE t.slug = '{}'",
        desk.slug
    ))
}

/// From the card to the plan buttons.
fn plans(desk: &Desk, owner: &TgUser) -> ChatMessage {
    let card = desk.card(owner);
    desk.press(owner, &card, &format!("p:{}", desk.slug));
    desk.says(owner, |m| !m.callbacks("pp:").is_empty())
}

/// Types each answer in turn, waiting for the prompt that follows it; returns the last message.
fn answer(desk: &Desk, owner: &TgUser, steps: &[(&str, Text)]) -> ChatMessage {
    let mut last = None;
    for (typed, next) in steps {
        let asked = desk.text(owner, typed);
        let words = words(*next);
        last =
            Some(desk.says(owner, |m| m.message_id > asked && m.text.as_deref().is_some_and(|t| t.contains(&words))));
    }
    last.expect("at least one step")
}

/// Records a one-month payment of 299RUB under `reference`, and returns the outcome's text.
fn record_month(desk: &Desk, owner: &TgUser, reference: &str) -> String {
    let plans = plans(desk, owner);
    desk.press(owner, &plans, &format!("pp:{}:1m", desk.slug));
    desk.says_text(owner, &words(Text::PaymentAmountPrompt));
    answer(desk, owner, &[("299RUB", Text::PaymentReferencePrompt)]);
    let asked = desk.text(owner, reference);
    let confirm = desk.says(owner, |m| m.message_id > asked && !m.callbacks("py:").is_empty());
    let text = confirm.text.clone().unwrap_or_default();
    for needle in [desk.slug.as_str(), "30", "299RUB", reference] {
        assert!(text.contains(needle), "the confirmation names {needle}: {text}");
    }
    desk.press(owner, &confirm, &format!("py:{}", desk.slug));
    // The outcome replaces the confirmation; a note on the bot's start may follow it.
    let replaced = |m: &ChatMessage| m.message_id == confirm.message_id && m.callbacks("py:").is_empty();
    let chat = block_on(desk.emulator().wait_until(&desk.token, owner.id, |chat| chat.iter().any(replaced), WAIT))
        .expect("the confirmation is replaced by the outcome");
    let outcome = chat.into_iter().find(replaced).expect("found just now");
    // A second tap on the same confirmation finds nothing left to record.
    let again = desk.press(owner, &confirm, &format!("py:{}", desk.slug));
    assert_eq!(again.as_deref(), Some(en().raw(Text::Stale)));
    outcome.text.unwrap_or_default()
}

#[test]
fn a_payment_recorded_twice_under_one_reference_is_credited_once() {
    let desk = Desk::start();
    let owner = Desk::user(OWNER);
    let shown = plans(&desk, &owner);
    let month = shown.buttons().into_iter().find(|(_, data)| data == &format!("pp:{}:1m", desk.slug));
    let (label, _) = month.expect("the one-month plan is offered");
    assert!(label.contains("30") && label.contains("299RUB"), "{label}");
    assert!(paid_until(&desk).is_none(), "complimentary before");

    let first = record_month(&desk, &owner, "INV-77");
    assert!(first.contains(&words(Text::PaymentDone)), "{first}");
    let after_first = paid_until(&desk);
    assert!(after_first.is_some_and(|t| t > chrono::Utc::now() + chrono::Duration::days(29)));

    let second = record_month(&desk, &owner, "INV-77");
    assert!(second.contains("nothing changed"), "{second}");
    assert_eq!(payments(&desk), 1, "one payments row");
    assert_eq!(credits(&desk), 1, "one ledger credit");
    assert_eq!(paid_until(&desk), after_first, "the period moved once");

    // The same reference with another amount and days is the core's refusal, shown as it is.
    let card = desk.card(&owner);
    desk.press(&owner, &card, &format!("p:{}", desk.slug));
    let plans = desk.says(&owner, |m| !m.callbacks("pd:").is_empty());
    desk.press(&owner, &plans, &format!("pd:{}", desk.slug));
    desk.says_text(&owner, &words(Text::PaymentDaysPrompt));
    answer(&desk, &owner, &[("10", Text::PaymentAmountPrompt), ("100RUB", Text::PaymentReferencePrompt)]);
    let asked = desk.text(&owner, "INV-77");
    let confirm = desk.says(&owner, |m| m.message_id > asked && !m.callbacks("py:").is_empty());
    desk.press(&owner, &confirm, &format!("py:{}", desk.slug));
    desk.says_text(&owner, &words(Text::PaymentFailed));
    assert_eq!((payments(&desk), credits(&desk)), (1, 1));
    assert_eq!(paid_until(&desk), after_first);
    let events: i64 = desk.scalar(&format!("SELECT count(*) FROM botctl.events WHERE actor = 'telegram:{OWNER}'"));
    assert!(events >= 1, "the credit is recorded with the operator's Telegram id");
}

#[test]
fn a_bad_amount_is_told_and_nothing_is_recorded() {
    let desk = Desk::start();
    let owner = Desk::user(OWNER);
    let shown = plans(&desk, &owner);
    desk.press(&owner, &shown, &format!("pd:{}", desk.slug));
    desk.says_text(&owner, &words(Text::PaymentDaysPrompt));
    answer(
        &desk,
        &owner,
        &[
            ("0", Text::PaymentDaysBad),
            ("45", Text::PaymentAmountPrompt),
            ("lots of money", Text::PaymentAmountBad),
            ("-5RUB", Text::PaymentAmountBad),
        ],
    );
    let cancel = desk.text(&owner, "/cancel");
    desk.says(&owner, |m| m.message_id > cancel && !m.callbacks("l:").is_empty());
    let shown = plans(&desk, &owner);
    desk.press(&owner, &shown, &format!("pp:{}:1m", desk.slug));
    desk.says_text(&owner, &words(Text::PaymentAmountPrompt));
    let told = answer(&desk, &owner, &[("100RUB", Text::PaymentAmountPlan)]);
    assert!(told.text.as_deref().is_some_and(|t| t.contains("299RUB")), "says the plan's price: {:?}", told.text);
    assert_eq!((payments(&desk), credits(&desk)), (0, 0));
    assert!(paid_until(&desk).is_none());
}

#[test]
fn a_viewers_presses_are_refused() {
    let desk = Desk::start();
    let viewer = Desk::user(VIEWER);
    let card = desk.card(&viewer);
    assert!(card.callbacks("p:").is_empty(), "no payment button for a viewer");
    let slug = &desk.slug;
    for data in [format!("p:{slug}"), format!("pp:{slug}:1m"), format!("pd:{slug}"), format!("py:{slug}")] {
        let answer = desk.press(&viewer, &card, &data);
        assert_eq!(answer.as_deref(), Some(en().raw(Text::AccessViewer)), "{data}");
    }
    let flows: i64 = desk.scalar(&format!(
        "SELECT count(*) FROM botctl.operator_dialogues WHERE chat_id = {VIEWER} AND state <> '\"Idle\"'::jsonb"
    ));
    assert_eq!(flows, 0, "no flow begun");
    assert_eq!(payments(&desk), 0);
}

#[test]
fn paying_for_a_suspended_tenant_credits_and_then_tries_to_start_its_bot() {
    let desk = Desk::start();
    let owner = Desk::user(OWNER);
    let suspended: i64 = desk.scalar(&format!(
        "UPDATE botctl.subscriptions s SET state = 'suspended', paid_until = now() - interval '20 days', \
         grace_until = now() - interval '10 days' FROM botctl.tenants t WHERE t.id = s.tenant_id \
         AND t.slug = '{}' RETURNING s.tenant_id",
        desk.slug
    ));
    assert!(suspended > 0);
    let outcome = record_month(&desk, &owner, "INV-S1");
    assert!(outcome.contains("active"), "{outcome}");
    // These tests run no containers: the start is tried, fails, is told, and is left to the clock.
    let told = desk.says_text(&owner, &words(Text::PaymentBotNotStarted));
    assert!(told.text.as_deref().is_some_and(|t| t.contains(&desk.slug)));
    let pending: bool = desk.scalar(&format!(
        "SELECT s.start_pending FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
         WHERE t.slug = '{}'",
        desk.slug
    ));
    assert!(pending, "the platform's clock retries the start");
    assert_eq!((payments(&desk), credits(&desk)), (1, 1));
}
