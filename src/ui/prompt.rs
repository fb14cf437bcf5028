//! Prompts for a person at a terminal. Each runs dialoguer on a blocking thread behind a guard that
//! puts the terminal back (echo, line mode, cursor) if Ctrl-C cancels the command mid-prompt.

use std::io::IsTerminal;

use anyhow::Context;
use dialoguer::theme::ColorfulTheme;

use super::Ui;

/// The terminal's modes (echo, line editing) as they were before any prompt, so they can be put back.
#[derive(Debug, Clone)]
pub struct TerminalModes(Option<nix::sys::termios::Termios>);

impl TerminalModes {
    pub fn save() -> Self {
        Self(nix::sys::termios::tcgetattr(std::io::stdin()).ok())
    }

    pub fn restore(&self) {
        if let Some(saved) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, saved);
        }
        // An escape is noise in a log file or pipe; only a terminal has a cursor to show.
        if std::io::stderr().is_terminal() {
            let _ = console::Term::stderr().show_cursor();
        }
    }
}

/// Puts the terminal back when a prompt ends or is abandoned (after a normal answer it is a no-op).
struct Guard(TerminalModes);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.restore();
    }
}

async fn blocking<T: Send + 'static>(
    prompt: impl FnOnce(&ColorfulTheme) -> dialoguer::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let _guard = Guard(TerminalModes::save());
    let answer = tokio::task::spawn_blocking(move || prompt(&ColorfulTheme::default())).await;
    answer.context("the prompt stopped")?.context("reading the answer from the terminal")
}

impl Ui {
    /// Whether a person can answer a prompt: both stdin and stderr must be terminals.
    pub fn interactive(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    /// A line of text, with an optional default shown in brackets.
    pub async fn input(&self, prompt: &str, default: Option<String>) -> anyhow::Result<String> {
        let prompt = prompt.to_string();
        blocking(move |theme| {
            let mut input = dialoguer::Input::<String>::with_theme(theme).with_prompt(prompt);
            if let Some(default) = default {
                input = input.default(default);
            }
            input.interact_text()
        })
        .await
    }

    /// A secret, not echoed.
    pub async fn password(&self, prompt: &str) -> anyhow::Result<String> {
        let prompt = prompt.to_string();
        blocking(move |theme| dialoguer::Password::with_theme(theme).with_prompt(prompt).interact()).await
    }

    /// One of `items`; returns its index.
    pub async fn select(&self, prompt: &str, items: Vec<String>, default: usize) -> anyhow::Result<usize> {
        let prompt = prompt.to_string();
        blocking(move |theme| {
            dialoguer::Select::with_theme(theme).with_prompt(prompt).items(&items).default(default).interact()
        })
        .await
    }

    /// A yes-or-no question.
    pub async fn confirm(&self, prompt: &str, default: bool) -> anyhow::Result<bool> {
        let prompt = prompt.to_string();
        blocking(move |theme| dialoguer::Confirm::with_theme(theme).with_prompt(prompt).default(default).interact())
            .await
    }

    /// Asks the person to type `expected` to go ahead; anything else declines.
    pub async fn confirm_typed(&self, prompt: &str, expected: &str) -> anyhow::Result<bool> {
        let answer = self.input(prompt, None).await?;
        Ok(answer.trim() == expected)
    }
}
