//! Who may use the operator bot, decided in one place before any handler runs: the configured operators
//! (each an owner or a viewer) and nobody else. A stranger hears one polite refusal and nothing more — no
//! menu, no working button, no error text; a viewer sees everything and changes nothing.

use std::collections::HashMap;

pub use crate::config::platform::{Operator, Role};

/// What a command, a button or an answer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    See,
    Act,
}

// An `Operator` is what the gate yields: handlers take one, so none can run without the gate.
impl Operator {
    pub fn may(&self, need: Need) -> bool {
        need == Need::See || self.role == Role::Owner
    }

    /// How events name them: the operator's Telegram id.
    pub fn actor(&self) -> String {
        format!("telegram:{}", self.id)
    }
}

/// The configured operators.
#[derive(Debug, Clone, Default)]
pub struct Operators(HashMap<i64, Role>);

impl Operators {
    pub fn new(operators: &[Operator]) -> Self {
        Self(operators.iter().map(|o| (o.id, o.role)).collect())
    }

    /// The operator a Telegram user is, if any.
    pub fn admit(&self, user_id: u64) -> Option<Operator> {
        let id = i64::try_from(user_id).ok()?;
        self.0.get(&id).map(|&role| Operator { id, role })
    }

    /// Everyone an alert goes to.
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_operators_are_admitted_and_only_owners_act() {
        let operators =
            Operators::new(&[Operator { id: 1, role: Role::Owner }, Operator { id: 2, role: Role::Viewer }]);
        let owner = operators.admit(1).unwrap();
        let viewer = operators.admit(2).unwrap();
        assert!(owner.may(Need::See) && owner.may(Need::Act));
        assert!(viewer.may(Need::See) && !viewer.may(Need::Act));
        assert_eq!(operators.admit(3), None);
        assert_eq!(operators.admit(u64::MAX), None);
        assert_eq!(owner.actor(), "telegram:1");
    }
}
