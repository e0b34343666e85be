//! E-mail addresses: the one normalisation used for every comparison, the validation every
//! address passes before it is written into a header, and the blind index.
//!
//! Contacts' addresses are sealed in the database (random nonces: the same address seals
//! differently each time), so the store cannot find a contact by address. The blind index is a
//! keyed HMAC-SHA256 of the normalised address, stored beside the sealed value: equal addresses
//! give equal indexes, and without the key the index says nothing about the address (no
//! dictionary of likely addresses can be hashed to match it). The key is derived from a secret
//! the database never holds (the binary uses the audit HMAC key file), under its own label, so
//! the index cannot be matched against the audit log's redactions either.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Longest address (RFC 5321's path limit less the angle brackets).
pub const MAX_ADDRESS_CHARS: usize = 254;

/// The form addresses are compared in: trimmed, without angle brackets, lowercase. The local part
/// is case-sensitive in theory; no mail system a client uses treats it so, and a customer who
/// writes `Jane@…` one day and `jane@…` the next is the same customer.
pub fn normalise_address(address: &str) -> String {
    address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_lowercase()
}

/// Whether `address` may be written into an outbound header as it is: one `@`, a local part and
/// a dotted domain of printable ASCII without spaces, quotes, brackets, commas, semicolons or
/// line breaks, at most 254 characters. Stricter than RFC 5322 on purpose: anything a header
/// could be broken with is refused rather than escaped.
pub fn valid_address(address: &str) -> bool {
    if address.is_empty() || address.len() > MAX_ADDRESS_CHARS {
        return false;
    }
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let forbidden = |c: char| {
        !c.is_ascii_graphic()
            || matches!(
                c,
                '<' | '>' | '(' | ')' | '[' | ']' | '\\' | ',' | ';' | ':' | '"' | '@'
            )
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.chars().any(forbidden)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && valid_domain(domain)
}

/// A DNS name: dot-separated labels of letters, digits and hyphens, with at least one dot.
pub fn valid_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The keyed blind index of addresses. The key is wiped on drop and never printed.
#[derive(Clone)]
pub struct BlindIndex {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndex(..)")
    }
}

/// The label the index key is derived under: a new label (`v2`) is a new index.
const LABEL: &[u8] = b"palisade/blind-index/email/v1";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl BlindIndex {
    /// The index keyed by a secret of its own derived from `master` (at least 32 bytes of key
    /// material that never enters the database).
    pub fn derive(master: &[u8]) -> Self {
        Self {
            key: Zeroizing::new(hmac(master, LABEL)),
        }
    }

    /// The index of an address (normalised first), as 64 hex digits.
    pub fn of(&self, address: &str) -> String {
        hex::encode(hmac(
            self.key.as_ref(),
            normalise_address(address).as_bytes(),
        ))
    }

    /// A short value that changes when the key changes, stored so that a replaced key is noticed
    /// and the index rebuilt. It is an HMAC of a constant: it reveals nothing of the key.
    pub fn fingerprint(&self) -> String {
        hex::encode(&hmac(self.key.as_ref(), b"fingerprint")[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_addresses_compare_equal_and_index_equal() {
        assert_eq!(
            normalise_address(" <Jane.Doe@Example.COM> "),
            "jane.doe@example.com"
        );
        let b = BlindIndex::derive(&[7u8; 32]);
        assert_eq!(b.of("Jane.Doe@Example.com"), b.of("jane.doe@example.com "));
        assert_ne!(b.of("jane@example.com"), b.of("john@example.com"));
        let other = BlindIndex::derive(&[8u8; 32]);
        assert_ne!(b.of("jane@example.com"), other.of("jane@example.com"));
        assert_ne!(b.fingerprint(), other.fingerprint());
        assert_eq!(format!("{b:?}"), "BlindIndex(..)");
    }

    #[test]
    fn addresses_that_could_break_a_header_are_invalid() {
        assert!(valid_address("jane@example.com"));
        assert!(valid_address("ops+desk@mail.example.co.uk"));
        for bad in [
            "",
            "jane",
            "jane@localhost",
            "jane@example.com\r\nBcc: x@evil.test",
            "jane@example.com\n",
            "jane doe@example.com",
            "\"jane\"@example.com",
            "jane@exa mple.com",
            "a@b@example.com",
            "jane@example.com>, x@evil.test",
            "jane@-example.com",
        ] {
            assert!(!valid_address(bad), "{bad:?}");
        }
    }
}
