//! Reading the money rows: the ledger (for `billing ledger` and accounting's CSV) and a tenant's
//! payments (for `billing show`). Deleted tenants' rows are read like any other's.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::{Currency, Money};

/// One change of a tenant's paid period.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub tenant: String,
    /// `trial`, `credit` or `revocation`.
    pub kind: String,
    /// Signed: a revocation's are negative.
    pub days: i32,
    /// Signed like `days`; none for a trial.
    pub amount: Option<Money>,
    pub provider: Option<String>,
    pub reference: Option<String>,
    pub period_before: Option<DateTime<Utc>>,
    pub period_after: Option<DateTime<Utc>>,
    pub actor: String,
}

/// The CSV form of an [`Entry`]: amounts as decimals in their currency's major unit, for spreadsheets.
#[derive(Debug, Serialize)]
pub struct CsvEntry<'a> {
    pub id: i64,
    pub at: String,
    pub tenant: &'a str,
    pub kind: &'a str,
    pub days: i32,
    pub amount: String,
    pub currency: &'a str,
    pub provider: &'a str,
    pub reference: &'a str,
    pub period_before: String,
    pub period_after: String,
    pub actor: &'a str,
}

impl Entry {
    pub fn csv(&self) -> CsvEntry<'_> {
        let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
        CsvEntry {
            id: self.id,
            at: self.at.to_rfc3339(),
            tenant: &self.tenant,
            kind: &self.kind,
            days: self.days,
            amount: self.amount.map(decimal).unwrap_or_default(),
            currency: self.amount.map_or("", |m| m.currency.code()),
            provider: self.provider.as_deref().unwrap_or_default(),
            reference: self.reference.as_deref().unwrap_or_default(),
            period_before: time(self.period_before),
            period_after: time(self.period_after),
            actor: &self.actor,
        }
    }
}

/// A change of a tenant's paid period, as the ledger keeps it: the one way a row gets there.
pub struct Change<'a> {
    pub tenant_id: i64,
    pub payment_id: Option<i64>,
    /// `trial`, `credit` or `revocation`.
    pub kind: &'static str,
    /// Signed: a revocation takes days away.
    pub days: i32,
    /// Signed like `days`; none for a trial.
    pub amount: Option<(i64, &'a str)>,
    pub period_before: Option<DateTime<Utc>>,
    pub period_after: Option<DateTime<Utc>>,
    pub actor: &'a str,
    pub at: DateTime<Utc>,
}

pub async fn record(conn: &mut PgConnection, change: &Change<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO botctl.ledger (at, tenant_id, payment_id, kind, days, amount, currency, period_before, \
         period_after, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(change.at)
    .bind(change.tenant_id)
    .bind(change.payment_id)
    .bind(change.kind)
    .bind(change.days)
    .bind(change.amount.map(|(minor, _)| minor))
    .bind(change.amount.map(|(_, currency)| currency))
    .bind(change.period_before)
    .bind(change.period_after)
    .bind(change.actor)
    .execute(conn)
    .await?;
    Ok(())
}

/// `-799.50` for minus 79 950 kopecks: the amount without its currency code, sign and all.
pub fn decimal(money: Money) -> String {
    let sign = if money.minor < 0 { "-" } else { "" };
    let text = Money::new(money.minor.abs(), money.currency).to_string();
    let number = text.strip_suffix(money.currency.code()).unwrap_or(&text);
    let decimals = money.currency.decimals() as usize;
    // Money prints whole amounts without a fraction; a column of figures wants them all alike.
    if decimals > 0 && !number.contains('.') {
        format!("{sign}{number}.{}", "0".repeat(decimals))
    } else {
        format!("{sign}{number}")
    }
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: i64,
    at: DateTime<Utc>,
    tenant: String,
    kind: String,
    days: i32,
    amount: Option<i64>,
    currency: Option<String>,
    provider: Option<String>,
    reference: Option<String>,
    period_before: Option<DateTime<Utc>>,
    period_after: Option<DateTime<Utc>>,
    actor: String,
}

fn money(amount: Option<i64>, currency: Option<&str>) -> Option<Money> {
    Some(Money::new(amount?, currency?.parse().ok()?))
}

/// Ledger rows, oldest first: one tenant's (by name, deleted or live) or all, from `since` on.
pub async fn entries(
    conn: &mut PgConnection,
    tenant: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<Vec<Entry>> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT l.id, l.at, t.slug AS tenant, l.kind, l.days, l.amount, l.currency, p.provider, p.reference, \
         l.period_before, l.period_after, l.actor \
         FROM botctl.ledger l JOIN botctl.tenants t ON t.id = l.tenant_id \
         LEFT JOIN botctl.payments p ON p.id = l.payment_id \
         WHERE ($1::text IS NULL OR t.slug = $1) AND ($2::timestamptz IS NULL OR l.at >= $2) ORDER BY l.at, l.id",
    )
    .bind(tenant)
    .bind(since)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Entry {
            amount: money(r.amount, r.currency.as_deref()),
            id: r.id,
            at: r.at,
            tenant: r.tenant,
            kind: r.kind,
            days: r.days,
            provider: r.provider,
            reference: r.reference,
            period_before: r.period_before,
            period_after: r.period_after,
            actor: r.actor,
        })
        .collect())
}

/// Whether any tenant, live or deleted, ever had this name (a ledger for a name never used is a typo).
pub async fn tenant_known(conn: &mut PgConnection, slug: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM botctl.tenants WHERE slug = $1)")
        .bind(slug)
        .fetch_one(conn)
        .await?)
}

/// A recorded payment.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentRecord {
    pub provider: String,
    pub reference: String,
    pub amount: Option<Money>,
    pub days: i32,
    pub plan: Option<String>,
    pub state: String,
    pub recorded_by: String,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The live tenant's payments, newest first.
pub async fn payments(conn: &mut PgConnection, slug: &str) -> anyhow::Result<Vec<PaymentRecord>> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        String,
        String,
        i64,
        String,
        i32,
        Option<String>,
        String,
        String,
        Option<String>,
        DateTime<Utc>,
    )> = sqlx::query_as(
        "SELECT p.provider, p.reference, p.amount, p.currency, p.days, p.plan, p.state, p.recorded_by, p.note, \
             p.created_at FROM botctl.payments p JOIN botctl.tenants t ON t.id = p.tenant_id \
             WHERE t.slug = $1 AND t.deleted_at IS NULL ORDER BY p.created_at DESC, p.id DESC",
    )
    .bind(slug)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(provider, reference, amount, currency, days, plan, state, recorded_by, note, created_at)| {
            PaymentRecord {
                amount: money(Some(amount), Some(&currency)),
                provider,
                reference,
                days,
                plan,
                state,
                recorded_by,
                note,
                created_at,
            }
        })
        .collect())
}

/// How far back the platform sums its revenue (the fleet screen, `/metrics`).
pub const REVENUE_SPAN: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// Money taken in `(since, until]` by currency, credits less revocations (a revocation's amount is
/// negative, so it nets out in the window the refund happened in); a currency the ledger allows but
/// botctl does not know is skipped, as `billing ledger` skips it. The fleet screen and `/metrics` read
/// revenue here.
pub async fn revenue(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Money>, sqlx::Error> {
    let sums: Vec<(String, i64)> = sqlx::query_as(
        "SELECT currency, sum(amount)::bigint FROM botctl.ledger \
         WHERE at > $1 AND at <= $2 AND amount IS NOT NULL AND currency IS NOT NULL \
         GROUP BY currency ORDER BY currency",
    )
    .bind(since)
    .bind(until)
    .fetch_all(conn)
    .await?;
    Ok(sums.into_iter().filter_map(|(code, amount)| Some(Money::new(amount, code.parse::<Currency>().ok()?))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Currency;

    #[test]
    fn csv_amounts_are_signed_decimals_with_every_fraction_digit() {
        assert_eq!(decimal(Money::new(29_900, Currency::Rub)), "299.00");
        assert_eq!(decimal(Money::new(-79_950, Currency::Rub)), "-799.50");
        assert_eq!(decimal(Money::new(5, Currency::Rub)), "0.05");
        assert_eq!(decimal(Money::new(-150, Currency::Xtr)), "-150");
    }
}
