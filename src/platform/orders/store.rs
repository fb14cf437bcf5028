//! Orders in the control plane: making one, what the buyer chooses while it is a draft (with the bot's
//! token kept apart), and reading them back for the sales bot and the resumer. Moving an order on is
//! `advance`'s.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{Connection, PgConnection};

use super::machine::{Kind, State};
use super::model::{COLUMNS, DraftChanges, NewOrder, Order, OrderRow};
use crate::billing::period;
use crate::billing::plans::{self, Plan};
use crate::error::BadInput;
use crate::telegram::BotToken;

/// How an order is looked up: by its id, or by the reference a payment carries back.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    Id(i64),
    Reference(&'a str),
}

const REFERENCE_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// 16 characters of `[a-z0-9]` (82 bits): fits a Stars invoice payload and YooKassa's metadata, and
/// guessing one finds nothing.
fn new_reference() -> String {
    (0..16).map(|_| char::from(REFERENCE_CHARS[rand::random_range(0..REFERENCE_CHARS.len())])).collect()
}

/// The name of the unique index a statement ran into, if that is how it failed.
pub(super) fn unique_violation(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(db.constraint().unwrap_or_default()),
        _ => None,
    }
}

/// The live tenant that has this slug, if any.
async fn tenant_by_slug(conn: &mut PgConnection, slug: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT slug FROM botctl.tenants WHERE slug = $1 AND deleted_at IS NULL")
        .bind(slug)
        .fetch_optional(conn)
        .await
}

/// The live tenant this bot serves, if any.
async fn tenant_by_bot(conn: &mut PgConnection, bot_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT slug FROM botctl.tenants WHERE bot_id = $1 AND deleted_at IS NULL")
        .bind(bot_id)
        .fetch_optional(conn)
        .await
}

/// A plan that is sold now: an order cannot be for a plan no one can buy.
pub(super) async fn sold_plan(conn: &mut PgConnection, code: &str) -> anyhow::Result<Plan> {
    let plan = plans::require(conn, code).await?;
    if !plan.active {
        return Err(BadInput::new(format!("plan `{code}` is no longer sold")).into());
    }
    Ok(plan)
}

/// Makes a draft order, with its first history row. A second trial for one buyer is refused here (a
/// unique index, so two at once cannot both pass); a renewal names a live tenant.
pub async fn create(conn: &mut PgConnection, new: &NewOrder, actor: &str, now: DateTime<Utc>) -> anyhow::Result<Order> {
    let now = period::stored(now);
    let mut tx = conn.begin().await?;
    match (new.kind, &new.tenant) {
        (Kind::Renewal, None) => return Err(BadInput::new("a renewal order names the tenant it renews").into()),
        (Kind::Renewal, Some(slug)) => {
            if tenant_by_slug(&mut tx, slug.as_str()).await?.is_none() {
                return Err(BadInput::new(format!("there is no tenant `{slug}` to renew")).into());
            }
        }
        (_, Some(_)) => {
            return Err(BadInput::new("a new business's name is chosen in the draft (`update_draft`)").into());
        }
        (_, None) => {}
    }
    if let Some(plan) = &new.plan {
        sold_plan(&mut tx, plan).await?;
    }
    let inserted = sqlx::query_as::<_, OrderRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO botctl.orders (reference, buyer_user_id, buyer_chat_id, buyer_language, kind, tenant_slug, \
         plan, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'draft', $8, $8) \
         RETURNING {COLUMNS}"
    )))
    .bind(new_reference())
    .bind(new.buyer.user_id)
    .bind(new.buyer.chat_id)
    .bind(new.buyer.language.to_string())
    .bind(new.kind.as_str())
    .bind(new.tenant.as_ref().map(|t| t.as_str()))
    .bind(&new.plan)
    .bind(now)
    .fetch_one(&mut *tx)
    .await;
    let row = match inserted {
        Err(e) if unique_violation(&e) == Some("orders_one_trial") => {
            return Err(BadInput::new(format!(
                "Telegram user {} has had the free trial already: one trial per buyer",
                new.buyer.user_id
            ))
            .into());
        }
        other => other?,
    };
    let order = Order::try_from(row)?;
    super::advance::record(&mut tx, order.id, None, State::Draft, "created", actor, &json!({}), now).await?;
    tx.commit().await?;
    Ok(order)
}

/// The buyer's choices while the order is a draft. A name or a bot that a live tenant or another open
/// order holds is refused with a message for the buyer; two buyers racing for one are settled by the
/// unique indexes, so exactly one wins. The bot's token is kept apart from the order, until `advance`
/// drops it when the tenant has it.
pub async fn update_draft(
    conn: &mut PgConnection,
    id: i64,
    changes: &DraftChanges,
    now: DateTime<Utc>,
) -> anyhow::Result<Order> {
    let now = period::stored(now);
    let mut tx = conn.begin().await?;
    let current: Option<(String, String)> =
        sqlx::query_as("SELECT kind, state FROM botctl.orders WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((kind, state)) = current else {
        return Err(BadInput::new(format!("there is no order {id}")).into());
    };
    if state != State::Draft.as_str() {
        return Err(BadInput::new(format!("order {id} is {state}: only a draft can change")).into());
    }
    let renewal = kind == Kind::Renewal.as_str();
    let setup = changes.business_name.is_some()
        || changes.tenant.is_some()
        || changes.bot.is_some()
        || changes.template.is_some()
        || changes.timezone.is_some();
    if renewal && setup {
        return Err(BadInput::new("a renewal keeps its tenant's name, bot and settings: only its plan changes").into());
    }
    if let Some(name) = &changes.business_name
        && (name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control))
    {
        return Err(BadInput::new("a business name is 1-64 characters, without control characters").into());
    }
    if let Some(slug) = &changes.tenant
        && tenant_by_slug(&mut tx, slug.as_str()).await?.is_some()
    {
        return Err(BadInput::new(format!("the name `{slug}` is taken: choose another")).into());
    }
    if let Some(bot) = &changes.bot
        && let Some(other) = tenant_by_bot(&mut tx, bot.token.bot_id()).await?
    {
        return Err(BadInput::new(format!(
            "bot @{} already serves tenant `{other}`; one bot can serve one tenant",
            bot.username
        ))
        .into());
    }
    if let Some(plan) = &changes.plan {
        sold_plan(&mut tx, plan).await?;
    }
    let updated = sqlx::query_as::<_, OrderRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE botctl.orders SET business_name = coalesce($2, business_name), \
         tenant_slug = coalesce($3, tenant_slug), bot_id = coalesce($4, bot_id), \
         bot_username = coalesce($5, bot_username), template = coalesce($6, template), \
         timezone = coalesce($7, timezone), plan = coalesce($8, plan), updated_at = $9 \
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(changes.business_name.as_deref().map(str::trim))
    .bind(changes.tenant.as_ref().map(|t| t.as_str()))
    .bind(changes.bot.as_ref().map(|b| b.token.bot_id()))
    .bind(changes.bot.as_ref().map(|b| b.username.as_str()))
    .bind(&changes.template)
    .bind(changes.timezone.map(|tz| tz.name()))
    .bind(&changes.plan)
    .bind(now)
    .fetch_one(&mut *tx)
    .await;
    let row = match updated {
        Err(e) if unique_violation(&e) == Some("orders_open_slug") => {
            let slug = changes.tenant.as_ref().map(|t| t.as_str()).unwrap_or_default();
            return Err(
                BadInput::new(format!("the name `{slug}` is being taken by another buyer: choose another")).into()
            );
        }
        Err(e) if unique_violation(&e) == Some("orders_open_bot") => {
            let username = changes.bot.as_ref().map(|b| b.username.as_str()).unwrap_or_default();
            return Err(BadInput::new(format!("bot @{username} is already in another order")).into());
        }
        other => other?,
    };
    if let Some(bot) = &changes.bot {
        sqlx::query(
            "INSERT INTO botctl.order_tokens (order_id, token, stored_at) VALUES ($1, $2, $3) \
             ON CONFLICT (order_id) DO UPDATE SET token = excluded.token, stored_at = excluded.stored_at",
        )
        .bind(id)
        .bind(bot.token.expose())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Order::try_from(row)
}

/// The order's bot token, while it waits for the tenant to be made; `None` once the tenant has it.
pub async fn token(conn: &mut PgConnection, id: i64) -> anyhow::Result<Option<BotToken>> {
    let token: Option<String> = sqlx::query_scalar("SELECT token FROM botctl.order_tokens WHERE order_id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    // The shape error never repeats the token, so it may travel up the chain.
    Ok(token.map(|t| t.parse::<BotToken>()).transpose()?)
}

pub async fn find(conn: &mut PgConnection, lookup: Lookup<'_>) -> anyhow::Result<Option<Order>> {
    let select = |column: &str| sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM botctl.orders WHERE {column} = $1"));
    let row: Option<OrderRow> = match lookup {
        Lookup::Id(id) => sqlx::query_as(select("id")).bind(id).fetch_optional(conn).await?,
        Lookup::Reference(reference) => {
            sqlx::query_as(select("reference")).bind(reference).fetch_optional(conn).await?
        }
    };
    row.map(Order::try_from).transpose()
}

/// A buyer's orders, newest first ("My subscription", and what a buyer left half-done).
pub async fn by_buyer(conn: &mut PgConnection, user_id: i64) -> anyhow::Result<Vec<Order>> {
    let sql = format!("SELECT {COLUMNS} FROM botctl.orders WHERE buyer_user_id = $1 ORDER BY created_at DESC, id DESC");
    let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(conn).await?;
    rows.into_iter().map(Order::try_from).collect()
}

/// Orders in one of `states` that have not changed since `older_than`, oldest first: after a restart,
/// `paid` and `credited` ones are to be carried on, `awaiting_payment` ones re-fetched from the provider.
pub async fn pending(
    conn: &mut PgConnection,
    states: &[State],
    older_than: DateTime<Utc>,
) -> anyhow::Result<Vec<Order>> {
    let states: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM botctl.orders WHERE state = ANY($1) AND updated_at <= $2 ORDER BY updated_at, id"
    );
    let rows: Vec<OrderRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(states).bind(older_than).fetch_all(conn).await?;
    rows.into_iter().map(Order::try_from).collect()
}
