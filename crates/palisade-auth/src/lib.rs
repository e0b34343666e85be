//! Credential primitives: Argon2id password hashes, RFC 6238 TOTP codes with replay protection,
//! random secrets for sessions and API tokens stored only as hashes, and CSRF tokens bound to a session.
//!
//! Nothing here touches a database or the network; the only outside input is the OS random source.

pub mod password;
pub mod secret;
pub mod totp;

pub use password::{PasswordError, hash_password, verify_password};
pub use secret::{
    ISSUED_TOKEN_PREFIX, csrf_token, new_api_token, new_session_token, token_hash, tokens_equal,
};
