//! Containers: the Docker engine that runs one `botctl serve` container per tenant.
//!
//! `runtime` knows nothing of PostgreSQL or the control plane; `tenant` orchestrates it.

pub mod container;
mod docker;
pub mod image;

pub use docker::{Engine, EngineInfo, ImageInfo};
