//! The audit log: every admin action, written in the same transaction as the change it records, so the
//! log never claims what did not happen nor misses what did.

use serde_json::Value;
use sqlx::PgConnection;

use super::access::Staff;

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

/// (to be written)
pub(super) async fn page(
    cx: &super::Cx<'_>,
    at: Option<teloxide::types::MessageId>,
    page: u16,
) -> crate::bot::handlers::HandlerResult {
    let _ = (cx, at, page);
    Ok(())
}

/// (to be written)
pub(super) async fn csv(cx: &super::Cx<'_>) -> super::Reply {
    let _ = cx;
    Ok(None)
}
