//! `botctl billing` through the real binary against real PostgreSQL: plans, credits (exact days,
//! idempotent, concurrent), refunds, the ledger's outputs, bad input, and the subscriptions that
//! `tenant create|delete|list` make, end and show.

use serde_json::Value;

use crate::support::{block_on, token, unique_slug};
use crate::tenant::{BOT_A, BOT_B, BOT_C, Fixture};

const DAY: f64 = 86_400.0;

impl Fixture {
    pub fn execute_sql(&self, sql: &str) {
        let mut conn = self.db.connect();
        block_on(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn)).unwrap();
    }

    /// The tenant's subscription as `billing show` prints it.
    fn subscription(&self, slug: &str) -> Value {
        self.json(&["billing", "show", slug])
    }

    fn credit(&self, slug: &str, args: &[&str]) -> Value {
        let mut all = vec!["billing", "credit", slug];
        all.extend_from_slice(args);
        self.json(&all)
    }

    /// Makes the tenant's subscription what a test needs, as the clock (or time) would have.
    fn set_subscription(&self, slug: &str, assignments: &str) {
        self.execute_sql(&format!(
            "UPDATE botctl.subscriptions SET {assignments} WHERE tenant_id = \
             (SELECT id FROM botctl.tenants WHERE slug = '{slug}' AND deleted_at IS NULL)"
        ));
    }

    fn ledger_rows(&self) -> i64 {
        self.scalar("SELECT count(*) FROM botctl.ledger")
    }
}

/// Seconds between two timestamp expressions of the newest ledger row for `reference`.
fn span(f: &Fixture, reference: &str, from: &str, to: &str) -> f64 {
    f.scalar(&format!(
        "SELECT extract(epoch FROM l.{to} - l.{from})::float8 FROM botctl.ledger l \
         JOIN botctl.payments p ON p.id = l.payment_id WHERE p.reference = '{reference}' ORDER BY l.id DESC LIMIT 1"
    ))
}

#[test]
fn plans_are_seeded_with_the_original_prices_and_plan_set_and_disable_change_them() {
    let f = Fixture::new();
    let plans = f.json(&["billing", "plans"]);
    let seeded: Vec<(String, i64, i64)> = plans
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_string(),
                p["days"].as_i64().unwrap(),
                p["prices"][0]["minor"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [("1m", 30, 29_900), ("3m", 90, 79_900), ("6m", 180, 149_900), ("12m", 365, 249_900)];
    assert_eq!(seeded, expected.map(|(c, d, p)| (c.to_string(), d, p)));
    assert!(plans.as_array().unwrap().iter().all(|p| p["active"] == true && p["prices"][0]["currency"] == "RUB"));

    // A Stars price joins the ruble one.
    let plan = f.json(&["billing", "plan", "set", "1m", "--price", "150XTR", "--name-en", "One month"]);
    assert_eq!(
        plan["prices"],
        serde_json::json!([{"minor": 29_900, "currency": "RUB"}, {"minor": 150, "currency": "XTR"}])
    );
    assert_eq!((plan["days"].as_i64(), plan["name_en"].as_str()), (Some(30), Some("One month")));
    // A new plan needs its days.
    f.botctl().args(["billing", "plan", "set", "2w", "--price", "99RUB"]).assert().code(2);
    let plan = f.json(&["billing", "plan", "set", "2w", "--days", "14", "--price", "99RUB"]);
    assert_eq!(
        (plan["days"].as_i64(), plan["active"].as_bool(), plan["name_ru"].as_str()),
        (Some(14), Some(true), Some("2w"))
    );
    let table = String::from_utf8(f.botctl().args(["billing", "plans"]).assert().success().get_output().stdout.clone())
        .unwrap();
    assert!(table.contains("2w") && table.contains("99RUB") && table.contains("299RUB, 150XTR"), "{table}");

    // Disabling confirms: off a terminal it needs --yes, and without it nothing changes.
    let refused = f.botctl().args(["billing", "plan", "disable", "2w"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(f.scalar::<bool>("SELECT active FROM botctl.plans WHERE code = '2w'"));
    f.botctl().args(["billing", "plan", "disable", "2w", "--yes"]).assert().success();
    assert!(!f.scalar::<bool>("SELECT active FROM botctl.plans WHERE code = '2w'"));
    // A disabled plan is not credited by --plan; its days still are by --days.
    let slug = f.create(BOT_A);
    f.botctl()
        .args(["billing", "credit", &slug, "--plan", "2w", "--amount", "99RUB", "--reference", "r1"])
        .assert()
        .code(2);
    f.botctl().args(["billing", "plan", "enable", "2w"]).assert().success();
    let credited = f.credit(&slug, &["--plan", "2w", "--amount", "99RUB", "--reference", "r1"]);
    assert_eq!((credited["outcome"].as_str(), credited["days"].as_i64()), (Some("credited"), Some(14)));
    let events: i64 = f.scalar("SELECT count(*) FROM botctl.events WHERE action LIKE 'billing.plan.%'");
    assert_eq!(events, 4, "set 1m, set 2w, disable, enable");
}

#[test]
fn each_plan_credits_exactly_its_days_and_a_first_payment_counts_from_now() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    assert_eq!(f.subscription(&slug)["state"], "complimentary");

    // A complimentary tenant that pays is active from now.
    let first = f.credit(&slug, &["--plan", "1m", "--amount", "299RUB", "--reference", "first"]);
    assert_eq!((first["state_before"].as_str(), first["state"].as_str()), (Some("complimentary"), Some("active")));
    assert_eq!(span(&f, "first", "at", "period_after"), 30.0 * DAY);

    for (plan, amount, days) in
        [("1m", "299RUB", 30.0), ("3m", "799RUB", 90.0), ("6m", "1499RUB", 180.0), ("12m", "2499RUB", 365.0)]
    {
        let reference = format!("pay-{plan}");
        let before = f.subscription(&slug)["paid_until"].clone();
        let credited = f.credit(&slug, &["--plan", plan, "--amount", amount, "--reference", &reference]);
        assert_eq!(credited["period_before"], before, "{plan}: counted from the running period's end");
        assert_eq!(span(&f, &reference, "period_before", "period_after"), days * DAY, "{plan}");
    }
    let days: i64 = f.scalar("SELECT sum(days) FROM botctl.ledger");
    assert_eq!(days, 30 + 30 + 90 + 180 + 365);
    let paid: f64 = f.scalar(
        "SELECT extract(epoch FROM s.paid_until - l.at)::float8 FROM botctl.subscriptions s, botctl.ledger l \
         WHERE l.id = (SELECT min(id) FROM botctl.ledger) AND s.tenant_id = l.tenant_id",
    );
    assert_eq!(paid, 695.0 * DAY, "every credit's days, from the first payment on");
    let show = f.subscription(&slug);
    assert_eq!((show["plan"].as_str(), show["payments"].as_array().unwrap().len()), (Some("12m"), 5));
    assert_eq!(show["payments"][0]["reference"], "pay-12m", "newest first");
}

#[test]
fn a_credit_during_grace_or_after_suspension_counts_from_now_and_a_suspended_bot_is_to_start() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    f.set_subscription(
        &slug,
        "state = 'grace', paid_until = now() - interval '2 days', grace_until = now() + interval '1 day'",
    );
    let credited = f.credit(&slug, &["--days", "30", "--amount", "299RUB", "--reference", "in-grace"]);
    assert_eq!((credited["state_before"].as_str(), credited["state"].as_str()), (Some("grace"), Some("active")));
    assert_eq!(span(&f, "in-grace", "at", "period_after"), 30.0 * DAY);
    assert_eq!(credited["bot_started"], Value::Null, "a bot in grace still runs");
    let grace: Option<String> = f.scalar("SELECT grace_until::text FROM botctl.subscriptions");
    assert_eq!(grace, None);

    f.set_subscription(
        &slug,
        "state = 'suspended', paid_until = now() - interval '10 days', grace_until = now() - interval '7 days'",
    );
    // No engine here: the money is credited all the same, and the start is left to the clock's retry.
    let out = f
        .botctl()
        .env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args([
            "billing",
            "credit",
            &slug,
            "--days",
            "30",
            "--amount",
            "299RUB",
            "--reference",
            "suspended",
            "-o",
            "json",
        ])
        .assert()
        .success();
    let credited: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(stderr.contains("credited") && stderr.contains("retries"), "{stderr}");
    assert_eq!((credited["state_before"].as_str(), credited["state"].as_str()), (Some("suspended"), Some("active")));
    assert_eq!((credited["start_pending"].as_bool(), credited["bot_started"].as_bool()), (Some(true), Some(false)));
    assert_eq!(span(&f, "suspended", "at", "period_after"), 30.0 * DAY);
    assert!(f.scalar::<bool>("SELECT start_pending FROM botctl.subscriptions"));
    let table =
        String::from_utf8(f.botctl().args(["billing", "list"]).assert().success().get_output().stdout.clone()).unwrap();
    assert!(table.contains("active (start pending)"), "{table}");
}

#[test]
fn a_reference_is_credited_once_and_another_payment_under_it_is_refused() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let other = f.create(BOT_B);
    let first = f.credit(&slug, &["--days", "30", "--amount", "299RUB", "--reference", "INV-1"]);
    let again = f.credit(&slug, &["--days", "30", "--amount", "299RUB", "--reference", "INV-1"]);
    assert_eq!((first["outcome"].as_str(), again["outcome"].as_str()), (Some("credited"), Some("already_credited")));
    assert_eq!(again["paid_until"], first["paid_until"]);
    for args in [
        ["--days", "30", "--amount", "300RUB"],
        ["--days", "31", "--amount", "299RUB"],
        ["--days", "30", "--amount", "299XTR"],
    ] {
        let out = f.botctl().args(["billing", "credit", &slug, "--reference", "INV-1"]).args(args).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(stderr.contains("already recorded") && stderr.contains("nothing was credited"), "{args:?}: {stderr}");
    }
    f.botctl()
        .args(["billing", "credit", &other, "--days", "30", "--amount", "299RUB", "--reference", "INV-1"])
        .assert()
        .code(2);
    assert_eq!((f.ledger_rows(), f.scalar::<i64>("SELECT count(*) FROM botctl.payments")), (1, 1));
    assert_eq!(f.subscription(&other)["state"], "complimentary");
}

#[test]
fn the_same_reference_credited_by_concurrent_processes_is_credited_once() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let children: Vec<_> = (0..6)
        .map(|_| {
            f.process()
                .args([
                    "billing",
                    "credit",
                    &slug,
                    "--days",
                    "30",
                    "--amount",
                    "299RUB",
                    "--reference",
                    "RACE",
                    "-o",
                    "json",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<String> = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            v["outcome"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(outcomes.iter().filter(|o| *o == "credited").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| *o == "already_credited").count(), 5, "{outcomes:?}");
    assert_eq!((f.ledger_rows(), f.scalar::<i64>("SELECT count(*) FROM botctl.payments")), (1, 1));
    assert_eq!(span(&f, "RACE", "at", "period_after"), 30.0 * DAY);
    let paid: f64 =
        f.scalar("SELECT extract(epoch FROM s.paid_until - l.at)::float8 FROM botctl.subscriptions s JOIN botctl.ledger l USING (tenant_id)");
    assert_eq!(paid, 30.0 * DAY, "one credit's days, not six");
}

#[test]
fn a_refund_revokes_the_days_once_and_leaves_the_state_to_the_clock() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    f.set_subscription(&slug, "state = 'active', paid_until = now() + interval '10 days'");
    let before = f.subscription(&slug)["paid_until"].clone();
    let credited = f.credit(&slug, &["--plan", "3m", "--amount", "799RUB", "--reference", "R-90"]);
    let refunded = f.json(&["billing", "refund", "R-90", "--yes"]);
    assert_eq!((refunded["outcome"].as_str(), refunded["days_revoked"].as_i64()), (Some("refunded"), Some(90)));
    assert_eq!(refunded["period_before"], credited["paid_until"]);
    assert_eq!(refunded["paid_until"], before, "exactly the credited days are taken back");
    assert_eq!(f.subscription(&slug)["paid_until"], before);
    let (days, amount, kind): (i32, i64, String) = block_on(
        sqlx::query_as("SELECT days, amount, kind FROM botctl.ledger ORDER BY id DESC LIMIT 1")
            .fetch_one(&mut f.db.connect()),
    )
    .unwrap();
    assert_eq!((days, amount, kind.as_str()), (-90, -79_900, "revocation"));
    assert_eq!(f.scalar::<String>("SELECT state FROM botctl.payments WHERE reference = 'R-90'"), "refunded");

    let again = f.json(&["billing", "refund", "R-90"]);
    assert_eq!(again["outcome"], "already_refunded");
    assert_eq!(f.ledger_rows(), 2);
    // Crediting a refunded payment's reference again does not give its days back.
    let recredit = f.credit(&slug, &["--plan", "3m", "--amount", "799RUB", "--reference", "R-90"]);
    assert_eq!(recredit["outcome"], "already_credited");
    assert_eq!(f.subscription(&slug)["paid_until"], before);

    // A refund that ends the period leaves the state as it is: the clock moves it to grace.
    f.credit(&slug, &["--days", "30", "--amount", "299RUB", "--reference", "R-30"]);
    f.set_subscription(&slug, "paid_until = now() + interval '5 days'");
    let out = f.botctl().args(["billing", "refund", "R-30", "--yes"]).assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("clock moves"), "{stderr}");
    let show = f.subscription(&slug);
    assert_eq!(show["state"], "active");
    assert!(f.scalar::<bool>("SELECT paid_until < now() - interval '24 days' FROM botctl.subscriptions"));
    f.botctl().args(["billing", "refund", "NO-SUCH"]).assert().code(2);
    f.botctl().args(["billing", "refund", "R-30", "--provider", "stars"]).assert().code(2);
}

#[test]
fn every_bad_input_exits_2_and_changes_nothing() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    f.credit(&slug, &["--days", "30", "--amount", "299RUB", "--reference", "ok"]);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["credit", &slug, "--days", "0", "--amount", "299RUB", "--reference", "x"], "1 to 3660"),
        (vec!["credit", &slug, "--days", "-5", "--amount", "299RUB", "--reference", "x"], "1 to 3660"),
        (vec!["credit", &slug, "--days", "3661", "--amount", "299RUB", "--reference", "x"], "1 to 3660"),
        (vec!["credit", &slug, "--days", "ten", "--amount", "299RUB", "--reference", "x"], "not a number"),
        (vec!["credit", &slug, "--plan", "nope", "--amount", "299RUB", "--reference", "x"], "no plan `nope`"),
        (vec!["credit", &slug, "--plan", "1m", "--amount", "299", "--reference", "x"], "no currency"),
        (vec!["credit", &slug, "--plan", "1m", "--amount", "150XTR", "--reference", "x"], "no price in XTR"),
        (vec!["credit", &slug, "--plan", "1m", "--amount", "100RUB", "--reference", "x"], "costs 299RUB"),
        (vec!["credit", &slug, "--plan", "1m", "--amount", "299USD", "--reference", "x"], "unknown currency"),
        (vec!["credit", &slug, "--plan", "1m", "--amount", "299RUB"], "--reference"),
        (vec!["credit", &slug, "--amount", "299RUB", "--reference", "x"], "--plan"),
        (vec!["credit", &slug, "--days", "30", "--amount", "299RUB", "--reference", "x", "--any-amount"], "--plan"),
        (vec!["credit", &slug, "--days", "30", "--amount", "299RUB", "--reference", " "], "reference"),
        (vec!["credit", "nosuch", "--days", "30", "--amount", "299RUB", "--reference", "x"], "no tenant `nosuch`"),
        (vec!["credit", "Bad-Name", "--days", "30", "--amount", "299RUB", "--reference", "x"], "Bad-Name"),
        (vec!["show", "nosuch"], "no tenant"),
        (vec!["list", "--state", "paid"], "unknown subscription state"),
        (vec!["list", "--expiring", "soon"], "span of time"),
        (vec!["list", "--expiring", "7"], "span of time"),
        (vec!["ledger", "--since", "yesterday"], "neither a date"),
        (vec!["ledger", "nosuch"], "no tenant `nosuch`"),
        (vec!["plan", "set", "Bad Code", "--days", "5"], "not a plan code"),
        (vec!["plan", "set", "1m", "--price", "0RUB"], "more than zero"),
        (vec!["plan", "set", "1m", "--days", "0"], "1 to 3660"),
        (vec!["plan", "set", "1m", "--price", "1RUB", "--price", "2RUB"], "more than once"),
        (vec!["plan", "disable", "nope", "--yes"], "no plan `nope`"),
        (vec!["refund", "nope"], "no manual payment"),
    ];
    for (args, message) in cases {
        let out = f.botctl().arg("billing").args(&args).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(stderr.contains(message), "{args:?}: expected `{message}` in {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert_eq!(f.ledger_rows(), 1);
    assert_eq!(f.scalar::<i64>("SELECT count(*) FROM botctl.payments"), 1);
    assert_eq!(f.scalar::<i64>("SELECT count(*) FROM botctl.plan_prices"), 4);
}

#[test]
fn the_ledger_prints_parseable_json_and_csv_for_accounting() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    f.credit(&slug, &["--days", "30", "--amount", "799.50RUB", "--reference", "a,b \"quoted\"", "--note", "wire"]);
    f.credit(&slug, &["--days", "10", "--amount", "150XTR", "--reference", "stars-1"]);
    f.botctl().args(["billing", "refund", "stars-1", "--yes"]).assert().success();

    let json = f.json(&["billing", "ledger", &slug]);
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["amount"], serde_json::json!({"minor": 79_950, "currency": "RUB"}));
    assert_eq!((rows[2]["kind"].as_str(), rows[2]["days"].as_i64()), (Some("revocation"), Some(-10)));
    let yaml = f.botctl().args(["billing", "ledger", "-o", "yaml"]).assert().success().get_output().stdout.clone();
    let yaml: Value = serde_yaml_ng::from_slice(&yaml).unwrap();
    assert_eq!(yaml.as_array().unwrap().len(), 3);

    let out = f.botctl().args(["billing", "ledger", "--csv"]).assert().success().get_output().stdout.clone();
    let mut reader = csv::Reader::from_reader(out.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header[..7], ["id", "at", "tenant", "kind", "days", "amount", "currency"]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let column = |r: &csv::StringRecord, name: &str| r[header.iter().position(|h| h == name).unwrap()].to_string();
    let amounts: Vec<(String, String)> = records.iter().map(|r| (column(r, "amount"), column(r, "currency"))).collect();
    assert_eq!(
        amounts,
        [("799.50", "RUB"), ("150", "XTR"), ("-150", "XTR")].map(|(a, c)| (a.to_string(), c.to_string()))
    );
    assert_eq!(column(&records[0], "reference"), "a,b \"quoted\"");
    assert!(records.iter().all(|r| column(r, "tenant") == slug));

    let text = |args: &[&str]| {
        String::from_utf8(f.botctl().args(args).assert().success().get_output().stdout.clone()).unwrap()
    };
    let table = text(&["billing", "ledger"]);
    assert!(table.contains("799.50RUB") && table.contains("-150XTR") && table.contains("-10"), "{table}");
    let show = text(&["billing", "show", &slug]);
    assert!(show.contains("stars-1") && show.contains("refunded") && show.contains("wire"), "{show}");
    let list = text(&["billing", "list"]);
    assert!(list.contains("active") && list.contains("799.50RUB on"), "{list}");
    let tenants = text(&["tenant", "list"]);
    assert!(tenants.contains("SUBSCRIPTION") && tenants.contains("active until"), "{tenants}");

    // --since filters by time; an empty ledger still names its columns.
    let future = f
        .botctl()
        .args(["billing", "ledger", "--since", "2999-01-01", "--csv"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(future).unwrap().lines().count(), 1);
    let past = f.json(&["billing", "ledger", "--since", "2000-01-01T00:00:00Z"]);
    assert_eq!(past.as_array().unwrap().len(), 3);
}

#[test]
fn tenant_create_trial_or_plan_begin_the_subscription_and_delete_keeps_the_money_rows() {
    let f = Fixture::new();
    let create = |bot: i64, extra: &[&str]| {
        let slug = unique_slug();
        let mut args = vec!["tenant", "create", "--no-start", &slug, "--admin", "1001", "--template", "barbershop"];
        let token = token(bot);
        args.extend_from_slice(&["--token", &token]);
        args.extend_from_slice(extra);
        let out = f.botctl().args(&args).output().unwrap();
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
        (out.status.code(), slug)
    };
    let (code, trial) = create(BOT_A, &["--trial"]);
    assert_eq!(code, Some(0));
    let show = f.subscription(&trial);
    assert_eq!(show["state"], "trial");
    let (kind, days, length): (String, i32, f64) = block_on(
        sqlx::query_as("SELECT kind, days, extract(epoch FROM period_after - at)::float8 FROM botctl.ledger")
            .fetch_one(&mut f.db.connect()),
    )
    .unwrap();
    assert_eq!((kind.as_str(), days, length), ("trial", 7, 7.0 * DAY));

    // A plan needs its payment, at its price; a refused one creates nothing.
    assert_eq!(create(BOT_B, &["--plan", "3m"]).0, Some(2));
    assert_eq!(create(BOT_B, &["--plan", "3m", "--amount", "1RUB", "--reference", "C-1"]).0, Some(2));
    assert_eq!(create(BOT_B, &["--plan", "3m", "--amount", "799RUB", "--reference", "C-1", "--trial"]).0, Some(2));
    assert_eq!(f.scalar::<i64>("SELECT count(*) FROM botctl.tenants"), 1);
    let (code, paid) = create(BOT_B, &["--plan", "3m", "--amount", "799RUB", "--reference", "C-1"]);
    assert_eq!(code, Some(0));
    let show = f.subscription(&paid);
    assert_eq!((show["state"].as_str(), show["plan"].as_str()), (Some("active"), Some("3m")));
    assert_eq!(span(&f, "C-1", "at", "period_after"), 90.0 * DAY);
    let plain = f.create(BOT_C);

    let list = f.json(&["tenant", "list"]);
    let states: std::collections::HashMap<String, String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["slug"].as_str().unwrap().to_string(), t["subscription"]["state"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(states[&trial], "trial");
    assert_eq!(states[&paid], "active");
    assert_eq!(states[&plain], "complimentary");
    let table =
        String::from_utf8(f.botctl().args(["tenant", "show", &paid]).assert().success().get_output().stdout.clone())
            .unwrap();
    assert!(table.contains("active until"), "{table}");
    let expiring = f.json(&["billing", "list", "--expiring", "8d"]);
    let names: Vec<&str> = expiring.as_array().unwrap().iter().map(|s| s["tenant"].as_str().unwrap()).collect();
    assert_eq!(names, [trial.as_str()], "the trial ends within 8 days; the 90-day plan does not");

    f.botctl()
        .env("BOTCTL_DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["tenant", "delete", &paid, "--yes", "--no-backup"])
        .assert()
        .success();
    assert_eq!(f.scalar::<i64>("SELECT count(*) FROM botctl.payments"), 1);
    assert_eq!(f.scalar::<i64>("SELECT count(*) FROM botctl.ledger"), 2);
    let cancelled = f.json(&["billing", "list", "--state", "cancelled"]);
    assert_eq!(cancelled[0]["tenant"].as_str(), Some(paid.as_str()));
    assert_eq!(
        f.json(&["billing", "ledger", &paid]).as_array().unwrap().len(),
        1,
        "a deleted tenant's ledger stays readable"
    );
    // The database itself refuses to lose money rows.
    let mut conn = f.db.connect();
    assert!(block_on(sqlx::query("DELETE FROM botctl.payments").execute(&mut conn)).is_err());
    assert!(block_on(sqlx::query("UPDATE botctl.ledger SET days = 0").execute(&mut conn)).is_err());
}

/// A tenant made on a trial, through the CLI.
fn trial_tenant(f: &Fixture, bot: i64) -> String {
    let slug = unique_slug();
    let token = token(bot);
    let args = ["tenant", "create", "--no-start", &slug, "--admin", "1001", "--template", "barbershop", "--trial"];
    f.botctl().args(args).args(["--token", &token]).assert().success();
    slug
}

/// The end of the tenant's trial or paid period, as Unix seconds.
fn paid_until(f: &Fixture, slug: &str) -> f64 {
    f.scalar(&format!(
        "SELECT extract(epoch FROM s.paid_until)::float8 FROM botctl.subscriptions s \
         JOIN botctl.tenants t ON t.id = s.tenant_id WHERE t.slug = '{slug}' AND t.deleted_at IS NULL"
    ))
}

#[test]
fn extend_trial_moves_the_trials_end_with_a_ledger_row_and_an_event() {
    let f = Fixture::new();
    let slug = trial_tenant(&f, BOT_A);
    let before = paid_until(&f, &slug);

    let extended = f.json(&["billing", "extend-trial", &slug, "--days", "5"]);
    assert_eq!((extended["tenant"].as_str(), extended["state"].as_str()), (Some(slug.as_str()), Some("trial")));
    assert_eq!(paid_until(&f, &slug) - before, 5.0 * DAY, "exactly five days later");
    let shown = f.subscription(&slug);
    assert_eq!(shown["paid_until"], extended["paid_until"], "what it printed is what it stored");

    let ledger = f.json(&["billing", "ledger", &slug]);
    let rows = ledger.as_array().unwrap();
    assert_eq!(rows.len(), 2, "the trial's own row and the extension's: {ledger}");
    let row = &rows[1];
    assert_eq!((row["kind"].as_str(), row["days"].as_i64()), (Some("trial"), Some(5)));
    assert_eq!((&row["amount"], &row["reference"]), (&Value::Null, &Value::Null), "a trial moves no money");
    assert_eq!(row["period_before"], rows[0]["period_after"]);
    assert_eq!(row["period_after"], extended["paid_until"]);
    let events = f.json(&["events", &slug]);
    let last = events.as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["action"].as_str(), last["details"]["days"].as_i64()), (Some("billing.trial.extend"), Some(5)));

    // People read a line saying what happened.
    let out = f.botctl().args(["billing", "extend-trial", &slug, "--days", "2"]).assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("Extended") && stderr.contains(&format!("tenant {slug}: trial 2 days longer")), "{stderr}");
    assert_eq!(paid_until(&f, &slug) - before, 7.0 * DAY);
    assert_eq!(f.ledger_rows(), 3);
}

#[test]
fn extend_trial_refuses_bad_days_and_any_state_but_trial_with_exit_2() {
    let f = Fixture::new();
    let trial = trial_tenant(&f, BOT_A);
    let complimentary = f.create(BOT_B);
    let active = trial_tenant(&f, BOT_C);
    f.credit(&active, &["--days", "30", "--amount", "299RUB", "--reference", "paid"]);
    let rows = f.ledger_rows();
    let before = paid_until(&f, &trial);
    let cases: [(&[&str], &str); 9] = [
        (&[&trial, "--days", "0"], "1 to 90 days"),
        (&[&trial, "--days", "91"], "1 to 90 days"),
        (&[&trial, "--days", "-3"], "1 to 90 days"),
        (&[&trial, "--days", "ten"], "invalid value"),
        (&[&trial], "--days"),
        (&[&complimentary, "--days", "5"], "is complimentary, not trial"),
        (&[&active, "--days", "5"], "is active, not trial"),
        (&["nosuch", "--days", "5"], "no tenant `nosuch`"),
        (&["Bad-Name", "--days", "5"], "Bad-Name"),
    ];
    for (args, message) in cases {
        let out = f.botctl().args(["billing", "extend-trial"]).args(args).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(stderr.contains(message), "{args:?}: expected `{message}` in {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // For scripts, the refusal is JSON on stdout too.
    let out = f.botctl().args(["billing", "extend-trial", &active, "--days", "5", "-o", "json"]).assert().code(2);
    let error: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("is active, not trial") && error["error"]["exit_code"] == 2, "{error}");
    assert_eq!(f.ledger_rows(), rows, "nothing was recorded");
    assert_eq!(paid_until(&f, &trial), before, "nothing was moved");
}

#[test]
fn extend_trial_as_a_library_wakes_the_clock_and_refuses_other_states_as_bad_input() {
    use botctl::billing::{self, State};
    use botctl::error::BadInput;

    let f = Fixture::new();
    let trial = trial_tenant(&f, BOT_A);
    let complimentary = f.create(BOT_B);
    let now = chrono::Utc::now();
    block_on(async {
        let pool = sqlx::PgPool::connect(&f.db.url()).await.unwrap();
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.unwrap();
        listener.listen(billing::WAKE_CHANNEL).await.unwrap();
        let mut conn = pool.acquire().await.unwrap();

        let error = billing::extend_trial(&mut conn, &complimentary, 5, "operator 42", now).await.unwrap_err();
        assert!(error.is::<BadInput>(), "{error:#}");
        let error = billing::extend_trial(&mut conn, &trial, 0, "operator 42", now).await.unwrap_err();
        assert!(error.is::<BadInput>(), "{error:#}");

        let before = billing::subscription::for_tenant(&mut conn, &trial).await.unwrap().paid_until.unwrap();
        let extended = billing::extend_trial(&mut conn, &trial, 90, "operator 42", now).await.unwrap();
        assert_eq!((extended.state, extended.paid_until), (State::Trial, Some(before + chrono::TimeDelta::days(90))));
        // The clock sleeps until the next due change: the commit tells it to look again.
        let woken = tokio::time::timeout(std::time::Duration::from_secs(60), listener.recv()).await;
        assert_eq!(woken.unwrap().unwrap().channel(), billing::WAKE_CHANNEL);
        let entries = billing::ledger::entries(&mut conn, Some(&trial), None).await.unwrap();
        let actors: Vec<(&str, &str)> = entries.iter().map(|e| (e.kind.as_str(), e.actor.as_str())).collect();
        assert_eq!(actors.last(), Some(&("trial", "operator 42")));
    });
}
