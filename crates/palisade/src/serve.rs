//! Start-up wiring: open and migrate the store, build the web state, serve (HTTPS when TLS files
//! are configured) until SIGTERM or Ctrl-C, re-encrypting under the newest key and sealing and
//! shipping the audit log and queueing and sending desk mail (and, when configured, taking mail in
//! on an SMTP listener) in the background, then drain in-flight requests and seal and ship a last
//! time before exiting.

use std::sync::Arc;

use palisade_matcher::Matcher;

use anyhow::Context;
use palisade_core::clock::SystemClock;
use palisade_store_sql::SqlStore;
use palisade_web::{AppState, WebConfig};
use tokio::net::TcpListener;

use crate::config::Config;

/// Opens the configured database (creating the data folder for SQLite) with the keyring (see
/// `keys.rs`) and applies migrations.
pub async fn open_store(cfg: &Config) -> anyhow::Result<SqlStore> {
    if cfg.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("cannot create the data folder {}", cfg.data_dir.display()))?;
    }
    let store = crate::keys::connect(cfg).await?;
    // The blind index of contacts' sealed addresses is keyed from the audit HMAC key (a file,
    // never in the database); rows from before it, or from before a key change, are indexed now.
    let audit_keys = crate::audit::keys(cfg)?;
    store.set_blind_index(palisade_mail::BlindIndex::derive(
        audit_keys.redactor.key_bytes(),
    ));
    // Tickets' SLA stamps use the desk's at-risk share; ones taken with another are put right by
    // the desk's sweep.
    store.set_sla_warn_percent(cfg.desk.at_risk_percent);
    let indexed = store
        .backfill_blind_index()
        .await
        .context("indexing contacts' e-mail addresses")?;
    if indexed > 0 {
        tracing::info!(
            contacts = indexed,
            "Indexed contacts' e-mail addresses for mail intake."
        );
    }
    tracing::info!(backend = store.backend_name(), "Database ready.");
    Ok(store)
}

/// The web settings implied by the configuration.
pub fn web_config(cfg: &Config, demo: bool) -> WebConfig {
    WebConfig {
        secure_cookies: cfg.secure_cookies,
        // HSTS goes with Secure cookies: both say browsers reach Palisade over HTTPS only, whether
        // Palisade terminates TLS itself or a proxy in front of it does.
        hsts_max_age: cfg.secure_cookies.then_some(cfg.hsts_max_age),
        require_staff_mfa: cfg.require_staff_mfa && !demo,
        session_absolute: cfg.session_absolute,
        session_idle: cfg.session_idle,
        demo,
        desk: cfg.desk.clone(),
        ..WebConfig::default()
    }
}

/// Serves until a shutdown signal. Prints `listening on http://ADDR` (or `https://`) once the socket
/// is bound, which scripts and tests use as the readiness signal.
pub async fn serve(cfg: &Config, store: SqlStore, demo: bool) -> anyhow::Result<()> {
    let matcher = Matcher::new(
        Arc::new(store.clone()),
        cfg.advisory_db.clone(),
        cfg.sla.clone(),
    );
    let (audit, audit_worker) = crate::audit::start(&store, cfg)?;
    audit
        .record(
            palisade_audit::Event::new(
                jiff::Timestamp::now().as_microsecond(),
                palisade_audit::EventKind::System,
                "server.start",
            )
            .actor("system")
            .data(&serde_json::json!({
                "version": env!("CARGO_PKG_VERSION"),
                "backend": store.backend_name(),
                "demo": demo,
            })),
        )
        .await
        .context("the audit log does not accept events")?;
    let audit_worker = Arc::new(audit_worker);
    let audit_work = tokio::spawn(audit_worker.clone().run());
    let state = AppState::new(
        matcher.clone(),
        Arc::new(SystemClock),
        web_config(cfg, demo),
        audit.clone(),
    );
    let background = tokio::spawn(background_work(matcher, cfg.clone(), audit.clone()));
    let key_work = tokio::spawn(crate::keys::maintain(store.clone()));
    let desk_work = tokio::spawn(desk_worker(state.clone(), cfg.desk_sweep));
    let (notifier, mail_listener) = crate::mail::start(cfg, &store, &audit).await?;
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    match &cfg.tls {
        None => {
            outln!("listening on http://{addr}");
            tracing::info!(%addr, "Palisade is serving HTTP.");
            palisade_web::serve(listener, state.clone(), shutdown_signal())
                .await
                .context("server failed")?;
        }
        Some(files) => {
            let (tls, watcher) = crate::tls::server_config(files)?;
            let reload = tokio::spawn(watcher.run());
            let listener = crate::tls::TlsListener::new(listener, tls)?;
            outln!("listening on https://{addr}");
            tracing::info!(
                %addr,
                cert_file = %files.cert_file.display(),
                "Palisade is serving HTTPS."
            );
            let served = palisade_web::serve(listener, state.clone(), shutdown_signal()).await;
            reload.abort();
            served.context("server failed")?;
        }
    }
    background.abort();
    key_work.abort();
    desk_work.abort();
    notifier.abort();
    if let Some(l) = mail_listener {
        l.abort();
    }
    audit_work.abort();
    tracing::info!("Shutting down: sealing and shipping the audit log.");
    let _ = audit
        .record(
            palisade_audit::Event::new(
                jiff::Timestamp::now().as_microsecond(),
                palisade_audit::EventKind::System,
                "server.stop",
            )
            .actor("system"),
        )
        .await;
    audit.flush().await;
    audit_worker.finish().await;
    store.close().await;
    Ok(())
}

/// The desk's background work: every `every`, sweep the open tickets as of the app's clock,
/// escalating unanswered critical ones (each escalation is a timeline event by the system and an
/// audit event) and refreshing the SLA metrics. A failed sweep is logged; the next one retries.
async fn desk_worker(state: AppState, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match palisade_web::deskops::sweep(&state, &state.config.desk).await {
            Ok(r) if !r.escalated.is_empty() => tracing::info!(
                escalated = r.escalated.len(),
                at_risk = r.at_risk,
                breached = r.breached,
                "Escalated unanswered critical tickets."
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "The desk sweep failed."),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The server's background work: follow the advisory store's change log (imports by any process,
/// syncs by this one) and match what changed; reopen expired risk acceptances; sync the configured
/// advisory sources on their schedule. Failures are logged and shown on the advisories page, and
/// the next tick tries again.
async fn background_work(matcher: Matcher, cfg: Config, audit: palisade_auditlog::AuditLog) {
    // What the server changes on its own is audited like what people change.
    let system = |action: &str, data: serde_json::Value| {
        palisade_audit::Event::new(
            jiff::Timestamp::now().as_microsecond(),
            palisade_audit::EventKind::System,
            action,
        )
        .actor("system")
        .data(&data)
    };
    // The environments' names and tiers that "who is affected" lists, read before anyone asks.
    if let Err(e) = matcher.warm_spine().await {
        tracing::warn!(error = %e, "could not read the environments' facts ahead");
    }
    let mut match_tick = tokio::time::interval(cfg.match_interval);
    let mut sync_tick = tokio::time::interval(cfg.advisory_sync);
    match_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let syncing = !cfg.advisory_sources.is_empty();
    loop {
        tokio::select! {
            _ = match_tick.tick() => {}
            _ = sync_tick.tick(), if syncing => {
                let started = jiff::Timestamp::now();
                // A new client each time, so a replaced ca_file counts from the next sync on.
                let result = match crate::outbound::client(cfg.ca_file.as_deref()) {
                    Ok(http) => {
                        crate::advisories::sync(&cfg.advisory_db, &cfg.advisory_sources, None, &http).await
                    }
                    Err(e) => Err(e),
                };
                let text = match &result {
                    Ok(()) => "ok".to_owned(),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "Advisory sync failed.");
                        format!("failed: {e:#}")
                    }
                };
                audit
                    .record_detached(system("advisories.sync", serde_json::json!({"outcome": text})))
                    .await;
                let next = started
                    .checked_add(jiff::SignedDuration::try_from(cfg.advisory_sync).unwrap_or_default())
                    .ok();
                matcher.record_sync(started, text, next);
            }
        }
        let now = jiff::Timestamp::now();
        match matcher.catch_up(now).await {
            Ok(done) if done.full || done.packages > 0 => {
                tracing::info!(
                    full = done.full,
                    packages = done.packages,
                    created = done.changes.created,
                    updated = done.changes.updated,
                    "Matched changed advisories against the fleet."
                );
                if done.changes.created + done.changes.updated > 0 {
                    let data = serde_json::json!({
                        "full": done.full,
                        "packages": done.packages,
                        "findings_created": done.changes.created,
                        "findings_updated": done.changes.updated,
                    });
                    let _ = audit.record(system("fleet.match", data)).await;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Matching changed advisories failed."),
        }
        match matcher.expire_risks(now).await {
            Ok(0) => {}
            Ok(reopened) => {
                let data = serde_json::json!({"findings_reopened": reopened});
                let _ = audit.record(system("findings.risk-expired", data)).await;
            }
            Err(e) => tracing::warn!(error = %e, "Reopening expired risk acceptances failed."),
        }
    }
}
