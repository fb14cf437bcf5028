//! The operator bot's pushes: a loop beside the polling that sends each operator the alerts due to them
//! (`platform::alerts::due`), in English, with the button to act on each, and records every send so a
//! restart repeats none. The gate still decides what a pressed button does; this only builds buttons.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use teloxide::RequestError;
use teloxide::types::{ChatId, InlineKeyboardMarkup};
use tokio_util::sync::CancellationToken;

use super::access::{Need, Operators};
use super::callback::{Action, Callback};
use super::screens::label;
use super::texts::{Catalog, Text};
use crate::locale::Locale;
use crate::platform::alerts::{self, Due, Kind, Occasion};
use crate::telegram::runtime::callback::button;
use crate::telegram::runtime::health::Health;
use crate::telegram::runtime::sender::{TgBot, unreachable};
use crate::tenant::TenantSlug;

/// When alerts are pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertDelivery {
    /// `platform.alerts.remind_after`: an open alert is sent again this long after its last send.
    pub remind_after: Duration,
    /// How often the loop looks for alerts due: the alerts module raises without a notification.
    pub every: Duration,
}

impl Default for AlertDelivery {
    fn default() -> Self {
        Self { remind_after: Duration::from_secs(6 * 3600), every: Duration::from_secs(30) }
    }
}

/// At most this many sends per wake: a burst of alerts reaches operators over several wakes, never as
/// a flood; the rest stay due.
pub const PER_WAKE: usize = 20;

/// What one wake did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    pub sent: usize,
    /// Recipients who cannot be written to (blocked the bot, never opened it): marked delivered anyway.
    pub unreachable: usize,
    /// Sends that failed otherwise: still due, tried again next wake.
    pub failed: usize,
}

/// What a wake works with; nothing in it outlives a restart but what the database keeps.
struct Pusher {
    pool: PgPool,
    bot: TgBot,
    operators: Operators,
    recipients: Vec<i64>,
    remind_after: TimeDelta,
    health: Arc<Health>,
}

/// Pushes alerts every `options.every` until `shutdown`.
pub(crate) async fn run(
    pool: PgPool,
    bot: TgBot,
    operators: Operators,
    options: AlertDelivery,
    health: Arc<Health>,
    shutdown: CancellationToken,
) {
    let remind_after = TimeDelta::from_std(options.remind_after).unwrap_or(TimeDelta::MAX);
    let recipients: Vec<i64> = operators.ids().collect();
    let pusher = Pusher { pool, bot, operators, recipients, remind_after, health };
    loop {
        match pusher.push(Utc::now(), &shutdown).await {
            Ok(pushed) if pushed != Pushed::default() => tracing::info!(?pushed, "alerts pushed to operators"),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = format!("{error:#}"), "could not push alerts; trying again"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(options.every) => {}
        }
    }
}

impl Pusher {
    /// One wake: what is due at `now`, at most `PER_WAKE` sends, each recorded once Telegram took it. A
    /// shutdown is honoured between sends, never halfway through one, so no send goes unrecorded.
    async fn push(&self, now: DateTime<Utc>, shutdown: &CancellationToken) -> anyhow::Result<Pushed> {
        let Pusher { pool, bot, operators, recipients, remind_after, health } = self;
        let remind_after = *remind_after;
        let mut conn = pool.acquire().await?;
        let due = alerts::due(&mut conn, recipients, now, remind_after).await?;
        let catalog = Catalog::defaults(Locale::En);
        let mut pushed = Pushed::default();
        for due in due.iter().take(PER_WAKE) {
            if shutdown.is_cancelled() {
                break;
            }
            let may_act =
                u64::try_from(due.chat_id).ok().and_then(|id| operators.admit(id)).is_some_and(|o| o.may(Need::Act));
            let (html, buttons) = message(catalog, due, may_act);
            match bot.send(ChatId(due.chat_id), html, buttons.map(Into::into)).await {
                Ok(()) => pushed.sent += 1,
                Err(error) => {
                    let request = error.downcast_ref::<RequestError>();
                    if let Some(request) = request {
                        health.metrics.telegram_error(request);
                    }
                    if !request.is_some_and(unreachable) {
                        tracing::warn!(
                            alert = due.alert.id,
                            chat = due.chat_id,
                            error = format!("{error:#}"),
                            "an alert was not sent; trying again next time"
                        );
                        pushed.failed += 1;
                        continue;
                    }
                    // Trying every wake would change nothing and fill the log: this send counts as done,
                    // logged once; a reminder, if the alert stays open, tries again.
                    tracing::warn!(
                        alert = due.alert.id,
                        chat = due.chat_id,
                        error = format!("{error:#}"),
                        "an operator cannot be written to; the alert counts as delivered"
                    );
                    pushed.unreachable += 1;
                }
            }
            alerts::delivered(&mut conn, due.alert.id, due.chat_id, now).await?;
        }
        Ok(pushed)
    }
}

/// The alert's text for one recipient, and its button: the action for an owner, the tenant's card for a
/// viewer (the gate would refuse them the action), none without a tenant.
pub(crate) fn message(catalog: &Catalog, due: &Due, may_act: bool) -> (String, Option<InlineKeyboardMarkup>) {
    let alert = &due.alert;
    let text = text(alert.kind);
    let tenant = alert.tenant.as_deref().unwrap_or_default();
    let params: Vec<(&str, &str)> = text
        .params()
        .iter()
        .map(|&name| {
            let value = if name == "slug" {
                tenant
            } else {
                alert.facts.iter().find(|(fact, _)| fact == name).map_or("", |(_, value)| value.as_str())
            };
            (name, value)
        })
        .collect();
    let body = catalog.render(text, &params);
    let html = match due.send {
        Occasion::First => body,
        Occasion::Reminder => format!("{} {body}", catalog.render(Text::AlertReminder, &[])),
    };
    (html, buttons(catalog, due, may_act))
}

fn buttons(catalog: &Catalog, due: &Due, may_act: bool) -> Option<InlineKeyboardMarkup> {
    let tenant: TenantSlug = due.alert.tenant.as_deref()?.parse().ok()?;
    let action = match due.alert.action()? {
        alerts::Action::Restart => Some(Action::Restart),
        alerts::Action::BackupNow => Some(Action::Backup),
        alerts::Action::Start => Some(Action::Start),
        alerts::Action::OpenCard => None,
    };
    let button = match action {
        Some(action) if may_act => button(catalog.raw(label(action)), Callback::Ask { action, tenant }),
        _ => button(catalog.raw(Text::AlertOpenCard), Callback::Card { tenant }),
    };
    Some(InlineKeyboardMarkup::new(vec![vec![button]]))
}

fn text(kind: Kind) -> Text {
    match kind {
        Kind::BotDown => Text::AlertBotDown,
        Kind::BackupFailed => Text::AlertBackupFailed,
        Kind::Grace => Text::AlertGrace,
        Kind::Suspended => Text::AlertSuspended,
        Kind::PaymentReceived => Text::AlertPayment,
        Kind::StartFailed => Text::AlertStartFailed,
        Kind::Takeover => Text::AlertTakeover,
        Kind::OrderFailed => Text::AlertOrderFailed,
        Kind::PaymentUnmatched => Text::AlertPaymentUnmatched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::alerts::Raised;

    fn due(kind: Kind, tenant: Option<&str>, facts: &[(&str, &str)], send: Occasion) -> Due {
        let alert = Raised {
            id: 1,
            kind,
            tenant: tenant.map(str::to_string),
            facts: facts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            raised_at: Utc::now(),
            resolved_at: None,
        };
        Due { alert, chat_id: 1, send }
    }

    fn data(buttons: Option<InlineKeyboardMarkup>) -> Vec<String> {
        buttons
            .map(|m| m.inline_keyboard.into_iter().flatten().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|b| match b.kind {
                teloxide::types::InlineKeyboardButtonKind::CallbackData(data) => Some(data),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_kind_has_its_button_for_an_owner_and_the_card_for_a_viewer() {
        let en = Catalog::defaults(Locale::En);
        let cases = [
            (Kind::BotDown, "a:rs:shop"),
            (Kind::BackupFailed, "a:bk:shop"),
            (Kind::StartFailed, "a:st:shop"),
            (Kind::Grace, "c:shop"),
            (Kind::Suspended, "c:shop"),
            (Kind::PaymentReceived, "c:shop"),
        ];
        for (kind, owners) in cases {
            let alert = due(kind, Some("shop"), &[], Occasion::First);
            assert_eq!(data(message(en, &alert, true).1), [owners], "{kind}");
            assert_eq!(data(message(en, &alert, false).1), ["c:shop"], "{kind}");
        }
        assert!(message(en, &due(Kind::Takeover, None, &[], Occasion::First), true).1.is_none());
        assert!(message(en, &due(Kind::BotDown, Some("Not A Slug"), &[], Occasion::First), true).1.is_none());
    }

    #[test]
    fn facts_are_escaped_values_and_a_reminder_says_so() {
        let en = Catalog::defaults(Locale::En);
        let alert = due(Kind::BackupFailed, Some("shop"), &[("error", "<b>disk</b> full")], Occasion::First);
        let (first, _) = message(en, &alert, true);
        assert!(first.contains("&lt;b&gt;disk&lt;/b&gt; full"), "{first}");
        assert!(first.contains("shop"), "{first}");
        let (again, _) = message(en, &Due { send: Occasion::Reminder, ..alert }, true);
        assert!(again.starts_with(&en.render(Text::AlertReminder, &[])), "{again}");
        assert!(again.ends_with(&first), "{again}");
        for locale in [Locale::En, Locale::Ru] {
            let catalog = Catalog::defaults(locale);
            for kind in Kind::ALL {
                let (html, _) = message(catalog, &due(kind, Some("shop"), &[], Occasion::First), true);
                assert!(!html.trim().is_empty(), "{locale} {kind}");
            }
        }
    }
}
