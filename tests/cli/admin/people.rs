//! The panel's people part through the emulator: staff admins and their rules, the audit log's pages
//! and CSV, the CSV exports as documents, and a broadcast to hundreds of customers that keeps
//! Telegram's rate limit and survives a restart.

use std::collections::BTreeMap;
use std::time::Duration;

use botctl::bot::texts::Text;
use botctl::telegram::emulator::{ChatMessage, TgUser};

use super::{OWNER, Panel, ru};
use crate::serve::{buttons, has_buttons};
use crate::support::block_on;

/// The audit rows of `action` by `actor`.
fn audited(panel: &Panel, actor: i64, action: &str) -> i64 {
    panel
        .bot
        .scalar(&format!("SELECT count(*) FROM {{schema}}.audit_log WHERE actor = {actor} AND action = '{action}'"))
}

/// The newest bot message of `user` carrying a document, parsed: the header and the rows.
fn csv_document(panel: &Panel, user: &TgUser, name_starts: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let message = panel.bot.bot_says(user, |m| {
        m.document.as_ref().is_some_and(|d| d.file_name.as_deref().is_some_and(|n| n.starts_with(name_starts)))
    });
    let document = message.document.unwrap();
    assert!(document.file_name.as_deref().unwrap().ends_with(".csv"), "{:?}", document.file_name);
    let bytes = document.bytes;
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "no byte-order mark");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header = reader.headers().unwrap().iter().map(str::to_string).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

#[test]
fn an_owner_adds_a_manager_grants_a_permission_and_removes_them() {
    let panel = Panel::start();
    let owner = panel.owner();
    let mark = panel.customer(4001);
    let menu = panel.open(&owner);
    panel.press(&owner, &menu, "a:ad:l");
    let list = panel.bot.bot_says(&owner, has_buttons("a:ad:a"));
    assert!(buttons(&list).contains(&format!("a:ad:c:{OWNER}")), "{:?}", buttons(&list));
    panel.press(&owner, &list, "a:ad:a");
    panel.says(&owner, &Panel::words(Text::AdminStaffAddAsk));

    // Wrong answers keep the question open.
    panel.bot.text(&owner, "mark");
    panel.says(&owner, &Panel::words(Text::AdminStaffIdInvalid));
    panel.bot.text(&owner, "-5");
    panel.says(&owner, &Panel::words(Text::AdminStaffIdInvalid));
    panel.bot.text(&owner, "1002");
    panel.says(&owner, &Panel::words(Text::AdminStaffIdTaken));
    panel.bot.text(&owner, "4001");
    let card = panel.bot.bot_says(&owner, has_buttons("a:ad:p:4001:"));
    assert!(card.text.as_deref().unwrap().contains("Anna (4001)"), "{:?}", card.text);
    let row: String = panel
        .bot
        .scalar("SELECT is_owner::text || permissions::text || added_by FROM {schema}.admins WHERE user_id = 4001");
    assert_eq!(row, format!("false{{}}{OWNER}"));
    panel.says(&mark, &Panel::words(Text::AdminStaffNotifyAdded));

    // The new manager may open what they are granted and nothing else.
    assert_eq!(panel.press(&owner, &card, "a:ad:p:4001:export"), None);
    let card = panel.bot.bot_says(&owner, |m| m.text.as_deref().is_some_and(|t| t.contains("export")));
    let permissions: String = panel.bot.scalar("SELECT permissions::text FROM {schema}.admins WHERE user_id = 4001");
    assert_eq!(permissions, "{export}");
    let manager_menu = panel.open(&mark);
    let offered = buttons(&manager_menu);
    assert!(offered.contains(&"a:ex:m".to_string()), "{offered:?}");
    assert!(!offered.iter().any(|d| d.starts_with("a:sv:") || d.starts_with("a:ad:")), "{offered:?}");
    assert_eq!(panel.press(&mark, &manager_menu, "a:ex:m"), None);
    panel.bot.bot_says(&mark, has_buttons("a:ex:c"));
    let denied = ru().raw(Text::AdminDeniedAlert);
    assert_eq!(panel.press_data(&mark, &manager_menu, "a:sv:l").as_deref(), Some(denied));
    assert_eq!(panel.press_data(&mark, &manager_menu, "a:ad:l").as_deref(), Some(denied));

    // Nobody changes themselves.
    let not_yourself = ru().raw(Text::AdminStaffNotYourself);
    assert_eq!(panel.press_data(&owner, &card, &format!("a:ad:r:{OWNER}:m")).as_deref(), Some(not_yourself));
    assert_eq!(panel.press_data(&owner, &card, &format!("a:ad:X:{OWNER}")).as_deref(), Some(not_yourself));

    panel.press(&owner, &card, "a:ad:x:4001");
    let confirm = panel.bot.bot_says(&owner, has_buttons("a:ad:X:4001"));
    panel.press(&owner, &confirm, "a:ad:X:4001");
    panel.says(&mark, &Panel::words(Text::AdminStaffNotifyRemoved));
    let left: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.admins WHERE user_id = 4001");
    assert_eq!(left, 0);
    assert_eq!(panel.press_data(&mark, &manager_menu, "a:ex:m").as_deref(), Some(denied));
    // A stale card's buttons find nobody.
    assert_eq!(panel.press_data(&owner, &card, "a:ad:p:4001:audit").as_deref(), Some(ru().raw(Text::AdminGone)));

    for action in ["staff.add", "staff.permissions", "staff.remove"] {
        assert_eq!(audited(&panel, OWNER, action), 1, "{action}");
    }
    let change: String = panel.bot.scalar(
        "SELECT before::text || ' -> ' || after::text FROM {schema}.audit_log WHERE action = 'staff.permissions'",
    );
    assert_eq!(change, r#"{"role": "manager", "permissions": []} -> {"role": "manager", "permissions": ["export"]}"#);
}

#[test]
fn owners_are_changed_only_by_owners_and_the_last_owner_stays() {
    let mut panel = Panel::start();
    let owner = panel.owner();
    let second = TgUser::new(1002, "Petr");
    let manager = panel.manager(4002, &["admins", "bookings"]);

    // A manager with `admins` manages managers only, and grants only what they hold.
    let menu = panel.open(&manager);
    let owners_only = ru().raw(Text::AdminStaffOwnersOnly);
    let not_yourself = ru().raw(Text::AdminStaffNotYourself);
    assert_eq!(panel.press_data(&manager, &menu, "a:ad:r:1002:m").as_deref(), Some(owners_only));
    assert_eq!(panel.press_data(&manager, &menu, "a:ad:X:1002").as_deref(), Some(not_yourself));
    assert_eq!(
        panel.press_data(&manager, &menu, "a:ad:p:4002:audit").as_deref(),
        Some(ru().raw(Text::AdminDeniedAlert))
    );

    // An owner demotes another owner; then the one owner left cannot be demoted or removed by anyone.
    let menu = panel.open(&owner);
    assert_eq!(panel.press_data(&owner, &menu, "a:ad:r:1002:m").as_deref(), Some(ru().raw(Text::AdminSaved)));
    let owners: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.admins WHERE is_owner");
    assert_eq!(owners, 1);
    assert_eq!(audited(&panel, OWNER, "staff.role"), 1);
    panel.bot.sql("UPDATE {schema}.admins SET permissions = '{admins}' WHERE user_id = 1002");
    let demoted_menu = panel.open(&second);
    assert_eq!(panel.press_data(&second, &demoted_menu, "a:ad:r:1001:m").as_deref(), Some(owners_only));
    assert_eq!(panel.press_data(&second, &demoted_menu, "a:ad:X:1001").as_deref(), Some(not_yourself));
    assert_eq!(panel.press_data(&owner, &menu, "a:ad:X:1001").as_deref(), Some(not_yourself));

    // A tenant with one owner from the start: the same.
    panel.bot.sql("DELETE FROM {schema}.admins WHERE user_id = 1002");
    assert_eq!(panel.press_data(&owner, &menu, &format!("a:ad:r:{OWNER}:m")).as_deref(), Some(not_yourself));
    let owners: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.admins WHERE is_owner");
    assert_eq!(owners, 1);

    // `tenant update --admin` replaces the command line's owners and keeps the admins added in the bot,
    // an owner among them.
    panel.bot.sql("UPDATE {schema}.admins SET is_owner = true WHERE user_id = 4002");
    let mut conn = panel.bot.f.db.connect();
    block_on(async {
        let search_path = format!("SET search_path TO tenant_{}", panel.bot.slug);
        sqlx::raw_sql(sqlx::AssertSqlSafe(search_path)).execute(&mut conn).await.unwrap();
        botctl::tenant::business::set_owners(&mut conn, &[1003]).await.unwrap();
    });
    let admins: String = panel.bot.scalar(
        "SELECT string_agg(user_id || ':' || is_owner || ':' || coalesce(added_by::text, '-'), ' ' ORDER BY user_id) \
         FROM {schema}.admins",
    );
    assert_eq!(admins, "1003:true:- 4002:true:1001");
    panel.bot.stop();
}

#[test]
fn the_audit_log_pages_newest_first_and_exports_as_csv() {
    let panel = Panel::start();
    let owner = panel.owner();
    panel.bot.sql(
        "INSERT INTO {schema}.audit_log (at, actor, action, target, before, after) \
         SELECT now() - n * interval '1 minute', 1001, 'test.entry' || n, 'thing ' || n, \
                jsonb_build_object('n', n), jsonb_build_object('n', n + 1) \
         FROM generate_series(1, 23) n",
    );
    panel.bot.text(&owner, "/audit");
    let first = panel.bot.bot_says(&owner, has_buttons("a:au:csv"));
    let text = first.text.clone().unwrap();
    assert!(text.contains("страница 1 из 3"), "{text}");
    assert!(text.contains("test.entry1 ·") && text.contains("test.entry10 ·"), "{text}");
    assert!(!text.contains("test.entry11 ·"), "{text}");
    assert!(text.contains("n: 1 → 2"), "{text}");
    assert_eq!(buttons(&first).iter().filter(|d| d.starts_with("a:au:p:")).collect::<Vec<_>>(), ["a:au:p:1"]);
    panel.press(&owner, &first, "a:au:p:1");
    let second = panel.says(&owner, "страница 2 из 3");
    assert!(second.text.as_deref().unwrap().contains("test.entry11 ·"));
    panel.press(&owner, &second, "a:au:p:2");
    let third = panel.says(&owner, "страница 3 из 3");
    assert_eq!(buttons(&third).iter().filter(|d| d.starts_with("a:au:p:")).collect::<Vec<_>>(), ["a:au:p:1"]);

    panel.press(&owner, &third, "a:au:csv");
    let (header, rows) = csv_document(&panel, &owner, "audit-");
    assert_eq!(header, ["at", "actor_id", "actor", "action", "target", "before", "after"]);
    assert_eq!(rows.len(), 23);
    assert_eq!(rows[0][3], "test.entry1");
    assert_eq!(rows[0][5], r#"{"n":1}"#);
    assert_eq!(rows[22][3], "test.entry23");
    assert_eq!(audited(&panel, OWNER, "export.audit"), 1);
}

#[test]
fn exports_arrive_as_csv_documents_with_exactly_the_rows_asked_for() {
    let panel = Panel::start();
    let owner = panel.owner();
    panel.customer(5001);
    panel.bot.sql(
        "INSERT INTO {schema}.customers (user_id, first_name, username, phone) VALUES \
           (5002, 'Иван, \"Ваня\"', 'vanya', '+79990000002'), (5003, 'Olga', NULL, NULL)",
    );
    let local = |at: &str| format!("(timestamp '{at}' AT TIME ZONE (SELECT timezone FROM {{schema}}.settings))");
    let book = |customer: i64, at: &str, status: &str| -> i64 {
        let start = local(at);
        let cancelled = if status == "cancelled" { "'admin'" } else { "NULL" };
        panel.bot.scalar(&format!(
            "INSERT INTO {{schema}}.bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at, \
                                             status, cancelled_by) \
             SELECT {customer}, min(id), 'Стрижка', 150050, {start}, {start} + interval '1 hour', '{status}', \
                    {cancelled} FROM {{schema}}.services RETURNING id"
        ))
    };
    let inside = [
        book(5002, "2027-03-01 00:00", "active"),
        book(5003, "2027-03-10 10:00", "cancelled"),
        book(5002, "2027-03-31 23:00", "active"),
    ];
    book(5002, "2027-02-28 23:00", "active");
    book(5003, "2027-04-01 00:00", "active");
    let past = book(5002, "2025-05-05 12:00", "completed");
    panel.bot.sql(&format!(
        "INSERT INTO {{schema}}.ratings (booking_id, score, comment) VALUES ({past}, 4, 'Хорошо, но \"долго\"')"
    ));

    let menu = panel.open(&owner);
    panel.press(&owner, &menu, "a:ex:m");
    let exports = panel.bot.bot_says(&owner, has_buttons("a:ex:br"));
    panel.press(&owner, &exports, "a:ex:br");
    panel.says(&owner, &Panel::words(Text::AdminExportRangeAsk));
    panel.bot.text(&owner, "31.03.2027-01.03.2027");
    panel.says(&owner, &Panel::words(Text::AdminExportRangeInvalid));
    panel.bot.text(&owner, "01.01.2027-03.01.2028");
    panel.says(&owner, &Panel::words(Text::AdminExportRangeInvalid));
    panel.bot.text(&owner, "01.03.2027-31.03.2027");
    let (header, rows) = csv_document(&panel, &owner, "bookings-2027-03-01-2027-03-31");
    assert_eq!(
        header,
        [
            "id",
            "date",
            "time",
            "service",
            "duration_min",
            "price",
            "currency",
            "status",
            "customer_id",
            "customer",
            "username",
            "phone",
            "note"
        ]
    );
    let ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(ids, inside);
    let currency: String = panel.bot.scalar("SELECT currency FROM {schema}.settings");
    assert_eq!(rows[0][1..9], ["2027-03-01", "00:00", "Стрижка", "60", "1500.50", &currency, "active", "5002"]);
    assert_eq!(rows[0][9..12], ["Иван, \"Ваня\"", "vanya", "+79990000002"]);
    assert_eq!(rows[1][7], "cancelled");
    assert_eq!(rows[2][1..3], ["2027-03-31", "23:00"]);
    let dialogue: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.dialogues WHERE state::text LIKE '%Admin%'");
    assert_eq!(dialogue, 0, "the question was not closed");

    panel.press(&owner, &exports, "a:ex:c");
    let (header, rows) = csv_document(&panel, &owner, "customers-");
    assert_eq!(header, ["id", "name", "username", "phone", "first_seen", "bookings", "last_visit"]);
    let expected: Vec<i64> = {
        let list: String = panel
            .bot
            .scalar("SELECT string_agg(user_id::text, ',' ORDER BY created_at, user_id) FROM {schema}.customers");
        list.split(',').map(|id| id.parse().unwrap()).collect()
    };
    assert_eq!(rows.iter().map(|r| r[0].parse::<i64>().unwrap()).collect::<Vec<_>>(), expected);
    let by_id: BTreeMap<&str, &Vec<String>> = rows.iter().map(|r| (r[0].as_str(), r)).collect();
    assert_eq!(by_id["5002"][1..4], ["Иван, \"Ваня\"", "vanya", "+79990000002"]);
    assert_eq!(by_id["5002"][5], "4");
    assert!(by_id["5002"][6].starts_with("2025-05-05 12:00"), "{:?}", by_id["5002"]);
    assert_eq!(by_id["5003"][5..7], ["2", ""]);
    assert_eq!(by_id["5001"][5..7], ["0", ""]);

    panel.press(&owner, &exports, "a:ex:f");
    let (header, rows) = csv_document(&panel, &owner, "feedback-");
    assert_eq!(header, ["date", "customer_id", "customer", "service", "score", "comment"]);
    assert_eq!(rows, [["2025-05-05", "5002", "Иван, \"Ваня\"", "Стрижка", "4", "Хорошо, но \"долго\""]]);

    for action in ["export.bookings", "export.customers", "export.feedback"] {
        assert_eq!(audited(&panel, OWNER, action), 1, "{action}");
    }
}

/// The sendMessage calls of the bot, by chat, with the text given.
fn deliveries(panel: &Panel, text: &str) -> BTreeMap<i64, usize> {
    let mut by_chat = BTreeMap::new();
    for sent in panel.bot.emulator().sent(&panel.bot.token) {
        if sent.method == "sendMessage" && sent.params["text"] == text {
            *by_chat.entry(sent.params["chat_id"].as_i64().unwrap()).or_insert(0) += 1;
        }
    }
    by_chat
}

#[test]
fn a_broadcast_reaches_every_customer_once_within_the_rate_limit_across_a_restart() {
    let mut panel = Panel::start();
    let owner = panel.owner();
    const FIRST: i64 = 100_000;
    const COUNT: i64 = 500;
    panel.bot.sql(&format!(
        "INSERT INTO {{schema}}.customers (user_id, first_name) \
         SELECT n, 'Client ' || n FROM generate_series({FIRST}, {}) n",
        FIRST + COUNT - 1
    ));
    for id in FIRST..FIRST + COUNT {
        panel.bot.emulator().open_chat(&panel.bot.token, &TgUser::new(id, "Client"));
    }
    // Three have blocked the bot without its knowing; five it knows about.
    let blocked_unknown = [FIRST + 10, FIRST + 250, FIRST + 499];
    for id in blocked_unknown {
        panel.bot.emulator().block_bot(&panel.bot.token, id);
    }
    panel.bot.sql(&format!(
        "UPDATE {{schema}}.customers SET blocked_at = now() WHERE user_id BETWEEN {} AND {}",
        FIRST + 40,
        FIRST + 44
    ));

    let menu = panel.open(&owner);
    panel.press(&owner, &menu, "a:bc:n");
    panel.says(&owner, &Panel::words(Text::AdminBroadcastAsk));
    panel.bot.text(&owner, &"x".repeat(4001));
    panel.says(&owner, "от 1 до 4000");
    // Cancelled, the preview leaves nothing waiting: the next text is no broadcast.
    panel.bot.text(&owner, "Черновик");
    let draft = panel.bot.bot_says(&owner, has_buttons("a:bc:x"));
    panel.press(&owner, &draft, "a:bc:x");
    panel.bot.bot_says(&owner, has_buttons("a:db:t"));
    let waiting: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.dialogues WHERE state::text LIKE '%Admin%'");
    assert_eq!(waiting, 0);
    panel.press(&owner, &menu, "a:bc:n");
    panel.says(&owner, &Panel::words(Text::AdminBroadcastAsk));
    panel.bot.text(&owner, "Скидка <b>20%</b> & подарок");
    let preview = panel.bot.bot_says(&owner, has_buttons("a:bc:s"));
    let recipients: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.customers WHERE blocked_at IS NULL");
    assert!(recipients >= COUNT - 5, "{recipients}");
    assert!(preview.text.as_deref().unwrap().contains(&format!("получателей: {recipients}")), "{:?}", preview.text);
    panel.press(&owner, &preview, "a:bc:s");
    assert_eq!(audited(&panel, OWNER, "broadcast.send"), 1);
    // A second press of the same preview sends nothing more.
    assert_eq!(panel.press_data(&owner, &preview, "a:bc:s").as_deref(), Some(ru().raw(Text::AdminGone)));

    // The emulator shows what the customers see: the text escaped, as they typed it.
    let text = "Скидка <b>20%</b> & подарок";
    let emulator = panel.bot.emulator().clone();
    let token = panel.bot.token.clone();
    let sent_to_clients = |log: &[botctl::telegram::emulator::Sent]| {
        log.iter().filter(|s| s.method == "sendMessage" && s.params["chat_id"].as_i64() >= Some(FIRST)).count()
    };
    block_on(emulator.wait_until_sent(&token, |log| sent_to_clients(log) >= 200, Duration::from_secs(60))).unwrap();
    panel.bot.restart();

    let report = panel.bot.bot_says_within(Duration::from_secs(120), &owner, preview.message_id, |m| {
        m.text.as_deref().is_some_and(|t| t.contains("Доставлено"))
    });
    let html = "Скидка &lt;b&gt;20%&lt;/b&gt; &amp; подарок";
    let by_chat = deliveries(&panel, html);
    let customers: Vec<i64> = {
        let list: String = panel.bot.scalar(
            "SELECT string_agg(user_id::text, ',') FROM {schema}.customers \
             WHERE user_id NOT BETWEEN 100040 AND 100044",
        );
        list.split(',').map(|id| id.parse().unwrap()).collect()
    };
    assert_eq!(customers.len() as i64, recipients);
    for id in &customers {
        assert_eq!(by_chat.get(id), Some(&1), "customer {id} got the broadcast {:?} times", by_chat.get(id));
    }
    assert_eq!(by_chat.len(), customers.len(), "the broadcast went to someone who was left out");
    for id in FIRST..FIRST + COUNT {
        if blocked_unknown.contains(&id) || (FIRST + 40..=FIRST + 44).contains(&id) {
            continue;
        }
        let got: Vec<ChatMessage> = emulator.chat(&token, id).into_iter().filter(|m| m.from_bot).collect();
        assert_eq!(got.len(), 1, "chat {id}: {got:?}");
        assert_eq!(got[0].text.as_deref(), Some(text));
    }

    // Never more than 30 messages in any second.
    let times: Vec<_> = emulator.sent(&token).into_iter().filter(|s| s.method == "sendMessage").map(|s| s.at).collect();
    for (i, start) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .take_while(|at| at.duration_since(*start).unwrap_or_default() < Duration::from_secs(1))
            .count();
        assert!(within <= 30, "{within} messages in the second from message {i}");
    }

    // The report: the three found blocked now and the five known before, none otherwise failed.
    let delivered = recipients - 3;
    let report = report.text.unwrap();
    assert!(report.contains(&format!("Получателей: {recipients}")), "{report}");
    assert!(report.contains(&format!("Доставлено: {delivered}")), "{report}");
    assert!(report.contains("Заблокировали бота: 8"), "{report}");
    assert!(report.contains("Ошибки: 0"), "{report}");
    let newly_blocked: i64 = panel.bot.scalar(
        "SELECT count(*) FROM {schema}.customers WHERE blocked_at IS NOT NULL AND user_id IN (100010, 100250, 100499)",
    );
    assert_eq!(newly_blocked, 3);
    panel.bot.stop();
    let reports = emulator
        .chat(&token, OWNER)
        .iter()
        .filter(|m| m.text.as_deref().is_some_and(|t| t.contains("Доставлено")))
        .count();
    assert_eq!(reports, 1);
    let pending: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.outbox WHERE state = 'pending'");
    assert_eq!(pending, 0);
    let reported: bool = panel.bot.scalar("SELECT bool_and(reported_at IS NOT NULL) FROM {schema}.broadcasts");
    assert!(reported);
}
