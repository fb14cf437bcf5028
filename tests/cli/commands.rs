//! Help texts, completions and the man page: what people and shells read about the CLI.

use crate::support::Sandbox;

fn stdout(cmd: &mut assert_cmd::Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

#[test]
fn help_texts_are_stable_and_complete() {
    let sandbox = Sandbox::new();
    for args in [
        &["--help"][..],
        &["init", "--help"],
        &["doctor", "--help"],
        &["config", "--help"],
        &["config", "show", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
        &["tenant", "--help"],
        &["tenant", "create", "--help"],
        &["tenant", "list", "--help"],
        &["tenant", "show", "--help"],
        &["tenant", "update", "--help"],
        &["tenant", "delete", "--help"],
        &["tenant", "upgrade", "--help"],
        &["migrate", "--help"],
        &["migrate", "status", "--help"],
        &["backup", "--help"],
        &["backup", "list", "--help"],
        &["backup", "verify", "--help"],
        &["restore", "--help"],
        &["events", "--help"],
        &["billing", "--help"],
        &["billing", "credit", "--help"],
        &["billing", "ledger", "--help"],
        &["demo", "--help"],
        &["serve", "--help"],
        &["health", "--help"],
        &["platform", "serve", "--help"],
    ] {
        let help = stdout(sandbox.botctl().args(args));
        let name = format!("help_{}", args[..args.len() - 1].join("_")).trim_end_matches('_').to_string();
        insta::assert_snapshot!(name, help);
    }
}

#[test]
fn every_subcommand_has_an_about_line_that_is_a_sentence() {
    let sandbox = Sandbox::new();
    let help = stdout(sandbox.botctl().arg("--help"));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .collect();
    assert!(commands.len() >= 5, "{help}");
    for line in commands {
        let about = line.trim_start().split_once(' ').map(|(_, a)| a.trim()).unwrap_or_default();
        assert!(about.chars().next().is_some_and(char::is_uppercase), "{line}");
    }
}

/// The committed completion scripts must match what the binary generates.
#[test]
fn committed_completions_match_the_cli() {
    let sandbox = Sandbox::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (shell, file) in [
        ("bash", "botctl.bash"),
        ("zsh", "_botctl"),
        ("fish", "botctl.fish"),
        ("elvish", "botctl.elv"),
        ("powershell", "_botctl.ps1"),
    ] {
        let generated = stdout(sandbox.botctl().args(["completions", shell]));
        let committed = std::fs::read_to_string(root.join("completions").join(file)).unwrap_or_default();
        assert!(
            generated == committed,
            "completions/{file} is out of date; regenerate it with: cargo run -q -- completions {shell} > completions/{file}"
        );
    }
}

#[test]
fn man_page_renders_and_writes_one_page_per_command() {
    let sandbox = Sandbox::new();
    let page = stdout(sandbox.botctl().arg("man"));
    assert!(page.contains(".TH botctl 1"), "{page}");
    assert!(page.contains("doctor"), "{page}");

    let dir = sandbox.path().join("man1");
    sandbox.botctl().args(["man", "--dir"]).arg(&dir).assert().success();
    for page in ["botctl.1", "botctl-init.1", "botctl-doctor.1", "botctl-config-show.1"] {
        assert!(dir.join(page).is_file(), "{page} was not written");
    }
}

#[test]
fn version_is_printed() {
    let sandbox = Sandbox::new();
    assert_eq!(stdout(sandbox.botctl().arg("--version")).trim(), format!("botctl {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn completions_and_man_work_with_a_broken_config_file() {
    let sandbox = Sandbox::new();
    sandbox.write_config("this is: [not valid\n");
    sandbox.botctl().args(["completions", "bash"]).assert().success();
    sandbox.botctl().arg("man").assert().success();
    sandbox.botctl().args(["config", "show"]).assert().code(2);
}

/// What `tenant create` and `tenant update` print for people reads as English: one service, the default.
#[test]
fn counts_and_changes_read_as_english() {
    let f = crate::tenant::Fixture::new();
    let template = f.sandbox.path().join("one.yaml");
    std::fs::write(
        &template,
        "name: one\nlocale: en\ndisplay_name: One\ncurrency: EUR\nservices:\n  - name: Cut\n    duration: 30m\n    \
         price: 10\nhours:\n  mon: [\"09:00-18:00\"]\nslot_step: 30m\nhorizon: 30d\ncancellation_cutoff: 2h\n\
         max_active_bookings: 1\nreminders: [2h]\nfeedback_delay: 2h\n",
    )
    .unwrap();
    let slug = crate::support::unique_slug();
    let created = f
        .botctl()
        .args(["tenant", "create", "--no-start", &slug, "--admin", "1", "--token"])
        .arg(crate::support::token(crate::tenant::BOT_A))
        .arg("--template")
        .arg(&template)
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(stderr.contains("1 service, 1 working interval a week"), "{stderr}");

    let updated = f.botctl().args(["tenant", "update", &slug, "--cpus", "0.5"]).assert().success().get_output().clone();
    let stderr = String::from_utf8_lossy(&updated.stderr);
    assert!(stderr.contains("cpus default (1) → 0.5"), "{stderr}");
    assert!(!stderr.contains("null"), "{stderr}");
}
