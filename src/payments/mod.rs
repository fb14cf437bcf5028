//! The providers money arrives through: their clients and their emulators, as product modules.
//!
//! Each provider is its own module with a typed client for its API and an emulator of that API that
//! tests and `botctl demo` use; crediting what arrives is `billing`'s job, not theirs.

pub mod refund;
pub mod stars;
pub mod yookassa;
