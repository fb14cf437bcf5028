//! `botctl serve` through the Bot API emulator: whole conversations, tap by tap, against the tenant's
//! real schema and role.

use std::net::SocketAddr;
use std::time::Duration;

use botctl::bot::serve::{self, ServeOptions};
use botctl::bot::texts::{Catalog, Text};
use botctl::locale::Locale;
use botctl::telegram::emulator::{ChatMessage, Emulator, Failure, TgUser};
use botctl::telegram::runtime::flood::Limits;
use chrono::{LocalResult, NaiveDate, TimeZone};
use tokio_util::sync::CancellationToken;

use crate::support::{block_on, token};
use crate::tenant::{BOT_A, Fixture};

pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// A tenant's bot running in-process against the emulator.
pub(crate) struct Running {
    pub(crate) options: ServeOptions,
    pub(crate) f: Fixture,
    pub(crate) slug: String,
    pub(crate) token: String,
    pub(crate) shutdown: CancellationToken,
    pub(crate) task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub(crate) http: SocketAddr,
}

impl Running {
    pub(crate) fn start() -> Self {
        // Tests tap faster than people; the flood limits have their own test.
        Self::start_with(Some(Limits {
            message_every: Duration::from_millis(1),
            message_burst: 1000,
            button_every: Duration::from_millis(1),
            button_burst: 1000,
        }))
    }

    /// `flood: None` keeps the tenant's own limits.
    pub(crate) fn start_with(flood: Option<Limits>) -> Self {
        let f = Fixture::new();
        let slug = f.create(BOT_A);
        let url = f.tenant_url(&slug);
        let options = ServeOptions {
            tenant: slug.clone(),
            database: url.parse::<botctl::db::DatabaseUrl>().unwrap().connect_options(),
            token: token(BOT_A).parse().unwrap(),
            api_url: f.emulator.url(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            // As against Telegram: the 429 test relies on `Throttle` retrying.
            rate_limits: true,
            flood,
            // Tests write rows by SQL as another process would; the bot finds them within a second.
            outbox_rescan: Duration::from_secs(1),
        };
        let (shutdown, task, http) = launch(&options);
        Self { token: token(BOT_A), f, slug, options, shutdown, task: Some(task), http }
    }

    /// Stops the bot and starts a new one on the same tenant, as a container restart would.
    pub(crate) fn restart(&mut self) {
        self.stop();
        let (shutdown, task, http) = launch(&self.options);
        (self.shutdown, self.task, self.http) = (shutdown, Some(task), http);
    }

    pub(crate) fn emulator(&self) -> &Emulator {
        &self.f.emulator
    }

    pub(crate) fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await })
                .expect("serve stops within 10 s")
                .unwrap()
                .unwrap();
        }
    }

    /// Waits until the newest bot message satisfies `f`, and returns it.
    pub(crate) fn bot_says(&self, user: &TgUser, f: impl Fn(&ChatMessage) -> bool) -> ChatMessage {
        self.bot_says_after(user, 0, f)
    }

    /// The same, for a message newer than `after`.
    pub(crate) fn bot_says_after(&self, user: &TgUser, after: i64, f: impl Fn(&ChatMessage) -> bool) -> ChatMessage {
        self.bot_says_within(WAIT, user, after, f)
    }

    /// The same, waiting up to `timeout`.
    pub(crate) fn bot_says_within(
        &self,
        timeout: Duration,
        user: &TgUser,
        after: i64,
        f: impl Fn(&ChatMessage) -> bool,
    ) -> ChatMessage {
        let newest = |chat: &[ChatMessage]| chat.iter().rev().find(|m| m.from_bot && !m.deleted).cloned();
        let check = |chat: &[ChatMessage]| newest(chat).is_some_and(|m| m.message_id > after && f(&m));
        let chat = block_on(self.emulator().wait_until(&self.token, user.id, check, timeout))
            .unwrap_or_else(|e| panic!("{e}; the chat: {:#?}", self.emulator().chat(&self.token, user.id)));
        newest(&chat).unwrap()
    }

    pub(crate) fn text(&self, user: &TgUser, text: &str) {
        self.f.emulator.send_text(&self.token, user, text);
    }

    /// Presses the first button whose data starts with `prefix` on `message`; checks the press is answered.
    pub(crate) fn press(&self, user: &TgUser, message: &ChatMessage, prefix: &str) -> String {
        let data = buttons(message)
            .into_iter()
            .find(|d| d.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` button in {:?}", message.reply_markup));
        let query = self.emulator().press_button(&self.token, user, message.message_id, &data);
        block_on(self.emulator().wait_answered(&self.token, &query, WAIT))
            .unwrap_or_else(|e| panic!("the press of {data} was never answered: {e}"));
        data
    }

    /// The calendar's pressable days from the day after tomorrow on (turning to the next month when this
    /// one has fewer than two), with the calendar message.
    pub(crate) fn future_days(&self, user: &TgUser, calendar: ChatMessage) -> (ChatMessage, Vec<String>) {
        let soon = (chrono::Utc::now().with_timezone(&chrono_tz::Europe::Moscow) + chrono::TimeDelta::days(2))
            .format("%Y%m%d")
            .to_string();
        let later = |m: &ChatMessage| -> Vec<String> {
            buttons(m)
                .into_iter()
                .filter(|d| d.starts_with("d:") && d.split(':').nth(2).is_some_and(|day| day >= soon.as_str()))
                .collect()
        };
        if later(&calendar).len() >= 2 {
            let days = later(&calendar);
            return (calendar, days);
        }
        self.press(user, &calendar, "m:");
        let next = self.bot_says(user, |m| later(m).len() >= 2);
        let days = later(&next);
        (next, days)
    }

    /// Takes `user` through booking the first free time of the first service two or more days ahead, up
    /// to the question for a phone number, which it returns.
    pub(crate) fn book_until_phone(&self, user: &TgUser) -> ChatMessage {
        let ru = Catalog::defaults(Locale::Ru);
        self.text(user, ru.raw(Text::MenuBook));
        let services = self.bot_says(user, has_buttons("s:"));
        self.press(user, &services, "s:");
        let calendar = self.bot_says(user, has_buttons("d:"));
        let days = self.future_days(user, calendar);
        self.press(user, &days.0, &days.1[0]);
        let times = self.bot_says(user, has_buttons("t:"));
        self.press(user, &times, "t:");
        let card = self.bot_says(user, has_buttons("c:"));
        self.press(user, &card, "c:");
        self.bot_says(user, |m| m.reply_markup.as_ref().is_some_and(|r| r.to_string().contains("request_contact")))
    }

    /// Runs statements as the superuser, `{schema}` standing for the tenant's schema.
    pub(crate) fn sql(&self, sql: &str) {
        let sql = sql.replace("{schema}", &format!("tenant_{}", self.slug));
        block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut self.f.db.connect())).unwrap();
    }

    pub(crate) fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        self.f.scalar(&sql.replace("{schema}", &format!("tenant_{}", self.slug)))
    }
}

type Launched = (CancellationToken, tokio::task::JoinHandle<anyhow::Result<()>>, SocketAddr);

fn launch(options: &ServeOptions) -> Launched {
    let shutdown = CancellationToken::new();
    let (ready, http) = tokio::sync::oneshot::channel();
    let runtime = block_on(async { tokio::runtime::Handle::current() });
    let task = runtime.spawn(serve::run(options.clone(), shutdown.clone(), Some(ready)));
    let http = block_on(async { tokio::time::timeout(WAIT, http).await })
        .expect("serve starts")
        .expect("serve reports its address");
    (shutdown, task, http)
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub(crate) fn buttons(message: &ChatMessage) -> Vec<String> {
    message.callbacks("")
}

pub(crate) fn has_buttons(prefix: &'static str) -> impl Fn(&ChatMessage) -> bool {
    move |m| buttons(m).iter().any(|d| d.starts_with(prefix))
}

#[test]
fn a_customer_books_moves_and_cancels_tap_by_tap() {
    let mut bot = Running::start();
    let ru = Catalog::defaults(Locale::Ru);
    let anna = TgUser::new(7001, "Анна");

    bot.text(&anna, "/start");
    let welcome = bot.bot_says(&anna, |m| m.reply_markup.as_ref().is_some_and(|r| r.get("keyboard").is_some()));
    assert!(welcome.text.as_deref().unwrap_or_default().contains("Барбершоп"), "{welcome:?}");

    bot.text(&anna, ru.raw(Text::MenuBook));
    let services = bot.bot_says(&anna, has_buttons("s:"));
    bot.press(&anna, &services, "s:");
    let calendar = bot.bot_says(&anna, has_buttons("d:"));
    assert_eq!(calendar.message_id, services.message_id, "the flow edits its message in place");
    // Days well after the cutoff, so that the booking can still be moved and cancelled.
    let days = bot.future_days(&anna, calendar);
    bot.press(&anna, &days.0, &days.1[days.1.len() - 1]);
    let times = bot.bot_says(&anna, has_buttons("t:"));
    let picked = bot.press(&anna, &times, "t:");
    let card = bot.bot_says(&anna, has_buttons("c:"));
    bot.press(&anna, &card, "c:");

    // The first booking asks for a phone number with the contact button; sharing it books.
    let ask =
        bot.bot_says(&anna, |m| m.reply_markup.as_ref().is_some_and(|r| r.to_string().contains("request_contact")));
    assert!(!ask.text.as_deref().unwrap_or_default().is_empty());
    bot.f.emulator.send_contact(&bot.token, &anna, "+79990001122");
    let confirmed = bot.bot_says_after(&anna, ask.message_id, |m| m.text.is_some());
    assert!(confirmed.reply_markup.as_ref().is_some_and(|r| r.get("keyboard").is_some()), "the menu comes back");
    assert_eq!(
        bot.scalar::<i64>("SELECT count(*) FROM {schema}.bookings WHERE customer_id = 7001 AND status = 'active'"),
        1
    );
    assert_eq!(bot.scalar::<String>("SELECT phone FROM {schema}.customers WHERE user_id = 7001"), "+79990001122");
    let booking: i64 = bot.scalar("SELECT id FROM {schema}.bookings WHERE customer_id = 7001");
    let booked_at: i64 =
        bot.scalar("SELECT extract(epoch FROM starts_at)::bigint FROM {schema}.bookings WHERE customer_id = 7001");
    assert!(picked.ends_with(&booked_at.to_string()), "{picked} vs {booked_at}");

    // Move: the same flow in move mode keeps the booking's id.
    bot.text(&anna, ru.raw(Text::MenuMy));
    let mine = bot.bot_says(&anna, has_buttons("v:"));
    bot.press(&anna, &mine, "v:");
    let calendar = bot.bot_says(&anna, has_buttons("d:"));
    let days = bot.future_days(&anna, calendar);
    assert!(days.1.iter().all(|d| d.ends_with(&format!(":{booking}"))), "{:?}", days.1);
    bot.press(&anna, &days.0, &days.1[0]);
    let times = bot.bot_says(&anna, has_buttons("t:"));
    bot.press(&anna, &times, "t:");
    let card = bot.bot_says(&anna, has_buttons("c:"));
    bot.press(&anna, &card, "c:");
    bot.bot_says(&anna, |m| buttons(m).is_empty() && m.edited);
    assert_eq!(bot.scalar::<i64>("SELECT count(*) FROM {schema}.bookings WHERE customer_id = 7001"), 1);
    let moved_at: i64 = bot
        .scalar(&format!("SELECT extract(epoch FROM starts_at)::bigint FROM {{schema}}.bookings WHERE id = {booking}"));
    assert_ne!(moved_at, booked_at, "the booking moved");

    // Cancel asks first, then cancels.
    bot.text(&anna, ru.raw(Text::MenuMy));
    let mine = bot.bot_says(&anna, has_buttons("x:"));
    bot.press(&anna, &mine, "x:");
    let confirm = bot.bot_says(&anna, has_buttons("X:"));
    bot.press(&anna, &confirm, "X:");
    bot.bot_says(&anna, |m| buttons(m).is_empty());
    assert_eq!(
        bot.scalar::<String>(&format!("SELECT status FROM {{schema}}.bookings WHERE id = {booking}")),
        "cancelled"
    );

    // Metrics count what happened; health is green while polling.
    let metrics =
        block_on(async { reqwest::get(format!("http://{}/metrics", bot.http)).await.unwrap().text().await.unwrap() });
    assert!(metrics.contains("botctl_bookings_created_total 1"), "{metrics}");
    assert!(metrics.contains("botctl_bookings_cancelled_total 1"), "{metrics}");
    assert!(botctl::telegram::runtime::health::probe(bot.http, Duration::from_secs(5)).unwrap());
    bot.stop();
}

#[test]
fn forged_and_stale_buttons_are_answered_and_change_nothing() {
    let mut bot = Running::start();
    let eve = TgUser::new(7002, "Eve");
    bot.text(&eve, "/start");
    let welcome = bot.bot_says(&eve, |_| true);
    let ru = Catalog::defaults(Locale::Ru);
    let alerts = [ru.raw(Text::StaleButton), ru.raw(Text::RatingNotYours)];
    for forged in ["garbage", "x:999999", "X:999999", "v:1", "c:1:1:1", "t:999:4102444800", "r:1:5", "d:1:20990101"] {
        let query = bot.emulator().press_button(&bot.token, &eve, welcome.message_id, forged);
        let answered = block_on(bot.emulator().wait_until_sent(
            &bot.token,
            |sent| {
                sent.iter().any(|s| {
                    s.method.eq_ignore_ascii_case("answerCallbackQuery")
                        && s.params["callback_query_id"] == query.as_str()
                })
            },
            WAIT,
        ))
        .unwrap();
        let answer = answered
            .iter()
            .rev()
            .find(|s| {
                s.method.eq_ignore_ascii_case("answerCallbackQuery") && s.params["callback_query_id"] == query.as_str()
            })
            .unwrap();
        let text = answer.params["text"].as_str().unwrap_or_default();
        assert!(alerts.contains(&text), "{forged}: {text:?}");
    }
    assert_eq!(bot.scalar::<i64>("SELECT count(*) FROM {schema}.bookings"), 0);
    assert!(!bot.emulator().chat(&bot.token, eve.id).iter().any(|m| m.edited), "a forged button edited a message");
    assert_eq!(bot.scalar::<i64>("SELECT count(*) FROM {schema}.ratings"), 0);
    bot.stop();
}

/// A loopback address nothing listens on yet.
fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("127.0.0.1:{port}")
}

/// `botctl serve` as a process, configured by its environment as in a container; its stderr is read
/// aside so that a chatty log never blocks it.
struct ServeProcess {
    child: std::process::Child,
    stderr: Option<std::thread::JoinHandle<String>>,
    addr: String,
}

impl ServeProcess {
    fn spawn(sandbox: &crate::support::Sandbox, slug: &str, database_url: &str, api: &str) -> Self {
        Self::spawn_rescanning(sandbox, slug, database_url, api, "5m")
    }

    /// `spawn`, with the outbox looking for other processes' rows every `rescan`.
    fn spawn_rescanning(
        sandbox: &crate::support::Sandbox,
        slug: &str,
        database_url: &str,
        api: &str,
        rescan: &str,
    ) -> Self {
        let addr = free_addr();
        let mut child = sandbox
            .process()
            .env("BOTCTL_OUTBOX_RESCAN", rescan)
            .env("BOTCTL_TENANT", slug)
            .env("DATABASE_URL", database_url)
            .env("BOT_TOKEN", token(BOT_A))
            .env("BOTCTL_TELEGRAM_API_URL", api)
            .env("BOTCTL_HTTP_ADDR", &addr)
            .arg("serve")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            text
        });
        Self { child, stderr: Some(stderr), addr }
    }

    /// `/healthz`'s answer, or `None` while nothing listens.
    fn healthz(&self) -> Option<serde_json::Value> {
        let url = format!("http://{}/healthz", self.addr);
        block_on(async { reqwest::get(url).await.ok()?.json().await.ok() })
    }

    /// Waits (up to a minute) until `/healthz` answers and `f` holds for its report.
    fn wait_health(&mut self, what: &str, f: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("serve exited ({status}) while waiting until {what}: {}", self.stop().1);
            }
            if let Some(report) = self.healthz().filter(|r| f(r)) {
                return report;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("serve never became {what}; /healthz says {:?}", self.healthz());
    }

    fn healthy(&self, sandbox: &crate::support::Sandbox) -> bool {
        sandbox.botctl().args(["health"]).env("BOTCTL_HTTP_ADDR", &self.addr).output().unwrap().status.success()
    }

    /// SIGTERM, then the exit status and everything serve wrote to stderr.
    fn stop(&mut self) -> (std::process::ExitStatus, String) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "serve did not stop within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        (status, self.stderr.take().map(|t| t.join().unwrap()).unwrap_or_default())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_binary_serves_reports_healthy_and_stops_cleanly_on_sigterm() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let url = f.tenant_url(&slug);
    let mut serve = ServeProcess::spawn(&f.sandbox, &slug, &url, &f.api);
    let healthy = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        serve.healthy(&f.sandbox)
    });
    assert!(healthy, "serve never became healthy");
    // A user talks to it, so the shutdown has something to finish.
    f.emulator.send_text(&token(BOT_A), &TgUser::new(7003, "Max"), "/start");
    block_on(f.emulator.wait_until(&token(BOT_A), 7003, |chat| chat.iter().any(|m| m.from_bot), WAIT)).unwrap();

    let (status, stderr) = serve.stop();
    assert!(status.success(), "{status}: {stderr}");
    let password = format!("pw-{slug}");
    assert!(!stderr.contains(&token(BOT_A)) && !stderr.contains(&password), "a secret reached the logs: {stderr}");
    f.sandbox.botctl().args(["health"]).env("BOTCTL_HTTP_ADDR", &serve.addr).assert().code(1);
}

#[test]
fn serve_waits_out_a_telegram_that_is_absent_or_failing_at_start() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let url = f.tenant_url(&slug);
    // Nothing listens at the Bot API's address yet.
    let api = free_addr();
    let mut serve = ServeProcess::spawn(&f.sandbox, &slug, &url, &format!("http://{api}/"));
    let report = serve.wait_health("answering", |_| true);
    assert_eq!(report["healthy"], false, "{report}");
    // Several attempts fail meanwhile; serve stays up and unhealthy.
    std::thread::sleep(Duration::from_secs(3));
    let report = serve.wait_health("still answering", |_| true);
    assert_eq!(report["healthy"], false, "{report}");
    assert!(!serve.healthy(&f.sandbox));

    // Telegram comes up, and answers its first calls with 502.
    let emulator = block_on(Emulator::start(api.parse().unwrap())).unwrap();
    emulator.add_bot(&token(BOT_A), BOT_A, "a_bot");
    emulator.fail(&token(BOT_A), "getMe", Failure::ServerError(502), 1);
    emulator.fail(&token(BOT_A), "setMyCommands", Failure::ServerError(502), 2);
    serve.wait_health("healthy", |r| r["healthy"] == true);
    let nika = TgUser::new(7010, "Ника");
    emulator.send_text(&token(BOT_A), &nika, "/start");
    let chat =
        block_on(emulator.wait_until(&token(BOT_A), nika.id, |chat| chat.iter().any(|m| m.from_bot), WAIT)).unwrap();
    assert_eq!(chat.iter().filter(|m| m.from_bot).count(), 1, "{chat:#?}");
    // The customers' command menus are set in both languages once Telegram takes them.
    let commands = |sent: &[botctl::telegram::emulator::Sent], language: &str| {
        sent.iter().filter(|s| s.method == "setMyCommands" && s.params["language_code"] == language).count()
    };
    let sent = block_on(emulator.wait_until_sent(
        &token(BOT_A),
        |sent| commands(sent, "ru") + commands(sent, "en") >= 4,
        Duration::from_secs(60),
    ))
    .unwrap();
    assert!(commands(&sent, "ru") >= 1 && commands(&sent, "en") >= 1, "{sent:#?}");

    let (status, stderr) = serve.stop();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    block_on(emulator.shutdown());
}

#[test]
fn serve_refuses_a_schema_behind_the_binary_or_ahead_of_what_it_allows() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let url = f.tenant_url(&slug);
    let ledger = format!("tenant_{slug}._sqlx_migrations");
    let refusal = |sql: String| {
        block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut f.db.connect())).unwrap();
        let output = f
            .sandbox
            .botctl()
            .args(["serve", "--tenant", &slug, "--tenant-database-url", &url, "--http-addr", "127.0.0.1:0"])
            .env("BOT_TOKEN", token(BOT_A))
            .env("BOTCTL_TELEGRAM_API_URL", &f.api)
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(!stderr.contains(&format!("pw-{slug}")), "{stderr}");
        stderr
    };
    // A newer image migrated the schema, then this older one was started on it: an additive migration
    // lets it serve (an upgrade rolled back)...
    let sql = format!(
        "INSERT INTO {ledger} (version, description, success, checksum, execution_time) \
         SELECT max(version) + 1, 'from a newer botctl', true, '\\x00', 0 FROM {ledger}"
    );
    block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut f.db.connect())).unwrap();
    let mut serve = f
        .sandbox
        .process()
        .args(["serve", "--tenant", &slug, "--tenant-database-url", &url, "--http-addr", "127.0.0.1:0"])
        .env("BOT_TOKEN", token(BOT_A))
        .env("BOTCTL_TELEGRAM_API_URL", &f.api)
        .env("BOTCTL_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = std::io::BufRead::lines(std::io::BufReader::new(serve.stderr.take().unwrap()))
        .map_while(Result::ok)
        .take_while(|l| !l.contains("serving"))
        .collect();
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert!(lines.iter().any(|l| l.contains("newer than this image but still allows it")), "{lines:#?}");
    // ...a migration that raised the floor does not.
    let ahead =
        refusal(format!("UPDATE tenant_{slug}.schema_compat SET oldest_reader = (SELECT max(version) FROM {ledger})"));
    assert!(ahead.contains("this image is older than the schema"), "{ahead}");
    let behind = refusal(format!("DELETE FROM {ledger} WHERE version >= (SELECT max(version) - 1 FROM {ledger})"));
    assert!(behind.contains("run `botctl migrate`"), "{behind}");
}

#[test]
fn a_dialogue_survives_a_restart_of_serve() {
    let mut bot = Running::start();
    let ru = Catalog::defaults(Locale::Ru);
    let olga = TgUser::new(7004, "Ольга");
    let ask = bot.book_until_phone(&olga);

    // The bot restarts while it waits for the phone number; the answer still completes the booking.
    bot.restart();
    bot.text(&olga, ru.raw(Text::BookingSkipPhone));
    bot.bot_says_after(&olga, ask.message_id, |m| m.text.is_some());
    assert_eq!(bot.scalar::<i64>("SELECT count(*) FROM {schema}.bookings WHERE customer_id = 7004"), 1);
    bot.stop();
}

#[test]
fn a_429_from_telegram_delays_the_answer_but_delivers_it() {
    let mut bot = Running::start();
    let ivan = TgUser::new(7005, "Иван");
    bot.emulator().fail(&bot.token, "sendMessage", Failure::TooManyRequests { retry_after: 1 }, 1);
    let sent_at = std::time::Instant::now();
    bot.text(&ivan, "/start");
    bot.bot_says(&ivan, |m| m.text.is_some());
    assert!(sent_at.elapsed() >= Duration::from_secs(1), "the answer came before retry_after passed");
    let attempts =
        bot.emulator().sent(&bot.token).iter().filter(|s| s.method.eq_ignore_ascii_case("sendMessage")).count();
    assert_eq!(attempts, 2, "one refused with 429, one delivered");
    bot.stop();
}

#[test]
fn a_tenant_speaks_in_its_own_words_and_bad_words_fall_back() {
    let f_bot = Running::start();
    let schema = format!("tenant_{}", f_bot.slug);
    let mut admin = f_bot.f.db.connect();
    block_on(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.texts (key, text) VALUES ('start.welcome_new', 'Привет от <b>{{name}}</b>!')"
        )))
        .execute(&mut admin),
    )
    .unwrap();
    let mut bot = f_bot;
    bot.restart();
    let lena = TgUser::new(7006, "Лена");
    bot.text(&lena, "/start");
    let welcome = bot.bot_says(&lena, |m| m.text.is_some());
    assert!(welcome.text.as_deref().unwrap().starts_with("Привет от Барбершоп!"), "{welcome:?}");

    // An override with a placeholder the text does not have is refused; the bot keeps the defaults.
    block_on(
        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE {schema}.texts SET text = 'Привет, {{nobody}}!'")))
            .execute(&mut admin),
    )
    .unwrap();
    bot.restart();
    let oleg = TgUser::new(7007, "Олег");
    bot.text(&oleg, "/start");
    let welcome = bot.bot_says(&oleg, |m| m.text.is_some());
    let default = Catalog::defaults(Locale::Ru).render(Text::StartWelcomeNew, &[("name", "Барбершоп")]);
    assert_eq!(
        welcome.text.as_deref().unwrap().lines().next(),
        default.lines().next().map(|l| l.replace("<b>", "").replace("</b>", "")).as_deref()
    );
    bot.stop();
}

/// A tenant `shop` in a PostgreSQL cluster of the test's own, which it may stop and start: doing that to
/// the shared one would disturb every other test.
struct OwnCluster {
    sandbox: crate::support::Sandbox,
    cluster: botctl::db::cluster::LocalCluster,
    emulator: Emulator,
    /// The tenant role's URL.
    tenant_url: String,
    _stop: crate::support::ClusterGuard,
}

impl OwnCluster {
    fn new() -> Self {
        let sandbox = crate::support::Sandbox::new();
        let data_dir = sandbox.path().join("pg");
        let stop = crate::support::ClusterGuard(data_dir.clone());
        let cluster = botctl::db::cluster::LocalCluster::new(&data_dir, None).unwrap();
        block_on(cluster.ensure_running(&botctl::progress::NoProgress)).unwrap();
        let admin_url = cluster.url();
        let emulator = crate::support::http::emulator(&[(&token(BOT_A), BOT_A, "a_bot")]);
        let botctl = || {
            let mut cmd = sandbox.botctl();
            cmd.env("BOTCTL_DATABASE_URL", &admin_url).env("BOTCTL_TELEGRAM_API_URL", emulator.url().as_str());
            cmd
        };
        botctl().args(["init", "-q"]).assert().success();
        botctl()
            .args([
                "tenant",
                "create",
                "--no-start",
                "shop",
                "--token",
                &token(BOT_A),
                "--admin",
                "1",
                "--template",
                "clinic",
            ])
            .assert()
            .success();
        let mut admin = block_on(<sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)).unwrap();
        block_on(sqlx::query("ALTER ROLE tenant_shop PASSWORD 'restart-pw'").execute(&mut admin)).unwrap();
        drop(admin);
        let mut tenant_url = url::Url::parse(&admin_url).unwrap();
        tenant_url.set_username("tenant_shop").unwrap();
        tenant_url.set_password(Some("restart-pw")).unwrap();
        Self { sandbox, cluster, emulator, tenant_url: tenant_url.to_string(), _stop: stop }
    }

    fn answered(&self, user: i64) -> bool {
        block_on(self.emulator.wait_until(&token(BOT_A), user, |chat| chat.iter().any(|m| m.from_bot), WAIT)).is_ok()
    }
}

#[test]
fn serve_recovers_when_postgresql_restarts() {
    let own = OwnCluster::new();
    let options = ServeOptions {
        tenant: "shop".into(),
        database: own.tenant_url.parse::<botctl::db::DatabaseUrl>().unwrap().connect_options(),
        token: token(BOT_A).parse().unwrap(),
        api_url: own.emulator.url(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        rate_limits: true,
        flood: None,
        outbox_rescan: botctl::bot::outbox::RESCAN,
    };
    let (shutdown, task, _http) = launch(&options);
    own.emulator.send_text(&token(BOT_A), &TgUser::new(8001, "Before"), "/start");
    assert!(own.answered(8001));

    own.cluster.stop().unwrap();
    block_on(own.cluster.ensure_running(&botctl::progress::NoProgress)).unwrap();

    // The pool replaces its dead connections; the next customer is served without a restart of serve.
    own.emulator.send_text(&token(BOT_A), &TgUser::new(8002, "After"), "/start");
    assert!(own.answered(8002), "serve did not recover after PostgreSQL restarted");
    shutdown.cancel();
    block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await }).unwrap().unwrap().unwrap();
}

#[test]
fn a_message_sent_while_postgresql_is_down_is_answered_once_it_is_back() {
    let own = OwnCluster::new();
    let mut serve = ServeProcess::spawn(&own.sandbox, "shop", &own.tenant_url, own.emulator.url().as_str());
    serve.wait_health("healthy", |r| r["healthy"] == true);

    own.cluster.stop().unwrap();
    let late = TgUser::new(8101, "Late");
    own.emulator.send_text(&token(BOT_A), &late, "/start");
    let report = serve.wait_health("unhealthy", |r| r["healthy"] == false);
    assert!(report["database"].as_str().unwrap().starts_with("error"), "{report}");
    // Longer than the pool waits for a connection (10 s): by now the bot has taken the update and
    // failed on the database.
    std::thread::sleep(Duration::from_secs(12));
    assert!(!serve.healthy(&own.sandbox), "healthy without its database");
    assert!(own.emulator.chat(&token(BOT_A), late.id).iter().all(|m| !m.from_bot), "answered without a database");

    block_on(own.cluster.ensure_running(&botctl::progress::NoProgress)).unwrap();
    let answered = |chat: &[ChatMessage]| chat.iter().any(|m| m.from_bot);
    let chat = block_on(own.emulator.wait_until(&token(BOT_A), late.id, answered, Duration::from_secs(90)))
        .expect("the message sent during the outage was never answered");
    let welcome = chat.iter().find(|m| m.from_bot).unwrap().text.clone();
    assert!(welcome.is_some(), "{chat:#?}");
    serve.wait_health("healthy again", |r| r["healthy"] == true);
    // A later message in the same chat is answered after every answer to the first, so a second
    // welcome would show before this answer.
    let help = own.emulator.send_text(&token(BOT_A), &late, "/help");
    let chat = block_on(own.emulator.wait_until(
        &token(BOT_A),
        late.id,
        |chat| chat.iter().any(|m| m.from_bot && m.message_id > help),
        WAIT,
    ))
    .unwrap();
    assert_eq!(chat.iter().filter(|m| m.from_bot && m.text == welcome).count(), 1, "{chat:#?}");
    let (status, stderr) = serve.stop();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The time buttons' labels on `day`, reached from the main menu: the calendar opens on the first month
/// with a free day and is turned forward until `day` shows.
fn times_on(bot: &Running, user: &TgUser, day: NaiveDate) -> (ChatMessage, Vec<String>) {
    let ru = Catalog::defaults(Locale::Ru);
    bot.text(user, ru.raw(Text::MenuBook));
    let services = bot.bot_says(user, has_buttons("s:"));
    bot.press(user, &services, "s:");
    let wanted = format!(":{}", day.format("%Y%m%d"));
    let mut calendar = bot.bot_says(user, has_buttons("d:"));
    for turned in 0.. {
        if buttons(&calendar).iter().any(|d| d.starts_with("d:") && d.contains(&wanted)) {
            break;
        }
        assert!(turned < 13, "{day} never showed in the calendar");
        // The last navigation button is "next month".
        let next = buttons(&calendar).into_iter().rfind(|d| d.starts_with("m:")).expect("a next month");
        let shown = calendar.clone();
        bot.press(user, &calendar, &next);
        calendar = bot.bot_says(user, |m| m.reply_markup != shown.reply_markup);
    }
    let pressable: Vec<String> = buttons(&calendar).into_iter().filter(|d| d.starts_with("d:")).collect();
    assert_eq!(pressable.len(), 1, "only the open day is pressable: {pressable:?}");
    bot.press(user, &calendar, &pressable[0]);
    let times = bot.bot_says(user, has_buttons("t:"));
    let labels = times.buttons().into_iter().filter(|(_, d)| d.starts_with("t:")).map(|(label, _)| label).collect();
    (times, labels)
}

#[test]
fn dst_change_days_in_berlin_skip_the_missing_hour_and_show_the_repeated_one_once() {
    let bot = Running::start();
    let berlin = chrono_tz::Europe::Berlin;
    let today = chrono::Utc::now().with_timezone(&berlin).date_naive();
    let at_half_past_two = |d: &NaiveDate| berlin.from_local_datetime(&d.and_hms_opt(2, 30, 0).unwrap());
    // The next of each change, whatever day the test runs on (both come within a year).
    let mut ahead = today.iter_days().skip(2).take(366);
    let spring = ahead.clone().find(|d| matches!(at_half_past_two(d), LocalResult::None)).unwrap();
    let autumn = ahead.find(|d| matches!(at_half_past_two(d), LocalResult::Ambiguous(..))).unwrap();
    // Open only on the two change days, 01:00-05:00; one-hour visits on a half-hour grid.
    bot.sql(&format!(
        "UPDATE {{schema}}.settings SET timezone = 'Europe/Berlin', horizon_days = 365, slot_step_minutes = 30, \
         ask_phone = false; DELETE FROM {{schema}}.working_hours; UPDATE {{schema}}.services SET duration_minutes = 60; \
         INSERT INTO {{schema}}.date_hours (day, opens, closes) VALUES ('{spring}', '01:00', '05:00'), ('{autumn}', '01:00', '04:00')"
    ));
    let anna = TgUser::new(7301, "Anna");
    bot.text(&anna, "/start");
    bot.bot_says(&anna, |m| m.text.is_some());

    // Spring: 02:00-02:59 does not exist, and 01:30 plus one real hour ends at 03:30.
    let (times, labels) = times_on(&bot, &anna, spring);
    assert_eq!(labels, ["01:00", "01:30", "03:00", "03:30", "04:00"]);
    let three = times.buttons().into_iter().find(|(label, _)| label == "03:00").unwrap().1;
    bot.press(&anna, &times, &three);
    let card = bot.bot_says(&anna, has_buttons("c:"));
    bot.press(&anna, &card, "c:");
    bot.bot_says(&anna, |m| m.message_id == card.message_id && !has_buttons("c:")(m));
    let booked: String = bot.scalar(
        "SELECT to_char(starts_at AT TIME ZONE 'UTC', 'HH24:MI') || '-' || to_char(ends_at AT TIME ZONE 'UTC', 'HH24:MI') \
         FROM {schema}.bookings WHERE customer_id = 7301",
    );
    assert_eq!(booked, "01:00-02:00", "03:00 CEST is 01:00 UTC and the visit lasts one real hour");

    // Autumn: 02:00-02:59 happens twice and is offered once (the first time); 04:00 CET closes.
    let (_, labels) = times_on(&bot, &anna, autumn);
    assert_eq!(labels, ["01:00", "01:30", "02:00", "02:30", "03:00"]);
}

/// A past visit of `customer`, inserted as the business's records would have it.
fn past_visit(bot: &Running, customer: i64) -> i64 {
    bot.sql(&format!(
        "INSERT INTO {{schema}}.customers (user_id, first_name) VALUES ({customer}, 'Past') ON CONFLICT DO NOTHING; \
         INSERT INTO {{schema}}.bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at) \
         SELECT {customer}, id, name, price_minor, now() - interval '3 hours', now() - interval '2 hours' \
         FROM {{schema}}.services ORDER BY id LIMIT 1"
    ));
    bot.scalar(&format!("SELECT max(id) FROM {{schema}}.bookings WHERE customer_id = {customer}"))
}

#[test]
fn telegram_errors_and_timeouts_are_survived_without_a_restart() {
    let mut bot = Running::start();
    let ru = Catalog::defaults(Locale::Ru);
    let pavel = TgUser::new(7401, "Павел");
    // Polls fail twice with 5xx, then one hangs until the client's timeout; the answer to /start is lost
    // to a 502. Serve keeps running through all of it.
    bot.emulator().fail(&bot.token, "getUpdates", Failure::ServerError(502), 2);
    bot.emulator().fail(&bot.token, "getUpdates", Failure::Hang, 1);
    bot.emulator().fail(&bot.token, "sendMessage", Failure::ServerError(502), 1);
    bot.text(&pavel, "/start");
    let refused = |sent: &[botctl::telegram::emulator::Sent]| {
        sent.iter().any(|s| s.method == "sendMessage" && s.params.to_string().contains(&pavel.id.to_string()))
    };
    // Two failed polls (teloxide waits 10 s after a 5xx) back off 1 s and 2 s; the hung one lasts until
    // the poller's client timeout (`updates::POLL_CLIENT_TIMEOUT`, 35 s), then backs off 4 s.
    block_on(bot.emulator().wait_until_sent(&bot.token, refused, Duration::from_secs(120))).unwrap();
    bot.text(&pavel, ru.raw(Text::MenuServices));
    let services = bot.bot_says_within(Duration::from_secs(90), &pavel, 0, |m| m.text.is_some());
    assert!(services.text.unwrap().contains("Стрижка"), "the next message is answered");
    assert!(bot.task.as_ref().is_some_and(|t| !t.is_finished()), "serve kept running");
    let metrics = block_on(async { reqwest::get(format!("http://{}/metrics", bot.http)).await?.text().await }).unwrap();
    for counted in ["botctl_telegram_errors_total{kind=\"api\"} 3", "botctl_telegram_errors_total{kind=\"timeout\"} 1"]
    {
        assert!(metrics.contains(counted), "{counted} in {metrics}");
    }
    bot.stop();
}

#[test]
fn over_the_flood_limit_updates_are_dropped_with_one_warning() {
    // The tenant's defaults: one message every 2 s, with a small burst.
    let mut bot = Running::start_with(None);
    let ru = Catalog::defaults(Locale::Ru);
    let spammer = TgUser::new(7402, "Spam");
    for _ in 0..8 {
        bot.text(&spammer, ru.raw(Text::MenuHelp));
    }
    let slow_down = ru.render(Text::FloodSlowDown, &[]);
    bot.bot_says(&spammer, |m| m.text.as_deref() == Some(slow_down.as_str()));
    std::thread::sleep(Duration::from_millis(500));
    let answers: Vec<String> =
        bot.emulator().chat(&bot.token, spammer.id).into_iter().filter(|m| m.from_bot).filter_map(|m| m.text).collect();
    let warnings = answers.iter().filter(|t| **t == slow_down).count();
    assert_eq!(warnings, 1, "{answers:#?}");
    assert!(answers.len() < 8, "over the limit, messages are dropped: {answers:#?}");
    assert!(answers.len() >= 2, "the first messages are answered: {answers:#?}");
    bot.stop();
}

#[test]
fn a_past_visit_is_rated_once_by_its_own_customer_with_a_comment() {
    let mut bot = Running::start();
    let ru = Catalog::defaults(Locale::Ru);
    let owner = TgUser::new(1001, "Владелец");
    bot.text(&owner, "/start");
    bot.bot_says(&owner, |m| m.text.is_some());
    let vera = TgUser::new(7403, "Вера");
    let visit = past_visit(&bot, vera.id);
    bot.text(&vera, "/start");
    let welcome = bot.bot_says(&vera, |m| m.text.is_some());
    // The reminders issue sends the question; the button is the same whatever message carries it.
    let rate = |user: &TgUser, score: u8| {
        let query = bot.emulator().press_button(&bot.token, user, welcome.message_id, &format!("r:{visit}:{score}"));
        block_on(bot.emulator().wait_answered(&bot.token, &query, WAIT)).unwrap();
    };
    let mallory = TgUser::new(7404, "Mallory");
    bot.text(&mallory, "/start");
    bot.bot_says(&mallory, |m| m.text.is_some());
    rate(&mallory, 1);
    assert_eq!(bot.scalar::<i64>("SELECT count(*) FROM {schema}.ratings"), 0, "not Mallory's visit");

    rate(&vera, 5);
    bot.bot_says(&vera, |m| m.text.as_deref().is_some_and(|t| t.contains("⭐⭐⭐⭐⭐")));
    bot.text(&vera, "Всё отлично <b>спасибо</b>");
    bot.bot_says(&vera, |m| m.text.as_deref() == Some(ru.render(Text::RatingCommentThanks, &[]).as_str()));
    rate(&vera, 1);
    assert_eq!(bot.scalar::<i64>("SELECT count(*) FROM {schema}.ratings"), 1, "once");
    assert_eq!(bot.scalar::<i16>("SELECT score FROM {schema}.ratings"), 5);
    assert_eq!(bot.scalar::<String>("SELECT comment FROM {schema}.ratings"), "Всё отлично <b>спасибо</b>");

    // The owner hears of it ten minutes on, comment included (the wait is cut short here).
    let wait: f64 = bot.scalar(
        "SELECT extract(epoch FROM due_at - created_at)::float8 FROM {schema}.outbox WHERE kind = 'admin_rated'",
    );
    assert!((590.0..=610.0).contains(&wait), "{wait}");
    bot.sql("UPDATE {schema}.outbox SET due_at = now() WHERE kind = 'admin_rated'");
    let news = bot.bot_says(&owner, |m| m.text.as_deref().is_some_and(|t| t.contains("⭐⭐⭐⭐⭐")));
    assert!(news.text.unwrap().contains("Всё отлично <b>спасибо</b>"));
    bot.stop();
}

#[test]
fn cancel_is_checked_again_on_the_final_confirmation() {
    let mut bot = Running::start();
    let ru = Catalog::defaults(Locale::Ru);
    let oleg = TgUser::new(7405, "Олег");
    bot.text(&oleg, "/start");
    bot.bot_says(&oleg, |m| m.text.is_some());
    // Booked for three days ahead, well before the 24 h cutoff.
    bot.sql(
        "INSERT INTO {schema}.bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at) \
         SELECT 7405, id, name, price_minor, now() + interval '3 days', now() + interval '3 days 1 hour' \
         FROM {schema}.services ORDER BY id LIMIT 1",
    );
    bot.text(&oleg, ru.raw(Text::MenuMy));
    let mine = bot.bot_says(&oleg, has_buttons("x:"));
    bot.press(&oleg, &mine, "x:");
    let confirm = bot.bot_says(&oleg, has_buttons("X:"));
    // Time passes between the two taps: the visit is now inside the cutoff.
    bot.sql(
        "UPDATE {schema}.bookings SET starts_at = now() + interval '2 hours', ends_at = now() + interval '3 hours'",
    );
    bot.press(&oleg, &confirm, "X:");
    bot.bot_says(&oleg, |m| m.message_id == confirm.message_id && !has_buttons("X:")(m));
    assert_eq!(bot.scalar::<String>("SELECT status FROM {schema}.bookings"), "active", "too late to cancel");

    // And inside the cutoff the first tap already says so.
    bot.text(&oleg, ru.raw(Text::MenuMy));
    let mine = bot.bot_says_after(&oleg, confirm.message_id, has_buttons("x:"));
    bot.press(&oleg, &mine, "x:");
    let answer = bot.bot_says(&oleg, |m| m.message_id == mine.message_id && !has_buttons("x:")(m));
    assert!(!has_buttons("X:")(&answer), "no confirmation is offered: {answer:?}");
    assert_eq!(bot.scalar::<String>("SELECT status FROM {schema}.bookings"), "active");
    bot.stop();
}

#[test]
fn an_admin_who_started_the_bot_hears_of_a_booking_at_once_and_a_due_reminder_offers_cancelling() {
    let mut bot = Running::start();
    let ru = Catalog::defaults(Locale::Ru);
    // An owner given at create (1001) who has started the bot; the other owner (1002) has not, and
    // Telegram would refuse a message to them.
    let owner = TgUser::new(1001, "Владелец");
    bot.text(&owner, "/start");
    bot.bot_says(&owner, |m| m.text.is_some());
    let owner_seen = bot.emulator().chat(&bot.token, owner.id).len();

    let vera = TgUser::new(7010, "Вера");
    let ask = bot.book_until_phone(&vera);
    bot.text(&vera, ru.raw(Text::BookingSkipPhone));
    bot.bot_says_after(&vera, ask.message_id, |m| m.text.is_some());

    // The dispatcher was asleep with nothing due; the booking's notification wakes it.
    let news = bot.bot_says(&owner, |m| m.text.as_deref().is_some_and(|t| t.contains("Новая запись")));
    assert!(news.text.unwrap().contains("Вера"));
    assert_eq!(bot.emulator().chat(&bot.token, owner.id).len(), owner_seen + 1, "one notice");
    assert!(bot.emulator().chat(&bot.token, 1002).is_empty());

    // The soonest reminder falls due now: it names the visit and offers to move or cancel it.
    bot.sql(
        "UPDATE {schema}.outbox SET due_at = now() \
         WHERE id = (SELECT id FROM {schema}.outbox WHERE kind = 'reminder' ORDER BY due_at LIMIT 1)",
    );
    let reminder = bot.bot_says(&vera, |m| m.text.as_deref().is_some_and(|t| t.contains("Напоминаем о записи")));
    assert!(buttons(&reminder).iter().any(|d| d.starts_with("v:")), "{:?}", reminder.reply_markup);
    bot.press(&vera, &reminder, "x:");
    let confirm = bot.bot_says(&vera, has_buttons("X:"));
    bot.press(&vera, &confirm, "X:");
    bot.bot_says(&owner, |m| m.text.as_deref().is_some_and(|t| t.contains("отменил")));
    // The notice just seen is marked sent right after Telegram took it: wait for that, not for a send.
    let pending = || bot.scalar::<i64>("SELECT count(*) FROM {schema}.outbox WHERE state = 'pending'");
    assert!(bot.f.eventually(|| pending() == 0), "nothing more is sent about a cancelled visit: {}", pending());
    bot.stop();
}

/// The server backends open for the tenant's role.
fn backends(f: &Fixture, slug: &str) -> i64 {
    f.scalar(&format!("SELECT count(*) FROM pg_stat_activity WHERE usename = 'tenant_{slug}'"))
}

/// Writes, as another process would, a due notice for the owner (1001) about a booking of a new customer
/// named `name` (user `user`), `days` ahead.
fn write_elsewhere(f: &Fixture, slug: &str, user: i64, name: &str, days: i32) {
    let schema = format!("tenant_{slug}");
    let sql = format!(
        "INSERT INTO {schema}.customers (user_id, first_name) VALUES ({user}, '{name}'); \
         INSERT INTO {schema}.bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at) \
             SELECT {user}, id, name, price_minor, now() + interval '{days} days', now() + interval '{days} days 1 hour' \
             FROM {schema}.services ORDER BY id LIMIT 1; \
         INSERT INTO {schema}.outbox (kind, recipient, booking_id, due_at, expires_at, dedupe_key) \
             SELECT 'admin_booked', 1001, id, now(), now() + interval '1 day', 'elsewhere:{user}' \
             FROM {schema}.bookings WHERE customer_id = {user}"
    );
    block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut f.db.connect())).unwrap();
}

/// Whether the owner (1001) was told of `name`'s booking.
fn owner_told(f: &Fixture, name: &str) -> bool {
    let news = |chat: &[ChatMessage]| chat.iter().any(|m| m.text.as_deref().is_some_and(|t| t.contains(name)));
    block_on(f.emulator.wait_until(&token(BOT_A), 1001, news, WAIT)).is_ok()
}

/// Waits (generously: what is asserted is the count, not how soon it falls) until the tenant's role
/// holds no backend, probing health as Docker does meanwhile.
fn settle(f: &Fixture, slug: &str, serve: &ServeProcess) {
    let mut seen = Vec::new();
    let settled = (0..180).any(|_| {
        std::thread::sleep(Duration::from_millis(500));
        assert!(serve.healthy(&f.sandbox), "unhealthy while idle: {:?}", serve.healthz());
        seen.push(backends(f, slug));
        seen.last() == Some(&0)
    });
    assert!(settled, "an idle tenant kept a backend: {seen:?}");
}

#[test]
fn an_idle_tenant_holds_no_connection_and_still_sends_rows_written_elsewhere() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let url = f.tenant_url(&slug);
    let mut serve = ServeProcess::spawn(&f.sandbox, &slug, &url, &f.api);
    serve.wait_health("healthy", |r| r["healthy"] == true);
    // An owner starts the bot: handlers, dialogue storage and the outbox have all touched the database.
    let owner = TgUser::new(1001, "Владелец");
    f.emulator.send_text(&token(BOT_A), &owner, "/start");
    block_on(f.emulator.wait_until(&token(BOT_A), owner.id, |chat| chat.iter().any(|m| m.from_bot), WAIT)).unwrap();

    // Settled, the bot keeps no backend, and health probes open none: they answer from what is known.
    settle(&f, &slug, &serve);
    for _ in 0..5 {
        assert_eq!(serve.healthz().unwrap()["database"], "ok");
        assert!(serve.healthy(&f.sandbox));
        assert_eq!(backends(&f, &slug), 0, "a health probe opened a connection");
    }
    let (status, stderr) = serve.stop();
    assert!(status.success(), "{status}: {stderr}");

    // A row written while the bot is down is sent when it starts, long before its first rescan.
    write_elsewhere(&f, &slug, 7201, "Иной", 3);
    let mut serve = ServeProcess::spawn(&f.sandbox, &slug, &url, &f.api);
    assert!(owner_told(&f, "Иной"), "a row written while the bot was down was not sent at start");
    let (status, stderr) = serve.stop();
    assert!(status.success(), "{status}: {stderr}");

    // A row another process writes while the bot runs is found by the rescan.
    let mut serve = ServeProcess::spawn_rescanning(&f.sandbox, &slug, &url, &f.api, "1s");
    serve.wait_health("healthy", |r| r["healthy"] == true);
    write_elsewhere(&f, &slug, 7202, "Другой", 4);
    assert!(owner_told(&f, "Другой"), "a row written by another process was never sent");
    let (status, stderr) = serve.stop();
    assert!(status.success(), "{status}: {stderr}");
}

#[test]
fn healthz_keeps_the_servers_words_when_a_connection_limit_refuses_the_bot() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let url = f.tenant_url(&slug);
    let mut serve = ServeProcess::spawn(&f.sandbox, &slug, &url, &f.api);
    serve.wait_health("healthy", |r| r["healthy"] == true);
    settle(&f, &slug, &serve);

    // The role may open no connection while the bot holds none; a customer then needs the database.
    let role = format!("tenant_{slug}");
    let limit: i32 = f.scalar(&format!("SELECT rolconnlimit FROM pg_roles WHERE rolname = '{role}'"));
    let alter = |limit: i32| {
        let sql = format!("ALTER ROLE {role} CONNECTION LIMIT {limit}");
        block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut f.db.connect())).unwrap();
    };
    alter(0);
    let ann = TgUser::new(7301, "Анна");
    f.emulator.send_text(&token(BOT_A), &ann, "/start");
    let refused = serve.wait_health("refused", |r| {
        r["database"].as_str().is_some_and(|d| d.contains(&format!("too many connections for role \"{role}\"")))
    });
    alter(limit);
    assert_eq!(refused["healthy"], false, "{refused}");
    assert!(refused["database"].as_str().unwrap().starts_with("error: "), "{refused}");

    // Let in again, the bot answers the customer who waited and is healthy.
    assert!(
        block_on(f.emulator.wait_until(&token(BOT_A), ann.id, |chat| chat.iter().any(|m| m.from_bot), WAIT)).is_ok(),
        "the waiting customer was never answered"
    );
    serve.wait_health("healthy again", |r| r["healthy"] == true);
    let (status, stderr) = serve.stop();
    assert!(status.success(), "{status}: {stderr}");
}

#[test]
fn a_booking_wakes_the_outbox_in_process_without_the_database_notification() {
    let mut bot = Running::start();
    // Only the bot's own wake-up tells the dispatcher of the booking's rows: the database notifies no
    // one, and the rescan is minutes away.
    bot.options.outbox_rescan = botctl::bot::outbox::RESCAN;
    bot.restart();
    let triggers: i64 =
        bot.scalar("SELECT count(*) FROM pg_trigger WHERE tgrelid = '{schema}.outbox'::regclass AND NOT tgisinternal");
    assert_eq!(triggers, 0, "the outbox has no trigger left to notify anyone");
    let ru = Catalog::defaults(Locale::Ru);
    let owner = TgUser::new(1001, "Владелец");
    bot.text(&owner, "/start");
    bot.bot_says(&owner, |m| m.text.is_some());

    let metrics = || {
        block_on(async { reqwest::get(format!("http://{}/metrics", bot.http)).await.unwrap().text().await.unwrap() })
    };
    let counter = |text: &str, name: &str| -> u64 {
        text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(0)
    };
    let before = metrics();
    let vera = TgUser::new(7011, "Вера");
    let ask = bot.book_until_phone(&vera);
    bot.text(&vera, ru.raw(Text::BookingSkipPhone));
    bot.bot_says_after(&vera, ask.message_id, |m| m.text.is_some());
    let news = bot.bot_says(&owner, |m| m.text.as_deref().is_some_and(|t| t.contains("Новая запись")));
    assert!(news.text.unwrap().contains("Вера"));
    let after = metrics();
    let woke = counter(&after, "botctl_outbox_wakeups_total") - counter(&before, "botctl_outbox_wakeups_total");
    assert!(woke >= 1, "the dispatcher never woke for the booking: {after}");
    let sent = |text: &str| counter(text, "botctl_outbox_messages_total{outcome=\"sent\"}");
    assert_eq!(sent(&after), sent(&before) + 1, "the admin's notice, and nothing else yet: {after}");
    bot.stop();
}
