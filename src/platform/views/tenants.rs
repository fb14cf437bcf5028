//! The tenants list the operator pages through: live tenants by slug, searched by name.

use serde::Serialize;
use sqlx::PgPool;

use crate::billing::Subscription;
use crate::billing::subscription::Row;
use crate::error::BadInput;

/// The most rows one page holds: a Telegram message of buttons stays readable far below it.
pub const MAX_PER_PAGE: u32 = 100;

/// One page of a list, numbered from 1, and how many there are in all.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    /// Rows matching, on every page.
    pub total: u64,
    /// Pages in all; 0 when nothing matches. A page past the last is empty, not an error: the list
    /// may have shrunk since the operator saw its page count.
    pub pages: u32,
}

/// A live tenant as a list shows it. A tenant whose delete began and did not finish is still listed,
/// with `status` `deleting`; a deleted one is not.
#[derive(Debug, Clone, Serialize)]
pub struct TenantRow {
    pub slug: String,
    pub display_name: String,
    pub bot_username: String,
    /// `running`, `stopped` or `deleting`, as the control plane records it (not the container).
    pub status: String,
    pub subscription: Subscription,
}

#[derive(sqlx::FromRow)]
struct Listed {
    display_name: String,
    bot_username: String,
    status: String,
    #[sqlx(flatten)]
    subscription: Row,
}

/// Live tenants in slug order, `per_page` (1..=100) to a page; `search` keeps those whose slug or
/// display name contains it, case-insensitively and literally (`%` and `_` are no wildcards).
pub async fn tenants(pool: &PgPool, search: Option<&str>, page: u32, per_page: u32) -> anyhow::Result<Page<TenantRow>> {
    if page == 0 {
        return Err(BadInput::new("pages are numbered from 1").into());
    }
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(BadInput::new(format!("a page holds 1 to {MAX_PER_PAGE} tenants, not {per_page}")).into());
    }
    let pattern = search.map(str::trim).filter(|s| !s.is_empty()).map(|s| format!("%{}%", like_escaped(s)));
    const MATCHES: &str = "t.deleted_at IS NULL AND ($1::text IS NULL \
        OR t.slug ILIKE $1 ESCAPE '\\' OR t.display_name ILIKE $1 ESCAPE '\\')";
    let mut conn = pool.acquire().await?;
    let total: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM botctl.tenants t WHERE {MATCHES}")))
            .bind(&pattern)
            .fetch_one(&mut *conn)
            .await?;
    let offset = i64::from(page - 1) * i64::from(per_page);
    let rows: Vec<Listed> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.display_name, t.bot_username, t.status, t.slug AS tenant, \
         coalesce(s.state, 'complimentary') AS state, s.paid_until, s.grace_until, s.plan, \
         coalesce(s.start_pending, false) AS start_pending, coalesce(s.updated_at, t.updated_at) AS updated_at \
         FROM botctl.tenants t LEFT JOIN botctl.subscriptions s ON s.tenant_id = t.id \
         WHERE {MATCHES} ORDER BY t.slug, t.id LIMIT $2 OFFSET $3"
    )))
    .bind(&pattern)
    .bind(i64::from(per_page))
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let subscription = Subscription::try_from(row.subscription)?;
            Ok(TenantRow {
                slug: subscription.tenant.clone(),
                display_name: row.display_name,
                bot_username: row.bot_username,
                status: row.status,
                subscription,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let total = u64::try_from(total).unwrap_or_default();
    let pages = u32::try_from(total.div_ceil(u64::from(per_page))).unwrap_or(u32::MAX);
    Ok(Page { items, page, per_page, total, pages })
}

/// The search text as a LIKE pattern's literal part: its own wildcards and the escape character
/// escaped, so that what the operator typed is matched as typed.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_and_the_escape_character_are_escaped() {
        assert_eq!(like_escaped("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(like_escaped("Барбершоп"), "Барбершоп");
    }
}
