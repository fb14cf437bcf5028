//! The services section of the panel: the list in the customers' order, a card per service, creating one
//! field by field, editing any field, enabling and disabling, reordering and deleting — each change
//! audited with the service before and after.
//!
//! Deleting: `bookings.service_id` references the service, and a booking keeps it for good (its history,
//! ratings and exports name it). So a service with future active bookings is refused outright — it can
//! only be disabled, which stops new bookings and keeps the visits already promised. A service with only
//! past bookings is deleted softly (`deleted_at`, and disabled): it leaves the panel and the customers'
//! list while its bookings keep their reference. A service nobody ever booked is deleted for real.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;
use teloxide::types::{InlineKeyboardButton, MessageId};

use super::{Cx, Reply, audit};
use crate::booking::input;
use crate::bot::callback::Callback;
use crate::bot::callback::admin::{Admin, ServiceAction, ServiceField};
use crate::bot::handlers::{HandlerResult, format};
use crate::bot::keyboards::button;
use crate::bot::texts::Text;

/// What this part of the panel asks admins to type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// A new service: the fields answered so far; the next question is the first one missing.
    New(Draft),
    /// One field of an existing service.
    Edit { service: i64, field: ServiceField },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    name: Option<String>,
    /// Whether the description was answered: `None` in JSON could not tell "none" from "not yet".
    described: bool,
    description: Option<String>,
    duration: Option<i32>,
    price: Option<i64>,
}

/// A service as the panel sees it, and as the audit log records it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    description: Option<String>,
    duration_minutes: i32,
    price_minor: i64,
    slot_step_minutes: Option<i32>,
    position: i32,
    active: bool,
}

const COLUMNS: &str = "id, name, description, duration_minutes, price_minor, slot_step_minutes, position, active";

/// One field's typed value, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Typed {
    Name(String),
    Description(Option<String>),
    Duration(i32),
    Price(i64),
    Step(Option<i32>),
}

pub(super) async fn callback(cx: &Cx<'_>, at: MessageId, action: ServiceAction) -> Reply {
    match action {
        ServiceAction::List => list(cx, Some(at)).await.map(|()| None),
        ServiceAction::Card { service } => match load(cx, service).await? {
            Some(row) => card(cx, Some(at), &row).await.map(|()| None),
            None => Ok(Some(Text::AdminGone)),
        },
        ServiceAction::New => {
            cx.ask(Prompt::New(Draft::default()), cx.catalog.render(Text::AdminServicesAskName, &[])).await?;
            Ok(None)
        }
        ServiceAction::Edit { service, field } => {
            if load(cx, service).await?.is_none() {
                return Ok(Some(Text::AdminGone));
            }
            let question = ask_text(cx, field).await?;
            cx.ask(Prompt::Edit { service, field }, question).await?;
            Ok(None)
        }
        ServiceAction::Toggle { service } => toggle(cx, at, service).await,
        ServiceAction::Up { service } => reorder(cx, at, service, -1).await,
        ServiceAction::Down { service } => reorder(cx, at, service, 1).await,
        ServiceAction::Delete { service } => ask_delete(cx, at, service).await,
        ServiceAction::DeleteConfirm { service } => delete(cx, at, service).await,
    }
}

pub(super) async fn answer(cx: &Cx<'_>, prompt: Prompt, text: &str) -> HandlerResult {
    match prompt {
        Prompt::New(draft) => answer_new(cx, draft, text).await,
        Prompt::Edit { service, field } => answer_edit(cx, service, field, text).await,
    }
}

/// The question for a field, with the business's currency or default step where it names them.
async fn ask_text(cx: &Cx<'_>, field: ServiceField) -> anyhow::Result<String> {
    Ok(match field {
        ServiceField::Name => cx.catalog.render(Text::AdminServicesAskName, &[]),
        ServiceField::Description => cx.catalog.render(Text::AdminServicesAskDescription, &[]),
        ServiceField::Duration => cx.catalog.render(Text::AdminServicesAskDuration, &[]),
        ServiceField::Price => {
            let currency = cx.business().await?.currency;
            cx.catalog.render(Text::AdminServicesAskPrice, &[("currency", &currency)])
        }
        ServiceField::SlotStep => {
            let step = default_step(cx).await?;
            cx.catalog.render(Text::AdminServicesAskStep, &[("step", &format::duration(&cx.catalog, step.into()))])
        }
    })
}

async fn default_step(cx: &Cx<'_>) -> anyhow::Result<i32> {
    Ok(sqlx::query_scalar("SELECT slot_step_minutes FROM settings").fetch_one(cx.pool()).await?)
}

/// Checks a typed value for `field`; the error is what to tell the admin.
fn parse(field: ServiceField, text: &str) -> Result<Typed, Text> {
    match field {
        ServiceField::Name => input::line(text, input::NAME_CHARS).map(Typed::Name).ok_or(Text::AdminServicesBadName),
        ServiceField::Description => input::optional(text, input::DESCRIPTION_CHARS)
            .map(Typed::Description)
            .ok_or(Text::AdminServicesBadDescription),
        ServiceField::Duration => {
            input::minutes_in(text, input::DURATION).map(Typed::Duration).ok_or(Text::AdminServicesBadDuration)
        }
        ServiceField::Price => input::price_minor(text).map(Typed::Price).ok_or(Text::AdminServicesBadPrice),
        ServiceField::SlotStep if input::is_dash(text) => Ok(Typed::Step(None)),
        ServiceField::SlotStep => {
            input::minutes_in(text, input::SERVICE_STEP).map(|m| Typed::Step(Some(m))).ok_or(Text::AdminServicesBadStep)
        }
    }
}

/// Whether another enabled service already has this name (the unique index ignores case).
async fn name_taken(conn: &mut PgConnection, name: &str, except: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM services WHERE active AND lower(name) = lower($1) AND id <> $2)")
        .bind(name)
        .bind(except)
        .fetch_one(conn)
        .await
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

/// Tells the admin what was wrong; the question stays open for another try.
async fn refuse(cx: &Cx<'_>, text: Text, params: &[(&str, &str)]) -> HandlerResult {
    cx.bot.send(cx.chat, cx.catalog.render(text, params), None).await
}

impl Draft {
    /// The first question not answered yet; the slot step comes last and creates the service.
    fn next(&self) -> ServiceField {
        if self.name.is_none() {
            ServiceField::Name
        } else if !self.described {
            ServiceField::Description
        } else if self.duration.is_none() {
            ServiceField::Duration
        } else if self.price.is_none() {
            ServiceField::Price
        } else {
            ServiceField::SlotStep
        }
    }
}

async fn answer_new(cx: &Cx<'_>, mut draft: Draft, text: &str) -> HandlerResult {
    let value = match parse(draft.next(), text) {
        Ok(value) => value,
        Err(error) => return refuse(cx, error, &[]).await,
    };
    match value {
        Typed::Name(name) => {
            if name_taken(&mut *cx.pool().acquire().await?, &name, 0).await? {
                return refuse(cx, Text::AdminServicesNameTaken, &[("name", &name)]).await;
            }
            draft.name = Some(name);
        }
        Typed::Description(description) => (draft.described, draft.description) = (true, description),
        Typed::Duration(minutes) => draft.duration = Some(minutes),
        Typed::Price(minor) => draft.price = Some(minor),
        Typed::Step(step) => return create(cx, draft, step).await,
    }
    let question = ask_text(cx, draft.next()).await?;
    cx.ask(Prompt::New(draft), question).await
}

/// The new service, enabled, after the others.
async fn create(cx: &Cx<'_>, draft: Draft, step: Option<i32>) -> HandlerResult {
    let Draft { name: Some(name), described: true, description, duration: Some(duration), price: Some(price) } = draft
    else {
        // A draft is filled in order, so this is a dialogue from another binary: start over.
        return cx.ask(Prompt::New(Draft::default()), cx.catalog.render(Text::AdminServicesAskName, &[])).await;
    };
    let mut tx = cx.pool().begin().await?;
    // Whoever took the name meanwhile, the unique index has the last word.
    let inserted = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO services (name, description, duration_minutes, price_minor, slot_step_minutes, position) \
         VALUES ($1, $2, $3, $4, $5, (SELECT coalesce(max(position), 0) + 1 FROM services)) RETURNING {COLUMNS}"
    )))
    .bind(&name)
    .bind(&description)
    .bind(duration)
    .bind(price)
    .bind(step)
    .fetch_one(&mut *tx)
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e) => {
            // Taken since it was typed: only the name is asked again.
            refuse(cx, Text::AdminServicesNameTaken, &[("name", &name)]).await?;
            let draft =
                Draft { name: None, described: true, description, duration: Some(duration), price: Some(price) };
            return cx.ask(Prompt::New(draft), cx.catalog.render(Text::AdminServicesAskName, &[])).await;
        }
        Err(e) => return Err(e.into()),
    };
    audit::record(&mut tx, &cx.staff, "service.create", &format!("service {}", row.id), None, Some(json(&row))).await?;
    tx.commit().await?;
    cx.done().await?;
    card(cx, None, &row).await
}

async fn answer_edit(cx: &Cx<'_>, service: i64, field: ServiceField, text: &str) -> HandlerResult {
    let value = match parse(field, text) {
        Ok(value) => value,
        Err(error) => return refuse(cx, error, &[]).await,
    };
    let mut tx = cx.pool().begin().await?;
    let Some(before) = lock(&mut tx, service).await? else {
        cx.done().await?;
        return refuse(cx, Text::AdminGone, &[]).await;
    };
    if let Typed::Name(name) = &value
        && before.active
        && name_taken(&mut tx, name, service).await?
    {
        return refuse(cx, Text::AdminServicesNameTaken, &[("name", name)]).await;
    }
    let sql = match &value {
        Typed::Name(_) => "UPDATE services SET name = $2, updated_at = now() WHERE id = $1",
        Typed::Description(_) => "UPDATE services SET description = $2, updated_at = now() WHERE id = $1",
        Typed::Duration(_) => "UPDATE services SET duration_minutes = $2, updated_at = now() WHERE id = $1",
        Typed::Price(_) => "UPDATE services SET price_minor = $2, updated_at = now() WHERE id = $1",
        Typed::Step(_) => "UPDATE services SET slot_step_minutes = $2, updated_at = now() WHERE id = $1",
    };
    let query = sqlx::query(sql).bind(service);
    let query = match value.clone() {
        Typed::Name(name) => query.bind(name),
        Typed::Description(description) => query.bind(description),
        Typed::Duration(minutes) | Typed::Step(Some(minutes)) => query.bind(minutes),
        Typed::Step(None) => query.bind(None::<i32>),
        Typed::Price(minor) => query.bind(minor),
    };
    match query.execute(&mut *tx).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            let name = match &value {
                Typed::Name(name) => name.as_str(),
                _ => "",
            };
            return refuse(cx, Text::AdminServicesNameTaken, &[("name", name)]).await;
        }
        Err(e) => return Err(e.into()),
    }
    let after = lock(&mut tx, service).await?.ok_or_else(|| anyhow::anyhow!("service {service} vanished"))?;
    audit::record(
        &mut tx,
        &cx.staff,
        "service.update",
        &format!("service {service}"),
        Some(json(&before)),
        Some(json(&after)),
    )
    .await?;
    tx.commit().await?;
    cx.done().await?;
    card(cx, None, &after).await
}

fn json(row: &Row) -> Value {
    serde_json::to_value(row).unwrap_or(Value::Null)
}

/// A service still in the panel (not deleted), by id.
async fn load(cx: &Cx<'_>, service: i64) -> anyhow::Result<Option<Row>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM services WHERE id = $1 AND deleted_at IS NULL"
    )))
    .bind(service)
    .fetch_optional(cx.pool())
    .await?)
}

/// The same inside a transaction, locked against a concurrent edit.
async fn lock(conn: &mut PgConnection, service: i64) -> sqlx::Result<Option<Row>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM services WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"
    )))
    .bind(service)
    .fetch_optional(conn)
    .await
}

/// A button whose label is not a fixed text (a service's name).
fn go(label: String, action: ServiceAction) -> InlineKeyboardButton {
    button(label, Callback::Admin(Admin::Services(action)))
}

/// Every service in the panel, in the customers' order.
async fn list(cx: &Cx<'_>, at: Option<MessageId>) -> HandlerResult {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM services WHERE deleted_at IS NULL ORDER BY position, id"
    )))
    .fetch_all(cx.pool())
    .await?;
    let mut buttons: Vec<Vec<InlineKeyboardButton>> = rows
        .iter()
        .map(|row| {
            let mark = if row.active { "✅" } else { "🚫" };
            let label = cx.catalog.render_plain(Text::AdminServicesItem, &[("mark", mark), ("name", &row.name)]);
            vec![go(label, ServiceAction::Card { service: row.id })]
        })
        .collect();
    buttons.push(vec![cx.button(Text::AdminServicesNew, ServiceAction::New)]);
    buttons.push(cx.menu_row());
    cx.show(at, cx.catalog.render(Text::AdminServicesList, &[]), buttons).await
}

async fn card(cx: &Cx<'_>, at: Option<MessageId>, row: &Row) -> HandlerResult {
    let catalog = &cx.catalog;
    let business = cx.business().await?;
    let step = match row.slot_step_minutes {
        Some(minutes) => format::duration(catalog, minutes.into()),
        None => {
            let common = format::duration(catalog, default_step(cx).await?.into());
            catalog.render_plain(Text::AdminServicesDefaultStep, &[("step", &common)])
        }
    };
    let state = if row.active { Text::AdminServicesActive } else { Text::AdminServicesDisabled };
    let description =
        row.description.clone().unwrap_or_else(|| catalog.render_plain(Text::AdminServicesNoDescription, &[]));
    let html = catalog.render(
        Text::AdminServicesCard,
        &[
            ("name", &row.name),
            ("state", &catalog.render_plain(state, &[])),
            ("description", &description),
            ("duration", &format::duration(catalog, row.duration_minutes.into())),
            ("price", &format::price(catalog, row.price_minor, &business.currency)),
            ("step", &step),
        ],
    );
    let service = row.id;
    let edit = |text, field| cx.button(text, ServiceAction::Edit { service, field });
    let toggle = if row.active { Text::AdminServicesDisable } else { Text::AdminServicesEnable };
    let rows = vec![
        vec![
            edit(Text::AdminServicesEditName, ServiceField::Name),
            edit(Text::AdminServicesEditPrice, ServiceField::Price),
        ],
        vec![
            edit(Text::AdminServicesEditDuration, ServiceField::Duration),
            edit(Text::AdminServicesEditStep, ServiceField::SlotStep),
        ],
        vec![edit(Text::AdminServicesEditDescription, ServiceField::Description)],
        vec![
            cx.button(Text::AdminServicesUp, ServiceAction::Up { service }),
            cx.button(Text::AdminServicesDown, ServiceAction::Down { service }),
        ],
        vec![
            cx.button(toggle, ServiceAction::Toggle { service }),
            cx.button(Text::AdminServicesDelete, ServiceAction::Delete { service }),
        ],
        vec![cx.button(Text::AdminServicesBackToList, ServiceAction::List)],
    ];
    cx.show(at, html, rows).await
}

async fn toggle(cx: &Cx<'_>, at: MessageId, service: i64) -> Reply {
    let mut tx = cx.pool().begin().await?;
    let Some(before) = lock(&mut tx, service).await? else { return Ok(Some(Text::AdminGone)) };
    let updated = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
        "UPDATE services SET active = NOT active, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(service)
    .fetch_one(&mut *tx)
    .await;
    let after = match updated {
        Ok(row) => row,
        // Enabling a service named like one enabled since.
        Err(e) if is_unique_violation(&e) => return Ok(Some(Text::AdminServicesNameTakenAlert)),
        Err(e) => return Err(e.into()),
    };
    let action = if after.active { "service.enable" } else { "service.disable" };
    audit::record(&mut tx, &cx.staff, action, &format!("service {service}"), Some(json(&before)), Some(json(&after)))
        .await?;
    tx.commit().await?;
    card(cx, Some(at), &after).await?;
    Ok(Some(Text::AdminSaved))
}

/// Swaps the service with its neighbour (`by` = -1 up, 1 down) and numbers every position afresh, so
/// that equal positions left by older data cannot make a swap a no-op.
async fn reorder(cx: &Cx<'_>, at: MessageId, service: i64, by: isize) -> Reply {
    let mut tx = cx.pool().begin().await?;
    // Locks every row in the panel: two admins reordering at once take turns.
    let mut order: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM services WHERE deleted_at IS NULL ORDER BY position, id FOR UPDATE")
            .fetch_all(&mut *tx)
            .await?;
    let Some(index) = order.iter().position(|id| *id == service) else { return Ok(Some(Text::AdminGone)) };
    let before = order.clone();
    match index.checked_add_signed(by) {
        Some(other) if other < order.len() => order.swap(index, other),
        // Already first or last: nothing to change.
        _ => return Ok(None),
    }
    sqlx::query(
        "UPDATE services SET position = x.pos, updated_at = now() \
         FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, pos) WHERE services.id = x.id",
    )
    .bind(&order)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &cx.staff,
        "service.reorder",
        &format!("service {service}"),
        Some(json!({ "order": before })),
        Some(json!({ "order": order })),
    )
    .await?;
    tx.commit().await?;
    list(cx, Some(at)).await?;
    Ok(None)
}

/// Active bookings of the service that have not ended yet.
async fn future_bookings(
    conn: &mut PgConnection,
    service: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM bookings WHERE service_id = $1 AND status = 'active' AND ends_at > $2")
        .bind(service)
        .bind(now)
        .fetch_one(conn)
        .await
}

async fn ask_delete(cx: &Cx<'_>, at: MessageId, service: i64) -> Reply {
    let Some(row) = load(cx, service).await? else { return Ok(Some(Text::AdminGone)) };
    if future_bookings(&mut *cx.pool().acquire().await?, service, cx.now()).await? > 0 {
        return Ok(Some(Text::AdminServicesHasFuture));
    }
    let html = cx.catalog.render(Text::AdminServicesDeleteAsk, &[("name", &row.name)]);
    let rows = vec![vec![
        cx.button(Text::AdminServicesDeleteYes, ServiceAction::DeleteConfirm { service }),
        cx.button(Text::CommonCancel, ServiceAction::Card { service }),
    ]];
    cx.show(Some(at), html, rows).await?;
    Ok(None)
}

async fn delete(cx: &Cx<'_>, at: MessageId, service: i64) -> Reply {
    let mut tx = cx.pool().begin().await?;
    let Some(before) = lock(&mut tx, service).await? else { return Ok(Some(Text::AdminGone)) };
    // Checked again under the lock: a booking may have come in since the question.
    if future_bookings(&mut tx, service, cx.now()).await? > 0 {
        return Ok(Some(Text::AdminServicesHasFuture));
    }
    let booked: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM bookings WHERE service_id = $1)")
        .bind(service)
        .fetch_one(&mut *tx)
        .await?;
    let how = if booked {
        sqlx::query("UPDATE services SET active = false, deleted_at = now(), updated_at = now() WHERE id = $1")
            .bind(service)
            .execute(&mut *tx)
            .await?;
        "soft"
    } else {
        sqlx::query("DELETE FROM services WHERE id = $1").bind(service).execute(&mut *tx).await?;
        "hard"
    };
    audit::record(
        &mut tx,
        &cx.staff,
        "service.delete",
        &format!("service {service}"),
        Some(json(&before)),
        Some(json!({ "deleted": how })),
    )
    .await?;
    tx.commit().await?;
    list(cx, Some(at)).await?;
    Ok(Some(Text::AdminServicesDeleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_answered_without_a_description_survives_the_dialogue_store() {
        let draft = Draft { name: Some("Укладка".into()), described: true, ..Draft::default() };
        let json = serde_json::to_string(&Prompt::New(draft.clone())).unwrap();
        assert_eq!(serde_json::from_str::<Prompt>(&json).unwrap(), Prompt::New(draft));
    }
}
