//! Random bearer secrets (session cookies, API tokens) and their storage form. Only the SHA-256 of a
//! secret is stored: the secret has 256 bits of entropy, so a fast hash is enough, and a database
//! leak does not hand out working credentials.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every API token, so secret scanners can recognise a leaked Palisade token.
pub const ISSUED_TOKEN_PREFIX: &str = "pal_";

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A new session secret for a cookie.
pub fn new_session_token() -> String {
    random_b64(32)
}

/// A new API token, `pal_…`.
pub fn new_api_token() -> String {
    format!("{ISSUED_TOKEN_PREFIX}{}", random_b64(32))
}

/// The stored form of a session or API secret.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The CSRF token for a session: derived from the session secret, which an attacker on another
/// origin cannot read, so a forged form cannot carry it.
pub fn csrf_token(session_secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_secret.as_bytes()).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch cannot run.
        Hmac::<Sha256>::new_from_slice(b"unreachable").unwrap_or_else(|_| unreachable!())
    });
    mac.update(b"palisade-csrf-v1");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Compares two secrets in constant time.
pub fn tokens_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hash_stably() {
        let t1 = new_api_token();
        let t2 = new_api_token();
        assert!(t1.starts_with("pal_") && t1.len() > 40);
        assert_ne!(t1, t2);
        assert_eq!(token_hash(&t1), token_hash(&t1));
        assert_ne!(token_hash(&t1), token_hash(&t2));
        assert_eq!(token_hash(&t1).len(), 64);
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let s1 = new_session_token();
        let s2 = new_session_token();
        assert!(tokens_equal(&csrf_token(&s1), &csrf_token(&s1)));
        assert!(!tokens_equal(&csrf_token(&s1), &csrf_token(&s2)));
    }
}
