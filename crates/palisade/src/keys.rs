//! The keyring in the binary: where the data keys come from (`PALISADE_KEYRING`, or the keyring
//! file, created on first start), the start-up check that the keyring opens everything the
//! database holds, the `palisade keys status|rotate|reencrypt|retire` commands, and the server's
//! background re-encryption. Keys are never written to the database, printed or logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use palisade_keyring::{Keyring, KeyringError, LiveKeyring, file};
use palisade_store_sql::{KeyUsage, SqlStore};

use crate::config::Config;

/// The environment variable that, when set, holds the keyring instead of the file:
/// `1=BASE64,2=BASE64` (or the file's lines).
pub const ENV: &str = "PALISADE_KEYRING";

/// How often a running server rereads its keyring to notice a rotation by another process.
const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// Where this process's keys come from.
#[derive(Clone, Debug)]
pub enum KeySource {
    Environment,
    File(PathBuf),
}

impl KeySource {
    pub fn of(cfg: &Config) -> Self {
        match std::env::var_os(ENV) {
            Some(v) if !v.is_empty() => KeySource::Environment,
            _ => KeySource::File(cfg.keyring_file.clone()),
        }
    }

    fn load(&self) -> Result<Keyring, KeyringError> {
        match self {
            KeySource::Environment => {
                let text = zeroize::Zeroizing::new(std::env::var(ENV).unwrap_or_default());
                file::parse(&text)
            }
            KeySource::File(path) => file::load(path),
        }
    }

    fn describe(&self) -> String {
        match self {
            KeySource::Environment => format!("the {ENV} environment variable"),
            KeySource::File(path) => path.display().to_string(),
        }
    }

    /// The keyring file, for the commands that change it.
    fn file(&self) -> anyhow::Result<&PathBuf> {
        match self {
            KeySource::File(path) => Ok(path),
            KeySource::Environment => bail!(
                "the keyring comes from {ENV}, which Palisade cannot change: add a key there \
                 yourself (VERSION=BASE64 of 32 random bytes, e.g. from `openssl rand -base64 32`), \
                 restart, and the server re-encrypts in the background"
            ),
        }
    }
}

/// The live keyring for `source`, and whether it was generated just now (no file yet). A new
/// keyring is written only after [`check`] has seen that the database needs no older one.
fn open_keyring(source: &KeySource) -> anyhow::Result<(Arc<LiveKeyring>, bool)> {
    let (ring, created) = match source {
        KeySource::File(path) if !path.exists() => (Keyring::generate(), true),
        _ => (
            source
                .load()
                .with_context(|| format!("cannot load the keyring from {}", source.describe()))?,
            false,
        ),
    };
    let live = match source {
        KeySource::File(_) => {
            let source = source.clone();
            LiveKeyring::reloading(ring, move || source.load())
        }
        // The environment of a running process does not change.
        KeySource::Environment => LiveKeyring::fixed(ring),
    };
    Ok((Arc::new(live), created))
}

/// Connects to and migrates the configured database with the configured keyring, creating the
/// keyring file on first start, and refuses to go on if the database holds values under keys the
/// keyring lacks (a lost or wrong keyring file), naming them. Callers go through
/// `serve::open_store`, which prepares the data folder first.
pub(crate) async fn connect(cfg: &Config) -> anyhow::Result<SqlStore> {
    let source = KeySource::of(cfg);
    let (keys, created) = open_keyring(&source)?;
    let store = SqlStore::connect(&cfg.database_url, keys).await?;
    store.migrate().await?;
    check(&store, &source, created).await?;
    Ok(store)
}

async fn check(store: &SqlStore, source: &KeySource, created: bool) -> anyhow::Result<()> {
    let usage = store.key_usage().await?;
    let ring = store.keyring().current();
    let mut missing: Vec<u32> = usage
        .iter()
        .map(|u| u.version)
        .filter(|v| *v != 0 && !ring.contains(*v))
        .collect();
    missing.dedup();
    let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    if created && !missing.is_empty() {
        bail!(
            "there is no keyring at {}, but the database holds values encrypted under key \
             version(s) {}: restore the keyring file from its backup (or set {ENV}); a new keyring \
             cannot read them",
            source.describe(),
            list(&missing)
        );
    }
    if !missing.is_empty() {
        bail!(
            "the keyring from {} lacks key version(s) {} that the database uses (it holds {}): \
             restore the keyring that has them",
            source.describe(),
            list(&missing),
            list(&ring.versions())
        );
    }
    store.probe_keys().await.with_context(|| {
        format!(
            "the keyring from {} does not match the database: restore the keyring file that \
             belongs to it",
            source.describe()
        )
    })?;
    if created && let KeySource::File(path) = source {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the folder {}", dir.display()))?;
        }
        match file::create(path, &ring) {
            Ok(()) => tracing::info!(
                path = %path.display(),
                "Created a new keyring for encryption at rest. Back it up apart from the database."
            ),
            // Another process started at the same moment and won: use its keys.
            Err(KeyringError::Exists { .. }) => {
                store.keyring().replace(source.load()?);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Rows under keys older than the newest (plaintext from before encryption at rest included).
fn pending(usage: &[KeyUsage], newest: u32) -> u64 {
    usage
        .iter()
        .filter(|u| u.version < newest)
        .map(|u| u.records)
        .sum()
}

/// `palisade keys status`.
pub async fn status(cfg: &Config) -> anyhow::Result<()> {
    let source = KeySource::of(cfg);
    let store = crate::serve::open_store(cfg).await?;
    let ring = store.keyring().current();
    let usage = store.key_usage().await?;
    let versions: Vec<String> = ring.versions().iter().map(u32::to_string).collect();
    outln!(
        "Keyring: {} (key versions {}; version {} encrypts new values)",
        source.describe(),
        versions.join(", "),
        ring.newest()
    );
    outln!(
        "{:<10} {:>11} {:>9} {:>9}",
        "table",
        "key version",
        "records",
        "values"
    );
    for u in &usage {
        let version = if u.version == 0 {
            "none".to_owned()
        } else {
            u.version.to_string()
        };
        outln!(
            "{:<10} {:>11} {:>9} {:>9}",
            u.table,
            version,
            u.records,
            u.values
        );
    }
    let waiting = pending(&usage, ring.newest());
    if waiting == 0 {
        outln!("Every encrypted value is under the newest key.");
    } else {
        outln!(
            "{waiting} records are under older keys or not yet encrypted: run `palisade keys \
             reencrypt` (a running server does it in the background)."
        );
    }
    for v in ring.versions() {
        if v != ring.newest() && !usage.iter().any(|u| u.version == v) {
            outln!(
                "Key version {v} encrypts nothing any more: `palisade keys retire {v}` removes it."
            );
        }
    }
    store.close().await;
    Ok(())
}

/// `palisade keys rotate`: adds a key, which seals from now on, then (unless `later`)
/// re-encrypts everything under it.
pub async fn rotate(cfg: &Config, later: bool) -> anyhow::Result<()> {
    let source = KeySource::of(cfg);
    let path = source.file()?.clone();
    let store = crate::serve::open_store(cfg).await?;
    let rotated = store.keyring().current().rotated();
    let version = rotated.newest();
    file::replace(&path, &rotated)?;
    store.keyring().replace(rotated);
    tracing::info!(version, path = %path.display(), "Added a key to the keyring.");
    crate::audit::record_cli(
        &store,
        cfg,
        "keys.rotate",
        None,
        serde_json::json!({"version": version, "reencrypt_now": !later}),
    )
    .await?;
    outln!(
        "Added key version {version} to {}; new values are encrypted with it.",
        path.display()
    );
    if later {
        outln!(
            "Values under older keys stay readable; `palisade serve` re-encrypts them in the \
             background (or run `palisade keys reencrypt`)."
        );
    } else {
        reencrypt_with_bar(&store).await?;
    }
    store.close().await;
    Ok(())
}

/// `palisade keys reencrypt`: moves everything to the newest key (resumes an interrupted pass).
pub async fn reencrypt(cfg: &Config) -> anyhow::Result<()> {
    let store = crate::serve::open_store(cfg).await?;
    reencrypt_with_bar(&store).await?;
    store.close().await;
    Ok(())
}

async fn reencrypt_with_bar(store: &SqlStore) -> anyhow::Result<()> {
    let newest = store.keyring().current().newest();
    let total = pending(&store.key_usage().await?, newest);
    let bar = crate::advisories::bar(total, "re-encrypt");
    let done = store
        .reencrypt(&mut |_, n| bar.inc(n))
        .await
        .context("re-encrypting")?;
    bar.finish_and_clear();
    outln!(
        "Re-encrypted {} records; every encrypted value is now under key version {}.",
        done.records,
        done.version
    );
    Ok(())
}

/// `palisade keys retire VERSION`: removes a key nothing is encrypted under any more.
pub async fn retire(cfg: &Config, version: u32) -> anyhow::Result<()> {
    let source = KeySource::of(cfg);
    let path = source.file()?.clone();
    let store = crate::serve::open_store(cfg).await?;
    let retired = store.keyring().current().retired(version)?;
    let still: u64 = store
        .key_usage()
        .await?
        .iter()
        .filter(|u| u.version == version)
        .map(|u| u.records)
        .sum();
    if still > 0 {
        bail!(
            "key version {version} still encrypts {still} records: run `palisade keys reencrypt` \
             first"
        );
    }
    file::replace(&path, &retired)?;
    crate::audit::record_cli(
        &store,
        cfg,
        "keys.retire",
        None,
        serde_json::json!({"version": version}),
    )
    .await?;
    outln!("Removed key version {version} from {}.", path.display());
    store.close().await;
    Ok(())
}

/// The server's part: re-encrypt at start if anything is under an older key, then reread the
/// keyring every minute and re-encrypt again when another process has added a key.
pub async fn maintain(store: SqlStore) {
    let mut tick = tokio::time::interval(RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    background_pass(&store).await;
    loop {
        tick.tick().await;
        match store.keyring().reload() {
            Ok(true) => {
                tracing::info!(
                    version = store.keyring().current().newest(),
                    "The keyring has a new key."
                );
                background_pass(&store).await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "Rereading the keyring failed."),
        }
    }
}

async fn background_pass(store: &SqlStore) {
    let newest = store.keyring().current().newest();
    let total = match store.key_usage().await {
        Ok(usage) => pending(&usage, newest),
        Err(e) => {
            tracing::warn!(error = %e, "Counting values to re-encrypt failed.");
            return;
        }
    };
    if total == 0 {
        return;
    }
    tracing::info!(
        records = total,
        version = newest,
        "Re-encrypting under the newest key."
    );
    let (mut done, mut logged) = (0u64, 0u64);
    let result = store
        .reencrypt(&mut |table, n| {
            done += n;
            // About every tenth of the way, not every batch.
            if (done - logged) * 10 >= total {
                logged = done;
                tracing::info!(table, done, total, "Re-encryption progress.");
            }
        })
        .await;
    match result {
        Ok(r) => tracing::info!(
            records = r.records,
            version = r.version,
            "Re-encryption finished."
        ),
        Err(e) => tracing::warn!(error = %e, "Re-encryption failed; it resumes at the next start."),
    }
}
