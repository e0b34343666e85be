//! Start-up wiring: open and migrate the store, build the web state, serve until SIGTERM or Ctrl-C,
//! then drain in-flight requests and flush request records before exiting.

use std::sync::Arc;

use anyhow::Context;
use palisade_core::clock::SystemClock;
use palisade_store_sql::SqlStore;
use palisade_web::{AppState, WebConfig};
use tokio::net::TcpListener;

use crate::config::Config;

/// Opens the configured database (creating the data folder for SQLite) and applies migrations.
pub async fn open_store(cfg: &Config) -> anyhow::Result<SqlStore> {
    if cfg.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("cannot create the data folder {}", cfg.data_dir.display()))?;
    }
    let store = SqlStore::connect(&cfg.database_url).await?;
    store.migrate().await?;
    tracing::info!(backend = store.backend_name(), "Database ready.");
    Ok(store)
}

/// The web settings implied by the configuration.
pub fn web_config(cfg: &Config, demo: bool) -> WebConfig {
    WebConfig {
        secure_cookies: cfg.secure_cookies,
        require_staff_mfa: cfg.require_staff_mfa && !demo,
        session_absolute: cfg.session_absolute,
        session_idle: cfg.session_idle,
        demo,
        ..WebConfig::default()
    }
}

/// Serves until a shutdown signal. Prints `listening on http://ADDR` once the socket is bound, which
/// scripts and tests use as the readiness signal.
pub async fn serve(cfg: &Config, store: SqlStore, demo: bool) -> anyhow::Result<()> {
    let state = AppState::new(
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        web_config(cfg, demo),
    );
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, "Palisade is serving.");
    palisade_web::serve(listener, state.clone(), shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("Shutting down: flushing request records.");
    state.telemetry.flush().await;
    store.close().await;
    Ok(())
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
