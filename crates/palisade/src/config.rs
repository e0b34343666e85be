//! Configuration: built-in defaults, then `palisade.toml` (or `--config FILE`), then `PALISADE_*`
//! environment variables, then command-line flags; validated once at start with errors that name
//! the key. Secrets can come from files (`database_url_file`), so they need not sit in the
//! environment or the config file. TLS files are read and checked here too, so a wrong path or a
//! broken certificate stops the start instead of failing every handshake.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::tls::TlsFiles;

/// Raw settings as read from the sources; see [`Config`] for the validated form.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: String,
    /// Folder for the SQLite database and local objects.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// A file whose first line is the database URL (for secrets mounted as files).
    pub database_url_file: Option<PathBuf>,
    /// Mark cookies Secure and send HSTS: set it when a TLS-terminating proxy serves Palisade over
    /// HTTPS. On by itself when Palisade serves TLS.
    pub secure_cookies: bool,
    /// PEM certificate chain (the server's certificate first) to serve HTTPS with; needs
    /// `tls_key_file`.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`'s certificate.
    pub tls_key_file: Option<PathBuf>,
    /// Seconds between looks at the TLS files for a renewed certificate.
    pub tls_reload_seconds: u64,
    /// `max-age` of the `Strict-Transport-Security` header sent when cookies are Secure.
    pub hsts_max_age_seconds: u64,
    /// A PEM file of CA certificates that outbound HTTPS (advisory downloads, the remote
    /// commands) trusts beside the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Staff must use TOTP. Only the demo turns this off.
    pub require_staff_mfa: bool,
    /// Minutes of inactivity after which a session ends.
    pub session_idle_minutes: u64,
    /// Hours after which a session ends however active.
    pub session_absolute_hours: u64,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Folder of the local advisory store; defaults to `advisories` in `data_dir`.
    pub advisory_db: Option<PathBuf>,
    /// The keyring file (data keys for encryption at rest); defaults to `keyring` in `data_dir`,
    /// created on first start. In production keep it outside the data folder and its backups.
    /// The `PALISADE_KEYRING` environment variable, when set, is used instead of any file.
    pub keyring_file: Option<PathBuf>,
    /// Advisory sources `palisade advisories sync` refreshes, as `[[advisory_sources]]` tables.
    pub advisory_sources: Vec<AdvisorySource>,
    /// Minutes between background syncs of the advisory sources while serving.
    pub advisory_sync_minutes: u64,
    /// Seconds between checks of the advisory store for changed advisories to match.
    pub match_interval_seconds: u64,
    /// Remediation deadlines in days per severity, per contract tier: `[sla.premium]`
    /// `critical = 1`, `high = 7`, `medium = 30`, `low = 90`, `start = "detection"` or
    /// `"fix-available"`.
    pub sla: palisade_fleet::SlaPolicy,
    /// Minutes between digests sealing the audit log.
    pub audit_seal_minutes: u64,
    /// Seconds between shipments of audit events to object storage.
    pub audit_ship_seconds: u64,
    /// PEM file of the Ed25519 key that signs audit digests; defaults to
    /// `audit-signing-key.pem` in `data_dir`, created on first start. Keep it readable by
    /// Palisade only; publish the public key (`palisade audit public-key`).
    pub audit_signing_key_file: Option<PathBuf>,
    /// File of the HMAC key that redacts sensitive values in the audit log; defaults to
    /// `audit-hmac.key` in `data_dir`, created on first start.
    pub audit_hmac_key_file: Option<PathBuf>,
    /// Where audit events are shipped: a folder (default `audit-objects` in `data_dir`) or
    /// `s3://BUCKET/PREFIX`.
    pub audit_bucket: Option<String>,
    /// The S3 API's URL for S3-compatible servers (MinIO, Garage); AWS when unset. Plain `http://`
    /// is allowed for loopback only.
    pub audit_s3_endpoint: Option<String>,
    pub audit_s3_region: String,
    pub audit_s3_access_key_id: Option<String>,
    /// A file holding the S3 secret access key (only files: the secret never sits in the config).
    pub audit_s3_secret_access_key_file: Option<PathBuf>,
    /// Percentage of an SLA target used at which a running clock is "at risk" (1–99).
    pub desk_at_risk_percent: u8,
    /// Minutes (wall clock) a critical ticket may wait for a first staff reply before it goes to
    /// the second line by itself.
    pub desk_auto_escalate_minutes: u64,
    /// Seconds between the server's sweeps of open tickets (escalation and SLA metrics).
    pub desk_sweep_seconds: u64,
    /// Hourly rates per contract tier for work logs: `[billing.standard]` `currency = "GBP"`,
    /// `in_hours = 9000`, `out_of_hours = 15000` (minor units per hour).
    pub billing: palisade_web::deskops::TierRates,
    /// Address of Palisade's own SMTP listener for inbound desk mail, e.g. `127.0.0.1:2525`;
    /// unset (the default): no listener.
    pub mail_listen: Option<String>,
    /// Let `mail_listen` be a non-loopback address (it has no TLS and no authentication).
    pub mail_listen_remote: bool,
    /// Domain of the Message-IDs of outbound mail (default: the domain of `smtp_from`).
    pub mail_domain: Option<String>,
    /// Where notifications are sent: `smtp://HOST:PORT` (loopback only), `smtp://HOST:PORT?tls=required`
    /// (STARTTLS) or `smtps://HOST:PORT`, optionally with `USER@`; unset: nothing is mailed.
    pub smtp_url: Option<String>,
    /// The From address of notifications (and where customers reply to).
    pub smtp_from: Option<String>,
    /// A file holding the SMTP password (only files: the secret never sits in the config).
    pub smtp_password_file: Option<PathBuf>,
    /// Largest inbound message, in bytes (also the SMTP listener's SIZE).
    pub mail_max_message_bytes: u64,
    /// Largest attachment kept, in bytes.
    pub mail_max_attachment_bytes: u64,
    /// Most attachments kept per message.
    pub mail_max_attachments: u64,
    /// Seconds between looks for new notifications to queue and due ones to send.
    pub mail_poll_seconds: u64,
}

/// One advisory source: a file, folder or archive on disk, or an `https://` (or loopback
/// `http://`) address of one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvisorySource {
    pub name: String,
    pub location: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./palisade-data"),
            database_url: None,
            database_url_file: None,
            secure_cookies: false,
            tls_cert_file: None,
            tls_key_file: None,
            tls_reload_seconds: 5,
            hsts_max_age_seconds: 365 * 24 * 3600,
            ca_file: None,
            require_staff_mfa: true,
            session_idle_minutes: 120,
            session_absolute_hours: 12,
            log_format: "text".into(),
            advisory_db: None,
            keyring_file: None,
            advisory_sources: Vec::new(),
            advisory_sync_minutes: 60,
            match_interval_seconds: 30,
            sla: palisade_fleet::SlaPolicy::default(),
            audit_seal_minutes: 5,
            audit_ship_seconds: 10,
            audit_signing_key_file: None,
            audit_hmac_key_file: None,
            audit_bucket: None,
            audit_s3_endpoint: None,
            audit_s3_region: "us-east-1".into(),
            audit_s3_access_key_id: None,
            audit_s3_secret_access_key_file: None,
            desk_at_risk_percent: 75,
            desk_auto_escalate_minutes: 15,
            desk_sweep_seconds: 30,
            billing: palisade_web::deskops::TierRates::default(),
            mail_listen: None,
            mail_listen_remote: false,
            mail_domain: None,
            smtp_url: None,
            smtp_from: None,
            smtp_password_file: None,
            mail_max_message_bytes: 10 * 1024 * 1024,
            mail_max_attachment_bytes: 5 * 1024 * 1024,
            mail_max_attachments: 20,
            mail_poll_seconds: 5,
        }
    }
}

/// Validated configuration.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Secure cookies and HSTS: set, or implied by `tls`.
    pub secure_cookies: bool,
    /// Serve HTTPS with these files; `None` serves plain HTTP.
    pub tls: Option<TlsFiles>,
    pub hsts_max_age: Duration,
    pub ca_file: Option<PathBuf>,
    pub require_staff_mfa: bool,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub json_logs: bool,
    pub advisory_db: PathBuf,
    pub keyring_file: PathBuf,
    pub advisory_sources: Vec<AdvisorySource>,
    pub advisory_sync: Duration,
    pub match_interval: Duration,
    pub sla: palisade_fleet::SlaPolicy,
    pub audit: AuditConfig,
    /// The support desk's thresholds and rates.
    pub desk: palisade_web::deskops::DeskConfig,
    /// How often the server sweeps open tickets.
    pub desk_sweep: Duration,
    /// Inbound and outbound desk mail (`mail.rs`).
    pub mail: crate::mail::MailConfig,
}

/// The audit log's settings.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    pub seal_every: Duration,
    pub ship_every: Duration,
    pub signing_key_file: PathBuf,
    pub hmac_key_file: PathBuf,
    pub bucket: palisade_auditlog::BucketConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &palisade_store_sql::redact(&self.database_url),
            )
            .field("secure_cookies", &self.secure_cookies)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("require_staff_mfa", &self.require_staff_mfa)
            .field("keyring_file", &self.keyring_file)
            .finish_non_exhaustive()
    }
}

/// Flags that override the other sources.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// Reads every source in order. `file` is `--config`; without it `palisade.toml` is used if present.
pub fn load(file: Option<&Path>, env: Env, overrides: &Overrides) -> anyhow::Result<Config> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    match file {
        Some(f) => {
            if !f.exists() {
                bail!("config file {} does not exist", f.display());
            }
            fig = fig.merge(Toml::file(f));
        }
        None => fig = fig.merge(Toml::file("palisade.toml")),
    }
    fig = fig.merge(env).merge(Serialized::defaults(overrides));
    let s: Settings = fig
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    validate(s)
}

/// Keys that may be set from the environment as `PALISADE_<KEY>`. Other `PALISADE_*` variables
/// (such as `PALISADE_LOG`, the log filter) are not configuration keys and are left alone.
pub const KEYS: [&str; 40] = [
    "listen",
    "data_dir",
    "database_url",
    "database_url_file",
    "secure_cookies",
    "tls_cert_file",
    "tls_key_file",
    "tls_reload_seconds",
    "hsts_max_age_seconds",
    "ca_file",
    "require_staff_mfa",
    "session_idle_minutes",
    "session_absolute_hours",
    "log_format",
    "advisory_db",
    "keyring_file",
    "advisory_sync_minutes",
    "match_interval_seconds",
    "audit_seal_minutes",
    "audit_ship_seconds",
    "audit_signing_key_file",
    "audit_hmac_key_file",
    "audit_bucket",
    "audit_s3_endpoint",
    "audit_s3_region",
    "audit_s3_access_key_id",
    "audit_s3_secret_access_key_file",
    "desk_at_risk_percent",
    "desk_auto_escalate_minutes",
    "desk_sweep_seconds",
    "mail_listen",
    "mail_listen_remote",
    "mail_domain",
    "smtp_url",
    "smtp_from",
    "smtp_password_file",
    "mail_max_message_bytes",
    "mail_max_attachment_bytes",
    "mail_max_attachments",
    "mail_poll_seconds",
];

/// The environment source used by the binary: `PALISADE_LISTEN`, `PALISADE_DATABASE_URL`, …
pub fn environment() -> Env {
    Env::prefixed("PALISADE_").only(&KEYS)
}

fn validate(s: Settings) -> anyhow::Result<Config> {
    let listen: SocketAddr = s.listen.parse().with_context(|| {
        format!(
            "invalid configuration: listen = {:?} is not an address like 127.0.0.1:8080",
            s.listen
        )
    })?;
    let database_url = match (&s.database_url, &s.database_url_file) {
        (Some(_), Some(_)) => {
            bail!("invalid configuration: set database_url or database_url_file, not both")
        }
        (Some(u), None) => u.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| {
                format!(
                    "invalid configuration: database_url_file = {} cannot be read",
                    f.display()
                )
            })?
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        (None, None) => format!("sqlite://{}", s.data_dir.join("palisade.db").display()),
    };
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        bail!(
            "invalid configuration: database_url = {:?} must start with sqlite:, postgres:// or postgresql://",
            palisade_store_sql::redact(&database_url)
        );
    }
    if s.session_idle_minutes == 0 || s.session_idle_minutes > 7 * 24 * 60 {
        bail!("invalid configuration: session_idle_minutes must be between 1 and 10080");
    }
    if s.session_absolute_hours == 0 || s.session_absolute_hours > 24 * 30 {
        bail!("invalid configuration: session_absolute_hours must be between 1 and 720");
    }
    let json_logs = match s.log_format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            bail!("invalid configuration: log_format = {other:?} must be \"text\" or \"json\"")
        }
    };
    let mut names = std::collections::HashSet::new();
    for (i, src) in s.advisory_sources.iter().enumerate() {
        if src.name.trim().is_empty() || !names.insert(src.name.as_str()) {
            bail!(
                "invalid configuration: advisory_sources[{i}].name = {:?} must be non-empty and unique",
                src.name
            );
        }
        let loc = src.location.trim();
        if loc.is_empty()
            || (loc.contains("://") && !loc.starts_with("https://") && !loc.starts_with("http://"))
        {
            bail!(
                "invalid configuration: advisory_sources[{i}].location = {:?} must be a path or an http(s) URL",
                src.location
            );
        }
    }
    if s.advisory_sync_minutes == 0 || s.advisory_sync_minutes > 7 * 24 * 60 {
        bail!("invalid configuration: advisory_sync_minutes must be between 1 and 10080");
    }
    if s.match_interval_seconds == 0 || s.match_interval_seconds > 3600 {
        bail!("invalid configuration: match_interval_seconds must be between 1 and 3600");
    }
    for (tier, t) in [
        ("basic", &s.sla.basic),
        ("standard", &s.sla.standard),
        ("premium", &s.sla.premium),
    ] {
        for (name, days) in [
            ("critical", t.critical),
            ("high", t.high),
            ("medium", t.medium),
            ("low", t.low),
        ] {
            if days == 0 || days > 3650 {
                bail!("invalid configuration: sla.{tier}.{name} must be between 1 and 3650 days");
            }
        }
    }
    if s.tls_reload_seconds == 0 || s.tls_reload_seconds > 24 * 3600 {
        bail!("invalid configuration: tls_reload_seconds must be between 1 and 86400");
    }
    let tls = match (&s.tls_cert_file, &s.tls_key_file) {
        (None, None) => None,
        (Some(_), None) => bail!(
            "invalid configuration: tls_key_file must be set with tls_cert_file (HTTPS needs both; set neither for plain HTTP)"
        ),
        (None, Some(_)) => bail!(
            "invalid configuration: tls_cert_file must be set with tls_key_file (HTTPS needs both; set neither for plain HTTP)"
        ),
        (Some(cert), Some(key)) => {
            let files = TlsFiles {
                cert_file: cert.clone(),
                key_file: key.clone(),
                reload_every: Duration::from_secs(s.tls_reload_seconds),
            };
            if let Err(e) = crate::tls::load(&files) {
                bail!("invalid configuration: {}: {e}", e.key(&files));
            }
            Some(files)
        }
    };
    if s.hsts_max_age_seconds > 2 * 365 * 24 * 3600 {
        bail!("invalid configuration: hsts_max_age_seconds must be at most 63072000 (two years)");
    }
    if let Some(f) = &s.ca_file {
        crate::outbound::ca_certificates(f)
            .map_err(|e| anyhow::anyhow!("invalid configuration: ca_file: {e:#}"))?;
    }
    let advisory_db = s
        .advisory_db
        .clone()
        .unwrap_or_else(|| s.data_dir.join("advisories"));
    let keyring_file = s
        .keyring_file
        .clone()
        .unwrap_or_else(|| s.data_dir.join("keyring"));
    let audit = audit_config(&s)?;
    let desk = palisade_web::deskops::DeskConfig {
        at_risk_percent: s.desk_at_risk_percent,
        auto_escalate_after: Duration::from_secs(s.desk_auto_escalate_minutes.saturating_mul(60)),
        rates: s.billing.clone(),
    };
    if let Err(e) = desk.validate() {
        bail!("invalid configuration: {e}");
    }
    if s.desk_sweep_seconds == 0 || s.desk_sweep_seconds > 3600 {
        bail!("invalid configuration: desk_sweep_seconds must be between 1 and 3600");
    }
    let mail = crate::mail::config(&s)?;
    Ok(Config {
        desk,
        desk_sweep: Duration::from_secs(s.desk_sweep_seconds),
        audit,
        mail,
        advisory_db,
        keyring_file,
        advisory_sync: Duration::from_secs(s.advisory_sync_minutes * 60),
        match_interval: Duration::from_secs(s.match_interval_seconds),
        sla: s.sla,
        advisory_sources: s.advisory_sources,
        listen,
        data_dir: s.data_dir,
        database_url,
        secure_cookies: s.secure_cookies || tls.is_some(),
        tls,
        hsts_max_age: Duration::from_secs(s.hsts_max_age_seconds),
        ca_file: s.ca_file,
        require_staff_mfa: s.require_staff_mfa,
        session_idle: Duration::from_secs(s.session_idle_minutes * 60),
        session_absolute: Duration::from_secs(s.session_absolute_hours * 3600),
        json_logs,
    })
}

fn audit_config(s: &Settings) -> anyhow::Result<AuditConfig> {
    if s.audit_seal_minutes == 0 || s.audit_seal_minutes > 24 * 60 {
        bail!("invalid configuration: audit_seal_minutes must be between 1 and 1440");
    }
    if s.audit_ship_seconds == 0 || s.audit_ship_seconds > 3600 {
        bail!("invalid configuration: audit_ship_seconds must be between 1 and 3600");
    }
    let (default_signing, default_hmac) = palisade_auditlog::AuditKeys::default_paths(&s.data_dir);
    let bucket = match s.audit_bucket.as_deref().map(str::trim) {
        None | Some("") => palisade_auditlog::BucketConfig::Local(s.data_dir.join("audit-objects")),
        Some(url) if url.starts_with("s3://") => {
            let rest = &url["s3://".len()..];
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                bail!(
                    "invalid configuration: audit_bucket = {url:?} names no bucket (s3://BUCKET/PREFIX)"
                );
            }
            let Some(access_key_id) = s.audit_s3_access_key_id.clone() else {
                bail!(
                    "invalid configuration: audit_s3_access_key_id must be set for an s3:// audit_bucket"
                );
            };
            let Some(secret_file) = &s.audit_s3_secret_access_key_file else {
                bail!(
                    "invalid configuration: audit_s3_secret_access_key_file must be set for an s3:// audit_bucket"
                );
            };
            let secret = std::fs::read_to_string(secret_file)
                .with_context(|| {
                    format!(
                        "invalid configuration: audit_s3_secret_access_key_file = {} cannot be read",
                        secret_file.display()
                    )
                })?
                .trim()
                .to_owned();
            if let Some(e) = &s.audit_s3_endpoint
                && !(e.starts_with("https://") || e.starts_with("http://"))
            {
                bail!("invalid configuration: audit_s3_endpoint = {e:?} must be an http(s) URL");
            }
            palisade_auditlog::BucketConfig::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                endpoint: s.audit_s3_endpoint.clone(),
                region: s.audit_s3_region.clone(),
                access_key_id,
                secret_access_key: secret,
            }
        }
        Some(url) if url.contains("://") => {
            bail!(
                "invalid configuration: audit_bucket = {url:?} must be a folder or s3://BUCKET/PREFIX"
            )
        }
        Some(folder) => palisade_auditlog::BucketConfig::Local(PathBuf::from(folder)),
    };
    Ok(AuditConfig {
        seal_every: Duration::from_secs(s.audit_seal_minutes * 60),
        ship_every: Duration::from_secs(s.audit_ship_seconds),
        signing_key_file: s.audit_signing_key_file.clone().unwrap_or(default_signing),
        hmac_key_file: s.audit_hmac_key_file.clone().unwrap_or(default_hmac),
        bucket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment source that reads nothing (no variable has this prefix).
    fn no_env() -> Env {
        Env::prefixed("PALISADE_UNSET_IN_TESTS_")
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type.
    fn environment_overrides_the_file_and_flags_override_both() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "palisade.toml",
                "listen = \"127.0.0.1:9000\"\nlog_format = \"json\"",
            )?;
            jail.set_env("PALISADE_LISTEN", "127.0.0.1:9200");
            jail.set_env("PALISADE_LOG", "debug");
            let cfg =
                load(None, environment(), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(cfg.listen.port(), 9200);
            assert!(
                cfg.json_logs,
                "file value kept where the environment is silent"
            );
            let o = Overrides {
                listen: Some("127.0.0.1:9300".into()),
                ..Default::default()
            };
            assert_eq!(
                load(None, environment(), &o)
                    .map_err(|e| e.to_string())?
                    .listen
                    .port(),
                9300
            );
            Ok(())
        });
    }

    #[test]
    fn defaults_then_file_then_overrides() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("palisade.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nsession_idle_minutes = 30\n",
        )
        .expect("write");
        let cfg = load(Some(&file), no_env(), &Overrides::default()).expect("load");
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(cfg.session_idle, Duration::from_secs(1800));
        assert!(cfg.database_url.ends_with("palisade-data/palisade.db"));
        let o = Overrides {
            listen: Some("127.0.0.1:9100".into()),
            ..Default::default()
        };
        assert_eq!(
            load(Some(&file), no_env(), &o).expect("load").listen.port(),
            9100
        );
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("p.toml");
        for (text, key) in [
            ("listen = \"nowhere\"", "listen"),
            ("log_format = \"xml\"", "log_format"),
            ("session_idle_minutes = 0", "session_idle_minutes"),
            ("database_url = \"mysql://x\"", "database_url"),
            ("lisen = \"127.0.0.1:1\"", "lisen"),
            ("session_idle_minutes = \"ten\"", "session_idle_minutes"),
        ] {
            std::fs::write(&file, text).expect("write");
            let err = load(Some(&file), no_env(), &Overrides::default())
                .expect_err(text)
                .to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn tls_needs_both_files_that_parse_and_then_implies_secure_cookies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, pair.cert.pem()).expect("write");
        std::fs::write(&key, pair.signing_key.serialize_pem()).expect("write");
        let file = dir.path().join("p.toml");
        let load_with = |text: String| {
            std::fs::write(&file, text).expect("write");
            load(Some(&file), no_env(), &Overrides::default())
        };

        let plain = load_with(String::new()).expect("no TLS");
        assert!(plain.tls.is_none() && !plain.secure_cookies);
        assert_eq!(plain.hsts_max_age, Duration::from_secs(31_536_000));

        let both = format!("tls_cert_file = {cert:?}\ntls_key_file = {key:?}\n");
        let cfg = load_with(both.clone()).expect("TLS");
        assert!(cfg.secure_cookies, "TLS makes cookies Secure");
        let tls = cfg.tls.expect("tls");
        assert_eq!(tls.cert_file, cert);
        assert_eq!(tls.reload_every, Duration::from_secs(5));

        let only_cert = load_with(format!("tls_cert_file = {cert:?}\n")).expect_err("no key");
        assert!(
            only_cert.to_string().contains("tls_key_file must be set"),
            "{only_cert}"
        );
        let only_key = load_with(format!("tls_key_file = {key:?}\n")).expect_err("no cert");
        assert!(
            only_key.to_string().contains("tls_cert_file must be set"),
            "{only_key}"
        );

        std::fs::write(&key, "garbage").expect("write");
        let e = load_with(both.clone())
            .expect_err("garbage key")
            .to_string();
        assert!(e.contains("tls_key_file") && e.contains("key.pem"), "{e}");
        std::fs::write(&key, pair.signing_key.serialize_pem()).expect("write");
        std::fs::write(&cert, "garbage").expect("write");
        let e = load_with(both.clone())
            .expect_err("garbage cert")
            .to_string();
        assert!(e.contains("tls_cert_file") && e.contains("cert.pem"), "{e}");

        for (text, key) in [
            ("hsts_max_age_seconds = 99999999", "hsts_max_age_seconds"),
            ("tls_reload_seconds = 0", "tls_reload_seconds"),
            ("ca_file = \"/nonexistent/ca.pem\"", "ca_file"),
        ] {
            let e = load_with(text.to_owned()).expect_err(text).to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn database_url_can_come_from_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("db-url");
        std::fs::write(&secret, "postgres://app:s3cret@127.0.0.1/palisade\n").expect("write");
        let file = dir.path().join("p.toml");
        std::fs::write(
            &file,
            format!("database_url_file = {:?}", secret.display().to_string()),
        )
        .expect("write");
        let cfg = load(Some(&file), no_env(), &Overrides::default()).expect("load");
        assert_eq!(cfg.database_url, "postgres://app:s3cret@127.0.0.1/palisade");
        assert!(
            !format!("{cfg:?}").contains("s3cret"),
            "Debug output hides the password"
        );
    }

    #[test]
    fn audit_storage_settings_are_checked_and_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("s3-secret");
        std::fs::write(&secret, "very-secret\n").expect("write");
        let load_with = |text: String| {
            let file = dir.path().join("p.toml");
            std::fs::write(&file, text).expect("write");
            load(Some(&file), no_env(), &Overrides::default())
        };
        let plain = load_with(String::new()).expect("defaults");
        assert!(
            matches!(&plain.audit.bucket, palisade_auditlog::BucketConfig::Local(p) if p.ends_with("audit-objects"))
        );
        assert_eq!(plain.audit.seal_every, Duration::from_secs(300));

        let s3 = format!(
            "audit_bucket = \"s3://logs/palisade/eu\"\naudit_s3_endpoint = \"http://127.0.0.1:9000\"\naudit_s3_access_key_id = \"AKIA\"\naudit_s3_secret_access_key_file = {:?}",
            secret.display().to_string()
        );
        let cfg = load_with(s3).expect("s3");
        assert!(
            !format!("{:?}", cfg.audit).contains("very-secret"),
            "Debug hides the S3 secret"
        );
        match cfg.audit.bucket {
            palisade_auditlog::BucketConfig::S3 {
                bucket,
                prefix,
                secret_access_key,
                ..
            } => {
                assert_eq!((bucket.as_str(), prefix.as_str()), ("logs", "palisade/eu"));
                assert_eq!(secret_access_key, "very-secret");
            }
            other => panic!("{other:?}"),
        }
        for (text, key) in [
            ("audit_bucket = \"s3://logs\"", "audit_s3_access_key_id"),
            (
                "audit_bucket = \"s3://logs\"\naudit_s3_access_key_id = \"A\"",
                "audit_s3_secret_access_key_file",
            ),
            ("audit_bucket = \"ftp://logs\"", "audit_bucket"),
            ("audit_bucket = \"s3:///x\"", "audit_bucket"),
            ("audit_seal_minutes = 0", "audit_seal_minutes"),
            ("audit_ship_seconds = 7200", "audit_ship_seconds"),
        ] {
            let e = load_with(text.to_owned()).expect_err(text).to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
