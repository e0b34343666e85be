//! RFC 6238 time-based one-time passwords (HMAC-SHA1, 30-second steps, 6 digits), the variant every
//! authenticator app supports. Verification accepts one step of clock drift either way and refuses a
//! step at or before the last one used, so a code cannot be replayed.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;

/// A new 160-bit shared secret.
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// The secret as base32, the form authenticator apps accept when typed in.
pub fn secret_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// Parses a base32 secret back.
pub fn secret_from_base32(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD
        .decode(text.trim_end_matches('=').as_bytes())
        .ok()
}

/// The `otpauth://` URI an authenticator app imports (usually as a QR code).
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        secret_base32(secret),
        enc(issuer)
    )
}

/// The code for one step (RFC 4226 dynamic truncation).
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        bin % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// The step a Unix time falls in.
pub fn step_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// Checks `code` at `unix_seconds`. Returns the matched step, which the caller stores as the new
/// `last_step`; `None` if the code is wrong or was already used.
pub fn verify(secret: &[u8], code: &str, unix_seconds: i64, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_seconds);
    [now - 1, now, now + 1].into_iter().find(|&step| {
        last_step.is_none_or(|last| step > last)
            && crate::tokens_equal(&code_at_step(secret, step), &code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_6238_sha1_test_vectors() {
        // RFC 6238 appendix B, SHA-1 key "12345678901234567890"; the RFC prints 8 digits, we use the last 6.
        let key = b"12345678901234567890";
        for (t, expected) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
        ] {
            assert_eq!(code_at_step(key, step_of(t)), expected[2..], "t={t}");
        }
    }

    #[test]
    fn accepts_one_step_of_drift_and_refuses_replays() {
        let key = new_secret();
        let t = 1_800_000_000;
        let code = code_at_step(&key, step_of(t));
        let step = verify(&key, &code, t, None).expect("valid");
        assert_eq!(verify(&key, &code, t, Some(step)), None, "replay refused");
        assert!(
            verify(&key, &code, t + STEP_SECONDS, None).is_some(),
            "one step late is fine"
        );
        assert_eq!(
            verify(&key, &code, t + 3 * STEP_SECONDS, None),
            None,
            "three steps late is not"
        );
        assert_eq!(verify(&key, "12345", t, None), None);
        assert_eq!(verify(&key, "abcdef", t, None), None);
    }

    #[test]
    fn base32_round_trips_and_uri_names_issuer_and_account() {
        let key = new_secret();
        assert_eq!(
            secret_from_base32(&secret_base32(&key)).expect("decode"),
            key
        );
        let uri = otpauth_uri(&key, "Palisade", "ana@example.com");
        assert!(uri.starts_with("otpauth://totp/Palisade:ana%40example.com?secret="));
    }
}
