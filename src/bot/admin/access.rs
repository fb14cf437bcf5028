//! Who may do what in the admin panel. The handler tree asks `authorize` once for every admin message
//! and button, with the permission the action declares (`Need`); only it can make a `Staff`, and every
//! admin handler takes one, so no handler can run for someone it has not let in.

use std::fmt;
use std::str::FromStr;

use sqlx::PgExecutor;

/// What a manager may be allowed; an owner may do all of it and more (the staff list's owners).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// The schedule's bookings: view, cancel, move, mark done or no-show.
    Bookings,
    /// Working hours, date exceptions, blocked time and the booking rules.
    Schedule,
    /// The services offered.
    Services,
    /// Other admins and their permissions.
    Admins,
    /// The audit log.
    Audit,
    /// CSV exports of bookings, customers and feedback.
    Export,
    /// Messages to every customer.
    Broadcast,
    /// The customer-facing texts.
    Texts,
}

impl Permission {
    pub const ALL: [Permission; 8] = [
        Permission::Bookings,
        Permission::Schedule,
        Permission::Services,
        Permission::Admins,
        Permission::Audit,
        Permission::Export,
        Permission::Broadcast,
        Permission::Texts,
    ];

    /// The name stored in `admins.permissions` and in callback data.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Bookings => "bookings",
            Permission::Schedule => "schedule",
            Permission::Services => "services",
            Permission::Admins => "admins",
            Permission::Audit => "audit",
            Permission::Export => "export",
            Permission::Broadcast => "broadcast",
            Permission::Texts => "texts",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Permission {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Permission::ALL.into_iter().find(|p| p.name() == s).ok_or(())
    }
}

/// What an admin action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Being an admin at all: the menu, the dashboard.
    Admin,
    /// Being an admin with this permission (owners have all).
    Permission(Permission),
}

/// An admin's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Manager,
}

/// An admin who passed `authorize` for the action at hand. Only `authorize` makes one.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user_id: i64,
    pub role: Role,
    permissions: Vec<Permission>,
    _proof: Proof,
}

/// Keeps `Staff` from being built anywhere but here.
#[derive(Debug, Clone)]
struct Proof;

impl Staff {
    pub fn may(&self, permission: Permission) -> bool {
        self.role == Role::Owner || self.permissions.contains(&permission)
    }

    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }

    /// For a test that needs a staff member without a database.
    #[cfg(test)]
    pub fn for_test(user_id: i64, role: Role, permissions: Vec<Permission>) -> Staff {
        Staff { user_id, role, permissions, _proof: Proof }
    }
}

/// The user as staff, if they are an admin and `need` is met; `None` means a polite refusal.
pub async fn authorize(conn: impl PgExecutor<'_>, user_id: i64, need: Need) -> Result<Option<Staff>, sqlx::Error> {
    let row: Option<(bool, Vec<String>)> =
        sqlx::query_as("SELECT is_owner, permissions FROM admins WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    let Some((is_owner, names)) = row else { return Ok(None) };
    let staff = Staff {
        user_id,
        role: if is_owner { Role::Owner } else { Role::Manager },
        // A name this binary does not know (from a newer one) grants nothing.
        permissions: names.iter().filter_map(|n| n.parse().ok()).collect(),
        _proof: Proof,
    };
    let allowed = match need {
        Need::Admin => true,
        Need::Permission(p) => staff.may(p),
    };
    Ok(allowed.then_some(staff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_names_round_trip_and_owners_may_everything() {
        for p in Permission::ALL {
            assert_eq!(p.name().parse::<Permission>(), Ok(p));
        }
        assert!("root".parse::<Permission>().is_err());
        let owner = Staff::for_test(1, Role::Owner, vec![]);
        let manager = Staff::for_test(2, Role::Manager, vec![Permission::Bookings]);
        assert!(Permission::ALL.iter().all(|&p| owner.may(p)));
        assert!(manager.may(Permission::Bookings));
        assert!(!manager.may(Permission::Admins));
    }
}
