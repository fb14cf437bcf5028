//! `TenantSlug`: the one kind of name botctl splices into SQL identifiers and container names.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Names that would be confusing or dangerous as `tenant_<slug>` roles, schemas or containers.
const RESERVED: &[&str] = &[
    "admin",
    "all",
    "botctl",
    "control",
    "default",
    "information_schema",
    "none",
    "postgres",
    "public",
    "root",
    "status",
    "system",
    "template",
    "tenant",
    "test",
    "user",
];

/// A validated tenant name: `^[a-z][a-z0-9_]{1,30}$` and not reserved. Only this type may become part of
/// an SQL identifier, so every identifier built from it is safe to quote and splice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantSlug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("tenant name must not be empty")]
    Empty,
    #[error("tenant name `{0}` is too long ({1} characters; at most 31)")]
    TooLong(String, usize),
    #[error("tenant name `{0}` is too short (at least 2 characters)")]
    TooShort(String),
    #[error("tenant name `{0}` must start with a lower-case letter (a-z)")]
    BadStart(String),
    #[error("tenant name `{0}` may contain only lower-case letters, digits and `_` (found `{1}`)")]
    BadChar(String, char),
    #[error("tenant name `{0}` is reserved; choose another")]
    Reserved(String),
}

impl FromStr for TenantSlug {
    type Err = SlugError;

    fn from_str(s: &str) -> Result<Self, SlugError> {
        // Shown back in errors, so cap what is echoed: the input may be anything.
        let shown = || s.chars().take(40).collect::<String>();
        let mut chars = s.chars();
        let first = chars.next().ok_or(SlugError::Empty)?;
        let len = s.chars().count();
        if len > 31 {
            return Err(SlugError::TooLong(shown(), len));
        }
        if !first.is_ascii_lowercase() {
            return Err(SlugError::BadStart(shown()));
        }
        if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
            return Err(SlugError::BadChar(shown(), bad));
        }
        if len < 2 {
            return Err(SlugError::TooShort(shown()));
        }
        if RESERVED.contains(&s) || s.starts_with("pg_") {
            return Err(SlugError::Reserved(shown()));
        }
        Ok(Self(s.to_string()))
    }
}

impl TenantSlug {
    /// A name a caller typed or sent (the command line, the operator bot): refused as bad input.
    pub fn from_input(name: &str) -> anyhow::Result<Self> {
        name.parse().map_err(|e: SlugError| crate::error::BadInput::new(e.to_string()).into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tenant's schema and its role share this name: `tenant_<slug>`.
    pub fn schema(&self) -> String {
        format!("tenant_{}", self.0)
    }

    /// The schema (and role) name, double-quoted for SQL. Safe because the slug is validated.
    pub fn quoted_schema(&self) -> String {
        format!("\"{}\"", self.schema())
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_parse() {
        for name in ["ab", "acme", "salon_42", "a_b_c", &format!("a{}", "b".repeat(30))] {
            assert_eq!(name.parse::<TenantSlug>().unwrap().as_str(), name);
        }
    }

    #[test]
    fn hostile_and_malformed_names_are_refused() {
        for name in [
            "",
            "a",
            "a;drop",
            "\"x\"",
            "Tenant",
            "1abc",
            "_abc",
            "ab-c",
            "ab c",
            "ab.c",
            "ab\u{0}c",
            "абв",
            "public",
            "botctl",
            "pg_catalog",
            "postgres",
        ] {
            assert!(name.parse::<TenantSlug>().is_err(), "{name:?} was accepted");
        }
        let long = "a".repeat(100);
        let err = long.parse::<TenantSlug>().unwrap_err();
        assert!(matches!(err, SlugError::TooLong(_, 100)), "{err}");
    }

    #[test]
    fn identifiers_are_prefixed_and_quoted() {
        let slug: TenantSlug = "acme".parse().unwrap();
        assert_eq!(slug.schema(), "tenant_acme");
        assert_eq!(slug.quoted_schema(), "\"tenant_acme\"");
    }
}
