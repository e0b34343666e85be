//! `palisade-scan`, black box, as a CI job runs it: where it finds the store, its exit codes, and
//! that it reports the same whether it reads the scan index or the store itself.

use std::path::Path;
use std::process::{Command, Stdio};

const GHSA: &str = r#"{"id": "GHSA-1111-2222-3333", "modified": "2024-01-01T00:00:00Z",
 "aliases": ["CVE-2024-0001"], "summary": "Prototype pollution in minimist",
 "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
 "affected": [{"package": {"ecosystem": "npm", "name": "minimist"},
   "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.6"}]}]}]}"#;

const LOCK: &str = r#"{"name": "s", "lockfileVersion": 3, "packages": {"": {}, "node_modules/minimist": {"version": "1.2.5"}}}"#;

fn scan(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade-scan"));
    c.current_dir(dir)
        .args(args)
        .env_remove("PALISADE_ADVISORY_DB")
        .env_remove("PALISADE_DATA_DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run palisade-scan");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A project folder and, in `data/advisories`, a store with one advisory and its scan index.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("feed")).unwrap();
    std::fs::write(d.join("feed/ghsa.json"), GHSA).unwrap();
    std::fs::create_dir_all(d.join("site")).unwrap();
    std::fs::write(d.join("site/package-lock.json"), LOCK).unwrap();
    let mut db = palisade_vulndb::VulnDb::open(&d.join("data/advisories")).unwrap();
    palisade_vulndb::import_path(&mut db, &d.join("feed"), None, &mut |_| {}).unwrap();
    assert!(db.refresh_scan_index().unwrap());
    dir
}

#[test]
fn finds_the_store_by_flag_or_environment_and_keeps_the_exit_codes() {
    let dir = setup();
    let d = dir.path();
    let (code, _, err) = scan(d, &["--db", "nowhere", "site"], &[]);
    assert_eq!(code, 2, "no store there: {err}");
    assert!(err.contains("advisories import"), "{err}");

    let (code, out, err) = scan(d, &["--data-dir", "data", "site"], &[]);
    assert_eq!(code, 0, "a finding without --fail-on does not fail: {err}");
    assert!(
        out.contains("minimist") && out.contains("GHSA-1111-2222-3333") && out.contains("1.2.6")
    );

    let env = [("PALISADE_ADVISORY_DB", "data/advisories")];
    let (code, _, _) = scan(d, &["--fail-on", "high", "site"], &env);
    assert_eq!(code, 1);
    let (code, _, _) = scan(d, &["--fail-on", "critical", "site"], &env);
    assert_eq!(code, 0, "a high finding does not fail a critical threshold");
    let (code, _, err) = scan(d, &["--fail-on", "severe", "site"], &env);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = scan(d, &["site"], &[("PALISADE_DATA_DIR", "data")]);
    assert_eq!(code, 0);
}

#[test]
fn reports_the_same_from_the_scan_index_and_from_the_store() {
    let dir = setup();
    let d = dir.path();
    let args = ["--db", "data/advisories", "--format", "json", "site"];
    let (code, with_index, _) = scan(d, &args, &[]);
    assert_eq!(code, 0);
    std::fs::remove_file(d.join("data/advisories").join(palisade_vulndb::INDEX_FILE)).unwrap();
    let (code, from_store, _) = scan(d, &args, &[]);
    assert_eq!(code, 0);
    assert_eq!(with_index, from_store);
    let v: serde_json::Value = serde_json::from_str(&with_index).unwrap();
    assert_eq!(v["findings"][0]["advisory"], "GHSA-1111-2222-3333");
}

/// As `palisade scan`: a reader that went away ends the scan quietly with status 141.
#[test]
fn a_closed_pipe_ends_the_scan_quietly() {
    let dir = setup();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_palisade-scan"))
        .current_dir(dir.path())
        .args(["--db", "data/advisories", "--format", "json", "site"])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}
