//! Tenants: their names, their records in the control plane, and the operations on them — `ops`
//! (create, change, delete, migrate), `runtime` (their containers), `fleet` (what the control plane and
//! Docker disagree on), `upgrade` and `backup`, and `lifecycle` (whole create, delete and start as
//! the CLI and the operator bot run them): the orchestrators across `db`, `telegram`, `runtime` and
//! `backup`.

pub mod backup;
pub mod business;
pub mod fleet;
pub mod lifecycle;
pub mod ops;
pub mod restore;
pub mod runtime;
pub mod served;
pub mod servers;
mod slug;
pub mod store;
pub mod upgrade;

pub use slug::{SlugError, TenantSlug};
