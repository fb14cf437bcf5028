//! Containers: the Docker engine that runs one `botctl serve` container per tenant, or one Swarm
//! service per tenant (`runtime.mode: swarm`).
//!
//! `runtime` knows nothing of PostgreSQL or the control plane; `tenant` orchestrates it.

pub mod container;
mod docker;
pub mod image;
pub mod service;

/// How tenant bots run: plain containers on this engine, or services of the swarm it manages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Containers,
    Swarm,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "containers" => Ok(Mode::Containers),
            "swarm" => Ok(Mode::Swarm),
            _ => Err(format!("`{s}` is not a runtime mode (containers or swarm)")),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Containers => "containers",
            Mode::Swarm => "swarm",
        })
    }
}

/// Checks one Swarm placement constraint's shape: `KEY==VALUE` or `KEY!=VALUE`.
pub fn parse_placement(constraint: &str) -> Result<String, String> {
    let bad = || {
        format!("`{constraint}` is not a placement constraint (KEY==VALUE or KEY!=VALUE, e.g. node.labels.botctl==yes)")
    };
    let (key, value) = constraint.split_once("==").or_else(|| constraint.split_once("!=")).ok_or_else(bad)?;
    let (key, value) = (key.trim(), value.trim());
    let key_ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !key_ok || value.is_empty() || value.contains("==") || value.contains("!=") {
        return Err(bad());
    }
    Ok(constraint.trim().to_string())
}

pub use docker::{Engine, EngineInfo, ImageInfo};
