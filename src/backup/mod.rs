//! Backup archives, apart from any database: their format (a zstd-compressed tar of one CSV file per
//! table and a manifest with each file's row count and sha256, and the manifest's own sha256), writing
//! one so that a crash never leaves a file that looks complete, reading and checking one, and which
//! archives retention keeps. `tenant::backup` fills them from a tenant's schema.

mod archive;
mod manifest;
mod retention;

pub use archive::{Archive, ArchiveError, Written, read, write};
pub use manifest::{FORMAT, Manifest, TableFile, sha256};
pub use retention::{Keep, Stored, archive_name, list, prune};
