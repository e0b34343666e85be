//! Digests: the periodic seals of the log. A digest names a range of events by sequence number and
//! count, commits to them with their Merkle root and the chain head, links to the previous digest by
//! its fingerprint, and is signed with Ed25519. Only the public key is needed to check it, and it is
//! published apart from the database, so whoever controls the database cannot rewrite history
//! without the signatures failing.
//!
//! An interval with no events is still sealed (an empty range): otherwise a deleted digest and a
//! quiet interval would look alike.

use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::event::Hash;

/// Errors reading or using keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not an Ed25519 private key in PKCS#8 PEM: {0}")]
    Private(String),
    #[error("not an Ed25519 public key in SubjectPublicKeyInfo PEM: {0}")]
    Public(String),
}

/// The private half, held only by the server that seals the log.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.verifying_key().key_id())
    }
}

impl SigningKey {
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(Self)
            .map_err(|e| KeyError::Private(e.to_string()))
    }

    pub fn to_pem(&self) -> String {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }

    /// Seals `body` into a signed digest.
    pub fn sign(&self, body: DigestBody) -> Digest {
        let signature = self.0.sign(&body.signed_bytes()).to_bytes();
        Digest {
            body,
            signature: hex::encode(signature),
        }
    }
}

/// The public half, published at `/api/v1/audit/public-key` and by `palisade audit public-key`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyingKey({})", self.key_id())
    }
}

impl VerifyingKey {
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim())
            .map(Self)
            .map_err(|e| KeyError::Public(e.to_string()))
    }

    pub fn to_pem(&self) -> String {
        self.0.to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// A short name for the key: the first 16 hex digits of SHA-256 of the raw public key. Digests
    /// carry it so that a verifier holding several keys (after a rotation) knows which to use.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    pub fn verify(&self, digest: &Digest) -> bool {
        let Ok(bytes) = hex::decode(&digest.signature) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes) else {
            return false;
        };
        self.0
            .verify_strict(&digest.body.signed_bytes(), &sig)
            .is_ok()
    }
}

/// What a digest says about the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DigestBody {
    /// 1 for the first digest, then one more each time.
    pub number: u64,
    /// The first event covered; for an empty range, the sequence number the next event will get.
    pub first_seq: u64,
    /// How many events are covered: `first_seq ..= first_seq + count - 1`.
    pub count: u64,
    /// The RFC 6962 root of the covered events' leaves.
    #[schema(value_type = String)]
    pub root: Hash,
    /// The chain hash of the last covered event (the previous head for an empty range).
    #[schema(value_type = String)]
    pub chain_head: Hash,
    /// The previous digest's fingerprint ([`Hash::GENESIS`] for the first).
    #[schema(value_type = String)]
    pub previous: Hash,
    /// When it was sealed, microseconds since the Unix epoch (UTC).
    pub sealed_at_micros: i64,
    /// Which key signed it ([`VerifyingKey::key_id`]).
    pub key_id: String,
}

const DOMAIN: &[u8] = b"palisade-audit-digest-v1\0";

impl DigestBody {
    /// The signed bytes: a domain tag, then every field in order, integers big-endian, the key id
    /// length-prefixed.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DOMAIN.len() + 8 * 4 + 32 * 3 + 4 + self.key_id.len());
        out.extend_from_slice(DOMAIN);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.first_seq.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.root.0);
        out.extend_from_slice(&self.chain_head.0);
        out.extend_from_slice(&self.previous.0);
        out.extend_from_slice(&self.sealed_at_micros.to_be_bytes());
        out.extend_from_slice(&(self.key_id.len() as u32).to_be_bytes());
        out.extend_from_slice(self.key_id.as_bytes());
        out
    }

    /// The last sequence number covered, or `first_seq - 1` for an empty range.
    pub fn last_seq(&self) -> u64 {
        (self.first_seq + self.count).saturating_sub(1)
    }
}

/// A signed digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Digest {
    #[serde(flatten)]
    pub body: DigestBody,
    /// The Ed25519 signature of [`DigestBody::signed_bytes`], hex.
    pub signature: String,
}

impl Digest {
    /// What the next digest names as `previous`: SHA-256 of the signed bytes and the signature, so
    /// replacing either breaks the link.
    pub fn fingerprint(&self) -> Hash {
        let mut h = Sha256::new();
        h.update(self.body.signed_bytes());
        h.update(self.signature.as_bytes());
        Hash(h.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> DigestBody {
        DigestBody {
            number: 1,
            first_seq: 1,
            count: 3,
            root: Hash([7; 32]),
            chain_head: Hash([8; 32]),
            previous: Hash::GENESIS,
            sealed_at_micros: 1_700_000_000_000_000,
            key_id: String::new(),
        }
    }

    #[test]
    fn a_signed_digest_verifies_and_any_change_breaks_it() {
        let key = SigningKey::generate();
        let public = key.verifying_key();
        let d = key.sign(DigestBody {
            key_id: public.key_id(),
            ..body()
        });
        assert!(public.verify(&d));
        let mut changed = d.clone();
        changed.body.count = 2;
        assert!(!public.verify(&changed));
        let other = SigningKey::generate().verifying_key();
        assert!(!other.verify(&d));
        let mut garbled = d.clone();
        garbled.signature = "zz".into();
        assert!(!public.verify(&garbled));
    }

    #[test]
    fn keys_round_trip_through_pem() {
        let key = SigningKey::generate();
        let again = SigningKey::from_pem(&key.to_pem()).unwrap();
        assert_eq!(again.verifying_key(), key.verifying_key());
        let public = VerifyingKey::from_pem(&key.verifying_key().to_pem()).unwrap();
        assert_eq!(public, key.verifying_key());
        assert!(
            VerifyingKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
    }

    #[test]
    fn empty_ranges_name_the_next_sequence_number() {
        let b = DigestBody {
            count: 0,
            first_seq: 10,
            ..body()
        };
        assert_eq!(b.last_seq(), 9);
    }
}
