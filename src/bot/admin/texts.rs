//! The texts editor of the panel: every text customers see, a page at a time; a card with its default
//! and current wording; an edit checked by the catalogue's own rules and previewed before it is saved;
//! a reset to the default. Saving or resetting swaps the bot's live catalogue, so the next message a
//! customer gets already reads the new way.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::json;
use teloxide::types::{InlineKeyboardButton, MessageId};

use super::{Cx, Reply, audit};
use crate::bot::callback::Callback;
use crate::bot::callback::admin::{Admin, TextAction};
use crate::bot::handlers::HandlerResult;
use crate::bot::keyboards::button;
use crate::bot::state::State;
use crate::bot::texts::{Catalog, Text, TextError};

/// What this part of the panel asks admins to type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// The new wording for the text `key`.
    Edit { key: String },
    /// A checked wording shown as a preview, waiting for Save; another message replaces it.
    Preview { key: String, text: String },
}

const PAGE: usize = 10;

fn editable() -> Vec<Text> {
    Text::ALL.iter().copied().filter(|t| t.editable()).collect()
}

pub(super) async fn callback(cx: &Cx<'_>, at: MessageId, action: TextAction) -> Reply {
    match action {
        TextAction::List { page } => list(cx, Some(at), usize::from(page)).await?,
        TextAction::Card { text } => {
            // Back to the card (or "discard" on a preview): a wording typed afterwards is no answer.
            if let Some(super::Prompt::Texts(_)) = cx.prompt().await? {
                cx.done().await?;
            }
            card(cx, Some(at), text).await?;
        }
        TextAction::Edit { text } => {
            let html = cx.catalog.render(
                Text::AdminTextsAsk,
                &[("key", text.key()), ("params", &params(cx, text)), ("current", cx.catalog.raw(text))],
            );
            cx.ask(Prompt::Edit { key: text.key().to_string() }, html).await?;
        }
        TextAction::Save { text } => return save(cx, at, text).await,
        TextAction::Reset { text } => return reset(cx, at, text).await,
    }
    Ok(None)
}

pub(super) async fn answer(cx: &Cx<'_>, prompt: Prompt, typed: &str) -> HandlerResult {
    let key = match prompt {
        Prompt::Edit { key } | Prompt::Preview { key, .. } => key,
    };
    let Some(text) = Text::from_key(&key).filter(|t| t.editable()) else {
        cx.done().await?;
        return cx.bot.send(cx.chat, cx.catalog.render(Text::AdminGone, &[]), None).await;
    };
    if let Err(e) = cx.catalog.check(text, typed) {
        // Refused with the reason; the question stays open for a corrected wording.
        return cx.bot.send(cx.chat, refusal(&cx.catalog, &e), None).await;
    }
    preview(cx, text, typed).await
}

/// Why a wording was refused, in the admin's language.
fn refusal(catalog: &Catalog, e: &TextError) -> String {
    match e {
        TextError::Placeholders { expected, found, .. } => {
            catalog.render(Text::AdminTextsBadPlaceholders, &[("expected", expected), ("found", found)])
        }
        TextError::Html { detail, .. } => catalog.render(Text::AdminTextsBadHtml, &[("detail", detail)]),
        TextError::Invalid { detail, .. } => catalog.render(Text::AdminTextsBadFormat, &[("detail", detail)]),
        other => catalog.render(Text::AdminTextsBadFormat, &[("detail", &other.to_string())]),
    }
}

/// The wording rendered as customers would get it, with each placeholder showing its own name, and the
/// buttons to save or drop it.
async fn preview(cx: &Cx<'_>, text: Text, typed: &str) -> HandlerResult {
    let with = cx.catalog.with_overrides(&[(text.key().to_string(), typed.to_string())])?;
    let samples: Vec<(&str, String)> = text.params().iter().map(|p| (*p, format!("[{p}]"))).collect();
    let samples: Vec<(&str, &str)> = samples.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let html = format!("{}\n\n{}", cx.catalog.render(Text::AdminTextsPreview, &[]), with.render(text, &samples));
    let prompt = Prompt::Preview { key: text.key().to_string(), text: typed.to_string() };
    cx.dialogue.update(State::Admin(prompt.into())).await?;
    let rows = vec![vec![
        cx.button(Text::AdminTextsSave, TextAction::Save { text }),
        cx.button(Text::AdminTextsCancel, TextAction::Card { text }),
    ]];
    cx.show(None, html, rows).await
}

fn params(cx: &Cx<'_>, text: Text) -> String {
    if text.params().is_empty() {
        cx.catalog.render_plain(Text::AdminTextsNoParams, &[])
    } else {
        text.params().iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", ")
    }
}

async fn overridden(cx: &Cx<'_>) -> anyhow::Result<HashSet<String>> {
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM texts").fetch_all(cx.pool()).await?;
    Ok(keys.into_iter().collect())
}

async fn list(cx: &Cx<'_>, at: Option<MessageId>, page: usize) -> HandlerResult {
    let all = editable();
    let pages = all.len().div_ceil(PAGE).max(1);
    let page = page.min(pages - 1);
    let edited = overridden(cx).await?;
    let mut rows: Vec<Vec<InlineKeyboardButton>> = all
        .iter()
        .skip(page * PAGE)
        .take(PAGE)
        .map(|text| {
            let label = if edited.contains(text.key()) {
                cx.catalog.render_plain(Text::AdminTextsItemEdited, &[("key", text.key())])
            } else {
                text.key().to_string()
            };
            vec![button(label, Callback::Admin(Admin::Texts(TextAction::Card { text: *text })))]
        })
        .collect();
    let mut nav = Vec::new();
    let to = |page: usize| TextAction::List { page: u16::try_from(page).unwrap_or(0) };
    if page > 0 {
        nav.push(cx.button(Text::AdminTextsPrev, to(page - 1)));
    }
    if page + 1 < pages {
        nav.push(cx.button(Text::AdminTextsNext, to(page + 1)));
    }
    if !nav.is_empty() {
        rows.push(nav);
    }
    rows.push(cx.menu_row());
    let html =
        cx.catalog.render(Text::AdminTextsList, &[("page", &(page + 1).to_string()), ("pages", &pages.to_string())]);
    cx.show(at, html, rows).await
}

async fn card(cx: &Cx<'_>, at: Option<MessageId>, text: Text) -> HandlerResult {
    // The live catalogue, so the card shows what customers get now.
    let catalog = cx.deps.catalog();
    let default = Catalog::defaults(catalog.locale()).raw(text);
    let html = cx.catalog.render(
        Text::AdminTextsCard,
        &[("key", text.key()), ("params", &params(cx, text)), ("default", default), ("current", catalog.raw(text))],
    );
    let mut actions = vec![cx.button(Text::AdminTextsEdit, TextAction::Edit { text })];
    if overridden(cx).await?.contains(text.key()) {
        actions.push(cx.button(Text::AdminTextsReset, TextAction::Reset { text }));
    }
    let index = editable().iter().position(|t| *t == text).unwrap_or(0);
    let page = u16::try_from(index / PAGE).unwrap_or(0);
    let rows = vec![actions, vec![cx.button(Text::AdminTextsBack, TextAction::List { page })]];
    cx.show(at, html, rows).await
}

/// Loads the tenant's wording again into the bot's live catalogue.
async fn reload(cx: &Cx<'_>) -> anyhow::Result<()> {
    cx.deps.texts.replace(crate::bot::business::catalog(cx.pool()).await?);
    Ok(())
}

async fn save(cx: &Cx<'_>, at: MessageId, text: Text) -> Reply {
    let typed = match cx.prompt().await? {
        Some(super::Prompt::Texts(Prompt::Preview { key, text: typed })) if key == text.key() => typed,
        _ => return Ok(Some(Text::AdminGone)),
    };
    // Checked again: another admin's edit since the preview may clash with it (a reply button's label).
    if let Err(e) = cx.deps.catalog().check(text, &typed) {
        cx.bot.send(cx.chat, refusal(&cx.catalog, &e), None).await?;
        return Ok(None);
    }
    let mut tx = cx.pool().begin().await?;
    let before: Option<String> = sqlx::query_scalar("SELECT text FROM texts WHERE key = $1 FOR UPDATE")
        .bind(text.key())
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO texts (key, text) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET text = excluded.text, updated_at = now()",
    )
    .bind(text.key())
    .bind(typed.trim())
    .execute(&mut *tx)
    .await?;
    // Without an override the text was the default: the log says what customers read before.
    let custom = before.is_some();
    let before = json!({ "text": before.unwrap_or_else(|| cx.catalog.raw(text).to_string()), "custom": custom });
    audit::record(&mut tx, &cx.staff, "text.save", text.key(), Some(before), Some(json!({ "text": typed.trim() })))
        .await?;
    tx.commit().await?;
    cx.done().await?;
    reload(cx).await?;
    card(cx, Some(at), text).await?;
    Ok(Some(Text::AdminSaved))
}

async fn reset(cx: &Cx<'_>, at: MessageId, text: Text) -> Reply {
    let mut tx = cx.pool().begin().await?;
    let before: Option<String> = sqlx::query_scalar("DELETE FROM texts WHERE key = $1 RETURNING text")
        .bind(text.key())
        .fetch_optional(&mut *tx)
        .await?;
    let Some(before) = before else { return Ok(Some(Text::AdminGone)) };
    let default = Catalog::defaults(cx.catalog.locale()).raw(text);
    audit::record(
        &mut tx,
        &cx.staff,
        "text.reset",
        text.key(),
        Some(json!({ "text": before })),
        Some(json!({ "text": default, "default": true })),
    )
    .await?;
    tx.commit().await?;
    reload(cx).await?;
    card(cx, Some(at), text).await?;
    Ok(Some(Text::AdminTextsResetDone))
}
