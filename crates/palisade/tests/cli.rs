//! The binary, black box: the README's run command (`palisade demo`) starts a living system whose
//! demo admin can use the API with the printed token, SIGTERM shuts it down cleanly, bad
//! configuration is refused naming the key, and the admin commands work.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn palisade() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
    c.env_remove("PALISADE_DATABASE_URL")
        .env_remove("PALISADE_LISTEN")
        .kill_on_drop(true);
    c
}

#[tokio::test]
async fn demo_serves_seeded_data_to_the_printed_token_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = palisade()
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start palisade demo");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut token, mut base, mut banner) = (None, None, String::new());
    while let Some(line) = lines.next_line().await.expect("read") {
        banner.push_str(&line);
        banner.push('\n');
        if let Some(t) = line.split("(shown once): ").nth(1) {
            token = Some(t.trim().to_owned());
        }
        if let Some(addr) = line.strip_prefix("listening on ") {
            base = Some(addr.trim().to_owned());
            break;
        }
    }
    let (token, base) = (
        token.expect("token printed"),
        base.expect("address printed"),
    );
    assert!(banner.contains("12 clients"), "{banner}");
    assert!(
        banner.contains("DEMO MODE"),
        "the demo says MFA is relaxed: {banner}"
    );

    let http = reqwest::Client::new();
    let me: serde_json::Value = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"]["email"], "admin@demo.palisade.test");
    let sites: serde_json::Value = http
        .get(format!("{base}/api/v1/sites?limit=100"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sites")
        .json()
        .await
        .expect("json");
    assert!(sites["items"].as_array().expect("items").len() >= 12);

    // The demo's vulnerability story: open findings, the KEV-listed one first.
    let findings: serde_json::Value = http
        .get(format!("{base}/api/v1/findings"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("findings")
        .json()
        .await
        .expect("json");
    let first = &findings["items"][0];
    assert!(first["kev"].is_object(), "KEV first: {first}");

    // `inventory push` from a folder, then `affected` finds that environment.
    let envs: serde_json::Value = http
        .get(format!("{base}/api/v1/environments?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("environments")
        .json()
        .await
        .expect("json");
    let env = envs["items"][0]["id"].as_str().expect("env id").to_owned();
    let site = tempfile::tempdir().expect("site dir");
    std::fs::write(
        site.path().join("composer.lock"),
        r#"{"packages": [{"name": "twig/twig", "version": "v3.4.0"}]}"#,
    )
    .expect("write lock");
    let push = palisade()
        .args([
            "inventory",
            "push",
            "--server",
            &base,
            "--environment",
            &env,
        ])
        .arg(site.path())
        .env("PALISADE_TOKEN", &token)
        .output()
        .await
        .expect("push");
    let out = String::from_utf8_lossy(&push.stdout);
    assert!(
        push.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert!(out.contains("1 packages from 1 files"), "{out}");
    let affected = palisade()
        .args([
            "affected",
            "--server",
            &base,
            "--format",
            "csv",
            "CVE-2022-39261",
        ])
        .env("PALISADE_TOKEN", &token)
        .output()
        .await
        .expect("affected");
    let csv = String::from_utf8_lossy(&affected.stdout);
    assert!(affected.status.success(), "{csv}");
    assert!(csv.starts_with("client,site,environment"), "{csv}");
    assert!(
        csv.lines().any(|l| l.contains("twig/twig,v3.4.0,")),
        "the pushed environment is affected: {csv}"
    );
    // A patch campaign from the command line: planned, started, shown.
    let run = |args: Vec<String>| {
        let token = token.clone();
        async move {
            let out = palisade()
                .args(&args)
                .env("PALISADE_TOKEN", &token)
                .output()
                .await
                .expect("campaign command");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{args:?}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            text
        }
    };
    let s = |v: &str| v.to_owned();
    let planned = run(vec![
        s("campaign"),
        s("plan"),
        s("--server"),
        base.clone(),
        s("CVE-2022-39261"),
    ])
    .await;
    let id = planned
        .split_whitespace()
        .nth(2)
        .expect("campaign id")
        .to_owned();
    let started = run(vec![
        s("campaign"),
        s("start"),
        s("--server"),
        base.clone(),
        id.clone(),
    ])
    .await;
    assert!(started.contains("client(s) told"), "{started}");
    let shown = run(vec![
        s("campaign"),
        s("show"),
        s("--server"),
        base.clone(),
        id.clone(),
    ])
    .await;
    assert!(shown.contains("[active] CVE-2022-39261"), "{shown}");
    assert!(shown.contains("pending"), "{shown}");
    let report = run(vec![
        s("campaign"),
        s("report"),
        s("--csv"),
        s("--server"),
        base.clone(),
        id,
    ])
    .await;
    assert!(
        report.starts_with("rank,client,site,environment"),
        "{report}"
    );
    let refused = palisade()
        .args(["affected", "--server", &base, "CVE-2022-39261"])
        .env_remove("PALISADE_TOKEN")
        .output()
        .await
        .expect("affected without token");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("PALISADE_TOKEN"));

    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().await.expect("wait");
    assert!(status.success(), "graceful shutdown exits 0: {status}");
}

#[tokio::test]
async fn bad_configuration_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = palisade()
        .args(["serve", "--listen", "everywhere", "--data-dir"])
        .arg(dir.path())
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("listen") && err.contains("everywhere"),
        "{err}"
    );

    let cfg = dir.path().join("palisade.toml");
    std::fs::write(&cfg, "session_idle_minutes = -5\n").expect("write");
    let out = palisade()
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("session_idle_minutes"));
}

#[tokio::test]
async fn admin_commands_create_a_user_and_a_token_and_migrate_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path").to_owned();
    for _ in 0..2 {
        let out = palisade()
            .args(["migrate", "--data-dir", &data])
            .output()
            .await
            .expect("migrate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = palisade()
        .args([
            "admin",
            "create-user",
            "--data-dir",
            &data,
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
            "--role",
            "operations",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("create-user");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"a long enough passphrase\n")
            .await
            .expect("write");
    }
    let out = child.wait_with_output().await.expect("wait");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("created user ops@example.com (operations)")
    );

    let out = palisade()
        .args([
            "admin",
            "create-user",
            "--data-dir",
            &data,
            "--email",
            "x@example.com",
            "--name",
            "X",
            "--role",
            "client-user",
        ])
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--client-id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = palisade()
        .args([
            "admin",
            "create-token",
            "--data-dir",
            &data,
            "--email",
            "ops@example.com",
            "--role",
            "super-admin",
        ])
        .output()
        .await
        .expect("run");
    assert!(
        !out.status.success(),
        "a token cannot be stronger than its owner"
    );
    let out = palisade()
        .args([
            "admin",
            "create-token",
            "--data-dir",
            &data,
            "--email",
            "ops@example.com",
        ])
        .output()
        .await
        .expect("run");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .starts_with("pal_")
    );
}

/// Runs the binary to completion and returns its standard output, failing with its error output.
async fn run_ok(args: &[&str]) -> String {
    let out = palisade().args(args).output().await.expect("run palisade");
    assert!(
        out.status.success(),
        "palisade {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn run_err(args: &[&str]) -> String {
    let out = palisade().args(args).output().await.expect("run palisade");
    assert!(!out.status.success(), "palisade {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Encryption at rest, end to end: the demo's contact details are sealed in the database under a
/// keyring created on first start; `keys rotate` re-encrypts them under a new key; a key added
/// with `--later` is applied by `serve` in the background while the API keeps answering with the
/// contact details; old keys retire only once nothing uses them; a lost or exposed keyring stops
/// the server with a message saying what to do.
#[tokio::test]
async fn keys_rotate_keeps_contact_details_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path").to_owned();
    let seeded = run_ok(&["demo", "--seed-only", "--data-dir", &data]).await;
    let token = seeded
        .lines()
        .find_map(|l| l.split("(shown once): ").nth(1))
        .expect("token printed")
        .trim()
        .to_owned();
    let keyring = dir.path().join("keyring");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keyring)
            .expect("keyring created on first start")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let status = run_ok(&["keys", "status", "--data-dir", &data]).await;
    assert!(status.contains("key versions 1;"), "{status}");
    assert!(
        status.contains("Every encrypted value is under the newest key"),
        "{status}"
    );

    let rotated = run_ok(&["keys", "rotate", "--data-dir", &data]).await;
    assert!(rotated.contains("Added key version 2"), "{rotated}");
    assert!(
        rotated.contains("every encrypted value is now under key version 2"),
        "{rotated}"
    );
    let later = run_ok(&["keys", "rotate", "--later", "--data-dir", &data]).await;
    assert!(later.contains("Added key version 3"), "{later}");
    let status = run_ok(&["keys", "status", "--data-dir", &data]).await;
    assert!(status.contains("under older keys"), "{status}");
    let refused = run_err(&["keys", "retire", "2", "--data-dir", &data]).await;
    assert!(
        refused.contains("key version 2 still encrypts"),
        "{refused}"
    );

    // `serve` re-encrypts under key 3 in the background; the API answers meanwhile and after.
    let mut child = palisade()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &data])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start palisade serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let (finished_tx, finished_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut finished = Some(finished_tx);
        while let Ok(Some(line)) = stderr.next_line().await {
            if line.contains("Re-encryption finished")
                && let Some(tx) = finished.take()
            {
                let _ = tx.send(line);
            }
        }
    });
    let mut base = None;
    while let Some(line) = stdout.next_line().await.expect("read") {
        if let Some(addr) = line.strip_prefix("listening on ") {
            base = Some(addr.trim().to_owned());
            break;
        }
    }
    let base = base.expect("address printed");
    let http = reqwest::Client::new();
    let get = |path: String| {
        let (http, token, base) = (http.clone(), token.clone(), base.clone());
        async move {
            let resp = http
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("request");
            assert!(resp.status().is_success(), "{path}: {}", resp.status());
            resp.json::<serde_json::Value>().await.expect("json")
        }
    };
    let contact_emails = || async {
        let clients = get("/api/v1/clients?limit=100".into()).await;
        let mut emails = Vec::new();
        for c in clients["items"].as_array().expect("clients") {
            let id = c["id"].as_str().expect("client id");
            let contacts = get(format!("/api/v1/clients/{id}/contacts")).await;
            for contact in contacts["items"].as_array().expect("contacts") {
                emails.push(contact["email"].as_str().expect("email").to_owned());
            }
        }
        emails
    };
    let during = contact_emails().await;
    assert_eq!(during.len(), 12, "{during:?}");
    assert!(
        during
            .iter()
            .all(|e| e.starts_with("it@") && e.ends_with(".example")),
        "{during:?}"
    );
    finished_rx.await.expect("the background pass finishes");
    assert_eq!(contact_emails().await, during);

    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    assert!(child.wait().await.expect("wait").success());

    let status = run_ok(&["keys", "status", "--data-dir", &data]).await;
    assert!(
        status.contains("Every encrypted value is under the newest key"),
        "{status}"
    );
    let retired = run_ok(&["keys", "retire", "2", "--data-dir", &data]).await;
    assert!(retired.contains("Removed key version 2"), "{retired}");
    let refused = run_err(&["keys", "retire", "3", "--data-dir", &data]).await;
    assert!(refused.contains("newest"), "{refused}");
    let status = run_ok(&["keys", "status", "--data-dir", &data]).await;
    assert!(status.contains("key versions 1, 3;"), "{status}");

    // The database files hold no contact detail in clear.
    let mut stored = Vec::new();
    for name in ["palisade.db", "palisade.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            stored.extend(bytes);
        }
    }
    for email in &during {
        assert!(
            !stored.windows(email.len()).any(|w| w == email.as_bytes()),
            "{email} is stored in clear"
        );
    }

    // Another installation's keys with the same version numbers, a keyring others can read, or
    // none at all: each stops the start with what to do.
    let foreign = palisade()
        .args(["migrate", "--data-dir", &data])
        .env(
            "PALISADE_KEYRING",
            // Two well-formed 32-byte keys (all zeros, all ones), not this installation's.
            "1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,3=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        .output()
        .await
        .expect("run");
    assert!(!foreign.status.success());
    let err = String::from_utf8_lossy(&foreign.stderr);
    assert!(err.contains("does not match the database"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&keyring, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = run_err(&["migrate", "--data-dir", &data]).await;
        assert!(err.contains("chmod 600"), "{err}");
    }
    std::fs::rename(&keyring, dir.path().join("keyring.moved")).expect("move keyring");
    let err = run_err(&["migrate", "--data-dir", &data]).await;
    assert!(
        err.contains("no keyring") && err.contains("key version(s) 3"),
        "{err}"
    );
    assert!(!keyring.exists(), "no new keyring replaces a lost one");
}

/// `billing export` and the desk's settings: a bad month or an unknown client is refused with a
/// message that says which; invalid desk settings stop the start naming the key.
#[tokio::test]
async fn billing_export_and_desk_settings_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path").to_owned();
    run_ok(&["migrate", "--data-dir", &data]).await;
    let client = "0190b5a0-0000-7000-8000-000000000001";
    let err = run_err(&[
        "billing",
        "export",
        "--data-dir",
        &data,
        "--client",
        client,
        "--month",
        "2026-13",
    ])
    .await;
    assert!(err.contains("--month") && err.contains("2026-13"), "{err}");
    let err = run_err(&[
        "billing",
        "export",
        "--data-dir",
        &data,
        "--client",
        client,
        "--month",
        "2026-11",
    ])
    .await;
    assert!(err.contains(client) && err.contains("not found"), "{err}");

    for (setting, key) in [
        ("desk_at_risk_percent = 100\n", "desk_at_risk_percent"),
        (
            "desk_auto_escalate_minutes = 0\n",
            "desk_auto_escalate_minutes",
        ),
        (
            "[billing.premium]\ncurrency = \"pounds\"\nin_hours = 1\nout_of_hours = 2\n",
            "billing.premium.currency",
        ),
    ] {
        let cfg = dir.path().join("palisade.toml");
        std::fs::write(&cfg, setting).expect("write");
        let out = palisade()
            .arg("--config")
            .arg(&cfg)
            .args(["migrate", "--data-dir", &data])
            .output()
            .await
            .expect("run");
        assert!(!out.status.success(), "{setting}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{setting}: {err}");
    }
}
