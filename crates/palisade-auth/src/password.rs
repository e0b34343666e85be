//! Password hashing with Argon2id at OWASP's recommended point (19 MiB, 2 passes, 1 lane).

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Hashing failed; only possible with parameters out of range, so this signals a bug.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

fn hasher() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1 for Argon2id.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for `password` with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError(e.to_string()))
}

/// Whether `password` matches the PHC string. With `None` (no such user) a dummy hash is checked
/// anyway, so response time does not reveal whether an account exists.
pub fn verify_password(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("palisade-dummy-password").unwrap_or_default());
    let (phc, real) = match phc {
        Some(p) => (p, true),
        None => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // Verification uses the parameters recorded in the hash, so stronger future settings still
    // verify old hashes.
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify_only_the_right_password() {
        let a = hash_password("correct horse battery staple").expect("hash");
        let b = hash_password("correct horse battery staple").expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salts differ");
        assert!(verify_password("correct horse battery staple", Some(&a)));
        assert!(!verify_password("correct horse battery stapl", Some(&a)));
        assert!(!verify_password("anything", None));
        assert!(!verify_password("anything", Some("not a phc string")));
    }
}
