//! The audit log, black box: a server's requests end up sealed, shipped and verifiable offline
//! with only the public key; `prove` proves one event; tampering in the database or the bucket
//! makes `verify` exit 1 naming the place; and SIGKILL under a load of audited writes never loses
//! an acknowledged write's event nor breaks the chain.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn palisade() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
    c.env_remove("PALISADE_DATABASE_URL")
        .env_remove("PALISADE_LISTEN")
        .kill_on_drop(true);
    c
}

/// Seeds the demo data into `dir` and returns the admin's API token.
async fn seed(dir: &Path) -> String {
    let out = palisade()
        .args(["demo", "--seed-only", "--data-dir"])
        .arg(dir)
        .output()
        .await
        .expect("seed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.split("(shown once): ").nth(1))
        .expect("token printed")
        .trim()
        .to_owned()
}

/// Starts `serve` on a free port and waits for its readiness line.
async fn serve(dir: &Path) -> (Child, String) {
    let mut child = palisade()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while let Some(line) = lines.next_line().await.expect("read") {
        if let Some(addr) = line.strip_prefix("listening on ") {
            let base = addr.trim().to_owned();
            // Keep draining stdout so the server never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, base);
        }
    }
    panic!("serve exited before listening");
}

async fn stop(mut child: Child) {
    let pid = child.id().expect("pid").to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill")
            .success()
    );
    assert!(child.wait().await.expect("wait").success(), "graceful stop");
}

async fn run(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = palisade()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .await
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn client_body(name: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "contract": {
            "sla_tier": "standard",
            "support_hours": {"time_zone": "Europe/London", "ranges": [{"day": "monday", "start": "09:00", "end": "17:00"}]},
            "holiday_calendar": null,
            "out_of_hours": false
        }
    })
}

#[tokio::test]
async fn a_servers_log_verifies_offline_proves_an_event_and_names_tampering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = seed(dir.path()).await;
    let (child, base) = serve(dir.path()).await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{base}/api/v1/clients"))
        .bearer_auth(&token)
        .json(&client_body("Audited Ltd"))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let request_id = created.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let found: serde_json::Value = http
        .get(format!("{base}/api/v1/audit/events?kind=change&limit=5"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    let event = found["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["request_id"] == request_id)
        .expect("the creation is in the log")
        .clone();
    let published = http
        .get(format!("{base}/api/v1/audit/public-key"))
        .send()
        .await
        .expect("key")
        .text()
        .await
        .expect("pem");
    stop(child).await;

    let (code, pem, _) = run(&["audit", "public-key"], dir.path()).await;
    assert_eq!(code, 0);
    assert_eq!(pem, published, "the CLI and the URL publish the same key");
    let key = dir.path().join("audit.pub.pem");
    std::fs::write(&key, &pem).expect("write key");
    let key = key.to_str().expect("path");

    let (code, out, err) = run(&["audit", "verify", "--public-key", key], dir.path()).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("database:") && out.contains("bucket:") && !out.contains("problem"),
        "{out}"
    );

    let id = event["id"].as_str().expect("id");
    let (code, proof, err) = run(&["audit", "prove", "--public-key", key, id], dir.path()).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("proof checked"), "{err}");
    let proof: serde_json::Value = serde_json::from_str(&proof).expect("proof json");
    assert_eq!(proof["event"]["id"], id);

    // Tampering with one event in the database: named, with the disagreement with the bucket.
    let seq = event["seq"].as_u64().expect("seq");
    let db = rusqlite::Connection::open(dir.path().join("palisade.db")).expect("open db");
    db.execute(
        "UPDATE audit_events SET actor = 'user:nobody' WHERE seq = ?1",
        [seq as i64],
    )
    .expect("tamper");
    drop(db);
    let (code, out, _) = run(&["audit", "verify", "--public-key", key], dir.path()).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("event {seq} ({id}) was altered")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "event {seq} differs between the database and the bucket"
        )),
        "{out}"
    );

    // A digest deleted from the bucket: named.
    let digests: Vec<_> = walk(&dir.path().join("audit-objects").join("digests"));
    std::fs::remove_file(&digests[0]).expect("delete digest");
    let (code, out, _) = run(
        &["audit", "verify", "--source", "bucket", "--public-key", key],
        dir.path(),
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("digest 1 is missing"), "{out}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// SIGKILL at different moments under concurrent audited writes, three times: after each restart
/// every write the API acknowledged has its event, and the chain verifies.
#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = seed(dir.path()).await;
    let mut acknowledged: HashSet<String> = HashSet::new();
    for (round, kill_after) in [(0, 17), (1, 64), (2, 151)] {
        let (mut child, base) = serve(dir.path()).await;
        let stop_flag = Arc::new(AtomicBool::new(false));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut writers = Vec::new();
        for w in 0..12 {
            let (base, token, tx, stop_flag) =
                (base.clone(), token.clone(), tx.clone(), stop_flag.clone());
            writers.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut i = 0;
                while !stop_flag.load(Ordering::Relaxed) {
                    i += 1;
                    let r = http
                        .post(format!("{base}/api/v1/clients"))
                        .bearer_auth(&token)
                        .json(&client_body(&format!("Crash {round}-{w}-{i}")))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 201 => {
                            let id = r.headers()["x-request-id"].to_str().expect("id").to_owned();
                            let _ = tx.send(id);
                        }
                        // The server died mid-request: not acknowledged, nothing promised.
                        _ => {}
                    }
                }
            }));
        }
        drop(tx);
        let mut this_round = 0;
        while let Some(id) = rx.recv().await {
            acknowledged.insert(id);
            this_round += 1;
            if this_round == kill_after {
                child.start_kill().expect("SIGKILL");
                break;
            }
        }
        child.wait().await.expect("killed");
        stop_flag.store(true, Ordering::Relaxed);
        for w in writers {
            w.await.expect("writer");
        }
        // Acknowledgements that raced the kill still count: they were answered 201.
        while let Ok(id) = rx.try_recv() {
            acknowledged.insert(id);
        }
    }

    let (child, base) = serve(dir.path()).await;
    let http = reqwest::Client::new();
    let mut logged = HashSet::new();
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = http
            .get(format!("{base}/api/v1/audit/events?kind=change&action=POST%20/api/v1/clients&limit=500{cursor}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
        for e in page["items"].as_array().expect("items") {
            logged.insert(e["request_id"].as_str().expect("request id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let lost: Vec<_> = acknowledged.difference(&logged).collect();
    assert!(
        lost.is_empty(),
        "acknowledged writes without an event: {lost:?}"
    );
    assert!(acknowledged.len() >= 17 + 64 + 151);
    stop(child).await;
    let (code, out, err) = run(&["audit", "verify", "--source", "both"], dir.path()).await;
    assert_eq!(code, 0, "{out}{err}");
}
