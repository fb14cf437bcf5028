//! No log level prints a password or a token: every command that handles one runs at `-vv` and at
//! `BOTCTL_LOG=trace`, and its whole output is searched for them.

use std::time::Duration;

use botctl::telegram::emulator::TgUser;

use crate::serve::WAIT;
use crate::support::{Sandbox, block_on, token};
use crate::tenant::{BOT_A, BOT_B, BOT_C, Fixture};

/// The two ways to turn logging all the way up.
const LOUD: [(&str, Option<&str>); 2] = [("-vv", None), ("-q", Some("trace"))];

/// Fails if `output` holds any of `secrets`, a password in SQL, or a postgres URL with a password in it.
pub(crate) fn assert_no_secret(output: &str, secrets: &[&str]) {
    assert!(!output.is_empty(), "the loud run printed nothing, so it proves nothing");
    for secret in secrets {
        assert!(!output.contains(secret), "a secret reached the output: {secret}\n{output}");
    }
    for found in regex::Regex::new(r"(?i)PASSWORD\s*'([^']*)'").unwrap().captures_iter(output) {
        assert_eq!(&found[1], "***", "a password in SQL reached the output:\n{output}");
    }
    let url_with_password = regex::Regex::new(r"postgres(ql)?://[^/\s:@]+:([^@\s]+)@").unwrap();
    for found in url_with_password.captures_iter(output) {
        assert_eq!(&found[2], "***", "a database URL with its password reached the output:\n{output}");
    }
}

/// Runs `args` loudly in each of the two ways and returns stdout and stderr together, per way.
fn loud_runs(f: &Fixture, args: impl Fn(usize) -> Vec<String>) -> Vec<String> {
    LOUD.iter()
        .enumerate()
        .map(|(i, (flag, filter))| {
            let mut cmd = f.botctl();
            cmd.arg(flag).args(args(i));
            if let Some(filter) = filter {
                cmd.env("BOTCTL_LOG", filter);
            }
            let output = cmd.assert().success().get_output().clone();
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
        })
        .collect()
}

#[test]
fn tenant_create_logs_neither_the_token_nor_the_password_at_any_level() {
    let f = Fixture::new();
    let bots = [BOT_A, BOT_B];
    let outputs = loud_runs(&f, |i| {
        let slug = crate::support::unique_slug();
        [
            "tenant",
            "create",
            "--no-start",
            &slug,
            "--token",
            &token(bots[i]),
            "--admin",
            "1001",
            "--template",
            "barbershop",
        ]
        .map(String::from)
        .to_vec()
    });
    for (output, bot) in outputs.iter().zip(bots) {
        assert!(output.contains("TRACE") || output.contains("DEBUG"), "not loud:\n{output}");
        assert_no_secret(output, &[&token(bot)]);
    }
}

#[test]
fn tenant_update_token_logs_no_token_at_any_level() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let bots = [BOT_B, BOT_C];
    let outputs = loud_runs(&f, |i| {
        ["tenant", "update", &slug, "--token", &token(bots[i]), "--force"].map(String::from).to_vec()
    });
    for (output, bot) in outputs.iter().zip(bots) {
        assert_no_secret(output, &[&token(bot), &token(BOT_A)]);
    }
}

#[test]
fn serve_logs_neither_its_token_nor_its_database_password_at_any_level() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let url = f.tenant_url(&slug);
    for (i, (flag, filter)) in LOUD.iter().enumerate() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let mut serve = f.sandbox.process();
        serve
            .env("BOTCTL_TENANT", &slug)
            .env("DATABASE_URL", &url)
            .env("BOT_TOKEN", token(BOT_A))
            .env("BOTCTL_TELEGRAM_API_URL", &f.api)
            .env("BOTCTL_HTTP_ADDR", &addr)
            .args([flag, "serve"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(filter) = filter {
            serve.env("BOTCTL_LOG", filter);
        }
        let child = serve.spawn().unwrap();
        let healthy = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            f.sandbox.botctl().args(["health"]).env("BOTCTL_HTTP_ADDR", &addr).output().unwrap().status.success()
        });
        // A conversation, so the logs cover updates, queries and sends too.
        let user = TgUser::new(7100 + i as i64, "Max");
        f.emulator.send_text(&token(BOT_A), &user, "/start");
        let answered =
            block_on(f.emulator.wait_until(&token(BOT_A), user.id, |chat| chat.iter().any(|m| m.from_bot), WAIT));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert!(healthy && answered.is_ok(), "serve did not start and answer:\n{text}");
        assert_no_secret(&text, &[&token(BOT_A), &format!("pw-{slug}")]);
    }
}

#[test]
fn a_config_file_with_a_database_password_readable_by_others_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    let path = sandbox.write_config("database:\n  url: postgres://op:hunter2@127.0.0.1:1/botctl\n");
    let show = |mode: u32| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let output = sandbox.botctl().args(["config", "show"]).assert().success().get_output().clone();
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    for mode in [0o644, 0o640, 0o604] {
        let stderr = show(mode);
        assert!(stderr.contains("warning:"), "{mode:o}: {stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
        assert!(stderr.contains(&format!("{mode:o}")), "{stderr}");
        assert!(stderr.contains("chmod 600"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    assert_eq!(show(0o600), "", "a private file is not warned about");
    // Without a password there is nothing to protect.
    sandbox.write_config("database:\n  url: postgres://op@127.0.0.1:1/botctl\n");
    assert_eq!(show(0o644), "");
}
