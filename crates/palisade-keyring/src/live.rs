//! The keyring a running process uses, which can learn new keys without a restart. When another
//! process rotates (`palisade keys rotate` beside a running server), values sealed under the new
//! key start to appear in the database; a server that met one it cannot open reloads its keyring
//! from where it came from and tries again, so old and new data stay readable throughout.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::{Keyring, KeyringError};

/// Reloads on a miss happen at most this often, so a value under a key that truly is gone (an
/// operator error) cannot turn every read into a file read.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

type Reload = Box<dyn Fn() -> Result<Keyring, KeyringError> + Send + Sync>;

/// A [`Keyring`] that can be replaced while in use; see the module documentation.
pub struct LiveKeyring {
    current: RwLock<Arc<Keyring>>,
    reload: Option<Reload>,
    last_reload: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for LiveKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKeyring")
            .field("current", &self.current())
            .field("reloads", &self.reload.is_some())
            .finish()
    }
}

impl LiveKeyring {
    /// A keyring that changes only through [`LiveKeyring::replace`].
    pub fn fixed(ring: Keyring) -> Self {
        Self {
            current: RwLock::new(Arc::new(ring)),
            reload: None,
            last_reload: Mutex::new(None),
        }
    }

    /// A keyring that `reload` reads afresh (from its file) when a value names a key it lacks,
    /// and when [`LiveKeyring::reload`] is called.
    pub fn reloading(
        ring: Keyring,
        reload: impl Fn() -> Result<Keyring, KeyringError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            reload: Some(Box::new(reload)),
            ..Self::fixed(ring)
        }
    }

    /// The keys in use now.
    pub fn current(&self) -> Arc<Keyring> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Uses `ring` from now on.
    pub fn replace(&self, ring: Keyring) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
    }

    /// Reads the keyring again from its source. Returns whether the newest version changed. A
    /// keyring whose newest key is older than the one in use is refused: a restored old file
    /// would otherwise make this process seal with a key the others have moved past. Keys this
    /// process holds that the source no longer lists are kept until it restarts: a key retired
    /// while this process was still sealing with it (it had not yet seen the new one) must keep
    /// opening those values until the re-encryption pass has moved them on.
    pub fn reload(&self) -> Result<bool, KeyringError> {
        let Some(reload) = &self.reload else {
            return Ok(false);
        };
        *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let fresh = reload()?;
        let held = self.current().newest();
        if fresh.newest() < held {
            return Err(KeyringError::WentBack {
                held,
                found: fresh.newest(),
            });
        }
        let changed = fresh.newest() != held;
        self.replace(fresh.union(&self.current()));
        Ok(changed)
    }

    /// Seals under the newest key; returns its version with the sealed text.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> (u32, String) {
        let ring = self.current();
        (ring.newest(), ring.seal(plaintext, context))
    }

    /// Opens a sealed value, reloading the keyring once if the value names a key it lacks.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
        match self.current().open(sealed, context) {
            Err(KeyringError::UnknownVersion { .. }) if self.may_reload() => {
                // A failed reload leaves the original error the more useful one to report.
                let _ = self.reload();
                self.current().open(sealed, context)
            }
            other => other,
        }
    }

    fn may_reload(&self) -> bool {
        self.reload.is_some()
            && self
                .last_reload
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none_or(|at| at.elapsed() >= RELOAD_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_under_a_new_key_triggers_one_reload() {
        let v1 = Keyring::generate();
        let v2 = v1.rotated();
        let source = Arc::new(Mutex::new(v1.clone()));
        let reads = Arc::new(Mutex::new(0));
        let live = {
            let (source, reads) = (source.clone(), reads.clone());
            LiveKeyring::reloading(v1.clone(), move || {
                *reads.lock().expect("lock") += 1;
                Ok(source.lock().expect("lock").clone())
            })
        };
        let (version, old) = live.seal(b"old", "c");
        assert_eq!(version, 1);

        // Another process rotates: its file now holds key 2 and it seals with it.
        *source.lock().expect("lock") = v2.clone();
        let new = v2.seal(b"new", "c");
        assert_eq!(&**live.open(&new, "c").expect("reloaded"), b"new");
        assert_eq!(*reads.lock().expect("lock"), 1);
        assert_eq!(&**live.open(&old, "c").expect("old still opens"), b"old");
        assert_eq!(live.seal(b"x", "c").0, 2, "the new key seals from now on");

        // A key nobody has: the error names it, and the miss right after does not reread.
        let v3 = v2.rotated().rotated();
        let stranger = v3.seal(b"?", "c");
        for _ in 0..3 {
            let err = live.open(&stranger, "c").expect_err("no key 4");
            assert!(matches!(
                err,
                KeyringError::UnknownVersion { version: 4, .. }
            ));
        }
        assert_eq!(*reads.lock().expect("lock"), 1, "reloads are rate-limited");
    }

    #[test]
    fn keys_retired_from_the_source_stay_in_memory() {
        let v2 = Keyring::generate().rotated();
        let v3 = v2.rotated();
        let retired = v3.retired(1).expect("retire");
        let live = LiveKeyring::reloading(v2, move || Ok(retired.clone()));
        assert!(live.reload().expect("reload"));
        assert_eq!(live.current().versions(), [1, 2, 3]);
    }

    #[test]
    fn a_keyring_that_went_back_is_refused() {
        let v1 = Keyring::generate();
        let v2 = v1.rotated();
        let live = LiveKeyring::reloading(v2, move || Ok(v1.clone()));
        assert!(matches!(
            live.reload(),
            Err(KeyringError::WentBack { held: 2, found: 1 })
        ));
        assert_eq!(live.current().newest(), 2);
    }
}
