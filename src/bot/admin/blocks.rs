//! Blocked time: the blocks ahead with a button to free each, and a new block asked for step by step
//! (when, why), previewed with the bookings it would cancel, and taken in one transaction that cancels
//! them (their customers told why), stores the block and records it all in the audit log.

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;
use teloxide::types::{InlineKeyboardButton, MessageId};

use super::{Cx, Reply, audit};
use crate::booking::admin::{self as calendar, AdminError, Block, BlockInput};
use crate::booking::input::InputError;
use crate::bot::callback::Callback;
use crate::bot::callback::admin::{Admin, BlockAction};
use crate::bot::handlers::{HandlerResult, format};
use crate::bot::keyboards::button;
use crate::bot::state::State;
use crate::bot::texts::{Catalog, Text};

/// What this part of the panel asks admins to type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// The date, and the hours unless it is the whole day.
    When,
    /// Why the time is taken.
    Reason { block: BlockInput },
    /// The block described, waiting for `BlockAction::Confirm` under its preview, which listed
    /// `bookings` as the ones it cancels.
    Ready { block: BlockInput, reason: String, bookings: Vec<i64> },
}

const REASON_CHARS: usize = 500;
/// How many blocks ahead the list shows.
const LISTED: i64 = 20;

pub(super) async fn callback(cx: &Cx<'_>, at: MessageId, action: BlockAction) -> Reply {
    match action {
        BlockAction::List => list(cx, Some(at)).await.map(|()| None),
        BlockAction::Add => {
            cx.ask(Prompt::When, cx.catalog.render(Text::AdminBlockAsk, &[])).await?;
            Ok(None)
        }
        BlockAction::Confirm => confirm(cx, at).await,
        BlockAction::Remove { block } => remove(cx, at, block).await,
    }
}

pub(super) async fn answer(cx: &Cx<'_>, prompt: Prompt, text: &str) -> HandlerResult {
    match prompt {
        Prompt::When => when(cx, text).await,
        Prompt::Reason { block } => reason(cx, block, text).await,
        Prompt::Ready { .. } => cx.show(None, cx.say(Text::AdminBlockWaiting), Vec::new()).await,
    }
}

/// The local date and hours of a block as typed: a whole day reads 00:00–24:00.
fn described(catalog: &Catalog, block: &BlockInput) -> [(&'static str, String); 3] {
    let date = format::day(catalog, block.day);
    let (start, end) = match block.range {
        Some((from, to)) => (from.format("%H:%M").to_string(), to.format("%H:%M").to_string()),
        None => (NaiveTime::MIN.format("%H:%M").to_string(), "24:00".to_string()),
    };
    [("date", date), ("from", start), ("to", end)]
}

fn pairs<'a>(values: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    values.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn list(cx: &Cx<'_>, at: Option<MessageId>) -> HandlerResult {
    let tz = cx.business().await?.tz;
    let blocks = calendar::blocks_ahead(&mut *cx.pool().acquire().await?, cx.now(), LISTED).await?;
    let mut html = cx.say(Text::AdminBlocksTitle);
    html.push_str("\n\n");
    if blocks.is_empty() {
        html.push_str(&cx.catalog.render(Text::AdminBlocksEmpty, &[]));
    }
    let mut rows: Vec<Vec<InlineKeyboardButton>> = Vec::new();
    for (n, block) in (1..).zip(&blocks) {
        let (date, from, to) = span_text(&cx.catalog, tz, block);
        let params = [
            ("n", n.to_string()),
            ("date", date.clone()),
            ("from", from.clone()),
            ("to", to),
            ("reason", block.note.clone().unwrap_or_default()),
        ];
        html.push_str(&cx.catalog.render(Text::AdminBlocksLine, &pairs(&params)));
        html.push('\n');
        let label = format!("✖ {n}. {date} {from}");
        rows.push(vec![button(label, Callback::Admin(Admin::Block(BlockAction::Remove { block: block.id })))]);
    }
    rows.push(vec![cx.button(Text::AdminBlocksAdd, BlockAction::Add)]);
    rows.push(cx.menu_row());
    cx.show(at, html, rows).await
}

fn span_text(catalog: &Catalog, tz: Tz, block: &Block) -> (String, String, String) {
    (format::date(catalog, tz, block.starts_at), format::time(tz, block.starts_at), format::time(tz, block.ends_at))
}

/// The answer to "when": a date, or a date and hours, in the future and not blocked already.
async fn when(cx: &Cx<'_>, text: &str) -> HandlerResult {
    let business = cx.business().await?;
    let block = match calendar::parse_block(text, super::today(&business, cx.now())) {
        Ok(block) => block,
        Err(InputError::Format) => return cx.show(None, cx.say(Text::AdminBlockFormat), Vec::new()).await,
        Err(InputError::Invalid) => return cx.show(None, cx.say(Text::AdminInputInvalid), Vec::new()).await,
        Err(InputError::Order) => return cx.show(None, cx.say(Text::AdminBlockOrder), Vec::new()).await,
    };
    let (from, to) = block.instants(business.tz);
    if to <= cx.now() {
        return cx.show(None, cx.say(Text::AdminInputPast), Vec::new()).await;
    }
    if calendar::blocked(&mut *cx.pool().acquire().await?, from, to).await? {
        return cx.show(None, cx.say(Text::AdminBlockOverlap), Vec::new()).await;
    }
    let values = described(&cx.catalog, &block);
    cx.ask(Prompt::Reason { block }, cx.catalog.render(Text::AdminBlockAskReason, &pairs(&values))).await
}

/// The answer to "why": `-` for no reason.
async fn reason(cx: &Cx<'_>, block: BlockInput, text: &str) -> HandlerResult {
    let reason = if text == "-" { "" } else { text };
    if (reason.is_empty() && text != "-") || reason.chars().count() > REASON_CHARS {
        return cx.show(None, cx.say(Text::AdminBlockReasonBad), Vec::new()).await;
    }
    preview(cx, None, block, reason, None).await
}

/// The block as described and exactly the bookings it would cancel, with the button to take it; the
/// dialogue keeps them for the confirmation, which takes the block only if they are still the same.
async fn preview(
    cx: &Cx<'_>,
    at: Option<MessageId>,
    block: BlockInput,
    reason: &str,
    note: Option<Text>,
) -> HandlerResult {
    let tz = cx.business().await?.tz;
    let (from, to) = block.instants(tz);
    let bookings = calendar::overlapping(&mut *cx.pool().acquire().await?, from, to).await?;
    let ids = bookings.iter().map(|b| b.id).collect();
    let prompt = Prompt::Ready { block, reason: reason.to_string(), bookings: ids };
    cx.dialogue.update(State::Admin(prompt.into())).await?;
    let names = customers(cx, bookings.iter().map(|b| b.customer_id).collect()).await?;
    let none = cx.catalog.render_plain(Text::AdminDashNone, &[]);
    let mut values = described(&cx.catalog, &block).to_vec();
    values.push(("reason", if reason.is_empty() { none } else { reason.to_string() }));
    values.push(("count", bookings.len().to_string()));
    let mut html = note.map(|n| format!("{}\n\n", cx.say(n))).unwrap_or_default();
    html.push_str(&cx.catalog.render(Text::AdminBlockPreview, &pairs(&values)));
    for b in &bookings {
        let (date, time) = format::date_time(&cx.catalog, tz, b.starts_at);
        let customer = names.iter().find(|(id, _)| *id == b.customer_id).map(|(_, n)| n.as_str()).unwrap_or_default();
        let params = [("date", date.as_str()), ("time", &time), ("customer", customer), ("service", &b.service_name)];
        html.push('\n');
        html.push_str(&cx.catalog.render(Text::AdminBlockPreviewLine, &params));
    }
    let rows = vec![vec![cx.button(Text::AdminBlockConfirm, BlockAction::Confirm)], cx.menu_row()];
    cx.show(at, html, rows).await
}

async fn customers(cx: &Cx<'_>, ids: Vec<i64>) -> anyhow::Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as("SELECT user_id, first_name FROM customers WHERE user_id = ANY($1)")
        .bind(ids)
        .fetch_all(cx.pool())
        .await?)
}

/// Takes the block waiting in the dialogue. If the bookings it overlaps are no longer the ones the
/// preview listed (one came in, or went), the transaction rolls back whole and the preview is shown
/// again: nothing is cancelled that the admin has not seen.
async fn confirm(cx: &Cx<'_>, at: MessageId) -> Reply {
    let Some(super::Prompt::Block(Prompt::Ready { block, reason, bookings })) = cx.prompt().await? else {
        return Ok(Some(Text::AdminGone));
    };
    let tz = cx.business().await?.tz;
    let (from, to) = block.instants(tz);
    let mut tx = cx.pool().begin().await?;
    let (stored, cancelled) = match calendar::add_block(&mut tx, from, to, &reason, &bookings, cx.now()).await {
        Ok(done) => done,
        Err(AdminError::Taken | AdminError::Changed) => {
            tx.rollback().await?;
            if calendar::blocked(&mut *cx.pool().acquire().await?, from, to).await? {
                cx.done().await?;
                cx.show(Some(at), cx.say(Text::AdminBlockOverlap), vec![cx.menu_row()]).await?;
                return Ok(None);
            }
            preview(cx, Some(at), block, &reason, Some(Text::AdminBlockChanged)).await?;
            return Ok(None);
        }
        Err(AdminError::Database(e)) => return Err(e.into()),
        Err(
            AdminError::NotFound
            | AdminError::NotActive
            | AdminError::NotStarted
            | AdminError::Past
            | AdminError::Unchanged,
        ) => {
            return Ok(Some(Text::AdminGone));
        }
    };
    for b in &cancelled {
        let before = json!({ "status": "active", "starts_at": b.starts_at, "customer_id": b.customer_id });
        let after = json!({ "status": "cancelled", "reason": reason, "block": stored.id });
        audit::record(&mut tx, &cx.staff, "booking.cancel", &format!("booking {}", b.id), Some(before), Some(after))
            .await?;
    }
    let after = block_json(&stored);
    audit::record(&mut tx, &cx.staff, "block.add", &format!("block {}", stored.id), None, Some(after)).await?;
    tx.commit().await?;
    cx.done().await?;
    let mut values = described(&cx.catalog, &block).to_vec();
    values.push(("count", cancelled.len().to_string()));
    let rows = vec![vec![cx.button(Text::AdminPanelBlocks, BlockAction::List)], cx.menu_row()];
    cx.show(Some(at), cx.catalog.render(Text::AdminBlockDone, &pairs(&values)), rows).await?;
    Ok(None)
}

fn block_json(block: &Block) -> serde_json::Value {
    json!({ "starts_at": block.starts_at, "ends_at": block.ends_at, "note": block.note })
}

async fn remove(cx: &Cx<'_>, at: MessageId, id: i64) -> Reply {
    let mut tx = cx.pool().begin().await?;
    let Some(removed) = calendar::remove_block(&mut tx, id).await? else { return Ok(Some(Text::AdminGone)) };
    let before = block_json(&removed);
    audit::record(&mut tx, &cx.staff, "block.remove", &format!("block {id}"), Some(before), None).await?;
    tx.commit().await?;
    list(cx, Some(at)).await?;
    Ok(Some(Text::AdminBlocksRemoved))
}
