//! `palisade advisories` and `palisade scan`, black box: import from a folder and from a URL,
//! incremental sync from a loopback HTTP server that honours entity tags, and the scanner's exit
//! codes and output formats as a CI job sees them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, StatusCode, header};
use tokio::process::Command;

const GHSA: &str = r#"{"id": "GHSA-1111-2222-3333", "modified": "2024-01-01T00:00:00Z",
 "aliases": ["CVE-2024-0001"], "summary": "Prototype pollution in minimist",
 "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
 "affected": [{"package": {"ecosystem": "npm", "name": "minimist"},
   "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.6"}]}]}]}"#;

const LOCK: &str = r#"{"name": "s", "lockfileVersion": 3, "packages": {"": {}, "node_modules/minimist": {"version": "1.2.5"}}}"#;

fn palisade(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
    c.current_dir(dir).kill_on_drop(true);
    c
}

async fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = palisade(dir)
        .args(args)
        .output()
        .await
        .expect("run palisade");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("feed")).unwrap();
    std::fs::write(dir.path().join("feed/ghsa.json"), GHSA).unwrap();
    std::fs::create_dir_all(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("site/package-lock.json"), LOCK).unwrap();
    dir
}

#[tokio::test]
async fn scan_exit_codes_follow_fail_on_and_a_missing_store_is_an_error() {
    let dir = setup();
    let d = dir.path();
    let (code, _, err) = run(d, &["scan", "--db", "db", "site"]).await;
    assert_eq!(code, 2, "no store yet: {err}");
    assert!(err.contains("advisories import"), "{err}");

    let (code, out, _) = run(d, &["advisories", "import", "--db", "db", "feed"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("1 new"), "{out}");
    assert!(
        d.join("db/scan.idx").exists(),
        "an import leaves the scan index behind it"
    );
    // An index scans would pass over (here cut short; after an upgrade, of an older format) is
    // shown as such and replaced by the next import, even one that changes no record.
    let idx = std::fs::read(d.join("db/scan.idx")).unwrap();
    std::fs::write(d.join("db/scan.idx"), &idx[..idx.len() - 1]).unwrap();
    let (_, out, _) = run(d, &["advisories", "status", "--db", "db"]).await;
    assert!(out.contains("scan index       unusable"), "{out}");
    let (code, out, _) = run(d, &["advisories", "import", "--db", "db", "feed"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("1 unchanged"), "{out}");
    assert_eq!(
        std::fs::read(d.join("db/scan.idx")).unwrap().len(),
        idx.len()
    );
    let (_, out, _) = run(d, &["advisories", "status", "--db", "db"]).await;
    assert!(out.contains("scan index       0.0 MB"), "{out}");

    let (code, out, _) = run(d, &["scan", "--db", "db", "site"]).await;
    assert_eq!(code, 0, "without --fail-on a finding does not fail: {out}");
    assert!(
        out.contains("minimist") && out.contains("GHSA-1111-2222-3333") && out.contains("1.2.6"),
        "{out}"
    );
    let (code, _, _) = run(d, &["scan", "--db", "db", "--fail-on", "high", "site"]).await;
    assert_eq!(code, 1);
    let (code, _, _) = run(d, &["scan", "--db", "db", "--fail-on", "critical", "site"]).await;
    assert_eq!(code, 0, "a high finding does not fail a critical threshold");
    let (code, _, err) = run(d, &["scan", "--db", "db", "--fail-on", "severe", "site"]).await;
    assert_eq!(code, 2, "{err}");

    let (code, out, _) = run(d, &["scan", "--db", "db", "--format", "sarif", "site"]).await;
    assert_eq!(code, 0);
    let sarif: serde_json::Value = serde_json::from_str(&out).expect("SARIF is JSON");
    assert_eq!(
        sarif["runs"][0]["results"][0]["ruleId"],
        "GHSA-1111-2222-3333"
    );

    // An ignore entry with a reason silences the failure until it expires.
    std::fs::write(
        d.join(".palisade-ignore.toml"),
        "[[ignore]]\nid = \"CVE-2024-0001\"\nreason = \"build-time only\"\nexpires = \"2999-01-01\"\n",
    )
    .unwrap();
    let (code, out, _) = run(d, &["scan", "--db", "db", "--fail-on", "high", "site"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("build-time only"), "{out}");
}

/// Regression: `palisade scan … | head` panicked ("failed printing to stdout: Broken pipe") when
/// the reader had gone away. Now the scan ends as a closed pipe ends `cat`: no message, status
/// 141. The pipe's read end is closed before the scan starts, so its first write meets no reader.
#[tokio::test]
async fn scan_into_a_closed_pipe_ends_quietly() {
    let dir = setup();
    let d = dir.path();
    let (code, _, _) = run(d, &["advisories", "import", "--db", "db", "feed"]).await;
    assert_eq!(code, 0);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = palisade(d)
        .args(["scan", "--db", "db", "--format", "json", "site"])
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

/// Serves one file with an entity tag, answering 304 to a matching If-None-Match.
async fn serve(body: Arc<std::sync::Mutex<(Vec<u8>, String)>>, hits: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/osv/all.zip",
        axum::routing::get(move |headers: HeaderMap| {
            let body = body.clone();
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let (bytes, etag) = body.lock().unwrap().clone();
                if headers
                    .get(header::IF_NONE_MATCH)
                    .and_then(|v| v.to_str().ok())
                    == Some(&etag)
                {
                    return (StatusCode::NOT_MODIFIED, HeaderMap::new(), Vec::new());
                }
                let mut h = HeaderMap::new();
                h.insert(header::ETAG, etag.parse().unwrap());
                (StatusCode::OK, h, bytes)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/osv/all.zip")
}

fn zip_of(records: &[(&str, String)]) -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    for (name, body) in records {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(body.as_bytes()).unwrap();
    }
    z.finish().unwrap();
    buf.into_inner()
}

#[tokio::test]
async fn sync_downloads_only_when_changed_and_imports_only_newer_records() {
    let dir = setup();
    let d = dir.path();
    let other = GHSA
        .replace("GHSA-1111-2222-3333", "GHSA-4444-5555-6666")
        .replace("minimist", "left-pad");
    let body = Arc::new(std::sync::Mutex::new((
        zip_of(&[("a.json", GHSA.to_owned()), ("b.json", other.clone())]),
        "\"v1\"".to_owned(),
    )));
    let hits = Arc::new(AtomicUsize::new(0));
    let url = serve(body.clone(), hits.clone()).await;
    std::fs::write(
        d.join("palisade.toml"),
        format!("[[advisory_sources]]\nname = \"osv-npm\"\nlocation = \"{url}\"\n"),
    )
    .unwrap();

    let (code, out, err) = run(d, &["advisories", "sync", "--db", "db"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 records: 2 new"), "{out}");

    let (code, out, _) = run(d, &["advisories", "sync", "--db", "db"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("unchanged since the last sync"), "{out}");
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // One record is modified upstream: the archive changes, and only that record is imported.
    let newer = other.replace("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z");
    *body.lock().unwrap() = (
        zip_of(&[("a.json", GHSA.to_owned()), ("b.json", newer)]),
        "\"v2\"".to_owned(),
    );
    let (code, out, _) = run(d, &["advisories", "sync", "--db", "db"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("1 updated") && out.contains("1 not modified since last sync"),
        "{out}"
    );

    let (code, out, _) = run(d, &["advisories", "status", "--db", "db"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("osv  ") || out.contains("osv "), "{out}");
    assert!(out.contains("source osv-npm"), "{out}");
    assert!(
        out.contains("scan index") && out.contains(" MB"),
        "a sync rebuilds the scan index and status shows it: {out}"
    );
    assert!(
        out.contains("2024-02-01"),
        "the high-water mark is shown: {out}"
    );

    let (code, out, _) = run(d, &["advisories", "show", "--db", "db", "CVE-2024-0001"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("GHSA-1111-2222-3333"), "{out}");
}

#[tokio::test]
async fn import_from_a_url_and_report_bad_files_without_stopping() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(
        d.join("feed/broken.json"),
        "{\"id\": \"GHSA-x\", \"modified\": ",
    )
    .unwrap();
    let (code, out, err) = run(d, &["advisories", "import", "--db", "db", "feed"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("1 new") && out.contains("1 errors"), "{out}");
    assert!(
        err.contains("broken.json"),
        "the error names the file: {err}"
    );

    let body = Arc::new(std::sync::Mutex::new((
        zip_of(&[("a.json", GHSA.replace("2024-01-01", "2024-03-01"))]),
        "\"z\"".to_owned(),
    )));
    let url = serve(body, Arc::new(AtomicUsize::new(0))).await;
    let (code, out, err) = run(d, &["advisories", "import", "--db", "db", &url]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 updated"), "{out}");
}

type Files = Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>;

/// Serves an osv.dev-style ecosystem folder from memory and counts the requests per path.
async fn serve_folder(files: Files, hits: Arc<std::sync::Mutex<Vec<String>>>) -> String {
    let app = axum::Router::new().route(
        "/osv/npm/{file}",
        axum::routing::get(
            move |axum::extract::Path(file): axum::extract::Path<String>| {
                let files = files.clone();
                let hits = hits.clone();
                async move {
                    hits.lock().unwrap().push(file.clone());
                    match files.lock().unwrap().get(&file) {
                        Some(body) => (StatusCode::OK, body.clone()),
                        None => (StatusCode::NOT_FOUND, Vec::new()),
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/osv/npm/")
}

#[tokio::test]
async fn an_osv_folder_is_synced_whole_once_then_record_by_record() {
    let dir = setup();
    let d = dir.path();
    let a = GHSA.to_owned();
    let b = GHSA
        .replace("GHSA-1111-2222-3333", "GHSA-4444-5555-6666")
        .replace("minimist", "left-pad");
    let files: Files = Arc::default();
    files.lock().unwrap().insert(
        "all.zip".into(),
        zip_of(&[
            ("GHSA-1111-2222-3333.json", a.clone()),
            ("GHSA-4444-5555-6666.json", b.clone()),
        ]),
    );
    let hits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let base = serve_folder(files.clone(), hits.clone()).await;
    std::fs::write(
        d.join("palisade.toml"),
        format!("[[advisory_sources]]\nname = \"osv-npm\"\nlocation = \"{base}\"\n"),
    )
    .unwrap();
    let (code, out, err) = run(d, &["advisories", "sync", "--db", "db"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 new"), "{out}");
    assert_eq!(*hits.lock().unwrap(), ["all.zip"]);

    // Upstream modifies one record: the next sync reads the list and fetches only that one.
    let newer = b.replace("2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z");
    {
        let mut f = files.lock().unwrap();
        f.insert("GHSA-4444-5555-6666.json".into(), newer.into_bytes());
        f.insert(
            "modified_id.csv".into(),
            b"2024-03-01T00:00:00Z,GHSA-4444-5555-6666\n2024-01-01T00:00:00Z,GHSA-1111-2222-3333\n"
                .to_vec(),
        );
    }
    hits.lock().unwrap().clear();
    let (code, out, err) = run(d, &["advisories", "sync", "--db", "db"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("1 records modified since") && out.contains("1 updated"),
        "{out}"
    );
    assert_eq!(
        *hits.lock().unwrap(),
        ["modified_id.csv", "GHSA-4444-5555-6666.json"]
    );

    // A list line that is not `time,id` is refused with its line number.
    files.lock().unwrap().insert(
        "modified_id.csv".into(),
        b"2024-03-01T00:00:00Z,GHSA-4444-5555-6666\nnonsense\n".to_vec(),
    );
    let (code, _, err) = run(d, &["advisories", "sync", "--db", "db"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("modified_id.csv:2"), "{err}");
}
