//! What an archive says about itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The archive format this botctl writes and reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub tenant: String,
    pub display_name: String,
    /// The tenant schema's migration version the data was taken at.
    pub schema_version: i64,
    pub botctl_version: String,
    pub created_at: DateTime<Utc>,
    /// In load order: a table comes after the tables it refers to.
    pub tables: Vec<TableFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableFile {
    pub table: String,
    /// Inside the archive: `tables/<table>.csv`, PostgreSQL's CSV with a header line.
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// The lowercase hex sha256 of `data`.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}
