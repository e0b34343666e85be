//! Fleet benchmark for issue 4 (BENCHMARKS.md, section "Fleet (issue 4)"). It generates a fleet
//! whose package and version mix is drawn from the real lockfiles under
//! `../shared/data/lockfiles`, stores it through the `Store` trait in an SQLite data folder,
//! builds an advisory store of the real databases under `../shared/data/advisories` topped up
//! with synthetic OSV records, and measures, one subcommand each:
//!
//! ```text
//! fleet_bench setup DIR [--envs 20000] [--advisories 200000]  fleet + advisory store in DIR
//! fleet_bench full-match DIR [--catch-up]                      one full re-match (run under time -v)
//! fleet_bench profile DIR                                      the phases of a full re-match, timed
//! fleet_bench new-advisory DIR [--runs 200] [--seed 0] [--class popular] [--settle] [--repeat 0]  one advisory → who is affected, findings
//! fleet_bench intake DIR [--uploads 1000] [--first 300] [--conns 8]  inventories/s, HTTP API
//! fleet_bench fill-findings DIR [--total 5000000]              findings table topped up to TOTAL
//! fleet_bench page DIR [--calls 200]                           findings page latency, store and API
//! ```
//!
//! `scripts/bench-fleet.sh` builds it in release mode and runs them in order. The generator is
//! deterministic (a seeded generator, the lockfiles read in sorted order); record ids are
//! time-ordered UUIDs and differ between runs. Results are printed as plain `name: value` lines.

// The allocator of the `palisade` binary, whose server this measures.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use palisade_core::clock::SystemClock;
use palisade_core::tenant::{
    ClientInput, Contract, EnvironmentKind, NewEnvironment, NewSite, SlaTier, SupportHours,
};
use palisade_core::user::ApiToken;
use palisade_core::{ClientId, EnvironmentId, FindingId, Role, SiteId, SnapshotId};
use palisade_fleet::priority::{PriorityInput, score};
use palisade_fleet::{
    EnvFacts, EpssInfo, Finding, FindingChanges, FindingState, Justification, KevInfo, Package,
    SlaPolicy, diff,
};
use palisade_matcher::{Matcher, Upload};
use palisade_store::{FindingQuery, FleetStore, ListQuery, NewSnapshot, NewUserRecord, Store};
use palisade_store_sql::SqlStore;
use palisade_vulndb::VulnDb;
use palisade_vulns::{Ecosystem, PackageKey, SeverityLevel};
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const SEED: u64 = 0x5eed_f1ee7;
/// The change-log position key the matcher keeps in `fleet_state`.
const CURSOR: &str = "advisories.cursor";

// ---------------------------------------------------------------- small tools

/// SplitMix64, as `palisade-vulndb/examples/synth.rs` uses.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// True with probability `per_mille`/1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

struct Opts {
    cmd: String,
    dir: PathBuf,
    values: HashMap<String, String>,
    flags: BTreeSet<String>,
}

impl Opts {
    fn parse() -> Res<Opts> {
        let mut args = std::env::args().skip(1);
        let usage = "usage: fleet_bench setup|full-match|profile|new-advisory|intake|fill-findings|page DIR [--option value]";
        let cmd = args.next().ok_or(usage)?;
        let dir = PathBuf::from(args.next().ok_or(usage)?);
        let mut values = HashMap::new();
        let mut flags = BTreeSet::new();
        let rest: Vec<String> = args.collect();
        let mut i = 0;
        while i < rest.len() {
            let name = rest[i].strip_prefix("--").ok_or(usage)?.to_owned();
            match rest.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    values.insert(name, v.clone());
                    i += 2;
                }
                _ => {
                    flags.insert(name);
                    i += 1;
                }
            }
        }
        Ok(Opts {
            cmd,
            dir,
            values,
            flags,
        })
    }

    fn num(&self, name: &str, default: usize) -> Res<usize> {
        match self.values.get(name) {
            Some(v) => Ok(v.replace('_', "").parse()?),
            None => Ok(default),
        }
    }

    fn data(&self) -> PathBuf {
        self.values
            .get("data")
            .cloned()
            .or_else(|| std::env::var("PALISADE_SHARED_DATA").ok())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("../shared/data"))
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `q` quantile (nearest rank) of a list of durations.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn latency_line(name: &str, mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "{name}: n={} p50={:.2} ms p95={:.2} ms max={:.2} ms",
        v.len(),
        ms(quantile(&v, 0.5)),
        ms(quantile(&v, 0.95)),
        ms(v.last().copied().unwrap_or_default())
    )
}

/// Peak resident memory of this process so far (Linux), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A fresh keyring per run: the bench reads back no sealed field it wrote in an earlier run.
fn test_keys() -> Arc<palisade_keyring::LiveKeyring> {
    Arc::new(palisade_keyring::LiveKeyring::fixed(
        palisade_keyring::Keyring::generate(),
    ))
}

async fn open_store(dir: &Path) -> Res<Arc<SqlStore>> {
    std::fs::create_dir_all(dir)?;
    let url = format!("sqlite://{}", dir.join("palisade.db").display());
    let store = SqlStore::connect(&url, test_keys()).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

fn matcher(store: &Arc<SqlStore>, dir: &Path) -> Matcher {
    Matcher::new(store.clone(), dir.join("advisories"), SlaPolicy::default())
}

// ---------------------------------------------------------------- the real package mix

/// One real lockfile, as intake reads it.
struct Template {
    file: String,
    ecosystem: Ecosystem,
    packages: Vec<Package>,
}

/// Every real lockfile, and every version seen for each package across them (sorted in the
/// ecosystem's order, unparsable versions last).
struct Corpus {
    templates: Vec<Template>,
    versions: HashMap<PackageKey, Vec<String>>,
}

fn sort_versions(eco: Ecosystem, list: BTreeSet<String>) -> Vec<String> {
    let scheme = eco.scheme();
    let mut parsed: Vec<_> = list
        .into_iter()
        .map(|v| (scheme.parse(&v).ok(), v))
        .collect();
    parsed.sort_by(|(a, sa), (b, sb)| match (a, b) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| sa.cmp(sb)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => sa.cmp(sb),
    });
    parsed.into_iter().map(|(_, v)| v).collect()
}

fn load_corpus(data: &Path) -> Res<Corpus> {
    let root = data.join("lockfiles");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map_err(|e| format!("{}: {e}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut templates = Vec::new();
    for d in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && !p.ends_with("SOURCES.md"))
            .collect();
        files.sort();
        for f in files {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&f)?;
            let parsed = palisade_matcher::intake::parse_uploads(&[Upload {
                name: name.clone(),
                bytes,
            }])
            .map_err(|e| format!("{}: {e}", f.display()))?;
            if parsed.packages.is_empty() {
                continue;
            }
            let mut count: BTreeMap<Ecosystem, usize> = BTreeMap::new();
            for p in &parsed.packages {
                *count.entry(p.key.ecosystem).or_default() += 1;
            }
            let ecosystem = count
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .map(|(e, _)| e)
                .unwrap_or(Ecosystem::Npm);
            templates.push(Template {
                file: name,
                ecosystem,
                packages: parsed.packages,
            });
        }
    }
    let mut seen: HashMap<PackageKey, BTreeSet<String>> = HashMap::new();
    for t in &templates {
        for p in &t.packages {
            seen.entry(p.key.clone())
                .or_default()
                .insert(p.version.clone());
        }
    }
    let versions = seen
        .into_iter()
        .map(|(k, v)| {
            let sorted = sort_versions(k.ecosystem, v);
            (k, sorted)
        })
        .collect();
    Ok(Corpus {
        templates,
        versions,
    })
}

impl Corpus {
    /// Package keys in a fixed order.
    fn keys(&self) -> Vec<PackageKey> {
        let mut k: Vec<PackageKey> = self.versions.keys().cloned().collect();
        k.sort();
        k
    }

    fn describe(&self) {
        let mut per_eco: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for t in &self.templates {
            let e = per_eco.entry(t.ecosystem.to_string()).or_default();
            e.0 += 1;
            e.1 += t.packages.len();
        }
        println!(
            "corpus: {} lockfiles, {} distinct packages, {} distinct (package, version) pairs",
            self.templates.len(),
            self.versions.len(),
            self.versions.values().map(Vec::len).sum::<usize>()
        );
        for (eco, (files, pkgs)) in per_eco {
            println!("corpus {eco}: {files} lockfiles, {pkgs} packages");
        }
        let list: Vec<String> = self
            .templates
            .iter()
            .map(|t| format!("{} ({})", t.file, t.packages.len()))
            .collect();
        println!("corpus lockfiles: {}", list.join(", "));
    }

    /// Another version seen for the package, or the same one when only one was seen.
    fn other_version(&self, p: &Package, rng: &mut Rng) -> String {
        match self.versions.get(&p.key) {
            Some(vs) if vs.len() > 1 => rng.pick(vs).clone(),
            _ => p.version.clone(),
        }
    }

    /// Up to `n` packages of `t`, drawn without replacement.
    fn sample(t: &Template, n: usize, rng: &mut Rng) -> Vec<Package> {
        if t.packages.len() <= n {
            return t.packages.clone();
        }
        let mut idx: Vec<usize> = (0..t.packages.len()).collect();
        for i in 0..n {
            let j = i + rng.below(idx.len() - i);
            idx.swap(i, j);
        }
        idx[..n].iter().map(|&i| t.packages[i].clone()).collect()
    }

    /// A site's inventory: a real lockfile's packages (a random ~300 of a larger one), topped up
    /// from a lockfile of another ecosystem when the first is small (a PHP site's JavaScript
    /// build, say), with a tenth of the versions moved to other versions seen for that package.
    fn draw_site(&self, rng: &mut Rng) -> Vec<Package> {
        let target = 260 + rng.below(81);
        let t = rng.pick(&self.templates);
        let mut out = Corpus::sample(t, target, rng);
        let others: Vec<&Template> = self
            .templates
            .iter()
            .filter(|o| o.ecosystem != t.ecosystem)
            .collect();
        for _ in 0..3 {
            if out.len() + 20 >= target || others.is_empty() {
                break;
            }
            let o = *rng.pick(&others);
            out.extend(Corpus::sample(o, target - out.len(), rng));
            out = normalise(out);
        }
        self.perturb(out, 100, rng)
    }

    /// Moves `per_mille` of the versions to other seen versions; sorted, each (key, version)
    /// once, as intake stores a list.
    fn perturb(&self, mut list: Vec<Package>, per_mille: u64, rng: &mut Rng) -> Vec<Package> {
        for p in &mut list {
            if rng.chance(per_mille) {
                p.version = self.other_version(p, rng);
            }
        }
        normalise(list)
    }
}

fn normalise(mut list: Vec<Package>) -> Vec<Package> {
    list.sort();
    let mut out: Vec<Package> = Vec::with_capacity(list.len());
    for p in list {
        match out.last_mut() {
            Some(last) if last.key == p.key && last.version == p.version => last.dev &= p.dev,
            _ => out.push(p),
        }
    }
    out
}

/// Environments of a site: live as drawn, staging and dev a little ahead.
fn site_envs(corpus: &Corpus, site: usize, kinds: usize) -> Vec<Vec<Package>> {
    let mut rng = Rng(SEED ^ (site as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let base = corpus.draw_site(&mut rng);
    let mut out = vec![base.clone()];
    if kinds > 1 {
        out.push(corpus.perturb(base.clone(), 30, &mut rng));
    }
    if kinds > 2 {
        out.push(corpus.perturb(base, 60, &mut rng));
    }
    out
}

const KINDS: [EnvironmentKind; 3] = [
    EnvironmentKind::Live,
    EnvironmentKind::Staging,
    EnvironmentKind::Dev,
];

// ---------------------------------------------------------------- synthetic advisories

const WORDS: &[&str] = &[
    "request",
    "parser",
    "buffer",
    "header",
    "cookie",
    "session",
    "template",
    "upload",
    "path",
    "redirect",
    "token",
    "query",
    "stream",
    "cache",
    "render",
    "archive",
    "image",
    "config",
    "validation",
    "serializer",
    "router",
    "middleware",
    "sanitizer",
    "encoder",
    "proxy",
];

fn sentence(rng: &mut Rng) -> String {
    let n = 8 + rng.below(14);
    let mut s: Vec<&str> = (0..n).map(|_| *rng.pick(WORDS)).collect();
    s.insert(0, "The");
    format!("{}.", s.join(" "))
}

fn osv_ecosystem(k: &PackageKey) -> String {
    if k.qualifier.is_empty() {
        k.ecosystem.osv_name().to_owned()
    } else {
        format!("{}:{}", k.ecosystem.osv_name(), k.qualifier)
    }
}

fn modified(rng: &mut Rng) -> String {
    format!(
        "20{:02}-{:02}-{:02}T{:02}:00:00Z",
        20 + rng.below(6),
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24)
    )
}

/// A GHSA-style vulnerability record naming `eco`/`name` with the given range events.
fn vuln_record(rng: &mut Rng, id: &str, cve: &str, eco: &str, name: &str, events: Value) -> Value {
    let m = modified(rng);
    let details: Vec<String> = (0..(3 + rng.below(6))).map(|_| sentence(rng)).collect();
    let vector = *rng.pick(&[
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:H/PR:L/UI:N/S:U/C:L/I:L/A:N",
        "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N",
    ]);
    json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": m,
        "published": m,
        "aliases": [cve],
        "summary": format!("{} in {name}", sentence(rng)),
        "details": details.join(" "),
        "severity": [{"type": "CVSS_V3", "score": vector}],
        "affected": [{
            "package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": events}],
            "database_specific": {"source": "https://github.com/github/advisory-database"}
        }],
        "references": [
            {"type": "ADVISORY", "url": format!("https://nvd.nist.gov/vuln/detail/{cve}")},
            {"type": "PACKAGE", "url": format!("https://example.org/{name}")}
        ],
        "database_specific": {"cwe_ids": ["CWE-79"], "severity": "HIGH", "github_reviewed": true}
    })
}

fn mal_record(rng: &mut Rng, i: usize, eco: &str, name: &str, versions: Vec<String>) -> Value {
    let m = modified(rng);
    json!({
        "schema_version": "1.6.0",
        "id": format!("MAL-2025-{i}"),
        "modified": m,
        "published": m,
        "summary": format!("Malicious code in {name} ({eco})"),
        "details": "\n---\n_-= Per source details. Do not edit below this line.=-_\n\n## Source: ossf-package-analysis\nThe package exfiltrates environment variables and SSH keys to a remote host during install.\n",
        "affected": [{
            "package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}],
            "versions": versions,
            "database_specific": {"cwes": [{"cweId": "CWE-506", "name": "Embedded Malicious Code"}]}
        }],
        "database_specific": {"malicious-packages-origins": [{"source": "ossf-package-analysis", "sha256": format!("{:016x}{:016x}", rng.next(), rng.next()), "modified_time": m}]}
    })
}

/// Range events that affect the lower part of the versions seen for a package: fixed in a seen
/// version (so the ones below it are affected), or everything up to the only version seen.
fn affecting_events(vs: &[String], rng: &mut Rng) -> Value {
    if vs.len() >= 2 {
        let fixed = &vs[1 + rng.below(vs.len() - 1)];
        json!([{"introduced": "0"}, {"fixed": fixed}])
    } else {
        json!([{"introduced": "0"}, {"last_affected": vs[0]}])
    }
}

/// Counts of what the synthetic generator made.
#[derive(Default)]
struct SynthCounts {
    fleet_mal: usize,
    fleet_vuln: usize,
    fleet_affecting: usize,
    other_mal: usize,
    other_vuln: usize,
}

/// Synthetic record number `i`. A fifth name packages the fleet installs (chosen from the real
/// lockfiles' packages): malicious-package records listing versions no one installs, and
/// vulnerabilities whose range lies below every installed version, except one in fifty whose
/// range covers the lower part of the versions seen (those make findings). The rest are shaped
/// like `palisade-vulndb/examples/synth.rs`'s: npm, PyPI, Packagist and crates.io packages of
/// a 50,000-name pool, 78 % `MAL-` records.
fn synthetic(i: usize, corpus: &Corpus, keys: &[PackageKey], c: &mut SynthCounts) -> Value {
    let mut rng = Rng(SEED ^ 0xad ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let id = format!(
        "GHSA-{:04x}-{:04x}-{:04x}",
        i & 0xffff,
        (i >> 16) * 0x1000 + rng.below(0x1000),
        rng.below(0xffff)
    );
    let cve = format!("CVE-20{}-{}", 18 + rng.below(8), 100_000 + i);
    if rng.chance(200) {
        let key = rng.pick(keys);
        let vs = &corpus.versions[key];
        let eco = osv_ecosystem(key);
        let mal_ok = matches!(
            key.ecosystem,
            Ecosystem::Npm | Ecosystem::PyPi | Ecosystem::Packagist
        );
        if mal_ok && rng.chance(400) {
            c.fleet_mal += 1;
            let versions = vec![format!("999.{}.0", rng.below(100)), "999.99.1".to_owned()];
            return mal_record(&mut rng, i, &eco, &key.name, versions);
        }
        c.fleet_vuln += 1;
        let events = if rng.chance(20) {
            c.fleet_affecting += 1;
            affecting_events(vs, &mut rng)
        } else {
            json!([{"introduced": "0"}, {"fixed": vs[0]}])
        };
        return vuln_record(&mut rng, &id, &cve, &eco, &key.name, events);
    }
    let eco = match rng.below(100) {
        0..=54 => "npm",
        55..=79 => "PyPI",
        80..=91 => "Packagist",
        _ => "crates.io",
    };
    let pkg_index = rng.below(50_000);
    let a = WORDS[pkg_index % WORDS.len()];
    let b = WORDS[(pkg_index / WORDS.len()) % WORDS.len()];
    let name = match eco {
        "npm" if pkg_index.is_multiple_of(4) => format!("@{a}/{b}-{pkg_index}"),
        "Packagist" => format!("{a}/{b}-{pkg_index}"),
        _ => format!("{a}-{b}-{pkg_index}"),
    };
    let version = |rng: &mut Rng| format!("{}.{}.{}", rng.below(6), rng.below(20), rng.below(30));
    if rng.chance(780) && eco != "crates.io" {
        c.other_mal += 1;
        let versions = vec![version(&mut rng), version(&mut rng)];
        return mal_record(&mut rng, i, eco, &name, versions);
    }
    c.other_vuln += 1;
    let mut events = vec![json!({"introduced": "0"})];
    let mut major = 0;
    for w in 0..1 + rng.below(3) {
        if w > 0 {
            events.push(json!({"introduced": format!("{major}.0.0")}));
        }
        events.push(json!({"fixed": format!("{major}.{}.{}", 1 + rng.below(9), rng.below(20))}));
        major += 1 + rng.below(2);
    }
    vuln_record(&mut rng, &id, &cve, eco, &name, Value::Array(events))
}

fn parse_osv(v: &Value) -> Res<Vec<palisade_vulns::Advisory>> {
    let id = v["id"].as_str().unwrap_or("x");
    let bytes = serde_json::to_vec(v)?;
    Ok(palisade_feeds::osv::parse(
        &format!("synthetic/{id}.json"),
        &bytes,
    )?)
}

fn build_advisories(dir: &Path, data: &Path, total: usize, corpus: &Corpus) -> Res<()> {
    let t = Instant::now();
    let adv_dir = dir.join("advisories");
    let mut db = VulnDb::open(&adv_dir)?;
    let mut real = 0u64;
    for sub in ["rustsec", "friendsofphp", "cisa-kev"] {
        let path = data.join("advisories").join(sub);
        let s = palisade_vulndb::import_path(&mut db, &path, None, &mut |_| {})?;
        println!(
            "advisories {sub}: {} records ({} inserted), {} KEV entries, {} errors",
            s.records,
            s.inserted,
            s.kev,
            s.errors.len()
        );
        real += s.inserted;
    }
    let need = total.saturating_sub(real as usize);
    let keys = corpus.keys();
    let mut counts = SynthCounts::default();
    let mut batch = Vec::with_capacity(2_000);
    let mut inserted = 0u64;
    for i in 0..need {
        batch.extend(parse_osv(&synthetic(i, corpus, &keys, &mut counts))?);
        if batch.len() >= 2_000 || i + 1 == need {
            db.train_dictionary(&batch)?;
            inserted += db.upsert(&batch)?.inserted;
            batch.clear();
        }
    }
    println!(
        "advisories synthetic: {inserted} inserted; naming fleet packages: {} malicious, {} vulnerabilities ({} with ranges covering installed versions); others: {} malicious, {} vulnerabilities",
        counts.fleet_mal,
        counts.fleet_vuln,
        counts.fleet_affecting,
        counts.other_mal,
        counts.other_vuln
    );
    let stats = db.stats()?;
    let n: u64 = stats.advisories.iter().map(|(_, n)| n).sum();
    println!(
        "advisory store: {n} advisories, {} affected entries, {} KEV; built in {:.1} s",
        stats.affected_entries,
        stats.kev,
        secs(t.elapsed())
    );
    Ok(())
}

// ---------------------------------------------------------------- setup

fn contract(i: usize) -> Contract {
    Contract {
        sla_tier: SlaTier::ALL[i % 3],
        support_hours: SupportHours::office_hours(
            ["Europe/London", "Europe/Paris", "America/New_York"][i % 3],
        ),
        holiday_calendar: Some("gb-eng".into()),
        out_of_hours: i.is_multiple_of(5),
    }
}

/// Creates a site with `kinds` environments (live, staging, dev) under `client`.
async fn create_site(
    store: &Arc<SqlStore>,
    client: ClientId,
    site: usize,
    kinds: usize,
    now: Timestamp,
) -> Res<Vec<EnvironmentId>> {
    let s = store
        .create_site(
            &NewSite {
                client_id: client,
                name: format!("site-{site:05}"),
                url: format!("https://site-{site:05}.example.org"),
            },
            now,
        )
        .await?;
    let mut out = Vec::new();
    for kind in &KINDS[..kinds] {
        let e = store
            .create_environment(
                &NewEnvironment {
                    site_id: s.id,
                    kind: *kind,
                    name: kind.as_str().to_owned(),
                    url: None,
                    position: None,
                },
                now,
            )
            .await?;
        out.push(e.id);
    }
    Ok(out)
}

/// Stores a first snapshot of `packages`, the way intake does (difference from nothing).
async fn first_snapshot(
    store: &Arc<SqlStore>,
    env: EnvironmentId,
    packages: Vec<Package>,
    now: Timestamp,
) -> Res<()> {
    let changes = diff(&[], &packages);
    let snap = NewSnapshot {
        id: SnapshotId::new(),
        environment_id: env,
        taken_at: now,
        actor: None,
        previous: None,
        sources: vec![palisade_store::SnapshotSource {
            file: "generated".into(),
            format: "fleet_bench".into(),
            packages: u32::try_from(packages.len()).unwrap_or(u32::MAX),
        }],
        packages,
        changes,
        unevaluable: Vec::new(),
    };
    store.save_snapshot(&snap).await?;
    Ok(())
}

async fn setup(o: &Opts) -> Res<()> {
    let envs = o.num("envs", 20_000)?;
    let total_adv = o.num("advisories", 200_000)?;
    let conc = o.num("concurrency", 4)?;
    let data = o.data();
    if o.dir.join("palisade.db").exists() {
        return Err(format!(
            "{} already holds a fleet: use a new folder",
            o.dir.display()
        )
        .into());
    }
    let t = Instant::now();
    let corpus = Arc::new(load_corpus(&data)?);
    println!("corpus read in {:.2} s", secs(t.elapsed()));
    corpus.describe();

    if !o.flags.contains("skip-advisories") {
        build_advisories(&o.dir, &data, total_adv, &corpus)?;
    }

    let store = open_store(&o.dir).await?;
    let now = Timestamp::now();
    let sites = envs.div_ceil(3);
    let clients_n = envs.div_ceil(30).max(1);
    let t = Instant::now();
    let mut clients = Vec::with_capacity(clients_n);
    for i in 0..clients_n {
        let c = store
            .create_client(
                &ClientInput {
                    name: format!("Client {i:04}"),
                    contract: contract(i),
                },
                now,
            )
            .await?;
        clients.push(c.id);
    }
    let clients = Arc::new(clients);
    // Sites and environments, `conc` sites at a time.
    let mut set = tokio::task::JoinSet::new();
    let mut site_envs_ids: Vec<Vec<EnvironmentId>> = vec![Vec::new(); sites];
    for s in 0..sites {
        if set.len() >= conc
            && let Some(r) = set.join_next().await
        {
            let (i, ids): (usize, Vec<EnvironmentId>) = r??;
            site_envs_ids[i] = ids;
        }
        let kinds = (envs - s * 3).min(3);
        let store = store.clone();
        let clients = clients.clone();
        set.spawn(async move {
            let client = clients[s % clients.len()];
            let ids = create_site(&store, client, s, kinds, now).await?;
            Ok::<_, Box<dyn Error + Send + Sync>>((s, ids))
        });
    }
    while let Some(r) = set.join_next().await {
        let (i, ids) = r??;
        site_envs_ids[i] = ids;
    }
    let tenant_time = t.elapsed();
    println!(
        "tenants: {clients_n} clients, {sites} sites, {envs} environments created through the Store in {:.1} s",
        secs(tenant_time)
    );

    // First snapshots through save_snapshot, `conc` sites at a time.
    let t = Instant::now();
    let mut installs = 0usize;
    let mut set = tokio::task::JoinSet::new();
    let mut done_sites = 0usize;
    for (s, ids) in site_envs_ids.into_iter().enumerate() {
        if set.len() >= conc
            && let Some(r) = set.join_next().await
        {
            installs += r??;
            done_sites += 1;
            if done_sites.is_multiple_of(1000) {
                println!(
                    "  snapshots: {} sites in {:.1} s",
                    done_sites,
                    secs(t.elapsed())
                );
            }
        }
        let store = store.clone();
        let corpus = corpus.clone();
        set.spawn(async move {
            let lists = site_envs(&corpus, s, ids.len());
            let mut n = 0;
            for (env, packages) in ids.into_iter().zip(lists) {
                n += packages.len();
                first_snapshot(&store, env, packages, now).await?;
            }
            Ok::<_, Box<dyn Error + Send + Sync>>(n)
        });
    }
    while let Some(r) = set.join_next().await {
        installs += r??;
    }
    let snap_time = t.elapsed();
    println!(
        "snapshots: {envs} first snapshots, {installs} installations ({:.0} per environment) through save_snapshot in {:.1} s ({:.0} snapshots/s, {:.0} installations/s)",
        installs as f64 / envs as f64,
        secs(snap_time),
        envs as f64 / secs(snap_time),
        installs as f64 / secs(snap_time)
    );
    let distinct = distinct_counts(&o.dir)?;
    println!(
        "installations index: {} rows, {} distinct packages, {} distinct (package, version)",
        distinct.0, distinct.1, distinct.2
    );
    println!("database size: {:.0} MB", db_size_mb(&o.dir));
    println!("setup peak RSS: {:.0} MiB", peak_rss_mib());
    Ok(())
}

/// (rows, packages, pairs) of the installations index, read directly (a description of the
/// generated data, not a measured figure).
fn distinct_counts(dir: &Path) -> Res<(i64, i64, i64)> {
    let c = readonly(dir)?;
    let rows: i64 = c.query_row("SELECT COUNT(*) FROM installations", [], |r| r.get(0))?;
    let pkgs: i64 = c.query_row(
        "SELECT COUNT(*) FROM (SELECT 1 FROM installations GROUP BY ecosystem, qualifier, name)",
        [],
        |r| r.get(0),
    )?;
    let pairs: i64 = c.query_row(
        "SELECT COUNT(*) FROM (SELECT 1 FROM installations GROUP BY ecosystem, qualifier, name, version)",
        [],
        |r| r.get(0),
    )?;
    Ok((rows, pkgs, pairs))
}

fn readonly(dir: &Path) -> Res<rusqlite::Connection> {
    Ok(rusqlite::Connection::open_with_flags(
        dir.join("palisade.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?)
}

fn db_size_mb(dir: &Path) -> f64 {
    ["palisade.db", "palisade.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len() as f64 / 1e6)
        .sum()
}

fn finding_count(dir: &Path) -> Res<(i64, i64)> {
    let c = readonly(dir)?;
    let all: i64 = c.query_row("SELECT COUNT(*) FROM findings", [], |r| r.get(0))?;
    let open: i64 = c.query_row("SELECT COUNT(*) FROM findings WHERE is_open", [], |r| {
        r.get(0)
    })?;
    Ok((all, open))
}

// ---------------------------------------------------------------- full match

async fn full_match(o: &Opts) -> Res<()> {
    let store = open_store(&o.dir).await?;
    let m = matcher(&store, &o.dir);
    let before = finding_count(&o.dir)?;
    let now = Timestamp::now();
    let t = Instant::now();
    let (what, c) = if o.flags.contains("catch-up") {
        let c = m.catch_up(now).await?;
        ("catch_up (full pass, then the log position)", c.changes)
    } else {
        ("full_match", m.full_match(now).await?)
    };
    let wall = t.elapsed();
    let after = finding_count(&o.dir)?;
    println!(
        "{what}: {:.1} s wall; findings created {}, updated {}, events {}; findings stored {} → {} ({} open)",
        secs(wall),
        c.created,
        c.updated,
        c.events,
        before.0,
        after.0,
        after.1
    );
    println!("full match peak RSS (VmHWM): {:.0} MiB", peak_rss_mib());
    Ok(())
}

/// The steps of a full re-match, each timed on its own through the same public interfaces the
/// matcher calls (store reads, the evaluator, the reconcile rules), to see what dominates.
/// As `Matcher::full_match` does since commit c775f80, only "hot" packages (one of whose
/// installed versions an advisory affects, or that have stored findings) have their
/// installations read and reconciled. Nothing is written.
async fn profile(o: &Opts) -> Res<()> {
    let store = open_store(&o.dir).await?;
    let now = Timestamp::now();
    let t = Instant::now();
    let mut after: Option<(PackageKey, String)> = None;
    let mut pairs: Vec<(PackageKey, String)> = Vec::new();
    loop {
        let page = store.installed_versions(after.as_ref(), 20_000).await?;
        let Some(last) = page.last().cloned() else {
            break;
        };
        pairs.extend(page);
        after = Some(last);
    }
    let keys: Vec<PackageKey> = pairs
        .iter()
        .map(|(k, _)| k.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    println!(
        "profile installed_versions: {} pairs, {} packages in {:.2} s ({} steps of 20,000 pairs)",
        pairs.len(),
        keys.len(),
        secs(t.elapsed()),
        pairs.len().div_ceil(20_000)
    );
    let adv = o.dir.join("advisories");
    let wanted: Vec<(PackageKey, Vec<String>)> = {
        let mut m: BTreeMap<PackageKey, Vec<String>> = BTreeMap::new();
        for (k, v) in &pairs {
            m.entry(k.clone()).or_default().push(v.clone());
        }
        m.into_iter().collect()
    };
    let t = Instant::now();
    let (affected_pairs, hits, affected_keys) =
        tokio::task::spawn_blocking(move || -> Res<(usize, usize, BTreeSet<PackageKey>)> {
            let db = VulnDb::open_existing(&adv)?;
            let mut ev = palisade_scan::Evaluator::new(&db)?;
            ev.evaluate(wanted.clone())?;
            let mut n = 0;
            let mut h = 0;
            let mut keys = BTreeSet::new();
            for (k, vs) in &wanted {
                for v in vs {
                    let a = ev
                        .hits(k, v)
                        .iter()
                        .filter(|x| x.verdict == palisade_vulns::matching::Verdict::Affected)
                        .count();
                    if a > 0 {
                        n += 1;
                        h += a;
                        keys.insert(k.clone());
                    }
                }
            }
            Ok((n, h, keys))
        })
        .await??;
    println!(
        "profile evaluation of every pair (Evaluator): {:.2} s; {affected_pairs} affected pairs of {} packages, {hits} affecting hits",
        secs(t.elapsed()),
        affected_keys.len()
    );
    let t = Instant::now();
    let existing = store.findings_of(&keys, None).await?;
    println!(
        "profile findings_of(all packages): {} findings in {:.2} s; RSS peak so far {:.0} MiB",
        existing.len(),
        secs(t.elapsed()),
        peak_rss_mib()
    );
    let mut hot = affected_keys;
    hot.extend(existing.iter().map(|f| f.package.clone()));
    let hot: Vec<PackageKey> = hot.into_iter().collect();
    let t = Instant::now();
    let installs: Vec<palisade_store::Installation> = store
        .installations_of(&hot)
        .await?
        .into_iter()
        .flat_map(palisade_store::VersionInstalls::into_installations)
        .collect();
    println!(
        "profile installations_of({} hot packages): {} rows in {:.2} s; RSS peak so far {:.0} MiB",
        hot.len(),
        installs.len(),
        secs(t.elapsed()),
        peak_rss_mib()
    );
    let env_ids: Vec<EnvironmentId> = installs
        .iter()
        .map(|i| i.environment_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let t = Instant::now();
    let facts: HashMap<EnvironmentId, EnvFacts> = store
        .environment_facts(&env_ids)
        .await?
        .into_iter()
        .map(|f| (f.facts.id, f.facts))
        .collect();
    println!(
        "profile environment_facts: {} environments in {:.2} s",
        facts.len(),
        secs(t.elapsed())
    );
    // The reconcile rules with the installations as observed and the stored findings; without
    // matches (building them is the matcher's private step), which does not change how stored
    // findings are paired with observations.
    let t = Instant::now();
    let mut by_pair: BTreeMap<(EnvironmentId, PackageKey), Vec<palisade_fleet::InstalledVersion>> =
        BTreeMap::new();
    for i in &installs {
        by_pair
            .entry((i.environment_id, i.key.clone()))
            .or_default()
            .push(palisade_fleet::InstalledVersion {
                version: i.version.clone(),
                dev: i.dev,
                matches: Vec::new(),
            });
    }
    drop(installs);
    let observed: Vec<palisade_fleet::Observed> = by_pair
        .into_iter()
        .filter_map(|((e, key), installed)| {
            Some(palisade_fleet::Observed {
                env: facts.get(&e)?.clone(),
                key,
                installed,
            })
        })
        .collect();
    println!(
        "profile building {} observed (environment, package) pairs: {:.2} s; RSS peak so far {:.0} MiB",
        observed.len(),
        secs(t.elapsed()),
        peak_rss_mib()
    );
    let sample = o
        .num("reconcile-sample", existing.len())?
        .min(existing.len());
    if let Some(step) = existing.len().checked_div(sample) {
        // Every stored finding by default; with `--reconcile-sample N`, an evenly spread sample
        // scaled by the count (meaningful only while pairing a finding cost a linear search,
        // before commit d5cac1f).
        let part: Vec<Finding> = existing
            .iter()
            .step_by(step.max(1))
            .take(sample)
            .cloned()
            .collect();
        let t = Instant::now();
        let out = palisade_fleet::reconcile(&observed, part, &SlaPolicy::default(), now);
        let dt = t.elapsed();
        println!(
            "profile reconcile: {sample} of {} stored findings against {} observed pairs: {:.2} s ({} changes); scaled to all findings: about {:.0} s",
            existing.len(),
            observed.len(),
            secs(dt),
            out.created.len() + out.updated.len(),
            secs(dt) * existing.len() as f64 / sample as f64
        );
    }
    println!("profile peak RSS: {:.0} MiB", peak_rss_mib());
    Ok(())
}

// ---------------------------------------------------------------- one new advisory

/// The change-log position a completed full pass records (what `catch_up` writes after one).
async fn ensure_cursor(store: &Arc<SqlStore>, dir: &Path) -> Res<()> {
    if store.fleet_state(CURSOR).await?.is_some() {
        return Ok(());
    }
    let db = VulnDb::open_existing(&dir.join("advisories"))?;
    let generation = db.generation()?;
    let mut seq = 0;
    loop {
        let b = db.changes_since(seq, 100_000)?;
        if b.last == seq {
            break;
        }
        seq = b.last;
    }
    store
        .set_fleet_state(CURSOR, &format!("{generation}:{seq}"))
        .await?;
    println!(
        "change-log cursor was unset: set to the end of the log ({seq}), as a completed full pass leaves it"
    );
    Ok(())
}

async fn new_advisory(o: &Opts) -> Res<()> {
    let runs = o.num("runs", 200)?;
    let corpus = load_corpus(&o.data())?;
    let store = open_store(&o.dir).await?;
    ensure_cursor(&store, &o.dir).await?;
    let m = matcher(&store, &o.dir);
    // How many environments install each package (read directly, to choose the packages).
    let mut popularity: Vec<(PackageKey, i64)> = {
        let c = readonly(&o.dir)?;
        let mut s = c.prepare(
            "SELECT ecosystem, qualifier, name, COUNT(DISTINCT environment_id) FROM installations \
             GROUP BY ecosystem, qualifier, name",
        )?;
        let rows = s.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (eco, qualifier, name, n) = r?;
            let Some((ecosystem, _)) = Ecosystem::from_osv(&eco) else {
                continue;
            };
            out.push((
                PackageKey {
                    ecosystem,
                    qualifier,
                    name,
                },
                n,
            ));
        }
        out
    };
    popularity.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    popularity.retain(|(k, _)| corpus.versions.contains_key(k));
    let popular: Vec<_> = popularity.iter().take(50).cloned().collect();
    let medium: Vec<_> = popularity
        .iter()
        .filter(|(_, n)| (100..=1000).contains(n))
        .cloned()
        .collect();
    // The least installed tenth (at 20,000 environments, no package is installed in fewer than
    // a few dozen).
    let rare: Vec<_> = popularity
        .iter()
        .skip(popularity.len() - popularity.len() / 10)
        .cloned()
        .collect();
    println!(
        "packages: {} installed; most installed in {} environments; classes: popular (top 50, {}–{} environments), medium ({} packages in 100–1000), rare (least installed tenth, {} packages in {}–{})",
        popularity.len(),
        popular.first().map_or(0, |p| p.1),
        popular.last().map_or(0, |p| p.1),
        popular.first().map_or(0, |p| p.1),
        medium.len(),
        rare.len(),
        rare.last().map_or(0, |p| p.1),
        rare.first().map_or(0, |p| p.1)
    );
    let now = Timestamp::now();
    // As the server does once it is up.
    let t = Instant::now();
    m.warm_spine().await?;
    println!("warm_spine: {:.2} ms", ms(t.elapsed()));
    // A first catch-up: the log is at its end, so this one only reads the position.
    let t = Instant::now();
    let c0 = m.catch_up(now).await?;
    println!(
        "catch_up with nothing new: {:.2} ms (full={}, packages={})",
        ms(t.elapsed()),
        c0.full,
        c0.packages
    );
    let mut rw = VulnDb::open(&o.dir.join("advisories"))?;
    // `--seed N` draws other packages and advisory ids (a re-run with the same seed re-sends
    // the same records, which change nothing).
    let seed = o.num("seed", 0)?;
    let mut rng = Rng(SEED ^ 0x4e3 ^ (seed as u64).wrapping_mul(0x9e37_79b9));
    let mut by_class: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut upserts = Vec::new();
    let mut affected_times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut listed_times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut repeated: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut all = Vec::new();
    let mut created: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let only = o.values.get("class").cloned();
    // `--settle`: advisories arrive minutes apart in practice, not back to back.
    let settle = if o.flags.contains("settle") {
        Some(rusqlite::Connection::open(o.dir.join("palisade.db"))?)
    } else {
        None
    };
    for i in 0..runs {
        let (class, list) = match i % 3 {
            0 => ("popular", &popular),
            1 => ("medium", &medium),
            _ => ("rare", &rare),
        };
        if only.as_deref().is_some_and(|c| c != class) {
            continue;
        }
        let list = if list.is_empty() { &popular } else { list };
        let (key, envs) = rng.pick(list).clone();
        let vs = &corpus.versions[&key];
        let id = format!("GHSA-bnch-{seed}-{i:04}-{:04x}", rng.below(0xffff));
        let cve = format!("CVE-2026-{}", 900_000 + seed * 1_000 + i);
        let rec = vuln_record(
            &mut rng,
            &id,
            &cve,
            &osv_ecosystem(&key),
            &key.name,
            affecting_events(vs, &mut Rng(i as u64)),
        );
        let adv = parse_osv(&rec)?;
        let t = Instant::now();
        rw.upsert(&adv)?;
        let up = t.elapsed();
        // What a person asks first: who is affected. Answered before the matcher has written
        // anything, from the installations index (the installations are listed as pending).
        let early = m.affected(&cve, None).await?;
        let listed = t.elapsed();
        // `--repeat N`: the same question N more times, warm, for a profiler to look at.
        for _ in 0..o.num("repeat", 0)? {
            let t = Instant::now();
            m.affected(&cve, None).await?;
            repeated.entry(class).or_default().push(t.elapsed());
        }
        let t = Instant::now();
        let c = m.catch_up(now).await?;
        let dt = up + t.elapsed();
        if c.full {
            return Err("catch_up ran a full pass: the cursor was not at the log's end".into());
        }
        // The same answer read back, now from the findings.
        let t = Instant::now();
        let report = m.affected(&cve, None).await?;
        affected_times.entry(class).or_default().push(t.elapsed());
        // (A re-run with the same seed re-sends records whose findings exist: nothing pending.)
        if early.pending != c.changes.created
            || (report.findings, report.pending) != (early.findings + early.pending, 0)
            || early.environments != report.environments
        {
            return Err(format!(
                "{cve}: listed {}+{} pending in {} environments before, {}+{} after in {}; {} created",
                early.findings,
                early.pending,
                early.environments,
                report.findings,
                report.pending,
                report.environments,
                c.changes.created
            )
            .into());
        }
        listed_times.entry(class).or_default().push(listed);
        if let Some(c) = &settle {
            // The next advisory arrives to a settled server: this run's findings are copied
            // from the log into the database now, instead of by the checkpointer while the
            // next advisory is being timed.
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        upserts.push(up);
        all.push(dt);
        by_class.entry(class).or_default().push(dt);
        let e = created.entry(class).or_default();
        e.0 += c.changes.created;
        e.1 += 1;
        if o.flags.contains("verbose") {
            println!(
                "  {class} {} ({envs} environments): {:.2} ms, {} findings created",
                key.name,
                ms(dt),
                c.changes.created
            );
        }
    }
    println!(
        "{}",
        latency_line(
            "new advisory → findings written (upsert + catch_up), all",
            all
        )
    );
    for (class, v) in by_class {
        let (n, runs) = created.get(class).copied().unwrap_or_default();
        println!(
            "{}; findings created per advisory: {:.0} mean",
            latency_line(&format!("new advisory, {class} package"), v),
            n as f64 / runs.max(1) as f64
        );
    }
    println!("{}", latency_line("of which the advisory upsert", upserts));
    for (class, v) in listed_times {
        println!(
            "{}",
            latency_line(
                &format!(
                    "new advisory → who is affected (upsert + Matcher::affected before the findings are written), {class} package"
                ),
                v
            )
        );
    }
    for (class, v) in affected_times {
        println!(
            "{}",
            latency_line(
                &format!("then Matcher::affected again (from the findings), {class} package"),
                v
            )
        );
    }
    for (class, v) in repeated {
        println!(
            "{}",
            latency_line(
                &format!(
                    "Matcher::affected repeated before the findings are written (--repeat), {class} package"
                ),
                v
            )
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- intake through the API

/// An inventory as the files a site's CI would upload: composer.lock for Packagist,
/// package-lock.json for npm, Cargo.lock for crates, and a CycloneDX SBOM (purls) for the rest
/// (PyPI, Debian).
fn render(packages: &[Package]) -> Files {
    let mut cargo = String::from("version = 3\n");
    let mut composer = (Vec::new(), Vec::new());
    let mut npm = serde_json::Map::new();
    npm.insert("".into(), json!({"name": "site", "version": "1.0.0"}));
    let mut npm_seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut components = Vec::new();
    for p in packages {
        match p.key.ecosystem {
            Ecosystem::Packagist => {
                let e = json!({"name": p.key.name, "version": p.version});
                if p.dev {
                    composer.1.push(e);
                } else {
                    composer.0.push(e);
                }
            }
            Ecosystem::Npm => {
                let n = npm_seen.entry(p.key.name.clone()).or_default();
                let path = if *n == 0 {
                    format!("node_modules/{}", p.key.name)
                } else {
                    format!("node_modules/dup{n}/node_modules/{}", p.key.name)
                };
                *n += 1;
                let mut e = json!({"version": p.version, "resolved": format!("https://registry.npmjs.org/{}/-/x.tgz", p.key.name)});
                if p.dev {
                    e["dev"] = json!(true);
                }
                npm.insert(path, e);
            }
            Ecosystem::CratesIo => {
                cargo.push_str(&format!(
                    "\n[[package]]\nname = \"{}\"\nversion = \"{}\"\n",
                    p.key.name, p.version
                ));
                match p.key.qualifier.as_str() {
                    "" => cargo.push_str(
                        "source = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
                    ),
                    "path" => {}
                    "git" => cargo.push_str(&format!(
                        "source = \"git+https://example.org/{}.git#0\"\n",
                        p.key.name
                    )),
                    other => cargo.push_str(&format!("source = \"{other}\"\n")),
                }
            }
            eco => {
                let name = p.key.name.replace('@', "%40");
                let purl = match eco {
                    Ecosystem::Debian => format!(
                        "pkg:deb/debian/{name}@{}?distro={}",
                        p.version.replace(':', "%3A"),
                        p.key.qualifier
                    ),
                    _ => format!("pkg:{}/{name}@{}", eco.purl_type(), p.version),
                };
                let mut c = json!({"type": "library", "name": p.key.name, "version": p.version, "purl": purl});
                if p.dev {
                    c["scope"] = json!("excluded");
                }
                components.push(c);
            }
        }
    }
    let mut out = Vec::new();
    if !composer.0.is_empty() || !composer.1.is_empty() {
        let v = json!({"content-hash": "0", "packages": composer.0, "packages-dev": composer.1});
        out.push((
            "composer.lock".to_owned(),
            serde_json::to_vec(&v).unwrap_or_default(),
        ));
    }
    if npm.len() > 1 {
        let v = json!({"name": "site", "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": npm});
        out.push((
            "package-lock.json".to_owned(),
            serde_json::to_vec(&v).unwrap_or_default(),
        ));
    }
    if cargo.len() > "version = 3\n".len() {
        out.push(("Cargo.lock".to_owned(), cargo.into_bytes()));
    }
    if !components.is_empty() {
        let v = json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components});
        out.push((
            "bom.cdx.json".to_owned(),
            serde_json::to_vec(&v).unwrap_or_default(),
        ));
    }
    out
}

/// How many packages of `want` a parse of its rendering does not give back exactly.
fn round_trip_misses(want: &[Package]) -> usize {
    let uploads: Vec<Upload> = render(want)
        .into_iter()
        .map(|(name, bytes)| Upload { name, bytes })
        .collect();
    match palisade_matcher::intake::parse_uploads(&uploads) {
        Ok(p) => {
            let got: BTreeSet<&Package> = p.packages.iter().collect();
            if std::env::var_os("FLEET_BENCH_DEBUG").is_some() {
                let wanted: BTreeSet<&Package> = want.iter().collect();
                for w in wanted.difference(&got).take(5) {
                    println!("  not read back: {w:?}");
                }
                for g in got.difference(&wanted).take(5) {
                    println!("  read instead: {g:?}");
                }
            }
            want.iter().filter(|w| !got.contains(w)).count() + got.len().saturating_sub(want.len())
        }
        Err(_) => want.len(),
    }
}

async fn all_environments(store: &Arc<SqlStore>) -> Res<Vec<palisade_core::tenant::Environment>> {
    let mut out = Vec::new();
    let mut q = ListQuery {
        limit: 500,
        ..ListQuery::default()
    };
    loop {
        let page = store.list_environments(&q).await?;
        out.extend(page.items);
        match page.next_after {
            Some(a) => q.after = Some(a),
            None => break,
        }
    }
    Ok(out)
}

/// The store reads one re-upload makes besides its write (`intake_parsed` and `reconcile_keys`
/// read the environment's package list once each), each timed on its own over 100 environments,
/// sequentially: where an upload's time goes. The fleet-wide `installations_of` of the changed
/// packages is timed too, for comparison (a catch-up reads it; an upload no longer does).
async fn intake_store_calls(
    store: &Arc<SqlStore>,
    envs: &[palisade_core::tenant::Environment],
    rng: &mut Rng,
) -> Res<()> {
    let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut rows: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rng = rng.clone();
    for _ in 0..100 {
        let env = envs[rng.below(envs.len())].id;
        let t = Instant::now();
        store.get_environment(env).await?;
        times
            .entry("get_environment")
            .or_default()
            .push(t.elapsed());
        let t = Instant::now();
        store.latest_snapshot(env).await?;
        times
            .entry("latest_snapshot")
            .or_default()
            .push(t.elapsed());
        let t = Instant::now();
        let pkgs = store.environment_packages(env).await?;
        times
            .entry("environment_packages")
            .or_default()
            .push(t.elapsed());
        *rows.entry("environment_packages").or_default() += pkgs.len();
        if pkgs.is_empty() {
            continue;
        }
        let keys: Vec<PackageKey> = (0..3).map(|_| rng.pick(&pkgs).key.clone()).collect();
        let t = Instant::now();
        let inst = store.installations_of(&keys).await?;
        times
            .entry("installations_of(3 keys), fleet-wide")
            .or_default()
            .push(t.elapsed());
        *rows
            .entry("installations_of(3 keys), fleet-wide")
            .or_default() += inst.iter().map(|g| g.environments.len()).sum::<usize>();
        let t = Instant::now();
        let f = store.findings_of(&keys, Some(&[env])).await?;
        times
            .entry("findings_of(3 keys, 1 environment)")
            .or_default()
            .push(t.elapsed());
        *rows
            .entry("findings_of(3 keys, 1 environment)")
            .or_default() += f.len();
        let t = Instant::now();
        store.environment_facts(&[env]).await?;
        times
            .entry("environment_facts")
            .or_default()
            .push(t.elapsed());
    }
    for (name, v) in times {
        let n = rows.get(name).copied().unwrap_or(0);
        let line = latency_line(&format!("intake store call {name}"), v);
        if n > 0 {
            println!("{line}; {:.0} rows per call", n as f64 / 100.0);
        } else {
            println!("{line}");
        }
    }
    Ok(())
}

struct Server {
    base: String,
    token: String,
    http: reqwest::Client,
}

async fn start_server(store: &Arc<SqlStore>, dir: &Path) -> Res<Server> {
    let m = matcher(store, dir);
    let audit = palisade_auditlog::AuditLog::start(
        store.clone(),
        &palisade_auditlog::AuditKeys::ephemeral(),
    );
    let state = palisade_web::AppState::new(
        m,
        Arc::new(SystemClock),
        palisade_web::WebConfig::default(),
        audit,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(palisade_web::serve(listener, state, std::future::pending()));
    let now = Timestamp::now();
    let user = store
        .create_user(
            &NewUserRecord {
                email: format!("ops-{}@bench.example.org", now.as_millisecond()),
                display_name: "Benchmark operations".into(),
                role: Role::Operations,
                client_id: None,
                password_hash: palisade_auth::hash_password("correct horse battery staple")?,
            },
            now,
        )
        .await?;
    let token = palisade_auth::new_api_token();
    let t = ApiToken::issue(
        user.id,
        "fleet bench".into(),
        Role::Operations,
        &token,
        now,
        SignedDuration::from_hours(24),
    );
    store
        .create_token(&t, &palisade_auth::token_hash(&token))
        .await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    Ok(Server { base, token, http })
}

/// An upload's files: (name, bytes).
type Files = Vec<(String, Vec<u8>)>;

/// Result of one upload: latency, status, findings created, packages changed.
type Sent = (Duration, u16, u64, u64);

/// POSTs every `(environment, files)` from `conns` concurrent connections.
async fn upload_all(
    srv: &Arc<Server>,
    jobs: Vec<(EnvironmentId, Files)>,
    conns: usize,
) -> (Duration, Vec<Sent>) {
    let queue = Arc::new(std::sync::Mutex::new(jobs));
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let queue = queue.clone();
        let srv = srv.clone();
        set.spawn(async move {
            let mut out: Vec<Sent> = Vec::new();
            loop {
                let job = queue.lock().ok().and_then(|mut q| q.pop());
                let Some((env, files)) = job else { break };
                let mut form = reqwest::multipart::Form::new();
                for (name, bytes) in files {
                    form = form.part(
                        "file",
                        reqwest::multipart::Part::bytes(bytes).file_name(name),
                    );
                }
                let t = Instant::now();
                let r = srv
                    .http
                    .post(format!(
                        "{}/api/v1/environments/{env}/inventories",
                        srv.base
                    ))
                    .bearer_auth(&srv.token)
                    .multipart(form)
                    .send()
                    .await;
                let (status, created, changed) = match r {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        let s = &body["snapshot"];
                        let changed = ["added", "removed", "changed"]
                            .iter()
                            .map(|k| s[k].as_u64().unwrap_or(0))
                            .sum();
                        (
                            status,
                            body["findings_created"].as_u64().unwrap_or(0),
                            changed,
                        )
                    }
                    Err(_) => (0, 0, 0),
                };
                out.push((t.elapsed(), status, created, changed));
            }
            out
        });
    }
    let mut all = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(v) = r {
            all.extend(v);
        }
    }
    (t.elapsed(), all)
}

fn report_uploads(name: &str, wall: Duration, sent: Vec<Sent>) {
    let ok = sent.iter().filter(|s| s.1 == 201).count();
    let created: u64 = sent.iter().map(|s| s.2).sum();
    let changed: u64 = sent.iter().map(|s| s.3).sum();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for s in &sent {
        *statuses.entry(s.1).or_default() += 1;
    }
    println!(
        "{name}: {} uploads in {:.2} s = {:.0} inventories/s ({ok} created, statuses {statuses:?}); {:.1} packages changed and {:.2} findings created per upload",
        sent.len(),
        secs(wall),
        sent.len() as f64 / secs(wall),
        changed as f64 / sent.len().max(1) as f64,
        created as f64 / sent.len().max(1) as f64
    );
    println!(
        "{}",
        latency_line(
            &format!("{name} latency"),
            sent.iter().map(|s| s.0).collect()
        )
    );
}

async fn intake(o: &Opts) -> Res<()> {
    let uploads = o.num("uploads", 1_000)?;
    let firsts = o.num("first", 300)?;
    let conns = o.num("conns", 8)?;
    let corpus = Arc::new(load_corpus(&o.data())?);
    let store = open_store(&o.dir).await?;
    ensure_cursor(&store, &o.dir).await?;
    let envs = all_environments(&store).await?;
    let mut rng = Rng(SEED ^ 0x1a7e);
    // (a) daily re-uploads: the environment's current list with three packages moved.
    let mut reup = Vec::new();
    let mut misses = 0;
    let mut chosen: BTreeSet<usize> = BTreeSet::new();
    while chosen.len() < uploads.min(envs.len()) {
        chosen.insert(rng.below(envs.len()));
    }
    for &i in &chosen {
        let env = envs[i].id;
        let mut pkgs = store.environment_packages(env).await?;
        if pkgs.is_empty() {
            continue;
        }
        let mut moved = 0;
        for _ in 0..100 {
            if moved == 3 {
                break;
            }
            let j = rng.below(pkgs.len());
            let v = corpus.other_version(&pkgs[j], &mut rng);
            if v != pkgs[j].version && !pkgs.iter().any(|p| p.key == pkgs[j].key && p.version == v)
            {
                pkgs[j].version = v;
                moved += 1;
            }
        }
        let pkgs = normalise(pkgs);
        if reup.len() < 20 {
            misses += round_trip_misses(&pkgs);
        }
        reup.push((env, render(&pkgs)));
    }
    println!(
        "prepared {} re-uploads (round trip of the first 20 renderings: {misses} packages not read back as written)",
        reup.len()
    );
    intake_store_calls(&store, &envs, &mut rng).await?;
    // (b) first uploads: new sites of existing clients, three environments each.
    let now = Timestamp::now();
    let clients = {
        let mut out = Vec::new();
        let mut q = ListQuery {
            limit: 500,
            ..ListQuery::default()
        };
        loop {
            let page = store.list_clients(&q).await?;
            out.extend(page.items.into_iter().map(|c| c.id));
            match page.next_after {
                Some(a) => q.after = Some(a),
                None => break,
            }
        }
        out
    };
    let base_site = 1_000_000 + (now.as_second() as usize % 100_000) * 10;
    let mut first = Vec::new();
    let mut s = 0;
    while first.len() < firsts {
        let kinds = (firsts - first.len()).min(3);
        let ids = create_site(
            &store,
            clients[s % clients.len()],
            base_site + s,
            kinds,
            now,
        )
        .await?;
        for (env, pkgs) in ids
            .into_iter()
            .zip(site_envs(&corpus, base_site + s, kinds))
        {
            first.push((env, render(&pkgs)));
        }
        s += 1;
    }
    println!("prepared {} first uploads to {s} new sites", first.len());

    let srv = Arc::new(start_server(&store, &o.dir).await?);
    let (wall, sent) = upload_all(&srv, reup, conns).await;
    report_uploads(
        &format!("intake re-uploads (3 packages moved), {conns} connections"),
        wall,
        sent,
    );
    let (wall, sent) = upload_all(&srv, first, conns).await;
    report_uploads(
        &format!("intake first uploads (~300 packages), {conns} connections"),
        wall,
        sent,
    );
    println!(
        "intake peak RSS (server and client): {:.0} MiB",
        peak_rss_mib()
    );
    Ok(())
}

// ---------------------------------------------------------------- 5 million findings

fn synthetic_finding(
    i: usize,
    env: &EnvFacts,
    pair: &(PackageKey, String),
    policy: &SlaPolicy,
    now: Timestamp,
    rng: &mut Rng,
) -> Finding {
    let severity = *rng.pick(&[
        SeverityLevel::Low,
        SeverityLevel::Medium,
        SeverityLevel::Medium,
        SeverityLevel::High,
        SeverityLevel::High,
        SeverityLevel::Critical,
    ]);
    let cve = format!("CVE-20{}-{}", 18 + rng.below(8), 1_000_000 + i);
    let kev = rng.chance(15).then(|| KevInfo {
        cve: cve.clone(),
        date_added: jiff::civil::date(2024, 1 + rng.below(12) as i8, 1 + rng.below(28) as i8),
        due_date: None,
        ransomware: rng.chance(100),
    });
    let epss = rng.chance(400).then(|| EpssInfo {
        cve: cve.clone(),
        score: rng.below(1000) as f64 / 1000.0,
        percentile: rng.below(1000) as f64 / 1000.0,
    });
    let cvss = Some(2.0 + rng.below(80) as f64 / 10.0);
    let fix = rng.chance(700);
    let dev = rng.chance(100);
    let malicious = rng.chance(5);
    let p = score(&PriorityInput {
        kev: kev.as_ref(),
        epss: epss.as_ref(),
        cvss,
        severity,
        environment: env.kind,
        fix_available: fix,
        tier: env.tier,
        dev,
        malicious,
    });
    let detected_at = now
        .checked_sub(SignedDuration::from_hours(rng.below(2 * 365 * 24) as i64))
        .unwrap_or(now);
    let state = match rng.below(100) {
        0..=54 => FindingState::New,
        55..=64 => FindingState::Affected,
        65..=79 => FindingState::Verified,
        80..=89 => FindingState::Inactive,
        90..=93 => FindingState::Fixed,
        94..=96 => FindingState::NotAffected,
        97 => FindingState::FalsePositive,
        _ => FindingState::RiskAccepted,
    };
    let ghsa = format!(
        "GHSA-{:04x}-{:04x}-{:04x}",
        i & 0xffff,
        rng.below(0xffff),
        rng.below(0xffff)
    );
    let fixed_versions = if fix {
        vec![format!(
            "{}.{}.{}",
            1 + rng.below(5),
            rng.below(20),
            rng.below(30)
        )]
    } else {
        Vec::new()
    };
    let fix_available_at = fix.then_some(detected_at);
    Finding {
        id: FindingId::new(),
        client_id: env.client_id,
        site_id: env.site_id,
        environment_id: env.id,
        environment_kind: env.kind,
        package: pair.0.clone(),
        version: pair.1.clone(),
        dev,
        alias_group: cve.clone(),
        advisories: vec![ghsa.clone()],
        aliases: vec![cve, ghsa],
        title: format!(
            "{} in {}",
            *rng.pick(&[
                "Cross-site scripting",
                "SQL injection",
                "Path traversal",
                "Denial of service",
                "Prototype pollution",
                "Improper input validation"
            ]),
            pair.0.name
        ),
        severity,
        cvss,
        kev,
        epss,
        fixed_versions,
        malicious,
        state,
        state_before_inactive: (state == FindingState::Inactive).then_some(FindingState::New),
        justification: (state == FindingState::NotAffected)
            .then_some(Justification::VulnerableCodeNotInExecutePath),
        risk_accepted_until: (state == FindingState::RiskAccepted).then(|| {
            now.checked_add(SignedDuration::from_hours(24 * 90))
                .unwrap_or(now)
        }),
        risk_request: None,
        priority: p.score,
        reasons: p.reasons,
        detected_at,
        fix_available_at,
        due_at: state
            .is_open()
            .then(|| policy.due_at(env.tier, severity, detected_at, fix_available_at))
            .flatten(),
        fixed_at: matches!(state, FindingState::Fixed | FindingState::Verified).then_some(now),
        updated_at: detected_at,
    }
}

async fn fill_findings(o: &Opts) -> Res<()> {
    let total = o.num("total", 5_000_000)?;
    let batch = o.num("batch", 25_000)?;
    let corpus = load_corpus(&o.data())?;
    let pairs: Vec<(PackageKey, String)> = corpus
        .keys()
        .into_iter()
        .flat_map(|k| {
            let vs = corpus.versions[&k].clone();
            vs.into_iter().map(move |v| (k.clone(), v))
        })
        .collect();
    let store = open_store(&o.dir).await?;
    let envs = all_environments(&store).await?;
    let ids: Vec<EnvironmentId> = envs.iter().map(|e| e.id).collect();
    let facts: Vec<EnvFacts> = store
        .environment_facts(&ids)
        .await?
        .into_iter()
        .map(|f| f.facts)
        .collect();
    let (have, _) = finding_count(&o.dir)?;
    let need = total.saturating_sub(usize::try_from(have).unwrap_or(0));
    println!(
        "findings stored: {have}; adding {need} through apply_finding_changes in batches of {batch} (no events)"
    );
    let policy = SlaPolicy::default();
    let now = Timestamp::now();
    let mut rng = Rng(SEED ^ 0xf1d);
    let t = Instant::now();
    let mut gen_time = Duration::ZERO;
    let mut done = 0;
    let mut last_report = 0;
    while done < need {
        let n = batch.min(need - done);
        let g = Instant::now();
        let created: Vec<Finding> = (0..n)
            .map(|j| {
                let env = rng.pick(&facts);
                let pair = rng.pick(&pairs);
                synthetic_finding(have as usize + done + j, env, pair, &policy, now, &mut rng)
            })
            .collect();
        gen_time += g.elapsed();
        store
            .apply_finding_changes(&FindingChanges {
                created,
                updated: Vec::new(),
                events: Vec::new(),
            })
            .await?;
        done += n;
        if done - last_report >= 500_000 || done == need {
            last_report = done;
            println!(
                "  {done} added in {:.0} s ({:.0} findings/s)",
                secs(t.elapsed()),
                done as f64 / secs(t.elapsed())
            );
        }
    }
    let wall = t.elapsed();
    let (all, open) = finding_count(&o.dir)?;
    println!(
        "fill: {need} findings in {:.1} s ({:.0}/s; generating them {:.1} s of it); stored now {all} ({open} open); database {:.0} MB",
        secs(wall),
        need as f64 / secs(wall).max(1e-9),
        secs(gen_time),
        db_size_mb(&o.dir)
    );
    Ok(())
}

async fn page(o: &Opts) -> Res<()> {
    let calls = o.num("calls", 200)?;
    let store = open_store(&o.dir).await?;
    let (all, open) = finding_count(&o.dir)?;
    println!("findings stored: {all} ({open} open)");
    let clients: Vec<ClientId> = store
        .list_clients(&ListQuery {
            limit: 500,
            ..ListQuery::default()
        })
        .await?
        .items
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut rng = Rng(SEED ^ 0x9a6e);

    let t = Instant::now();
    let first = store.list_findings(&FindingQuery::default()).await?;
    println!(
        "list_findings first page, first call: {:.2} ms ({} items, top priority {})",
        ms(t.elapsed()),
        first.items.len(),
        first.items.first().map_or(0, |f| f.priority)
    );
    let mut v = Vec::new();
    for _ in 0..calls {
        let t = Instant::now();
        store.list_findings(&FindingQuery::default()).await?;
        v.push(t.elapsed());
    }
    println!(
        "{}",
        latency_line(
            "store list_findings, open, by priority, first page of 50",
            v
        )
    );
    // Lists scoped by client, site or environment: all but a client's open findings are found
    // through the environments (migration 0012), then sorted.
    let places: Vec<(SiteId, EnvironmentId)> = {
        let c = readonly(&o.dir)?;
        let mut s = c.prepare("SELECT site_id, id FROM environments ORDER BY id")?;
        let rows = s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for r in rows {
            let (site, env) = r?;
            out.push((site.parse()?, env.parse()?));
        }
        out
    };
    type Scope = fn(ClientId, SiteId, EnvironmentId) -> FindingQuery;
    let scopes: [(&str, Scope); 4] = [
        ("one client (random)", |client, _, _| FindingQuery {
            client: Some(client),
            ..FindingQuery::default()
        }),
        ("one site (random), open", |_, site, _| FindingQuery {
            site: Some(site),
            ..FindingQuery::default()
        }),
        ("one environment (random), open", |_, _, env| FindingQuery {
            environment: Some(env),
            ..FindingQuery::default()
        }),
        (
            "one client (random), fixed/verified/inactive",
            |client, _, _| FindingQuery {
                client: Some(client),
                states: vec![
                    FindingState::Fixed,
                    FindingState::Verified,
                    FindingState::Inactive,
                ],
                ..FindingQuery::default()
            },
        ),
    ];
    for (what, scope) in scopes {
        let mut v = Vec::new();
        for _ in 0..calls {
            let client = *rng.pick(&clients);
            let (site, env) = *rng.pick(&places);
            let q = scope(client, site, env);
            let t = Instant::now();
            store.list_findings(&q).await?;
            v.push(t.elapsed());
        }
        println!(
            "{}",
            latency_line(&format!("store list_findings, {what}, first page"), v)
        );
    }
    let mut v = Vec::new();
    let mut q = FindingQuery::default();
    for _ in 0..calls {
        let t = Instant::now();
        let p = store.list_findings(&q).await?;
        v.push(t.elapsed());
        q.after = p.next_after;
    }
    println!(
        "{}",
        latency_line("store list_findings, following pages (cursor)", v)
    );

    let srv = start_server(&store, &o.dir).await?;
    let get = |path: String| {
        let srv = &srv;
        async move {
            let t = Instant::now();
            let r = srv
                .http
                .get(format!("{}{path}", srv.base))
                .bearer_auth(&srv.token)
                .send()
                .await?;
            let status = r.status();
            let bytes = r.bytes().await?;
            Ok::<_, Box<dyn Error + Send + Sync>>((t.elapsed(), status, bytes.len()))
        }
    };
    let (_, status, size) = get("/api/v1/findings".into()).await?;
    println!("GET /api/v1/findings: status {status}, {size} bytes");
    let mut v = Vec::new();
    for _ in 0..calls {
        v.push(get("/api/v1/findings".into()).await?.0);
    }
    println!(
        "{}",
        latency_line(
            "HTTP GET /api/v1/findings (first page, 50, operations token)",
            v
        )
    );
    let mut v = Vec::new();
    for _ in 0..calls {
        let c = *rng.pick(&clients);
        v.push(get(format!("/api/v1/findings?client_id={c}")).await?.0);
    }
    println!(
        "{}",
        latency_line("HTTP GET /api/v1/findings?client_id= (random client)", v)
    );
    let mut v = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        store.findings_summary(None, Timestamp::now()).await?;
        v.push(t.elapsed());
    }
    println!(
        "{}",
        latency_line(
            "store findings_summary (the portfolio dashboard's counts), all clients",
            v
        )
    );
    Ok(())
}

// ---------------------------------------------------------------- main

fn main() -> Res<()> {
    let o = Opts::parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let t = Instant::now();
    rt.block_on(async {
        match o.cmd.as_str() {
            "setup" => setup(&o).await,
            "full-match" => full_match(&o).await,
            "profile" => profile(&o).await,
            "new-advisory" => new_advisory(&o).await,
            "intake" => intake(&o).await,
            "fill-findings" => fill_findings(&o).await,
            "page" => page(&o).await,
            other => Err(format!("unknown command {other:?}").into()),
        }
    })?;
    println!("{} done in {:.1} s", o.cmd, secs(t.elapsed()));
    Ok(())
}
