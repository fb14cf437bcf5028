//! The languages a tenant's bot speaks; shared by templates, texts and the control plane.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The language of a template, and of a tenant's default texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    /// Russian.
    Ru,
    /// English.
    En,
}

impl Locale {
    fn as_str(self) -> &'static str {
        match self {
            Locale::Ru => "ru",
            Locale::En => "en",
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Locale {
    type Err = UnknownLocale;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ru" => Ok(Locale::Ru),
            "en" => Ok(Locale::En),
            _ => Err(UnknownLocale(s.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown locale `{0}`: expected `ru` or `en`")]
pub struct UnknownLocale(pub String);
