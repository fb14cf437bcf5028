//! The permission matrix: every admin button and command, pressed and sent by a customer and by admins
//! who lack exactly the permission it needs, gets a polite refusal and changes nothing.

use std::collections::BTreeMap;

use botctl::bot::admin::access::{Need, Permission};
use botctl::bot::callback::{Admin, Callback};
use botctl::bot::texts::Text;
use botctl::telegram::emulator::TgUser;

use super::{Panel, ru};
use crate::serve::buttons;

/// Everything a panel action could change, as one fingerprint.
fn fingerprint(panel: &Panel) -> String {
    let tables = [
        "settings",
        "services",
        "working_hours",
        "date_hours",
        "bookings",
        "admins",
        "texts",
        "outbox",
        "broadcasts",
        "audit_log",
        "ratings",
    ];
    let parts: Vec<String> = tables
        .iter()
        .map(|t| format!("(SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {{schema}}.{t} x)"))
        .collect();
    panel.bot.scalar(&format!("SELECT {}", parts.join(" || ':' || ")))
}

/// The bot's requests other than answers to button presses: any of them would be something happening.
fn actions(panel: &Panel) -> usize {
    panel.bot.emulator().sent(&panel.bot.token).iter().filter(|s| s.method != "answerCallbackQuery").count()
}

#[test]
fn every_admin_button_and_command_is_refused_to_those_without_the_permission() {
    let panel = Panel::start();
    let customer = panel.customer(2001);
    // Real targets, so that an action let through would have something to act on.
    let service: i64 = panel.bot.scalar("SELECT min(id) FROM {schema}.services");
    let booking: i64 = panel.bot.scalar(&format!(
        "INSERT INTO {{schema}}.bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at) \
         VALUES ({}, {service}, 'Стрижка', 150000, now() + interval '3 days', now() + interval '3 days 1 hour') \
         RETURNING id",
        customer.id
    ));
    // One manager per permission, holding every other one.
    let lacking: Vec<(Permission, TgUser)> = (0_i64..)
        .zip(Permission::ALL)
        .map(|(i, missing)| {
            let others: Vec<&str> = Permission::ALL.iter().filter(|&&p| p != missing).map(|p| p.name()).collect();
            (missing, panel.manager(3001 + i, &others))
        })
        .collect();
    // Each of them opens the panel, to have a message of the bot's to press buttons on.
    let anchor_customer = {
        panel.bot.text(&customer, "/start");
        panel.bot.bot_says(&customer, |m| m.text.is_some())
    };
    let anchors: Vec<_> = lacking.iter().map(|(_, user)| panel.open(user)).collect();

    let before = (fingerprint(&panel), actions(&panel));
    let denied = ru().raw(Text::AdminDeniedAlert);
    let all: BTreeMap<String, Admin> = [booking, service, 1002]
        .into_iter()
        .flat_map(Admin::samples)
        .map(|action| (Callback::Admin(action).to_string(), action))
        .collect();
    let mut pressed = 0;
    for (data, action) in &all {
        let alert = panel.press_data(&customer, &anchor_customer, data);
        assert_eq!(alert.as_deref(), Some(denied), "a customer pressed {data}");
        pressed += 1;
        if let Need::Permission(needed) = action.need() {
            let (i, (_, manager)) = lacking.iter().enumerate().find(|(_, (p, _))| *p == needed).unwrap();
            let alert = panel.press_data(manager, &anchors[i], data);
            assert_eq!(alert.as_deref(), Some(denied), "a manager without `{needed}` pressed {data}");
            pressed += 1;
        }
    }
    assert!(pressed > 150, "only {pressed} presses");
    assert_eq!((fingerprint(&panel), actions(&panel)), before, "a refused press changed something");

    // Commands: the panel itself to customers, the audit log to those without `audit`.
    panel.bot.text(&customer, "/admin");
    panel.says(&customer, &Panel::words(Text::AdminDenied));
    panel.bot.text(&customer, "/audit");
    let refusal = panel.says(&customer, &Panel::words(Text::AdminDenied));
    assert!(buttons(&refusal).is_empty());
    let (_, no_audit) = lacking.iter().find(|(p, _)| *p == Permission::Audit).unwrap();
    panel.bot.text(no_audit, "/audit");
    panel.says(no_audit, &Panel::words(Text::AdminDenied));
    let states: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.dialogues WHERE state::text LIKE '%Admin%'");
    assert_eq!(states, 0, "a refused admin action left a question waiting");
    assert_eq!(fingerprint(&panel), before.0);
}

#[test]
fn the_menu_offers_a_manager_only_the_sections_they_may_use() {
    let panel = Panel::start();
    let manager = panel.manager(3101, &["bookings"]);
    let menu = panel.open(&manager);
    let data = buttons(&menu);
    assert!(data.iter().any(|d| d.starts_with("a:sc:")), "{data:?}");
    assert!(data.contains(&"a:db:t".to_string()), "{data:?}");
    for hidden in ["a:sv:", "a:st:", "a:bl:", "a:tx:", "a:ex:", "a:bc:", "a:ad:", "a:au:"] {
        assert!(!data.iter().any(|d| d.starts_with(hidden)), "{hidden} offered: {data:?}");
    }
    let owner_menu = panel.open(&panel.owner());
    assert_eq!(buttons(&owner_menu).len(), 10, "{:?}", buttons(&owner_menu));
}

#[test]
fn a_question_is_stopped_by_cancel_and_by_a_permission_withdrawn_meanwhile() {
    let panel = Panel::start();
    let manager = panel.manager(3201, &["services"]);
    let services: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.services");
    let asks_for_a_name = Panel::words(Text::AdminServicesAskName);

    // `/cancel` ends the question: the next text is no answer to it.
    let menu = panel.open(&manager);
    panel.press_data(&manager, &menu, "a:sv:n");
    panel.says(&manager, &asks_for_a_name);
    panel.bot.text(&manager, "/cancel");
    panel.says(&manager, &Panel::words(Text::AdminPromptCancelled));
    panel.bot.text(&manager, "Окрашивание");
    panel.says(&manager, &Panel::words(Text::UnknownMessage));

    // A permission withdrawn while the question waits: the answer is refused and the question ends.
    let menu = panel.open(&manager);
    panel.press_data(&manager, &menu, "a:sv:n");
    panel.says(&manager, &asks_for_a_name);
    panel.bot.sql("UPDATE {schema}.admins SET permissions = '{}' WHERE user_id = 3201");
    panel.bot.text(&manager, "Окрашивание");
    panel.says(&manager, &Panel::words(Text::AdminDenied));
    let states: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.dialogues WHERE state::text LIKE '%Admin%'");
    assert_eq!(states, 0);
    let after: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.services");
    assert_eq!(after, services, "no service was made");
}

/// The commands last set for `user`'s own chat: `None` when none were, or they were removed since.
fn chat_commands(panel: &Panel, user: i64) -> Option<Vec<String>> {
    let sent = panel.bot.emulator().sent(&panel.bot.token);
    let last = sent.iter().rev().find(|s| {
        matches!(s.method.as_str(), "setMyCommands" | "deleteMyCommands") && s.params["scope"]["chat_id"] == user
    })?;
    let commands = last.params["commands"].as_array()?;
    Some(commands.iter().map(|c| c["command"].as_str().unwrap().to_string()).collect())
}

#[test]
fn admins_find_the_panel_in_their_command_menu_and_customers_do_not() {
    let panel = Panel::start();
    let customer = panel.customer(2001);
    let owner = panel.owner();
    panel.open(&owner);
    let menu = chat_commands(&panel, owner.id).expect("the owner's menu");
    assert!(menu.contains(&"admin".to_string()) && menu.contains(&"audit".to_string()), "{menu:?}");
    assert!(menu.contains(&"book".to_string()), "{menu:?}");

    let manager = panel.manager(3301, &["bookings"]);
    panel.open(&manager);
    let menu = chat_commands(&panel, manager.id).expect("the manager's menu");
    assert!(menu.contains(&"admin".to_string()) && !menu.contains(&"audit".to_string()), "{menu:?}");

    panel.bot.text(&customer, "/admin");
    panel.says(&customer, &Panel::words(Text::AdminDenied));
    assert_eq!(chat_commands(&panel, customer.id), None);

    // Removed in the panel, the manager's menu goes back to the customer's.
    let staff = panel.open(&owner);
    panel.press_data(&owner, &staff, &format!("a:ad:X:{}", manager.id));
    let removed =
        panel.bot.emulator().sent(&panel.bot.token).into_iter().rev().find(|s| s.method == "deleteMyCommands");
    assert_eq!(removed.map(|s| s.params["scope"]["chat_id"].clone()), Some(serde_json::json!(manager.id)));
}
