//! The arguments every command that works on many tenants shares: which ones, and how many at once.

use clap::Args;

use crate::error::BadInput;
use crate::tenant::ops::Targets;

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The tenants to work on.
    #[arg(value_name = "NAME", required_unless_present = "all", conflicts_with = "all")]
    names: Vec<String>,
    /// Works on every tenant.
    #[arg(long)]
    all: bool,
    /// How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up
    /// to 4 × this many at once, and no server on more than this.
    #[arg(long, short, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

impl FleetArgs {
    /// The tenants named, validated, or all of them.
    pub fn targets(&self) -> anyhow::Result<Targets> {
        if self.all {
            return Ok(Targets::All);
        }
        let slugs = self.names.iter().map(|n| super::tenant::slug(n)).collect::<anyhow::Result<Vec<_>>>()?;
        if slugs.is_empty() {
            return Err(BadInput::new("name the tenants, or pass --all").into());
        }
        Ok(Targets::Named(slugs))
    }
}
