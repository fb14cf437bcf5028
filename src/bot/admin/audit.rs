//! The audit log: every admin action, written in the same transaction as the change it records, so the
//! log never claims what did not happen nor misses what did.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use teloxide::types::MessageId;

use super::access::Staff;
use super::{Cx, Reply, exports};
use crate::bot::callback::admin::AuditAction;
use crate::bot::handlers::HandlerResult;
use crate::bot::texts::Text;

/// One action: `action` is a stable name (`service.create`), `target` what it touched (`service 4`),
/// `before`/`after` the state around it (`None` where there was none).
pub async fn record(
    conn: &mut PgConnection,
    staff: &Staff,
    action: &str,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO audit_log (actor, action, target, before, after) VALUES ($1, $2, $3, $4, $5)")
        .bind(staff.user_id)
        .bind(action)
        .bind(target)
        .bind(before)
        .bind(after)
        .execute(conn)
        .await?;
    Ok(())
}

/// Entries to a page.
const PAGE: i64 = 10;
/// How much of a before → after diff a page line shows.
const DIFF_CHARS: usize = 120;

#[derive(sqlx::FromRow)]
struct Entry {
    at: DateTime<Utc>,
    actor: i64,
    name: Option<String>,
    action: String,
    target: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
}

/// What the log says, newest first: `PAGE` entries from `offset`, or all of them.
async fn entries(conn: impl sqlx::PgExecutor<'_>, offset: i64, limit: Option<i64>) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.at, l.actor, coalesce(a.name, c.first_name) AS name, l.action, l.target, l.before, l.after \
         FROM audit_log l LEFT JOIN admins a ON a.user_id = l.actor LEFT JOIN customers c ON c.user_id = l.actor \
         ORDER BY l.at DESC, l.id DESC OFFSET $1 LIMIT $2",
    )
    .bind(offset)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One page of the log, newest first, with the way to older and newer pages and to the CSV.
pub(super) async fn page(cx: &Cx<'_>, at: Option<MessageId>, page: u16) -> HandlerResult {
    let tz = cx.business().await?.tz;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(cx.pool()).await?;
    let pages = ((total + PAGE - 1) / PAGE).max(1);
    // A button from when the log was longer (it never is) or a forged one lands on the last page.
    let page = i64::from(page).min(pages - 1);
    let found = entries(cx.pool(), page * PAGE, Some(PAGE)).await?;
    let mut html = cx.catalog.render(
        Text::AdminAuditTitle,
        &[("page", &(page + 1).to_string()), ("pages", &pages.to_string()), ("total", &total.to_string())],
    );
    if found.is_empty() {
        html.push_str("\n\n");
        html.push_str(&cx.catalog.render(Text::AdminAuditEmpty, &[]));
    }
    for entry in &found {
        let when = entry.at.with_timezone(&tz).format("%d.%m %H:%M").to_string();
        let actor = actor(entry);
        let diff = diff(entry.before.as_ref(), entry.after.as_ref());
        html.push_str("\n\n");
        html.push_str(&cx.catalog.render(
            Text::AdminAuditEntry,
            &[
                ("when", &when),
                ("actor", &actor),
                ("action", &entry.action),
                ("target", entry.target.as_deref().unwrap_or("—")),
                ("diff", &diff),
            ],
        ));
    }
    let page = u16::try_from(page).unwrap_or(u16::MAX);
    let mut nav = Vec::new();
    if page > 0 {
        nav.push(cx.button(Text::AdminAuditNewer, AuditAction::Page { page: page - 1 }));
    }
    if i64::from(page) + 1 < pages {
        nav.push(cx.button(Text::AdminAuditOlder, AuditAction::Page { page: page + 1 }));
    }
    let mut rows = vec![nav, vec![cx.button(Text::AdminAuditCsv, AuditAction::Csv)], cx.menu_row()];
    rows.retain(|row| !row.is_empty());
    cx.show(at, html, rows).await
}

/// The whole log as a CSV document; taking it is itself logged.
pub(super) async fn csv(cx: &Cx<'_>) -> Reply {
    let business = cx.business().await?;
    let tz = business.tz;
    let mut tx = cx.pool().begin().await?;
    let found = entries(&mut *tx, 0, None).await?;
    record(&mut tx, &cx.staff, "export.audit", "audit_log", None, Some(json!({ "rows": found.len() }))).await?;
    tx.commit().await?;
    let json = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|e| {
            vec![
                exports::local(tz, e.at),
                e.actor.to_string(),
                e.name.clone().unwrap_or_default(),
                e.action.clone(),
                e.target.clone().unwrap_or_default(),
                json(&e.before),
                json(&e.after),
            ]
        })
        .collect();
    let header = ["at", "actor_id", "actor", "action", "target", "before", "after"];
    let bytes = exports::csv_bytes(&header, &rows)?;
    let name = format!("audit-{}.csv", super::today(&business, cx.now()));
    exports::send_csv(cx, name, rows.len(), bytes).await?;
    Ok(None)
}

/// "Olga (1001)", or the bare id of someone the bot has never seen.
fn actor(entry: &Entry) -> String {
    match &entry.name {
        Some(name) => format!("{name} ({})", entry.actor),
        None => entry.actor.to_string(),
    }
}

/// The change in a line: the fields that differ as `field: old → new`, or the whole value where one
/// side is missing; cut to `DIFF_CHARS`.
fn diff(before: Option<&Value>, after: Option<&Value>) -> String {
    let full = match (before, after) {
        (None, None) => String::new(),
        (None, Some(after)) => format!("+ {after}"),
        (Some(before), None) => format!("− {before}"),
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            let shown = |v: Option<&Value>| v.map_or_else(|| "∅".to_string(), Value::to_string);
            keys.into_iter()
                .filter(|k| b.get(*k) != a.get(*k))
                .map(|k| format!("{k}: {} → {}", shown(b.get(k)), shown(a.get(k))))
                .collect::<Vec<_>>()
                .join("; ")
        }
        (Some(before), Some(after)) => format!("{before} → {after}"),
    };
    let mut chars = full.chars();
    let cut: String = chars.by_ref().take(DIFF_CHARS).collect();
    if chars.next().is_some() { format!("{cut}…") } else { cut }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_names_what_changed() {
        let before = json!({"role": "manager", "permissions": ["bookings"]});
        let after = json!({"role": "owner", "permissions": ["bookings"]});
        assert_eq!(diff(Some(&before), Some(&after)), r#"role: "manager" → "owner""#);
        assert_eq!(diff(None, Some(&json!({"rows": 3}))), r#"+ {"rows":3}"#);
        assert_eq!(diff(Some(&json!(1)), None), "− 1");
        let long = json!("x".repeat(500));
        assert!(diff(None, Some(&long)).ends_with('…'));
        assert_eq!(diff(None, Some(&long)).chars().count(), DIFF_CHARS + 1);
    }
}
