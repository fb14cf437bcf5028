//! `botctl demo`: zero configuration, the whole platform, a transcript and the booking in the database.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc;
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
}

#[test]
fn demo_keep_leaves_a_bot_to_talk_to_until_ctrl_c() {
    let sandbox = Sandbox::new();
    let _stop = ClusterGuard(sandbox.path().join("data/botctl"));
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
    let url_in = |marker: &str| -> String {
        let line = said.iter().find(|l| l.contains(marker)).unwrap_or_else(|| panic!("no {marker} in {said:#?}"));
        line.split_whitespace().find(|w| w.starts_with("http") && w.contains(marker)).unwrap().to_string()
    };
    let (messages, chat, health) = (url_in("/messages"), url_in("/chats/1"), url_in("/healthz"));

    // Talk to it as the note says: a new customer is welcomed.
    let client = reqwest::Client::new();
    let user = json!({"user": {"id": 1, "first_name": "You"}, "text": "/start"});
    let sent = block_on(client.post(&messages).json(&user).send()).unwrap();
    assert!(sent.status().is_success(), "{sent:?}");
    let answered = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        let chat: Value = block_on(async { client.get(&chat).send().await?.json().await }).unwrap();
        chat.as_array().is_some_and(|messages| messages.iter().any(|m| m["from_bot"] == true))
    });
    assert!(answered, "the kept bot never answered");
    assert!(block_on(client.get(&health).send()).unwrap().status().is_success());

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        child.try_wait().unwrap()
    });
    let status = status.expect("demo --keep stops within 10 s of Ctrl-C");
    assert!(status.success(), "{status:?}");
    assert!(transcript.join().unwrap().contains("👤 customer: /start"));
}
