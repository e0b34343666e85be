//! The audit log in the binary: its keys, the server's background sealing and shipping, events for
//! what the command line changes, and `palisade audit verify | prove | public-key`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use palisade_audit::{Event, EventKind, Report, VerifyingKey};
use palisade_auditlog::check::{self, Proof};
use palisade_auditlog::seal::seal_once;
use palisade_auditlog::{AuditKeys, AuditLog, Bucket, BucketConfig, Shipper};
use palisade_core::AuditEventId;
use palisade_store::AuditStore;
use palisade_store_sql::SqlStore;

use crate::config::Config;

pub fn keys(cfg: &Config) -> anyhow::Result<AuditKeys> {
    AuditKeys::load_or_create(&cfg.audit.signing_key_file, &cfg.audit.hmac_key_file)
        .context("audit keys")
}

/// Seals and ships on the configured schedule while the server runs.
pub struct Worker {
    store: Arc<dyn AuditStore>,
    keys: AuditKeys,
    shipper: Shipper,
    seal_every: Duration,
    ship_every: Duration,
}

/// Starts the audit log of a server: the group-commit writer and the worker that seals and ships.
pub fn start(store: &SqlStore, cfg: &Config) -> anyhow::Result<(AuditLog, Worker)> {
    let keys = keys(cfg)?;
    let bucket = Bucket::open(&cfg.audit.bucket).context("audit bucket")?;
    let shipper = Shipper::new(bucket);
    let store: Arc<dyn AuditStore> = Arc::new(store.clone());
    let log = AuditLog::start(store.clone(), &keys).with_shipping(shipper.stats.clone());
    Ok((
        log,
        Worker {
            store,
            keys,
            shipper,
            seal_every: cfg.audit.seal_every,
            ship_every: cfg.audit.ship_every,
        },
    ))
}

fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

impl Worker {
    /// Runs until aborted. Failures are logged and retried on the next tick: a bucket that is down
    /// leaves a backlog in the database, drained when it returns.
    pub async fn run(self: Arc<Self>) {
        let mut seal = tokio::time::interval(self.seal_every);
        let mut ship = tokio::time::interval(self.ship_every);
        seal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ship.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first ticks fire at once: a digest at start closes the interval the server was down.
        loop {
            tokio::select! {
                _ = seal.tick() => self.seal().await,
                _ = ship.tick() => self.ship().await,
            }
        }
    }

    async fn seal(&self) {
        if let Err(error) = seal_once(self.store.as_ref(), &self.keys.signing, now_micros()).await {
            tracing::error!(%error, "Sealing the audit log failed.");
        }
    }

    async fn ship(&self) {
        if let Err(error) = self.shipper.ship(self.store.as_ref(), now_micros()).await {
            tracing::warn!(%error, "Shipping audit events failed; they stay queued in the database.");
        }
    }

    /// At shutdown: a last digest and a last shipment, so a stopped server leaves nothing unsealed.
    pub async fn finish(&self) {
        self.seal().await;
        self.ship().await;
    }
}

/// Records a change made from the command line (no HTTP request carries it).
pub async fn record_cli(
    store: &SqlStore,
    cfg: &Config,
    action: &str,
    object: Option<String>,
    data: serde_json::Value,
) -> anyhow::Result<()> {
    let keys = keys(cfg)?;
    let mut data = data;
    keys.redactor
        .redact_json(&mut data, palisade_web::telemetry::SENSITIVE_KEYS);
    let mut event = Event::new(now_micros(), EventKind::System, action)
        .actor("cli")
        .data(&data);
    if let Some(o) = object {
        event = event.object(o);
    }
    store
        .append_audit(vec![event])
        .await
        .context("recording the change in the audit log")?;
    Ok(())
}

/// What `audit verify` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// The events and digests in the database.
    Database,
    /// The shipped objects.
    Bucket,
    /// Both, and each against the other.
    Both,
}

fn public_keys(cfg: &Config, files: &[PathBuf]) -> anyhow::Result<Vec<VerifyingKey>> {
    if files.is_empty() {
        // Without --public-key: the installation's own key, read from its signing key file.
        let pem = std::fs::read_to_string(&cfg.audit.signing_key_file).with_context(|| {
            format!(
                "no --public-key given and the signing key {} cannot be read",
                cfg.audit.signing_key_file.display()
            )
        })?;
        let key = palisade_audit::SigningKey::from_pem(&pem)
            .with_context(|| cfg.audit.signing_key_file.display().to_string())?;
        return Ok(vec![key.verifying_key()]);
    }
    files
        .iter()
        .map(|f| {
            let pem = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            VerifyingKey::from_pem(&pem).with_context(|| f.display().to_string())
        })
        .collect()
}

/// Opens the database to verify without changing it: no migrations, and no keyring (the audit
/// tables hold nothing encrypted).
async fn open_readonly(cfg: &Config) -> anyhow::Result<SqlStore> {
    if let Some(path) = cfg.database_url.strip_prefix("sqlite://")
        && !Path::new(path).exists()
    {
        bail!("no database at {path}");
    }
    let keyring = Arc::new(palisade_keyring::LiveKeyring::fixed(
        palisade_keyring::Keyring::generate(),
    ));
    Ok(SqlStore::connect(&cfg.database_url, keyring).await?)
}

fn progress(what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} events ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_owned());
    bar
}

fn print_report(name: &str, r: &Report) {
    outln!(
        "{name}: {} events, {} digests, {} not sealed yet: {}",
        r.events,
        r.digests,
        r.unsealed,
        if r.ok() {
            "OK".to_owned()
        } else {
            format!("{} problem(s)", r.problems.len())
        }
    );
    for p in &r.problems {
        outln!("  - {p}");
    }
}

/// `palisade audit verify`: exit status 0 when everything verifies, 1 when anything does not.
pub async fn verify(
    cfg: &Config,
    source: Source,
    bucket: Option<String>,
    key_files: &[PathBuf],
    max_gap: Option<Duration>,
    json: bool,
) -> anyhow::Result<u8> {
    let keys = public_keys(cfg, key_files)?;
    let max_gap = max_gap.unwrap_or(cfg.audit.seal_every * 3).as_micros() as i64;
    let bucket_config = match bucket {
        Some(b) if b.starts_with("s3://") => {
            bail!("--bucket takes a folder; configure audit_bucket for s3:// buckets")
        }
        Some(b) => BucketConfig::Local(PathBuf::from(b)),
        None => cfg.audit.bucket.clone(),
    };
    let mut reports = Vec::new();
    let mut store = None;
    if matches!(source, Source::Database | Source::Both) {
        let s = open_readonly(cfg).await?;
        let bar = progress("verifying the database");
        let r = check::verify_store(&s, &keys, max_gap, &|n| bar.set_position(n)).await?;
        bar.finish_and_clear();
        reports.push(("database", r));
        store = Some(s);
    }
    if matches!(source, Source::Bucket | Source::Both) {
        let b = Bucket::open(&bucket_config)?;
        let bar = progress("reading the bucket");
        let shipped = check::load_bucket(&b, &|n| bar.set_position(n)).await?;
        bar.finish_and_clear();
        let mut r = check::verify_shipped(&shipped, &keys, max_gap);
        if let Some(s) = &store {
            r.problems.extend(check::compare(s, &shipped).await?);
        }
        reports.push(("bucket", r));
    }
    let ok = reports.iter().all(|(_, r)| r.ok());
    if json {
        let doc: serde_json::Map<String, serde_json::Value> = reports
            .iter()
            .map(|(n, r)| ((*n).to_owned(), serde_json::to_value(r).unwrap_or_default()))
            .collect();
        outln!("{}", serde_json::Value::Object(doc));
    } else {
        for (n, r) in &reports {
            print_report(n, r);
        }
    }
    if let Some(s) = store {
        s.close().await;
    }
    Ok(if ok { 0 } else { 1 })
}

/// `palisade audit prove EVENT_ID`: prints the proof as JSON after checking it.
pub async fn prove(cfg: &Config, id: AuditEventId, key_files: &[PathBuf]) -> anyhow::Result<u8> {
    let keys = public_keys(cfg, key_files)?;
    let store = open_readonly(cfg).await?;
    let proof: Option<Proof> = check::prove(&store, id)
        .await
        .with_context(|| format!("event {id}"))?;
    store.close().await;
    let Some(proof) = proof else {
        bail!("event {id} is not sealed yet: the next digest will cover it");
    };
    outln!("{}", serde_json::to_string_pretty(&proof)?);
    match proof.check(&keys) {
        Ok(()) => {
            eprintln!(
                "event {id} is event {} of digest {}: proof checked",
                proof.event.seq, proof.digest.body.number
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("the proof does not check: {e}");
            Ok(1)
        }
    }
}

/// `palisade audit public-key`.
pub fn public_key(cfg: &Config) -> anyhow::Result<()> {
    out!("{}", keys(cfg)?.signing.verifying_key().to_pem());
    Ok(())
}
