//! Shared by the audit log's integration tests: a store with a log in it, and a real S3-compatible
//! server (s3s-fs) on loopback.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_audit::{Event, EventKind, SigningKey};
use palisade_auditlog::seal::seal_once;
use palisade_store::AuditStore;
use palisade_store_sql::SqlStore;

pub const T0: i64 = 1_780_000_000_000_000;
pub const MINUTE: i64 = 60_000_000;

pub async fn sqlite(dir: &Path) -> (SqlStore, String) {
    let path = dir.join("palisade.db");
    let keys = Arc::new(palisade_keyring::LiveKeyring::fixed(
        palisade_keyring::Keyring::generate(),
    ));
    let store = SqlStore::connect(&format!("sqlite://{}", path.display()), keys)
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    (store, path.display().to_string())
}

pub fn event(i: u64, at: i64) -> Event {
    Event::new(at, EventKind::Change, "site.update")
        .actor(format!("user:{}", i % 3))
        .client(Some(if i.is_multiple_of(2) {
            "0190c6f1-0000-7000-8000-00000000000a"
        } else {
            "0190c6f1-0000-7000-8000-00000000000b"
        }))
        .object(format!("site:{i}"))
        .data(&serde_json::json!({"i": i}))
}

/// Appends `per` events then seals, `rounds` times, one digest per five minutes of the test clock.
pub async fn fill(store: &dyn AuditStore, key: &SigningKey, rounds: u64, per: u64) {
    for r in 0..rounds {
        let at = T0 + r as i64 * 5 * MINUTE;
        store
            .append_audit(
                (0..per)
                    .map(|i| event(r * per + i, at + i as i64))
                    .collect(),
            )
            .await
            .expect("append");
        seal_once(store, key, at + 5 * MINUTE - 1)
            .await
            .expect("seal")
            .expect("sealed");
    }
}

/// A real S3 API on loopback: the s3s-fs server from crates.io. `None` (test skipped) when it is not
/// installed, except in CI, where that is a failure.
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
    pub root: PathBuf,
    binary: PathBuf,
}

pub const ACCESS_KEY: &str = "palisade-test";
pub const SECRET_KEY: &str = "palisade-test-secret";
pub const BUCKET: &str = "audit";

fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PALISADE_TEST_S3S_FS") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/s3s-fs"));
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("s3s-fs"))
        .chain(home)
        .find(|p| p.is_file())
}

impl S3Server {
    pub fn start(root: &Path) -> Option<Self> {
        let Some(binary) = find_binary() else {
            if std::env::var_os("CI").is_some() {
                panic!("s3s-fs is not installed: CI must test shipping against a real S3 API");
            }
            println!(
                "s3s-fs not installed (cargo install s3s-fs --version 0.14.1 --features binary): S3 test not run"
            );
            return None;
        };
        std::fs::create_dir_all(root.join(BUCKET)).expect("bucket folder");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let mut s = Self {
            child: None,
            port,
            root: root.to_owned(),
            binary,
        };
        s.up();
        Some(s)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&mut self) {
        let child = Command::new(&self.binary)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--access-key",
                ACCESS_KEY,
                "--secret-key",
                SECRET_KEY,
            ])
            .arg(&self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start listening");
            std::thread::yield_now();
        }
    }

    /// Stops the server (an outage).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn config(&self) -> palisade_auditlog::BucketConfig {
        palisade_auditlog::BucketConfig::S3 {
            bucket: BUCKET.into(),
            prefix: "palisade".into(),
            endpoint: Some(format!("http://127.0.0.1:{}", self.port)),
            region: "us-east-1".into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.down();
    }
}

pub fn arc(store: &SqlStore) -> Arc<dyn AuditStore> {
    Arc::new(store.clone())
}
