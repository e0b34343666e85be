//! Every record of the real feeds in `shared/data/advisories` must parse: the RustSec folder
//! (crates and toolchain), the FriendsOfPHP folder and the KEV catalogue. Records that are broken
//! upstream would be listed here with the reason; today there are none. Without the folder the
//! test says it skipped, except under CI, where the data must be present.

use std::fs;
use std::path::{Path, PathBuf};

use palisade_feeds::{FeedFormat, detect, friendsofphp, kev, rustsec};
use palisade_vulns::{AdvisoryKind, Ecosystem};

/// Upstream records known not to parse, by path relative to their database root, with why.
const KNOWN_BROKEN: &[(&str, &str)] = &[];

fn data_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/advisories");
    if root.is_dir() {
        return Some(root);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but the advisory data folder {} is missing",
        root.display()
    );
    println!("feeds real data: skipped ({} not found)", root.display());
    None
}

/// Files under `dir` with extension `ext`, sorted so failures are reported in a stable order.
fn files(dir: &Path, ext: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ext.contains(&e))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

fn known_broken(rel: &str) -> bool {
    KNOWN_BROKEN.iter().any(|(path, _)| *path == rel)
}

#[test]
fn every_real_record_parses() {
    let Some(root) = data_root() else {
        return;
    };
    let mut failures = Vec::new();

    // RustSec: the crates and the toolchain folders.
    let rs_root = root.join("rustsec");
    let (mut n, mut informational, mut withdrawn, mut toolchain, mut problems) = (0, 0, 0, 0, 0);
    for sub in ["crates", "rust"] {
        for p in files(&rs_root.join(sub), &["md"]) {
            let rel = relative(&rs_root, &p);
            let text = fs::read_to_string(&p).unwrap();
            assert_eq!(
                detect(&rel, text.as_bytes()),
                Some(FeedFormat::Rustsec),
                "{rel} not detected as RustSec"
            );
            match rustsec::parse(&rel, &text) {
                Ok(a) => {
                    n += 1;
                    informational += usize::from(matches!(a.kind, AdvisoryKind::Informational(_)));
                    withdrawn += usize::from(a.is_withdrawn());
                    let entry = &a.affected[0];
                    assert_eq!(entry.package.ecosystem, Ecosystem::CratesIo);
                    if entry.package.qualifier == rustsec::TOOLCHAIN_QUALIFIER {
                        toolchain += 1;
                        assert!(rel.starts_with("rust/"), "{rel}");
                    }
                    if let Some(p) = &entry.problem {
                        problems += 1;
                        failures.push(format!("{rel}: unexpected range problem: {p}"));
                    }
                }
                Err(e) if known_broken(&rel) => println!("known broken: {e}"),
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    assert!(n > 1000, "only {n} RustSec advisories found");
    println!(
        "feeds real data: rustsec {n} advisories ({informational} informational, {withdrawn} withdrawn, {toolchain} toolchain, {problems} with range problems)"
    );

    // FriendsOfPHP: ids come from the path relative to the database root.
    let fop_root = root.join("friendsofphp");
    let (mut n, mut problems, mut with_cve) = (0, 0, 0);
    for p in files(&fop_root, &["yaml", "yml"]) {
        let rel = relative(&fop_root, &p);
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(
            detect(&rel, text.as_bytes()),
            Some(FeedFormat::FriendsOfPhp),
            "{rel} not detected as FriendsOfPHP"
        );
        match friendsofphp::parse(&rel, &text) {
            Ok(a) => {
                n += 1;
                with_cve += usize::from(a.aliases.iter().any(|x| x.starts_with("CVE-")));
                assert!(a.id.starts_with("FRIENDSOFPHP-"), "{}", a.id);
                if let Some(p) = &a.affected[0].problem {
                    problems += 1;
                    failures.push(format!("{rel}: unexpected range problem: {p}"));
                }
                assert!(!a.affected[0].intervals.is_empty(), "{rel}: no intervals");
            }
            Err(e) if known_broken(&rel) => println!("known broken: {e}"),
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(n > 1000, "only {n} FriendsOfPHP advisories found");
    println!(
        "feeds real data: friendsofphp {n} advisories ({with_cve} with a CVE, {problems} with range problems)"
    );

    // KEV.
    let kev_path = root.join("cisa-kev/known_exploited_vulnerabilities.json");
    let bytes = fs::read(&kev_path).unwrap();
    assert_eq!(
        detect("known_exploited_vulnerabilities.json", &bytes),
        Some(FeedFormat::Kev)
    );
    let schema = root.join("cisa-kev/known_exploited_vulnerabilities_schema.json");
    if let Ok(schema) = fs::read(&schema) {
        assert_eq!(
            detect("known_exploited_vulnerabilities_schema.json", &schema),
            None
        );
    }
    match kev::parse("known_exploited_vulnerabilities.json", &bytes) {
        Ok(list) => {
            let ransomware = list.iter().filter(|k| k.ransomware).count();
            assert!(list.len() > 1000);
            println!(
                "feeds real data: kev {} entries ({ransomware} ransomware)",
                list.len()
            );
        }
        Err(e) => failures.push(e.to_string()),
    }

    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A differential check on every real RustSec advisory: for released versions around every
/// bound the database names, our verdict (complement of patched ∪ unaffected, through the
/// matcher) equals Cargo's own requirement matching from the `semver` crate.
#[test]
fn rustsec_intervals_agree_with_cargo_matching_on_real_data() {
    let Some(root) = data_root() else {
        return;
    };
    let rs_root = root.join("rustsec");
    let mut checked = 0usize;
    for p in files(&rs_root, &["md"]) {
        let rel = relative(&rs_root, &p);
        if !(rel.starts_with("crates/") || rel.starts_with("rust/")) {
            continue;
        }
        let text = fs::read_to_string(&p).unwrap();
        let a = rustsec::parse(&rel, &text).unwrap();
        let front = text.split("```").nth(1).unwrap().trim_start_matches("toml");
        let doc: toml::Value = toml::from_str(front).unwrap();
        let reqs: Vec<semver::VersionReq> = ["patched", "unaffected"]
            .iter()
            .filter_map(|k| doc.get("versions")?.get(k)?.as_array().cloned())
            .flatten()
            .map(|v| semver::VersionReq::parse(v.as_str().unwrap()).unwrap())
            .collect();
        let mut candidates = vec![semver::Version::new(0, 0, 0)];
        for c in reqs.iter().flat_map(|r| r.comparators.iter()) {
            let (ma, mi, pa) = (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0));
            for (x, y, z) in [
                (ma, mi, pa),
                (ma, mi, pa + 1),
                (ma, mi + 1, 0),
                (ma + 1, 0, 0),
                (ma, mi, pa.saturating_sub(1)),
                (ma, mi.saturating_sub(1), 99),
                (ma.saturating_sub(1), 99, 99),
            ] {
                candidates.push(semver::Version::new(x, y, z));
            }
        }
        let key = &a.affected[0].package;
        let mut live = a.clone();
        live.withdrawn = None;
        for v in candidates {
            let cargo_says_safe = reqs.iter().any(|r| r.matches(&v));
            let ours = palisade_vulns::evaluate_advisory(&live, key, &v.to_string());
            let want = if cargo_says_safe {
                palisade_vulns::Verdict::NotAffected
            } else {
                palisade_vulns::Verdict::Affected
            };
            assert_eq!(ours, want, "{rel} at {v}");
            checked += 1;
        }
    }
    println!(
        "feeds real data: rustsec differential, {checked} (advisory, version) pairs agree with Cargo"
    );
}

/// A differential check on every real FriendsOfPHP advisory: at every version a bound names,
/// the verdict through intervals equals evaluating the branches' constraints directly with the
/// Composer scheme, so no branch was dropped, merged wrongly or read in the wrong order.
#[test]
fn friendsofphp_intervals_agree_with_direct_evaluation_on_real_data() {
    use palisade_versions::Scheme;
    let Some(root) = data_root() else {
        return;
    };
    let fop_root = root.join("friendsofphp");
    let (mut checked, mut failures) = (0usize, Vec::new());
    for p in files(&fop_root, &["yaml", "yml"]) {
        let rel = relative(&fop_root, &p);
        let text = fs::read_to_string(&p).unwrap();
        let a = friendsofphp::parse(&rel, &text).unwrap();
        let k = &a.affected[0].package;
        let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        // Each branch as (operator, version) pairs; the database writes one constraint per item.
        let branches: Vec<Vec<(String, String)>> = doc["branches"]
            .as_mapping()
            .unwrap()
            .values()
            .map(|b| {
                b["versions"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        let c = c.as_str().unwrap().trim();
                        let at = c.find(|ch: char| !"<>=".contains(ch)).unwrap();
                        (c[..at].to_owned(), c[at..].trim().to_owned())
                    })
                    .collect()
            })
            .collect();
        let holds = |v: &palisade_versions::Version, (op, bound): &(String, String)| {
            let b = Scheme::Composer.parse(bound).unwrap();
            match op.as_str() {
                ">=" => *v >= b,
                ">" => *v > b,
                "<=" => *v <= b,
                "<" => *v < b,
                _ => *v == b,
            }
        };
        for (_, candidate) in branches.iter().flatten() {
            let v = Scheme::Composer.parse(candidate).unwrap();
            let direct = branches.iter().any(|b| b.iter().all(|c| holds(&v, c)));
            let want = if direct {
                palisade_vulns::Verdict::Affected
            } else {
                palisade_vulns::Verdict::NotAffected
            };
            let got = palisade_vulns::evaluate_advisory(&a, k, candidate);
            checked += 1;
            if got != want {
                failures.push(format!("{rel} at {candidate}: {got:?}, want {want:?}"));
            }
        }
    }
    println!(
        "feeds real data: friendsofphp differential, {checked} (advisory, version) pairs agree"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
