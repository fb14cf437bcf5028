//! The staff: who the admins are, their roles and a manager's permissions. Owners may change anyone
//! but themselves; a manager with the `admins` permission manages managers only, and grants only the
//! permissions they hold themselves (so the permission cannot be used to climb). The last owner can be
//! neither removed nor demoted: owners are counted under a lock in the transaction that changes them.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use teloxide::types::{ChatId, InlineKeyboardButton, MessageId};

use super::access::{Permission, Staff};
use super::{Cx, Reply, audit};
use crate::bot::callback::Callback;
use crate::bot::callback::admin::StaffAction;
use crate::bot::handlers::HandlerResult;
use crate::bot::keyboards::button;
use crate::bot::texts::Text;

/// What this part of the panel asks admins to type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// The new admin's numeric Telegram id.
    NewId,
}

/// An admin as the list and the card show them.
#[derive(sqlx::FromRow)]
struct Member {
    user_id: i64,
    is_owner: bool,
    permissions: Vec<String>,
    name: Option<String>,
}

impl Member {
    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} ({})", self.user_id),
            None => self.user_id.to_string(),
        }
    }

    fn has(&self, permission: Permission) -> bool {
        self.permissions.iter().any(|p| p == permission.name())
    }

    fn role(&self) -> &'static str {
        if self.is_owner { "owner" } else { "manager" }
    }

    /// What the audit log keeps of them.
    fn state(&self) -> serde_json::Value {
        json!({ "role": self.role(), "permissions": self.permissions })
    }
}

/// The admins with their names: the one they were given, or the one they use in Telegram.
macro_rules! members {
    ($rest:literal) => {
        concat!(
            "SELECT a.user_id, a.is_owner, a.permissions, coalesce(a.name, c.first_name) AS name \
             FROM admins a LEFT JOIN customers c ON c.user_id = a.user_id ",
            $rest
        )
    };
}

/// One admin; `lock` holds their row until the transaction ends.
async fn member(conn: &mut PgConnection, user: i64, lock: bool) -> Result<Option<Member>, sqlx::Error> {
    let sql = if lock { members!("WHERE a.user_id = $1 FOR UPDATE OF a") } else { members!("WHERE a.user_id = $1") };
    sqlx::query_as(sql).bind(user).fetch_optional(conn).await
}

/// Whether `staff` may change `target` at all: never themselves, and owners only if they are one.
fn may_manage(staff: &Staff, target: &Member) -> bool {
    target.user_id != staff.user_id && (staff.is_owner() || !target.is_owner)
}

/// Locks every owner row and counts them: two demotions at once cannot both see "another owner left".
async fn owners_locked(conn: &mut PgConnection) -> Result<usize, sqlx::Error> {
    let owners: Vec<i64> =
        sqlx::query_scalar("SELECT user_id FROM admins WHERE is_owner FOR UPDATE").fetch_all(conn).await?;
    Ok(owners.len())
}

pub(super) async fn callback(cx: &Cx<'_>, at: MessageId, action: StaffAction) -> Reply {
    match action {
        StaffAction::List => list(cx, Some(at)).await.map(|()| None),
        StaffAction::Card { user } => card(cx, Some(at), user).await,
        StaffAction::Add => {
            cx.ask(Prompt::NewId, cx.catalog.render(Text::AdminStaffAddAsk, &[])).await?;
            Ok(None)
        }
        StaffAction::Role { user, owner } => role(cx, at, user, owner).await,
        StaffAction::Toggle { user, permission } => toggle(cx, at, user, permission).await,
        StaffAction::Remove { user } => remove_ask(cx, at, user).await,
        StaffAction::RemoveConfirm { user } => remove(cx, at, user).await,
    }
}

pub(super) async fn answer(cx: &Cx<'_>, prompt: Prompt, text: &str) -> HandlerResult {
    match prompt {
        Prompt::NewId => add(cx, text).await,
    }
}

async fn list(cx: &Cx<'_>, at: Option<MessageId>) -> HandlerResult {
    let members: Vec<Member> =
        sqlx::query_as(members!("ORDER BY a.is_owner DESC, a.added_at, a.user_id")).fetch_all(cx.pool()).await?;
    let mut rows: Vec<_> = members
        .iter()
        .map(|m| {
            let badge = if m.is_owner { "👑" } else { "🛡" };
            vec![labelled(format!("{badge} {}", m.label()), StaffAction::Card { user: m.user_id })]
        })
        .collect();
    rows.push(vec![cx.button(Text::AdminStaffAdd, StaffAction::Add)]);
    rows.push(cx.menu_row());
    let html = cx.catalog.render(Text::AdminStaffList, &[("count", &members.len().to_string())]);
    cx.show(at, html, rows).await
}

async fn card(cx: &Cx<'_>, at: Option<MessageId>, user: i64) -> Reply {
    let mut conn = cx.pool().acquire().await?;
    let Some(m) = member(&mut conn, user, false).await? else { return Ok(Some(Text::AdminGone)) };
    drop(conn);
    let role = if m.is_owner { Text::AdminRoleOwner } else { Text::AdminRoleManager };
    let permissions = if m.is_owner {
        cx.catalog.render_plain(Text::AdminStaffAllPermissions, &[])
    } else {
        let held: Vec<&str> = Permission::ALL.into_iter().filter(|p| m.has(*p)).map(Permission::name).collect();
        if held.is_empty() { "—".to_string() } else { held.join(", ") }
    };
    let html = cx.catalog.render(
        Text::AdminStaffCard,
        &[("name", &m.label()), ("role", &cx.catalog.render_plain(role, &[])), ("permissions", &permissions)],
    );
    let mut rows = Vec::new();
    if may_manage(&cx.staff, &m) {
        if cx.staff.is_owner() {
            let (text, owner) =
                if m.is_owner { (Text::AdminStaffMakeManager, false) } else { (Text::AdminStaffMakeOwner, true) };
            rows.push(vec![cx.button(text, StaffAction::Role { user, owner })]);
        }
        if !m.is_owner {
            let toggles: Vec<_> = Permission::ALL
                .into_iter()
                .filter(|p| cx.staff.may(*p))
                .map(|permission| {
                    let mark = if m.has(permission) { "✅" } else { "▫️" };
                    labelled(format!("{mark} {permission}"), StaffAction::Toggle { user, permission })
                })
                .collect();
            rows.extend(toggles.chunks(2).map(<[_]>::to_vec));
        }
        rows.push(vec![cx.button(Text::AdminStaffRemove, StaffAction::Remove { user })]);
    }
    rows.push(vec![cx.button(Text::AdminStaffBack, StaffAction::List)]);
    cx.show(at, html, rows).await?;
    Ok(None)
}

/// A new admin from the id typed: a manager without permissions, who can open the panel and nothing
/// more until someone grants what they need (least privilege; the card that follows does that).
async fn add(cx: &Cx<'_>, text: &str) -> HandlerResult {
    // A wrong answer leaves the question open: the admin types the id again.
    let Some(user) = text.parse::<i64>().ok().filter(|id| *id > 0) else {
        return cx.bot.send(cx.chat, cx.catalog.render(Text::AdminStaffIdInvalid, &[]), None).await;
    };
    let mut tx = cx.pool().begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO admins (user_id, is_owner, permissions, added_by) VALUES ($1, false, '{}', $2) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user)
    .bind(cx.staff.user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return cx.bot.send(cx.chat, cx.catalog.render(Text::AdminStaffIdTaken, &[]), None).await;
    }
    let after = json!({ "role": "manager", "permissions": [] });
    audit::record(&mut tx, &cx.staff, "staff.add", &target(user), None, Some(after)).await?;
    tx.commit().await?;
    cx.done().await?;
    notify(cx, user, Some(Text::AdminStaffNotifyAdded)).await?;
    card(cx, None, user).await?;
    Ok(())
}

async fn role(cx: &Cx<'_>, at: MessageId, user: i64, owner: bool) -> Reply {
    if !cx.staff.is_owner() {
        return Ok(Some(Text::AdminStaffOwnersOnly));
    }
    let mut tx = cx.pool().begin().await?;
    let owners = owners_locked(&mut tx).await?;
    let Some(m) = member(&mut tx, user, true).await? else { return Ok(Some(Text::AdminGone)) };
    if !may_manage(&cx.staff, &m) {
        return Ok(Some(Text::AdminStaffNotYourself));
    }
    if m.is_owner == owner {
        return card(cx, Some(at), user).await;
    }
    if m.is_owner && owners <= 1 {
        return Ok(Some(Text::AdminStaffLastOwner));
    }
    // An owner holds everything; a demoted owner starts as a manager without permissions.
    sqlx::query("UPDATE admins SET is_owner = $2, permissions = '{}' WHERE user_id = $1")
        .bind(user)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    let after = json!({ "role": if owner { "owner" } else { "manager" }, "permissions": [] });
    audit::record(&mut tx, &cx.staff, "staff.role", &target(user), Some(m.state()), Some(after)).await?;
    tx.commit().await?;
    let text = if owner { Text::AdminStaffNotifyOwner } else { Text::AdminStaffNotifyManager };
    notify(cx, user, Some(text)).await?;
    card(cx, Some(at), user).await?;
    Ok(Some(Text::AdminSaved))
}

async fn toggle(cx: &Cx<'_>, at: MessageId, user: i64, permission: Permission) -> Reply {
    if !cx.staff.may(permission) {
        return Ok(Some(Text::AdminDeniedAlert));
    }
    let mut tx = cx.pool().begin().await?;
    let Some(m) = member(&mut tx, user, true).await? else { return Ok(Some(Text::AdminGone)) };
    if !may_manage(&cx.staff, &m) {
        return Ok(Some(Text::AdminStaffNotYourself));
    }
    if m.is_owner {
        // Owners hold every permission; a stale card offered the toggle.
        return Ok(Some(Text::AdminGone));
    }
    let mut permissions: Vec<String> =
        Permission::ALL.into_iter().filter(|p| m.has(*p) != (*p == permission)).map(|p| p.name().to_string()).collect();
    permissions.sort();
    sqlx::query("UPDATE admins SET permissions = $2 WHERE user_id = $1")
        .bind(user)
        .bind(&permissions)
        .execute(&mut *tx)
        .await?;
    let after = json!({ "role": "manager", "permissions": permissions });
    audit::record(&mut tx, &cx.staff, "staff.permissions", &target(user), Some(m.state()), Some(after)).await?;
    tx.commit().await?;
    // Too small a change for a message of its own, but `/audit` may come or go from their menu.
    notify(cx, user, None).await?;
    card(cx, Some(at), user).await?;
    Ok(None)
}

async fn remove_ask(cx: &Cx<'_>, at: MessageId, user: i64) -> Reply {
    let mut conn = cx.pool().acquire().await?;
    let Some(m) = member(&mut conn, user, false).await? else { return Ok(Some(Text::AdminGone)) };
    drop(conn);
    if !may_manage(&cx.staff, &m) {
        return Ok(Some(Text::AdminStaffNotYourself));
    }
    let html = cx.catalog.render(Text::AdminStaffRemoveAsk, &[("name", &m.label())]);
    let rows = vec![vec![
        cx.button(Text::AdminStaffRemoveYes, StaffAction::RemoveConfirm { user }),
        cx.button(Text::AdminStaffBack, StaffAction::Card { user }),
    ]];
    cx.show(Some(at), html, rows).await?;
    Ok(None)
}

async fn remove(cx: &Cx<'_>, at: MessageId, user: i64) -> Reply {
    let mut tx = cx.pool().begin().await?;
    let owners = owners_locked(&mut tx).await?;
    let Some(m) = member(&mut tx, user, true).await? else { return Ok(Some(Text::AdminGone)) };
    if !may_manage(&cx.staff, &m) {
        return Ok(Some(Text::AdminStaffNotYourself));
    }
    if m.is_owner && owners <= 1 {
        return Ok(Some(Text::AdminStaffLastOwner));
    }
    sqlx::query("DELETE FROM admins WHERE user_id = $1").bind(user).execute(&mut *tx).await?;
    audit::record(&mut tx, &cx.staff, "staff.remove", &target(user), Some(m.state()), None).await?;
    tx.commit().await?;
    notify(cx, user, Some(Text::AdminStaffNotifyRemoved)).await?;
    list(cx, Some(at)).await?;
    Ok(Some(Text::AdminSaved))
}

/// A button whose label is data (a name, a permission) rather than a text of the catalogue.
fn labelled(label: String, action: StaffAction) -> InlineKeyboardButton {
    button(label, Callback::Admin(action.into()))
}

fn target(user: i64) -> String {
    format!("admin {user}")
}

/// Tells the admin what changed, if the bot can write to them: one who never started it cannot be
/// written to, and that is no reason to undo the change. Their command menu follows their rights.
async fn notify(cx: &Cx<'_>, user: i64, text: Option<Text>) -> Result<(), sqlx::Error> {
    if let Some(text) = text
        && let Err(e) = cx.bot.send(ChatId(user), cx.catalog.render(text, &[]), None).await
    {
        tracing::info!(user, "an admin could not be told of a change to their rights: {e:#}");
    }
    super::commands::refresh(cx.bot, cx.pool(), &cx.catalog, user).await
}

#[cfg(test)]
mod tests {
    use super::super::access::Role;
    use super::*;

    fn m(user_id: i64, is_owner: bool) -> Member {
        Member { user_id, is_owner, permissions: vec![], name: None }
    }

    #[test]
    fn managers_manage_managers_and_nobody_themselves() {
        let owner = Staff::for_test(1, Role::Owner, vec![]);
        let manager = Staff::for_test(2, Role::Manager, vec![Permission::Admins]);
        assert!(may_manage(&owner, &m(3, true)));
        assert!(may_manage(&owner, &m(2, false)));
        assert!(!may_manage(&owner, &m(1, true)));
        assert!(may_manage(&manager, &m(3, false)));
        assert!(!may_manage(&manager, &m(1, true)));
        assert!(!may_manage(&manager, &m(2, false)));
    }
}
