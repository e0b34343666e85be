//! The keyring's text form and its file. One key per entry, `VERSION = "BASE64"` (valid TOML,
//! so it can be read by eye and by tools); in the `PALISADE_KEYRING` environment variable the
//! entries may be separated by commas instead of lines. The file must be private to its owner:
//! on Unix a group- or world-accessible file is refused, and this module writes it as 0600,
//! replacing it atomically (a temporary file renamed over it) so a crash never leaves half a key.
//!
//! This is the crate's only I/O; the text is parsed and rendered in memory that is wiped after use.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::{KEY_LEN, Keyring, KeyringError};

const HEADER: &str = "\
# Palisade keyring: the data keys that encrypt sensitive fields in the database.
# Keep it private (mode 0600) and back it up apart from the database: without it the
# encrypted fields cannot be read, and with it anyone holding a database copy can read them.
# The highest version encrypts new values; every version listed still decrypts.
";

/// Parses keyring text: entries `VERSION = "BASE64"` (quotes optional) separated by lines or
/// commas; blank lines and `#` comments are skipped. Errors name the entry, never its content.
pub fn parse(text: &str) -> Result<Keyring, KeyringError> {
    let mut keys = Vec::new();
    // Comments end at the line's end, so they are cut before commas split entries.
    let entries = text
        .lines()
        .flat_map(|line| line.split('#').next().unwrap_or("").split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty());
    for (n, entry) in entries.enumerate() {
        let syntax = |message: &str| KeyringError::Syntax {
            entry: n + 1,
            message: message.to_owned(),
        };
        let (version, key) = entry
            .split_once('=')
            .ok_or_else(|| syntax("expected VERSION = \"BASE64 KEY\""))?;
        let version: u32 = version
            .trim()
            .parse()
            .map_err(|_| syntax("the version must be a whole number"))?;
        let key = key.trim().trim_matches('"');
        let bytes = Zeroizing::new(
            STANDARD
                .decode(key)
                .map_err(|_| syntax("the key is not base64"))?,
        );
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(syntax("a key is 32 bytes (44 base64 characters)"));
        }
        k.copy_from_slice(&bytes);
        keys.push((version, k));
    }
    Keyring::from_keys(keys)
}

/// The keyring as file text.
pub fn render(ring: &Keyring) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::from(HEADER));
    for (version, key) in ring.key_bytes() {
        let b64 = Zeroizing::new(STANDARD.encode(key));
        out.push_str(&format!("{version} = \"{}\"\n", b64.as_str()));
    }
    out
}

/// Reads and parses the keyring file, refusing one that others may read.
pub fn load(path: &Path) -> Result<Keyring, KeyringError> {
    let read = |source| KeyringError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    check_private(path, &file)?;
    let mut text = Zeroizing::new(String::new());
    std::io::Read::read_to_string(&mut &file, &mut text).map_err(read)?;
    parse(&text)
}

#[cfg(unix)]
fn check_private(path: &Path, file: &std::fs::File) -> Result<(), KeyringError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|source| KeyringError::Read {
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyringError::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _file: &std::fs::File) -> Result<(), KeyringError> {
    // Elsewhere access is governed by ACLs this crate does not inspect.
    Ok(())
}

/// Writes the keyring to `path`, replacing any file there in one step (temporary file, flushed
/// to disk, renamed over the old one).
pub fn replace(path: &Path, ring: &Keyring) -> Result<(), KeyringError> {
    let tmp = write_temporary(path, ring)?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        KeyringError::Write {
            path: path.to_owned(),
            source,
        }
    })?;
    sync_parent(path);
    Ok(())
}

/// Writes a new keyring file, failing with [`KeyringError::Exists`] if `path` exists (so two
/// processes starting at once cannot both create one: the loser loads the winner's). The file
/// appears complete or not at all.
pub fn create(path: &Path, ring: &Keyring) -> Result<(), KeyringError> {
    let tmp = write_temporary(path, ring)?;
    // A hard link, unlike a rename, does not replace an existing file.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_parent(path);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(KeyringError::Exists {
            path: path.to_owned(),
        }),
        Err(source) => Err(KeyringError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

fn write_temporary(path: &Path, ring: &Keyring) -> Result<PathBuf, KeyringError> {
    let write = |source| KeyringError::Write {
        path: path.to_owned(),
        source,
    };
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(name);
    // A leftover from a crash of a process with the same ID would block `create_new`.
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(write)?;
    let text = render(ring);
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write(e));
    }
    Ok(tmp)
}

/// Makes the rename durable. Best effort: not every platform can open a folder.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_environment_entries_may_use_commas() {
        let ring = Keyring::generate().rotated();
        let text = render(&ring);
        assert!(text.starts_with("# Palisade keyring"));
        let back = parse(&text).expect("parse");
        assert_eq!(back.versions(), [1, 2]);
        let sealed = ring.seal(b"x", "ctx");
        assert_eq!(&**back.open(&sealed, "ctx").expect("same keys"), b"x");

        let one_line: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.trim())
            .collect();
        let env = one_line.join(",").replace('"', "");
        assert_eq!(parse(&env).expect("env form").versions(), [1, 2]);
    }

    #[test]
    fn syntax_errors_name_the_entry_but_not_the_key() {
        let secretish = "c2VjcmV0LWJ1dC10b28tc2hvcnQ=";
        for (text, wanted) in [
            (format!("1 = \"{secretish}\""), "32 bytes"),
            ("one = \"AAAA\"".to_owned(), "whole number"),
            ("1 \"AAAA\"".to_owned(), "VERSION ="),
            ("1 = \"not base64!\"".to_owned(), "not base64"),
            ("# only a comment\n".to_owned(), "no key"),
        ] {
            let err = parse(&text).expect_err(&text).to_string();
            assert!(err.contains(wanted), "{text}: {err}");
            assert!(!err.contains(secretish), "{err}");
        }
    }

    #[test]
    fn files_are_created_once_replaced_atomically_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyring");
        let ring = Keyring::generate();
        create(&path, &ring).expect("create");
        assert!(matches!(
            create(&path, &ring.rotated()),
            Err(KeyringError::Exists { .. })
        ));
        assert_eq!(load(&path).expect("load").versions(), [1]);
        replace(&path, &ring.rotated()).expect("replace");
        assert_eq!(load(&path).expect("load").versions(), [1, 2]);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, ["keyring"], "no temporary file is left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_keyring_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyring");
        create(&path, &Keyring::generate()).expect("create");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = load(&path).expect_err("world-readable");
        assert!(matches!(err, KeyringError::Exposed { mode: 0o644, .. }));
        let text = err.to_string();
        assert!(text.contains("chmod 600") && text.contains("644"), "{text}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(matches!(load(&path), Err(KeyringError::Exposed { .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        assert!(load(&path).is_ok(), "read-only for the owner is fine");
    }
}
