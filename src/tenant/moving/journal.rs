//! `botctl.tenant_moves`: each move's progress, written before the step it names is relied on, so
//! that a move a crash interrupted can be told from a finished one and finished or rolled back.

use serde::Serialize;
use sqlx::PgConnection;

use crate::error::BadInput;

/// How far a move got; see migrations/control/0013_tenant_moves.sql.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Preparing,
    Stopped,
    Loaded,
    Switched,
    SwitchingBack,
    Done,
    RolledBack,
}

impl Step {
    const ALL: [Step; 7] = [
        Step::Preparing,
        Step::Stopped,
        Step::Loaded,
        Step::Switched,
        Step::SwitchingBack,
        Step::Done,
        Step::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Preparing => "preparing",
            Step::Stopped => "stopped",
            Step::Loaded => "loaded",
            Step::Switched => "switched",
            Step::SwitchingBack => "switching_back",
            Step::Done => "done",
            Step::RolledBack => "rolled_back",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// An unfinished move as the journal has it.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub id: i64,
    pub tenant: String,
    pub source: String,
    pub target: String,
    pub step: Step,
    pub was_running: bool,
    pub archive: Option<String>,
}

/// Records a new move at `preparing`; returns its id.
pub async fn begin(
    conn: &mut PgConnection,
    tenant: &str,
    source: &str,
    target: &str,
    was_running: bool,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO botctl.tenant_moves (tenant, source, target, step, was_running) \
         VALUES ($1, $2, $3, 'preparing', $4) RETURNING id",
    )
    .bind(tenant)
    .bind(source)
    .bind(target)
    .bind(was_running)
    .fetch_one(conn)
    .await
}

pub async fn step(conn: &mut PgConnection, id: i64, step: Step) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE botctl.tenant_moves SET step = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(step.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_archive(conn: &mut PgConnection, id: i64, archive: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE botctl.tenant_moves SET archive = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(archive)
        .execute(conn)
        .await?;
    Ok(())
}

/// Notes what went wrong in a move left unfinished (its undoing failed too): the next move reads it.
pub async fn note_error(conn: &mut PgConnection, id: i64, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE botctl.tenant_moves SET error = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends the move as `done` or `rolled_back`, with what went wrong if anything did.
pub async fn finish(conn: &mut PgConnection, id: i64, step: Step, error: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE botctl.tenant_moves SET step = $2, error = coalesce($3, error), finished_at = now(), \
         updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(step.as_str())
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

type Row = (i64, String, String, String, String, bool, Option<String>);

const UNFINISHED: &str = "SELECT id, tenant, source, target, step, was_running, archive FROM botctl.tenant_moves \
     WHERE finished_at IS NULL";

fn from_row((id, tenant, source, target, step, was_running, archive): Row) -> Unfinished {
    // The table's CHECK allows nothing else; an unknown step is treated as the earliest.
    let step = Step::parse(&step).unwrap_or(Step::Preparing);
    Unfinished { id, tenant, source, target, step, was_running, archive }
}

/// The tenant's unfinished move, if one is.
pub async fn unfinished(conn: &mut PgConnection, tenant: &str) -> Result<Option<Unfinished>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{UNFINISHED} AND tenant = $1")))
        .bind(tenant)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(from_row))
}

/// Every unfinished move, oldest first: for `doctor`.
pub async fn all_unfinished(conn: &mut PgConnection) -> Result<Vec<Unfinished>, sqlx::Error> {
    let rows: Vec<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{UNFINISHED} ORDER BY started_at"))).fetch_all(conn).await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Refuses a runtime operation on a tenant whose move a crash interrupted: its bot and schemas are in
/// between two servers until `tenant move` finishes or rolls it back.
pub async fn refuse_unfinished(conn: &mut PgConnection, tenant: &str) -> anyhow::Result<()> {
    if let Some(m) = unfinished(conn, tenant).await? {
        return Err(BadInput::new(format!(
            "tenant `{tenant}` is being moved from server `{}` to `{}` (step {}); if no `tenant move` of it \
             is running, a crash interrupted it: `botctl tenant move {tenant} --to {}` finishes or rolls it back",
            m.source,
            m.target,
            m.step.as_str(),
            m.target
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_back_as_written() {
        for step in Step::ALL {
            assert_eq!(Step::parse(step.as_str()), Some(step));
            assert_eq!(serde_json::to_value(step).unwrap(), serde_json::json!(step.as_str()));
        }
        assert_eq!(Step::parse("elsewhere"), None);
    }
}
