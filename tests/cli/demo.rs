//! `botctl demo`: zero configuration, the whole platform, a transcript and the booking in the database.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{ClusterGuard, Sandbox, block_on};

#[test]
fn demo_books_moves_and_cancels_on_the_embedded_default() {
    let sandbox = Sandbox::new();
    let data_dir = sandbox.path().join("data/botctl");
    let _stop = ClusterGuard(data_dir.clone());
    let output = sandbox.botctl().args(["demo", "-o", "json"]).assert().success().get_output().clone();
    let transcript: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(transcript["tenant"], "demo");
    assert!(transcript["database"].as_str().unwrap().contains("local cluster"), "{transcript}");
    let lines = transcript["conversation"].as_array().unwrap();
    assert!(lines.len() >= 30, "{transcript}");
    assert!(lines.iter().any(|l| l["who"] == "bot" && l["text"].as_str().unwrap().contains("booked")), "{transcript}");
    assert!(lines.iter().any(|l| l["who"] == "bot" && l["text"].as_str().unwrap().contains("moved")), "{transcript}");
    assert_eq!(transcript["booking"]["status"], "cancelled");
    // The owner looks at the admin panel between the move and the cancellation.
    let owner = lines.iter().position(|l| l["who"] == "owner" && l["text"] == "/admin").expect("the owner's turn");
    assert!(lines[owner + 1]["text"].as_str().unwrap().contains("Control panel"), "{transcript}");
    let cancel = lines.iter().rposition(|l| l["who"] == "customer").unwrap();
    assert!(owner < cancel, "{transcript}");

    // A second run replaces its own demo tenant and works the same.
    let text = sandbox.botctl().arg("demo").assert().success().get_output().stdout.clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("👤 customer: /start") && text.contains("is cancelled (tenant_demo.bookings)"), "{text}");
    assert_calendar_lines_up(&text);
    // The emulator is gone when the command ends: its URL is not printed, and the transcript ends by
    // saying what to do next.
    assert!(!text.contains("127.0.0.1"), "{text}");
    let next = text.rfind("Next steps").unwrap_or_else(|| panic!("no next steps at the end: {text}"));
    let next = &text[next..];
    for what in ["botctl demo --keep", "botctl tenant create", "docs/EMULATOR.md", "docs/OPERATIONS.md"] {
        assert!(next.contains(what), "no `{what}` in the next steps: {next}");
    }
}

/// The month grid is printed row by row, blank cells kept, so every week's cells sit under the weekdays.
fn assert_calendar_lines_up(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    let cells = |line: &str| -> Vec<(usize, String)> {
        let mut found = Vec::new();
        let chars: Vec<char> = line.chars().collect();
        let mut at = 0;
        while let Some(open) = (at..chars.len()).find(|&i| chars[i] == '[') {
            let close = (open..chars.len()).find(|&i| chars[i] == ']').expect("a closed cell");
            found.push((open, chars[open + 1..close].iter().collect::<String>().trim().to_string()));
            at = close + 1;
        }
        found
    };
    let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let headers: Vec<usize> = (0..lines.len())
        .filter(|&i| cells(lines[i]).iter().map(|(_, label)| label.as_str()).eq(weekdays.iter().copied()))
        .collect();
    assert!(!headers.is_empty(), "no row of weekdays in the transcript: {text}");
    for header in headers {
        let columns: Vec<usize> = cells(lines[header]).iter().map(|(at, _)| *at).collect();
        let weeks: Vec<&str> = lines[header + 1..].iter().copied().take_while(|l| cells(l).len() == 7).collect();
        assert!(weeks.len() >= 4, "a month has at least 4 weeks under its weekdays: {:#?}", &lines[header..]);
        for week in &weeks {
            let at: Vec<usize> = cells(week).iter().map(|(at, _)| *at).collect();
            assert_eq!(at, columns, "a week out of line with the weekdays:\n{}\n{week}", lines[header]);
        }
        let days: Vec<String> = weeks.iter().flat_map(|w| cells(w)).map(|(_, label)| label).collect();
        let month = days.iter().filter(|d| !d.is_empty()).count();
        assert!((28..=31).contains(&month), "every day of the month is a cell (a number or ·): {weeks:#?}");
    }
}

#[test]
fn demo_keep_serves_its_tenant_alone_and_says_how_to_talk_to_it_until_ctrl_c() {
    let sandbox = Sandbox::new();
    let _stop = ClusterGuard(sandbox.path().join("data/botctl"));
    let (mut child, said, transcript) = keep_demo(&sandbox);
    let url_in = |marker: &str| -> String {
        let line = said.iter().find(|l| l.contains(marker)).unwrap_or_else(|| panic!("no {marker} in {said:#?}"));
        line.split_whitespace().find(|w| w.starts_with("http") && w.contains(marker)).unwrap().to_string()
    };
    let (messages, chat, health) = (url_in("/messages"), url_in("/chats/1"), url_in("/healthz"));
    let (callbacks, bots) = (url_in("/callbacks"), url_in("/_emulator/bots"));
    assert!(
        said.iter().any(|l| l.contains(&messages) && l.contains("\"contact\"")),
        "no way to share a contact: {said:#?}"
    );
    assert!(said.iter().any(|l| l.contains("docs/EMULATOR.md")), "{said:#?}");

    // The control plane shows the tenant as served by the demo, and no container may be started for it:
    // a second bot would poll the same token, and its new password would lock the demo's bot out.
    let demo = listed_demo(&sandbox);
    assert_eq!(demo["status"], "running", "{demo}");
    let pid = child.id().to_string();
    assert!(demo["served_by"].as_str().is_some_and(|s| s.contains("botctl demo") && s.contains(&pid)), "{demo}");
    let refused = sandbox.botctl().args(["tenant", "start", "demo"]).assert().code(1).get_output().stderr.clone();
    let refused = String::from_utf8(refused).unwrap();
    assert!(refused.contains("served by botctl demo") && refused.contains(&pid), "{refused}");
    assert!(refused.contains("Ctrl-C") && refused.contains(&format!("kill -INT {pid}")), "{refused}");
    // A delete is refused before its final backup, so a refusal leaves no archive behind.
    let backups = sandbox.path().join("refused-delete");
    let refused = sandbox.botctl().args(["--yes", "tenant", "delete", "demo", "--dest"]).arg(&backups).assert().code(1);
    let refused = String::from_utf8(refused.get_output().stderr.clone()).unwrap();
    assert!(refused.contains("served by botctl demo"), "{refused}");
    assert!(!backups.exists(), "a refused delete wrote a backup to {}", backups.display());

    // Talk to it as the note says: a new customer is welcomed, and can press the buttons.
    let client = reqwest::Client::new();
    let user = json!({"user": {"id": 1, "first_name": "You"}, "text": "/start"});
    let sent = block_on(client.post(&messages).json(&user).send()).unwrap();
    assert!(sent.status().is_success(), "{sent:?}");
    let newest_with = |markup: &'static str| {
        (0..100).find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            let chat: Value = block_on(async { client.get(&chat).send().await?.json().await }).unwrap();
            chat.as_array()
                .and_then(|messages| messages.iter().rev().find(|m| m["from_bot"] == true).cloned())
                .filter(|m| m["reply_markup"][markup].is_array())
        })
    };
    let menu = newest_with("keyboard").expect("the kept bot never answered with its menu");
    let book = json!({"user": {"id": 1, "first_name": "You"}, "text": menu["reply_markup"]["keyboard"][0][0]["text"]});
    assert!(block_on(client.post(&messages).json(&book).send()).unwrap().status().is_success());
    let answered = newest_with("inline_keyboard").expect("the kept bot never offered buttons");
    let data = answered["reply_markup"]["inline_keyboard"][0][0]["callback_data"].clone();
    let press = json!({"user": {"id": 1, "first_name": "You"}, "message_id": answered["message_id"], "data": data});
    assert!(block_on(client.post(&callbacks).json(&press).send()).unwrap().status().is_success());
    let bot = json!({"token": "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789", "id": 123_456, "username": "my_test_bot"});
    assert_eq!(block_on(client.post(&bots).json(&bot).send()).unwrap().status().as_u16(), 201);
    assert!(block_on(client.get(&health).send()).unwrap().status().is_success());

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        child.try_wait().unwrap()
    });
    let status = status.expect("demo --keep stops within 10 s of Ctrl-C");
    assert!(status.success(), "{status:?}");
    assert!(transcript.join().unwrap().contains("👤 customer: /start"));

    // Once the demo is gone, so is its claim on the tenant.
    let demo = listed_demo(&sandbox);
    assert_eq!(demo["status"], "stopped", "{demo}");
    assert!(demo.get("served_by").is_none(), "{demo}");
}

#[test]
fn a_killed_demo_leaves_its_tenant_free() {
    let sandbox = Sandbox::new();
    let _stop = ClusterGuard(sandbox.path().join("data/botctl"));
    let (mut child, _, _) = keep_demo(&sandbox);
    assert_eq!(listed_demo(&sandbox)["status"], "running");
    child.kill().unwrap();
    child.wait().unwrap();
    // PostgreSQL ends the killed process's session as soon as it sees the socket closed.
    let freed = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        listed_demo(&sandbox)["status"] == "stopped"
    });
    assert!(freed, "the tenant is still claimed: {}", listed_demo(&sandbox));
}

/// `botctl demo --keep`, once its note on how to talk to the bot is out: the process, the note's lines,
/// and the transcript it printed on stdout (read to its end).
fn keep_demo(sandbox: &Sandbox) -> (Child, Vec<String>, JoinHandle<String>) {
    let mut child =
        sandbox.process().args(["demo", "--keep"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The transcript goes to stdout, the note on how to talk to the bot to stderr.
    let mut stdout = child.stdout.take().unwrap();
    let transcript = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let (lines, note) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || stderr.lines().map_while(Result::ok).for_each(|l| drop(lines.send(l))));
    let mut said = Vec::new();
    while !said.iter().any(|l: &String| l.contains("health: ")) {
        match note.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => said.push(line),
            Err(e) => panic!("no note on how to talk to the bot ({e}); stderr so far: {said:#?}"),
        }
    }
    (child, said, transcript)
}

/// The demo tenant as `tenant list -o json` shows it.
fn listed_demo(sandbox: &Sandbox) -> Value {
    let listed = sandbox.botctl().args(["tenant", "list", "-o", "json"]).assert().success().get_output().stdout.clone();
    let listed: Value = serde_json::from_slice(&listed).unwrap();
    listed.as_array().unwrap().iter().find(|t| t["slug"] == "demo").expect("the demo tenant is listed").clone()
}

mod needs_docker {
    use serde_json::Value;

    use crate::needs_docker::{docker_host, docker_test};
    use crate::support::{ClusterGuard, Sandbox};

    docker_test! {
        fn demo_platform_sells_a_bot_that_goes_live_in_its_container_and_a_customer_books() {
            let sandbox = Sandbox::new();
            let _stop = ClusterGuard(sandbox.path().join("data/botctl"));
            for run in 1..=2 {
                let output = sandbox
                    .botctl()
                    .env("BOTCTL_DOCKER_HOST", docker_host())
                    .args(["demo", "--platform", "-o", "json"])
                    .timeout(std::time::Duration::from_secs(600))
                    .assert()
                    .success()
                    .get_output()
                    .clone();
                let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
                let lines = summary["conversation"].as_array().unwrap();
                let said = |who: &str, what: &str| {
                    lines.iter().any(|l| l["who"] == who && l["text"].as_str().unwrap().contains(what))
                };
                assert!(said("buyer", "/start") && said("buyer", "Demo Salon"), "run {run}: {summary}");
                assert!(said("buyer", "opens the payment page"), "run {run}: {summary}");
                assert!(said("sales bot", "@demo_salon_bot is live"), "run {run}: {summary}");
                assert!(said("bot", "booked"), "run {run}: the customer booked through the new bot: {summary}");
                assert!(!said("buyer", "DEMOshop"), "the pasted token is not printed: {summary}");
                assert_eq!(summary["order"]["state"], "done", "{summary}");
                let history: Vec<&str> = summary["history"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
                assert!(history.contains(&"paid") && history.last() == Some(&"done"), "{history:?}");
                assert_eq!(summary["ledger"][0]["provider"], "yookassa", "{summary}");
                assert_eq!(summary["ledger"][0]["amount"], 29900, "{summary}");
                assert_eq!(summary["tenant"], "demo_salon");
                assert_eq!(summary["container"], "botctl-demo_salon");
                // The booking was read from the tenant's schema while its container served it.
                assert_eq!(summary["booking"]["status"], "active", "{summary}");

                // Without --keep the demo tenant and its container are gone, so the next run starts alike.
                let listed =
                    sandbox.botctl().args(["tenant", "list", "-o", "json"]).assert().success().get_output().stdout.clone();
                let listed: Value = serde_json::from_slice(&listed).unwrap();
                assert!(!listed.as_array().unwrap().iter().any(|t| t["slug"] == "demo_salon"), "{listed}");
                let docker = bollard::Docker::connect_with_defaults().unwrap();
                let container = crate::support::block_on(docker.inspect_container("botctl-demo_salon", None));
                assert!(container.is_err(), "the demo's container was left behind");
            }
        }
    }
}
