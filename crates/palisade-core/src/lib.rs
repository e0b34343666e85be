//! Palisade's domain model: typed identifiers, the tenant spine (client → site → environment → host),
//! accounts and roles, and the one authorisation policy every request passes through.
//!
//! This crate does no I/O: no database, no network, no filesystem, no reading of the system clock
//! except through [`clock::Clock`], so every rule here can be tested exhaustively and deterministically.

pub mod clock;
pub mod ids;
pub mod policy;
pub mod role;
pub mod tenant;
pub mod user;
pub mod validate;

pub use ids::*;
pub use role::Role;
pub use validate::{FieldError, Validate};
