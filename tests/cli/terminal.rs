//! Prompts as a person meets them: botctl runs in a real terminal (a tmux pane) and the test types.
//! Without tmux these tests are ignored with the reason; CI installs it.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::token;
use crate::tenant::{BOT_A, Fixture};

/// Printed after the exit code and the terminal modes: the pane's report is complete.
const DONE: &str = "=== pane done ===";

/// A detached tmux session on a private server, killed when dropped.
struct Pane {
    socket: String,
}

impl Pane {
    /// Runs `botctl ARGS` in a fresh terminal, then prints its exit code and the terminal's modes.
    fn botctl(f: &Fixture, args: &str) -> Self {
        let socket = crate::support::unique_name("botctl_tmux");
        let env = format!(
            // XDG_DATA_HOME too: for root without it, botctl's data (a delete's final backup) would go
            // to /var/lib/botctl, outside the sandbox.
            "env -i HOME={home} XDG_CONFIG_HOME={home}/config XDG_DATA_HOME={home}/data PATH=/usr/bin:/bin \
             TERM=xterm BOTCTL_DATABASE_URL='{}' BOTCTL_TELEGRAM_API_URL={}",
            f.db.url(),
            f.api,
            home = f.sandbox.path().display(),
        );
        let script = format!(
            "{env} {} {args}; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -xE -- '-?(echo|icanon)'; echo {DONE}; sleep 60",
            assert_cmd::cargo::cargo_bin("botctl").display()
        );
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                "bash",
                "-c",
                &script,
            ])
            .status()
            .unwrap();
        assert!(status.success(), "tmux did not start");
        Self { socket }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-J"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "`{text}` never appeared; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends keys as tmux names them: literal text, or `Enter`, `C-c`.
    fn keys(&self, keys: &[&str]) {
        for key in keys {
            let status = Command::new("tmux").args(["-L", &self.socket, "send-keys", key]).status().unwrap();
            assert!(status.success());
        }
    }

    fn type_line(&self, text: &str) {
        let status = Command::new("tmux").args(["-L", &self.socket, "send-keys", "-l", text]).status().unwrap();
        assert!(status.success());
        self.keys(&["Enter"]);
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

/// The terminal modes were put back: line editing and echo are on again.
fn assert_terminal_restored(screen: &str) {
    assert!(screen.lines().any(|l| l.trim() == "icanon"), "line editing is still off:\n{screen}");
    assert!(screen.lines().any(|l| l.trim() == "echo"), "echo is still off:\n{screen}");
}

#[test]
#[cfg_attr(not(tmux), ignore = "needs tmux to give botctl a real terminal (apt-get install tmux)")]
fn create_prompts_only_for_what_is_missing() {
    let f = Fixture::new();
    let slug = crate::support::unique_slug();
    let pane = Pane::botctl(&f, &format!("tenant create --no-start {slug} --admin 1001 --template clinic"));
    pane.wait_for("Bot token from @BotFather");
    pane.type_line(&token(BOT_A));
    let screen = pane.wait_for("Time zone");
    assert!(screen.contains("Europe/Moscow"), "the default is offered: {screen}");
    assert!(!screen.contains("AAHdqTcv"), "the token was echoed: {screen}");
    pane.keys(&["Enter"]);
    let screen = pane.wait_for(DONE);
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(!screen.contains("Template"), "asked for a template that was given: {screen}");
    assert_eq!(f.json(&["tenant", "show", &slug])["timezone"], "Europe/Moscow");
}

#[test]
#[cfg_attr(not(tmux), ignore = "needs tmux to give botctl a real terminal (apt-get install tmux)")]
fn delete_on_a_terminal_asks_for_the_name() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let pane = Pane::botctl(&f, &format!("tenant delete {slug}"));
    pane.wait_for(&format!("Type `{slug}` to delete it"));
    pane.type_line("not-the-name");
    let screen = pane.wait_for(DONE);
    assert!(screen.contains("aborted: nothing was deleted") && screen.contains("EXIT=1"), "{screen}");
    assert!(f.role_exists(&slug));

    let pane = Pane::botctl(&f, &format!("tenant delete {slug}"));
    pane.wait_for("to delete it");
    pane.type_line(&slug);
    let screen = pane.wait_for(DONE);
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(!f.role_exists(&slug));
}

#[test]
#[cfg_attr(not(tmux), ignore = "needs tmux to give botctl a real terminal (apt-get install tmux)")]
fn ctrl_c_at_a_hidden_prompt_exits_130_and_restores_the_terminal() {
    let f = Fixture::new();
    let slug = crate::support::unique_slug();
    let pane = Pane::botctl(&f, &format!("tenant create --no-start {slug} --admin 1001 --template clinic"));
    pane.wait_for("Bot token from @BotFather");
    pane.keys(&["C-c"]);
    let screen = pane.wait_for(DONE);
    assert!(screen.contains("EXIT=130") && screen.contains("error: interrupted"), "{screen}");
    assert_terminal_restored(&screen);
    assert!(!f.role_exists(&slug));
}

#[test]
#[cfg_attr(not(tmux), ignore = "needs tmux to give botctl a real terminal (apt-get install tmux)")]
fn restore_over_data_on_a_terminal_asks_for_the_name() {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let dest = tempfile::tempdir().unwrap();
    f.botctl().args(["backup", &slug, "--dest", dest.path().to_str().unwrap(), "-q"]).assert().success();
    let archive = botctl::backup::list(&dest.path().join(&slug), &slug).unwrap().remove(0).path;
    let customers = || f.scalar::<i64>(&format!("SELECT count(*) FROM tenant_{slug}.customers"));
    f.scalar::<i32>(&format!(
        "WITH c AS (INSERT INTO tenant_{slug}.customers (user_id, first_name) VALUES (42, 'Новый') RETURNING 1) SELECT 1"
    ));
    let command = format!("restore {slug} --from {} --force", archive.display());

    let pane = Pane::botctl(&f, &command);
    pane.wait_for(&format!("Type `{slug}` to restore over it"));
    pane.type_line("not-the-name");
    let screen = pane.wait_for(DONE);
    assert!(screen.contains("aborted: nothing was restored") && screen.contains("EXIT=1"), "{screen}");
    assert_eq!(customers(), 1);

    let pane = Pane::botctl(&f, &command);
    pane.wait_for("to restore over it");
    pane.type_line(&slug);
    let screen = pane.wait_for(DONE);
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert_eq!(customers(), 0, "the archive's customers: none");
}
