//! `botctl demo`: zero configuration, the whole platform, a transcript and the booking in the database.

use serde_json::Value;

use crate::support::{ClusterGuard, Sandbox};

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

    // A second run replaces its own demo tenant and works the same.
    let text = sandbox.botctl().arg("demo").assert().success().get_output().stdout.clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("👤 customer: /start") && text.contains("is cancelled (tenant_demo.bookings)"), "{text}");
}
