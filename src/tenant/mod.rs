//! Tenants: their names, their records in the control plane, and the operations that create, change
//! and delete them. `tenant::ops` is the one orchestrator across `db`, `telegram` and (later) `runtime`.

mod business;
pub mod ops;
pub mod runtime;
mod slug;
pub mod store;

pub use slug::{SlugError, TenantSlug};
