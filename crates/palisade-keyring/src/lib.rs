//! The keyring behind encryption at rest: numbered 256-bit data keys, of which the newest seals new
//! values and every one still opens the values sealed under it, so that adding a key (rotation)
//! never makes stored data unreadable and re-encryption can happen later, in the background.
//!
//! A sealed value describes itself: `pz1:<key version>:<base64url(nonce ‖ ciphertext ‖ tag)>`,
//! XChaCha20-Poly1305 with a random 192-bit nonce (large enough that random nonces never repeat
//! in practice, unlike AES-GCM's 96 bits). The caller names what the value is (its table, column
//! and record ID) as associated data, so a sealed value copied into another field or record does
//! not open. Keys live only in memory here and in the keyring file or environment
//! ([`file`]); they are wiped when dropped and no `Debug` output shows them.

pub mod file;
mod live;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload, rand_core::RngCore};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

pub use live::LiveKeyring;

/// The format tag every sealed value starts with. A later format gets a new tag, so old values
/// stay readable beside new ones.
pub const FORMAT: &str = "pz1";

/// Bytes in a data key.
pub const KEY_LEN: usize = 32;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// What can go wrong with keys and sealed values. No variant carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("not a sealed value: expected {FORMAT}:VERSION:DATA")]
    Malformed,
    #[error(
        "key version {version} is not in the keyring (it holds {held}): restore the keyring that has it"
    )]
    UnknownVersion { version: u32, held: String },
    #[error(
        "the value does not open under key version {version}: a different key with that number, an altered value, or a value moved from another field or record"
    )]
    Rejected { version: u32 },
    #[error("keyring entry {entry}: {message}")]
    Syntax { entry: usize, message: String },
    #[error("the keyring holds no key")]
    Empty,
    #[error("key version {0} is the newest, which seals new values: rotate before retiring it")]
    RetireNewest(u32),
    #[error("key version {0} is not in the keyring")]
    NoSuchVersion(u32),
    #[error(
        "the reloaded keyring's newest key is version {found}, older than version {held} already in use: keeping the keys in memory"
    )]
    WentBack { held: u32, found: u32 },
    #[error("cannot read the keyring file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the keyring file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the keyring file {path} already exists")]
    Exists { path: PathBuf },
    #[error(
        "the keyring file {path} can be read or written by other users (mode {mode:03o}): run `chmod 600 {path}`"
    )]
    Exposed { path: PathBuf, mode: u32 },
}

/// One data key. `Zeroizing` wipes it when dropped, clones included.
#[derive(Clone)]
struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    fn random() -> Self {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(k.as_mut());
        Self(k)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        // The cipher copies the key and wipes its copy on drop (chacha20poly1305 zeroizes).
        XChaCha20Poly1305::new(Key::from_slice(self.0.as_ref()))
    }
}

/// Numbered data keys; see the crate documentation. Version 0 is never a key: stores use it to
/// mean "not sealed yet".
#[derive(Clone)]
pub struct Keyring {
    keys: BTreeMap<u32, DataKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("versions", &self.versions())
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl Keyring {
    /// A new keyring with one random key, version 1.
    pub fn generate() -> Self {
        Self {
            keys: BTreeMap::from([(1, DataKey::random())]),
        }
    }

    /// A keyring of the given keys. Version 0 is refused (it means "not sealed"), as is an empty
    /// list or a repeated version.
    pub fn from_keys(
        keys: impl IntoIterator<Item = (u32, Zeroizing<[u8; KEY_LEN]>)>,
    ) -> Result<Self, KeyringError> {
        let mut map = BTreeMap::new();
        for (entry, (version, key)) in keys.into_iter().enumerate() {
            if version == 0 {
                return Err(KeyringError::Syntax {
                    entry: entry + 1,
                    message: "key versions start at 1".into(),
                });
            }
            if map.insert(version, DataKey(key)).is_some() {
                return Err(KeyringError::Syntax {
                    entry: entry + 1,
                    message: format!("version {version} appears twice"),
                });
            }
        }
        if map.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self { keys: map })
    }

    /// The version that seals new values: the highest.
    pub fn newest(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    /// Every version held, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    pub fn contains(&self, version: u32) -> bool {
        self.keys.contains_key(&version)
    }

    /// This keyring plus a new random key numbered one above the newest, which becomes the one
    /// that seals. Old keys stay, so everything sealed so far still opens.
    pub fn rotated(&self) -> Self {
        let mut keys = self.keys.clone();
        keys.insert(self.newest() + 1, DataKey::random());
        Self { keys }
    }

    /// This keyring plus the keys of `other` it lacks (its own win where both have a version).
    pub fn union(&self, other: &Keyring) -> Self {
        let mut keys = other.keys.clone();
        keys.extend(self.keys.clone());
        Self { keys }
    }

    /// This keyring without `version`. The newest key cannot be retired; whether any value still
    /// needs the key is for the caller (the store) to say.
    pub fn retired(&self, version: u32) -> Result<Self, KeyringError> {
        if version == self.newest() {
            return Err(KeyringError::RetireNewest(version));
        }
        if !self.contains(version) {
            return Err(KeyringError::NoSuchVersion(version));
        }
        let mut keys = self.keys.clone();
        keys.remove(&version);
        Ok(Self { keys })
    }

    /// Seals `plaintext` under the newest key. `context` names what the value is (for a database
    /// field: table, column and record ID); the same context must be given to open it.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let version = self.newest();
        let Some(key) = self.keys.get(&version) else {
            unreachable!("a keyring is never empty")
        };
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(version, context);
        let sealed = match key.cipher().encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        ) {
            Ok(c) => c,
            // Encryption fails only for messages beyond 256 GiB.
            Err(_) => unreachable!("XChaCha20-Poly1305 encrypts any field-sized message"),
        };
        let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        format!("{FORMAT}:{version}:{}", URL_SAFE_NO_PAD.encode(body))
    }

    /// Opens a value sealed by [`Keyring::seal`] under any key this keyring holds.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
        let (version, body) = split(sealed)?;
        let key = self
            .keys
            .get(&version)
            .ok_or_else(|| KeyringError::UnknownVersion {
                version,
                held: self.describe(),
            })?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| KeyringError::Malformed)?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(KeyringError::Malformed);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let aad = associated_data(version, context);
        key.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| KeyringError::Rejected { version })
    }

    /// "versions 1, 2" for messages.
    fn describe(&self) -> String {
        let v: Vec<String> = self.keys.keys().map(u32::to_string).collect();
        format!("versions {}", v.join(", "))
    }

    pub(crate) fn key_bytes(&self) -> impl Iterator<Item = (u32, &[u8; KEY_LEN])> {
        self.keys.iter().map(|(v, k)| (*v, &*k.0))
    }
}

/// The key version a sealed value names, without opening it.
pub fn sealed_version(sealed: &str) -> Result<u32, KeyringError> {
    split(sealed).map(|(v, _)| v)
}

fn split(sealed: &str) -> Result<(u32, &str), KeyringError> {
    let mut parts = sealed.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(FORMAT), Some(v), Some(body)) => match v.parse::<u32>() {
            Ok(version) if version > 0 && !v.starts_with(['0', '+']) => Ok((version, body)),
            _ => Err(KeyringError::Malformed),
        },
        _ => Err(KeyringError::Malformed),
    }
}

/// The header is bound as well as the caller's context, so a value cannot be relabelled with
/// another version or format.
fn associated_data(version: u32, context: &str) -> String {
    format!("{FORMAT}:{version}:{context}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_their_context_only() {
        let ring = Keyring::generate();
        let sealed = ring.seal(b"it@acme.example", "contacts.email/0193");
        assert!(sealed.starts_with("pz1:1:"), "{sealed}");
        assert!(!sealed.contains("acme"));
        assert_eq!(
            &**ring.open(&sealed, "contacts.email/0193").expect("open"),
            b"it@acme.example"
        );
        // Another record, another column: the same bytes do not open.
        for wrong in ["contacts.email/0194", "contacts.phone/0193", ""] {
            assert!(matches!(
                ring.open(&sealed, wrong),
                Err(KeyringError::Rejected { version: 1 })
            ));
        }
        // Fresh nonces: sealing the same value twice gives different text.
        assert_ne!(sealed, ring.seal(b"it@acme.example", "contacts.email/0193"));
    }

    #[test]
    fn altered_values_are_rejected() {
        let ring = Keyring::generate();
        let sealed = ring.seal(b"+44 20 7946 0000", "c");
        let (head, body) = sealed.rsplit_once(':').expect("body");
        let mut bytes = URL_SAFE_NO_PAD.decode(body).expect("base64");
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let altered = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(
                matches!(ring.open(&altered, "c"), Err(KeyringError::Rejected { .. })),
                "flipped byte {i}"
            );
            bytes[i] ^= 1;
        }
        // Relabelling the version is caught too: the header is authenticated.
        let rotated = ring.rotated();
        let relabelled = sealed.replacen("pz1:1:", "pz1:2:", 1);
        assert!(matches!(
            rotated.open(&relabelled, "c"),
            Err(KeyringError::Rejected { version: 2 })
        ));
        for junk in [
            "",
            "pz1:1",
            "pz1:x:AAAA",
            "pz1:0:AAAA",
            "pz1:01:AAAA",
            "pz2:1:AAAA",
        ] {
            assert!(
                matches!(ring.open(junk, "c"), Err(KeyringError::Malformed)),
                "{junk}"
            );
        }
        assert!(matches!(
            ring.open("pz1:1:AAAA", "c"),
            Err(KeyringError::Malformed)
        ));
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_unknown_versions_are_named() {
        let v1 = Keyring::generate();
        let old = v1.seal(b"secret", "users.totp_secret/1");
        let v2 = v1.rotated();
        assert_eq!(v2.newest(), 2);
        assert_eq!(v2.versions(), [1, 2]);
        assert_eq!(
            &**v2.open(&old, "users.totp_secret/1").expect("old value"),
            b"secret"
        );
        let new = v2.seal(b"secret", "users.totp_secret/1");
        assert_eq!(sealed_version(&new).expect("version"), 2);
        let err = v1
            .open(&new, "users.totp_secret/1")
            .expect_err("v1 lacks key 2");
        assert!(matches!(
            err,
            KeyringError::UnknownVersion { version: 2, .. }
        ));
        let text = err.to_string();
        assert!(
            text.contains("key version 2") && text.contains("versions 1"),
            "{text}"
        );

        let retired = v2.retired(1).expect("retire 1");
        assert_eq!(retired.versions(), [2]);
        assert!(matches!(v2.retired(2), Err(KeyringError::RetireNewest(2))));
        assert!(matches!(v2.retired(7), Err(KeyringError::NoSuchVersion(7))));
    }

    #[test]
    fn debug_output_hides_the_keys() {
        let ring = Keyring::generate();
        let shown = format!("{ring:?}");
        assert!(shown.contains("versions: [1]") && shown.contains("redacted"));
        let (_, key) = ring.key_bytes().next().expect("a key");
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        assert!(!shown.contains(&b64));
    }

    #[test]
    fn version_zero_and_repeats_are_refused() {
        let k = || Zeroizing::new([7u8; KEY_LEN]);
        assert!(Keyring::from_keys([(0, k())]).is_err());
        assert!(Keyring::from_keys([(1, k()), (1, k())]).is_err());
        assert!(matches!(
            Keyring::from_keys(std::iter::empty()),
            Err(KeyringError::Empty)
        ));
        assert_eq!(
            Keyring::from_keys([(3, k()), (1, k())])
                .expect("ok")
                .newest(),
            3
        );
    }
}
