//! No input makes a parser panic, and every error names the file it was given: arbitrary bytes
//! and strings, mutated fixtures, and real and fixture files cut at many points (a download that
//! stopped half-way is the common case in practice).

use std::path::{Path, PathBuf};

use palisade_feeds::{FeedError, debian, detect, epss, friendsofphp, kev, osv, rustsec};
use proptest::prelude::*;

const NAME: &str = "dir/input.file";

/// Runs every parser on the bytes (and, for text parsers, on their lossy UTF-8 reading).
fn run_all(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let check = |r: Result<(), FeedError>| {
        if let Err(e) = r {
            assert_eq!(e.file, NAME);
            assert!(e.to_string().starts_with(NAME), "{e}");
        }
    };
    check(osv::parse(NAME, bytes).map(drop));
    check(debian::parse(NAME, bytes).map(drop));
    check(kev::parse(NAME, bytes).map(drop));
    check(rustsec::parse(NAME, &text).map(drop));
    check(friendsofphp::parse(NAME, &text).map(drop));
    check(epss::parse(NAME, &text).map(drop));
    for name in ["a.md", "a.yaml", "a.json", "a.csv", "json"] {
        let _ = detect(name, bytes);
    }
}

fn fixtures() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

/// A sample of the real data, when present: a few files of each kind.
fn real_samples() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/advisories");
    let mut out = Vec::new();
    for (dir, take) in [
        ("rustsec/crates/tokio", 3),
        ("friendsofphp/symfony/http-kernel", 3),
    ] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            out.extend(
                paths
                    .iter()
                    .take(take)
                    .filter_map(|p| std::fs::read(p).ok()),
            );
        }
    }
    if let Ok(b) = std::fs::read(root.join("cisa-kev/known_exploited_vulnerabilities.json")) {
        // The first 64 KiB is plenty to cut at many points.
        out.push(b[..b.len().min(64 * 1024)].to_vec());
    }
    out
}

#[test]
fn truncated_files_never_panic() {
    let mut inputs: Vec<Vec<u8>> = fixtures().into_iter().map(|(_, b)| b).collect();
    inputs.extend(real_samples());
    for bytes in inputs {
        let n = bytes.len();
        let mut cuts: Vec<usize> = (0..=32).map(|i| n * i / 32).collect();
        cuts.extend([1, 2, 3, n.saturating_sub(1), n.saturating_sub(2)]);
        for cut in cuts {
            run_all(&bytes[..cut.min(n)]);
        }
    }
}

#[test]
fn every_fixture_is_detected_as_something() {
    for (path, bytes) in fixtures() {
        let name = path.to_string_lossy();
        assert!(detect(&name, &bytes).is_some(), "{name}");
    }
}

fn fixture_bytes() -> Vec<Vec<u8>> {
    fixtures().into_iter().map(|(_, b)| b).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        run_all(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        run_all(text.as_bytes());
    }

    /// Text built from the formats' own punctuation and keywords reaches deeper than random
    /// bytes do.
    #[test]
    fn format_shaped_text_never_panics(
        parts in proptest::collection::vec(prop_oneof![
            Just("```toml\n"), Just("```\n"), Just("[advisory]\n"), Just("[versions]\n"),
            Just("id = \"R-1\"\n"), Just("package = \"p\"\n"), Just("date = \"2020-01-01\"\n"),
            Just("patched = [\">= 1.2\", \"^0\"]\n"), Just("unaffected = [\"<= 1.0.0-0\"]\n"),
            Just("reference: composer://a/b\n"), Just("branches:\n  x:\n    versions: ['<1.0', '>=0.5']\n"),
            Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just("\"id\""),
            Just("\"affected\""), Just("\"ranges\""), Just("\"events\""), Just("\"introduced\""),
            Just("\"0\""), Just("\"1.0.0\""), Just("\"package\""), Just("{\"ecosystem\":\"PyPI\",\"name\":\"x\"}"),
            Just("\"type\":\"ECOSYSTEM\""), Just("\"releases\""), Just("\"CVE-1\""),
            Just("cve,epss,percentile\n"), Just("CVE-1,0.5,0.5\n"), Just("#model_version:v,score_date:2020-01-01\n"),
            Just("null"), Just("\n"), Just(" "),
        ], 0..40)
    ) {
        run_all(parts.concat().as_bytes());
    }

    /// Fixtures with a few bytes overwritten.
    #[test]
    fn mutated_fixtures_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let all = fixture_bytes();
        let mut bytes = pick.get(&all).clone();
        if !bytes.is_empty() {
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
        }
        run_all(&bytes);
    }
}

/// A record listing a hundred thousand versions and aliases (osv.dev's largest list a few
/// thousand) is read whole, duplicates dropped. Building the lists searched each new item in the
/// list so far, which made this input take minutes; the time itself is left to benchmarks.
#[test]
fn an_osv_record_with_a_huge_version_list_is_read_whole() {
    let versions: Vec<String> = (0..100_000).map(|i| format!("\"1.{i}.0\"")).collect();
    let json = format!(
        r#"{{"id": "GHSA-x", "aliases": [{v}], "affected": [{{"package": {{"ecosystem": "npm", "name": "a"}}, "versions": [{v}, "1.0.0"]}}]}}"#,
        v = versions.join(",")
    );
    let list = osv::parse(NAME, json.as_bytes()).unwrap();
    assert_eq!(list[0].affected[0].versions.len(), 100_000);
    assert_eq!(list[0].aliases.len(), 100_000);
}
