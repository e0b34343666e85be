//! The audit log's two keys, read from files that are never in the database: the Ed25519 key that
//! signs digests, and the HMAC key that redacts sensitive values. A fresh data folder gets both,
//! created readable by the owner only; a key file others can read is refused, since whoever reads
//! the signing key can forge digests.

use std::path::{Path, PathBuf};

use palisade_audit::SigningKey;
use palisade_audit::redact::Redactor;

use crate::AuditError;

pub const SIGNING_KEY_FILE: &str = "audit-signing-key.pem";
pub const HMAC_KEY_FILE: &str = "audit-hmac.key";

/// The keys of a running server.
#[derive(Debug)]
pub struct AuditKeys {
    pub signing: SigningKey,
    pub redactor: Redactor,
}

fn file_err(path: &Path, detail: impl std::fmt::Display) -> AuditError {
    AuditError::File {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

/// Writes a new secret file, owner read/write only, failing if it exists.
fn create_secret(path: &Path, contents: &str) -> Result<(), AuditError> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| file_err(path, e))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| file_err(path, e))
}

fn read_secret(path: &Path) -> Result<String, AuditError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| file_err(path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(file_err(
                path,
                format!(
                    "is readable by others (mode {:o}); run chmod 600 on it",
                    mode & 0o777
                ),
            ));
        }
    }
    std::fs::read_to_string(path).map_err(|e| file_err(path, e))
}

impl AuditKeys {
    /// Reads the keys from `signing_key` and `hmac_key`, creating either file (and its folder) if
    /// it does not exist yet.
    pub fn load_or_create(signing_key: &Path, hmac_key: &Path) -> Result<Self, AuditError> {
        for p in [signing_key, hmac_key] {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
            }
        }
        if !signing_key.exists() {
            create_secret(signing_key, &SigningKey::generate().to_pem())?;
            tracing::info!(path = %signing_key.display(), "Created the audit signing key.");
        }
        if !hmac_key.exists() {
            create_secret(
                hmac_key,
                &(hex_key(Redactor::generate().key_bytes()) + "\n"),
            )?;
        }
        let signing = SigningKey::from_pem(&read_secret(signing_key)?)
            .map_err(|e| file_err(signing_key, e))?;
        let text = read_secret(hmac_key)?;
        let bytes = hex_decode(text.trim())
            .ok_or_else(|| file_err(hmac_key, "expected 64 hexadecimal digits (a 32-byte key)"))?;
        Ok(Self {
            signing,
            redactor: Redactor::new(bytes),
        })
    }

    /// Fresh keys held in memory only, for tests and benchmarks.
    pub fn ephemeral() -> Self {
        Self {
            signing: SigningKey::generate(),
            redactor: Redactor::generate(),
        }
    }

    /// The default places in a data folder.
    pub fn default_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
        (
            data_dir.join(SIGNING_KEY_FILE),
            data_dir.join(HMAC_KEY_FILE),
        )
    }
}

fn hex_key(bytes: &[u8; 32]) -> String {
    hex::encode(bytes)
}

fn hex_decode(s: &str) -> Option<[u8; 32]> {
    hex::decode(s).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (s, h) = AuditKeys::default_paths(dir.path());
        let a = AuditKeys::load_or_create(&s, &h).unwrap();
        let b = AuditKeys::load_or_create(&s, &h).unwrap();
        assert_eq!(a.signing.verifying_key(), b.signing.verifying_key());
        assert_eq!(a.redactor.redact("x"), b.redactor.redact("x"));
    }

    #[cfg(unix)]
    #[test]
    fn a_key_others_can_read_is_refused_by_name() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let (s, h) = AuditKeys::default_paths(dir.path());
        AuditKeys::load_or_create(&s, &h).unwrap();
        std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = AuditKeys::load_or_create(&s, &h).unwrap_err().to_string();
        assert!(
            e.contains(SIGNING_KEY_FILE) && e.contains("chmod 600"),
            "{e}"
        );
    }

    #[test]
    fn a_garbled_key_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (s, h) = AuditKeys::default_paths(dir.path());
        create_secret(&h, "not hex").unwrap();
        let e = AuditKeys::load_or_create(&s, &h).unwrap_err().to_string();
        assert!(
            e.contains(HMAC_KEY_FILE) && e.contains("64 hexadecimal"),
            "{e}"
        );
    }
}
