//! Plans: what is sold (days, names, a price per currency), read and changed in `botctl.plans` and
//! `botctl.plan_prices`. A plan is never deleted, only disabled: payments name it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;

use super::{Currency, Money, period};
use crate::error::BadInput;
use crate::tenant::store;

/// A plan as sold, its prices in botctl's currencies (an unknown currency code in the table is skipped:
/// botctl cannot price in it).
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub code: String,
    pub name_ru: String,
    pub name_en: String,
    pub days: i32,
    pub active: bool,
    pub prices: Vec<Money>,
    pub updated_at: DateTime<Utc>,
}

impl Plan {
    /// The plan's price in `currency`, if it is sold in it.
    pub fn price(&self, currency: Currency) -> Option<Money> {
        self.prices.iter().copied().find(|p| p.currency == currency)
    }
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    code: String,
    name_ru: String,
    name_en: String,
    days: i32,
    active: bool,
    updated_at: DateTime<Utc>,
}

/// The shape the schema accepts for a code (`^[a-z0-9][a-z0-9_-]{0,15}$`), checked here first for a
/// clear error.
pub fn check_code(code: &str) -> Result<(), BadInput> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let shaped =
        code.starts_with(allowed) && code.len() <= 16 && code.chars().all(|c| allowed(c) || c == '_' || c == '-');
    if shaped {
        Ok(())
    } else {
        Err(BadInput::new(format!(
            "`{code}` is not a plan code: 1-16 lower-case letters, digits, `_` or `-`, starting with a letter or digit"
        )))
    }
}

fn check_name(flag: &str, name: &str) -> Result<(), BadInput> {
    let count = name.chars().count();
    if (1..=64).contains(&count) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(BadInput::new(format!("{flag} must be 1-64 characters without control characters")))
    }
}

async fn prices(conn: &mut PgConnection, code: Option<&str>) -> Result<Vec<(String, Money)>, sqlx::Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT plan, currency, amount FROM botctl.plan_prices WHERE $1::text IS NULL OR plan = $1 ORDER BY currency",
    )
    .bind(code)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(plan, currency, amount)| Some((plan, Money::new(amount, currency.parse().ok()?))))
        .collect())
}

fn assemble(row: PlanRow, prices: &[(String, Money)]) -> Plan {
    Plan {
        prices: prices.iter().filter(|(plan, _)| *plan == row.code).map(|(_, m)| *m).collect(),
        code: row.code,
        name_ru: row.name_ru,
        name_en: row.name_en,
        days: row.days,
        active: row.active,
        updated_at: row.updated_at,
    }
}

const COLUMNS: &str = "code, name_ru, name_en, days, active, updated_at";

/// Every plan, disabled ones too, shortest first.
pub async fn list(conn: &mut PgConnection) -> anyhow::Result<Vec<Plan>> {
    let rows: Vec<PlanRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM botctl.plans ORDER BY days, code")))
            .fetch_all(&mut *conn)
            .await?;
    let prices = prices(conn, None).await?;
    Ok(rows.into_iter().map(|row| assemble(row, &prices)).collect())
}

pub async fn find(conn: &mut PgConnection, code: &str) -> anyhow::Result<Option<Plan>> {
    let row: Option<PlanRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM botctl.plans WHERE code = $1")))
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
    match row {
        Some(row) => {
            let prices = prices(conn, Some(code)).await?;
            Ok(Some(assemble(row, &prices)))
        }
        None => Ok(None),
    }
}

/// The plan named, or a bad-input error listing the codes there are.
pub async fn require(conn: &mut PgConnection, code: &str) -> anyhow::Result<Plan> {
    if let Some(plan) = find(conn, code).await? {
        return Ok(plan);
    }
    let codes: Vec<String> = list(conn).await?.into_iter().map(|p| p.code).collect();
    Err(BadInput::new(format!("no plan `{code}` (plans: {}; see `botctl billing plans`)", codes.join(", "))).into())
}

/// What `billing plan set` gives; `None` keeps a value (a new plan needs `days`).
#[derive(Debug, Default)]
pub struct PlanOptions {
    pub code: String,
    pub days: Option<i32>,
    /// Set or replace the price in each currency given; other currencies keep theirs.
    pub prices: Vec<Money>,
    /// Currencies the plan is no longer sold in.
    pub remove_prices: Vec<Currency>,
    pub name_ru: Option<String>,
    pub name_en: Option<String>,
}

/// Creates or changes a plan (a new one is active; names default to its code) and records an event.
/// One transaction.
pub async fn set(conn: &mut PgConnection, options: &PlanOptions, actor: &str) -> anyhow::Result<Plan> {
    check_code(&options.code)?;
    if let Some(days) = options.days {
        period::parse_days(&days.to_string()).map_err(|e| BadInput::new(format!("--days: {e}")))?;
    }
    for (flag, name) in [("--name-ru", &options.name_ru), ("--name-en", &options.name_en)] {
        if let Some(name) = name {
            check_name(flag, name)?;
        }
    }
    for price in &options.prices {
        if price.minor <= 0 {
            return Err(BadInput::new(format!("--price {price}: a price must be more than zero")).into());
        }
        if options.prices.iter().filter(|p| p.currency == price.currency).count() > 1 {
            return Err(BadInput::new(format!("--price names {} more than once", price.currency)).into());
        }
        if options.remove_prices.contains(&price.currency) {
            return Err(BadInput::new(format!("{} is both priced and removed", price.currency)).into());
        }
    }
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let existing = find(&mut tx, &options.code).await?;
    if existing.is_none() && options.days.is_none() {
        return Err(BadInput::new(format!("plan `{}` is new: give its --days", options.code)).into());
    }
    // Not an upsert: a NULL `days` would break the new row's NOT NULL before any conflict is seen.
    let statement = if existing.is_some() {
        "UPDATE botctl.plans SET name_ru = coalesce($2, name_ru), name_en = coalesce($3, name_en), \
         days = coalesce($4, days), updated_at = now() WHERE code = $1"
    } else {
        "INSERT INTO botctl.plans (code, name_ru, name_en, days) VALUES ($1, coalesce($2, $1), coalesce($3, $1), $4)"
    };
    sqlx::query(statement)
        .bind(&options.code)
        .bind(&options.name_ru)
        .bind(&options.name_en)
        .bind(options.days)
        .execute(&mut *tx)
        .await?;
    for price in &options.prices {
        sqlx::query(
            "INSERT INTO botctl.plan_prices (plan, currency, amount) VALUES ($1, $2, $3) \
             ON CONFLICT (plan, currency) DO UPDATE SET amount = EXCLUDED.amount",
        )
        .bind(&options.code)
        .bind(price.currency.code())
        .bind(price.minor)
        .execute(&mut *tx)
        .await?;
    }
    for currency in &options.remove_prices {
        sqlx::query("DELETE FROM botctl.plan_prices WHERE plan = $1 AND currency = $2")
            .bind(&options.code)
            .bind(currency.code())
            .execute(&mut *tx)
            .await?;
    }
    let plan = find(&mut tx, &options.code).await?.ok_or_else(|| anyhow::anyhow!("plan vanished"))?;
    let details = json!({
        "plan": plan.code, "created": existing.is_none(), "days": plan.days,
        "prices": plan.prices.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "name_ru": plan.name_ru, "name_en": plan.name_en,
    });
    store::record(&mut tx, actor, None, "billing.plan.set", details).await?;
    tx.commit().await?;
    Ok(plan)
}

/// Stops or resumes selling a plan; payments that name it keep their meaning. Returns the plan and
/// whether it changed.
pub async fn set_active(
    conn: &mut PgConnection,
    code: &str,
    active: bool,
    actor: &str,
) -> anyhow::Result<(Plan, bool)> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let plan = require(&mut tx, code).await?;
    if plan.active == active {
        return Ok((plan, false));
    }
    sqlx::query("UPDATE botctl.plans SET active = $2, updated_at = now() WHERE code = $1")
        .bind(code)
        .bind(active)
        .execute(&mut *tx)
        .await?;
    let action = if active { "billing.plan.enable" } else { "billing.plan.disable" };
    store::record(&mut tx, actor, None, action, json!({ "plan": code })).await?;
    let plan = require(&mut tx, code).await?;
    tx.commit().await?;
    Ok((plan, true))
}
