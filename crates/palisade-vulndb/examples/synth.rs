//! Synthetic benchmark data, realistic in shape: `cargo run --release -p palisade-vulndb
//! --example synth -- OUT_DIR [RECORDS]` writes
//!
//! - `osv-synthetic.zip`: RECORDS (default 500,000) OSV records across npm, PyPI, Packagist and
//!   crates.io in the proportions osv.dev has them — most are `MAL-` malicious-package records
//!   (about 80 % of OSV entries in 2025), the rest GHSA-style vulnerabilities with CVE aliases,
//!   CVSS vectors, several ranges and a few paragraphs of details;
//! - `package-lock.json`: a lockfile (v3) of 2,000 npm packages, some of them named and versioned
//!   so that synthetic advisories affect them;
//! - `bom.cdx.json`: a CycloneDX 1.6 SBOM of about 10 MB (components with hashes, licences and
//!   references, as generators write them).
//!
//! Deterministic: the same arguments give the same files.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

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

fn name(rng: &mut Rng, eco: &str, i: u64) -> String {
    let a = rng.pick(WORDS);
    let b = rng.pick(WORDS);
    match eco {
        "npm" if i.is_multiple_of(4) => format!("@{a}/{b}-{i}"),
        "Packagist" => format!("{a}/{b}-{i}"),
        _ => format!("{a}-{b}-{i}"),
    }
}

fn version(rng: &mut Rng) -> String {
    format!("{}.{}.{}", rng.below(6), rng.below(20), rng.below(30))
}

fn sentence(rng: &mut Rng) -> String {
    let n = 8 + rng.below(14);
    let mut s: Vec<&str> = (0..n).map(|_| rng.pick(WORDS)).collect();
    s.insert(0, "The");
    format!("{}.", s.join(" "))
}

fn record(rng: &mut Rng, i: u64) -> Value {
    let eco = match rng.below(100) {
        0..=54 => "npm",
        55..=79 => "PyPI",
        80..=91 => "Packagist",
        _ => "crates.io",
    };
    // Package names come from a pool a tenth the size of the record count, so packages carry
    // several advisories each, as popular ones do.
    let pkg_index = rng.below(50_000);
    let pkg = name(&mut Rng(pkg_index), eco, pkg_index);
    let modified = format!(
        "20{:02}-{:02}-{:02}T{:02}:00:00Z",
        20 + rng.below(6),
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24)
    );
    if rng.below(100) < 78 && eco != "crates.io" {
        return json!({
            "schema_version": "1.6.0",
            "id": format!("MAL-2025-{i}"),
            "modified": modified,
            "published": modified,
            "summary": format!("Malicious code in {pkg} ({eco})"),
            "details": "\n---\n_-= Per source details. Do not edit below this line.=-_\n\n## Source: ossf-package-analysis\nThe package exfiltrates environment variables and SSH keys to a remote host during install.\n",
            "affected": [{
                "package": {"ecosystem": eco, "name": pkg},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}],
                "versions": [version(rng), version(rng)],
                "database_specific": {"cwes": [{"cweId": "CWE-506", "name": "Embedded Malicious Code"}]}
            }],
            "database_specific": {"malicious-packages-origins": [{"source": "ossf-package-analysis", "sha256": format!("{:016x}{:016x}", rng.next(), rng.next()), "modified_time": modified}]}
        });
    }
    let mut events = vec![json!({"introduced": "0"})];
    let windows = 1 + rng.below(3);
    let mut major = 0;
    for w in 0..windows {
        if w > 0 {
            events.push(json!({"introduced": format!("{major}.0.0")}));
        }
        events.push(json!({"fixed": format!("{major}.{}.{}", 1 + rng.below(9), rng.below(20))}));
        major += 1 + rng.below(2);
    }
    let details: Vec<String> = (0..(3 + rng.below(6))).map(|_| sentence(rng)).collect();
    json!({
        "schema_version": "1.6.0",
        "id": format!("GHSA-{:04x}-{:04x}-{:04x}", i & 0xffff, rng.below(0xffff), rng.below(0xffff)),
        "modified": modified,
        "published": modified,
        "aliases": [format!("CVE-20{}-{}", 18 + rng.below(8), 10_000 + i)],
        "summary": format!("{} in {pkg}", sentence(rng)),
        "details": details.join(" "),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:N"}],
        "affected": [{
            "package": {"ecosystem": eco, "name": pkg},
            "ranges": [{"type": "ECOSYSTEM", "events": events}],
            "database_specific": {"source": "https://github.com/github/advisory-database"}
        }],
        "references": [
            {"type": "ADVISORY", "url": format!("https://nvd.nist.gov/vuln/detail/CVE-2024-{}", 10_000 + i)},
            {"type": "PACKAGE", "url": format!("https://example.org/{pkg}")}
        ],
        "database_specific": {"cwe_ids": ["CWE-79"], "severity": "HIGH", "github_reviewed": true}
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: synth OUT_DIR [RECORDS]")?);
    let records: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(500_000);
    std::fs::create_dir_all(&out)?;

    let mut rng = Rng(42);
    let zip_path = out.join("osv-synthetic.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path)?);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..records {
        let r = record(&mut rng, i);
        let id = r["id"].as_str().unwrap_or("x").to_owned();
        zip.start_file(format!("{id}.json"), opts)?;
        zip.write_all(&serde_json::to_vec(&r)?)?;
    }
    zip.finish()?;

    // 2,000 npm packages drawn from the same name pool, with versions in the synthetic ranges.
    let mut packages = serde_json::Map::new();
    packages.insert("".into(), json!({"name": "bench-site", "version": "1.0.0"}));
    let mut r2 = Rng(7);
    for n in 0..2_000u64 {
        let idx = r2.below(50_000);
        let pkg = name(&mut Rng(idx), "npm", idx);
        let v = version(&mut r2);
        packages.insert(
            format!("node_modules/{pkg}"),
            json!({"version": v, "resolved": format!("https://registry.npmjs.org/{pkg}/-/{n}.tgz"), "integrity": "sha512-AAAA"}),
        );
    }
    let lock = json!({"name": "bench-site", "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": packages});
    std::fs::write(
        out.join("package-lock.json"),
        serde_json::to_vec_pretty(&lock)?,
    )?;

    // About 10 MB of CycloneDX.
    let mut components = Vec::new();
    let mut size = 0usize;
    let mut k = 0u64;
    while size < 10 * 1024 * 1024 {
        let idx = r2.below(50_000);
        let pkg = name(&mut Rng(idx), "npm", idx);
        let v = version(&mut r2);
        let purl = format!("pkg:npm/{}@{v}", pkg.replace('@', "%40"));
        let c = json!({
            "type": "library",
            "bom-ref": format!("{purl}#{k}"),
            "name": pkg,
            "version": v,
            "purl": purl,
            "hashes": [{"alg": "SHA-512", "content": format!("{:016x}{:016x}{:016x}{:016x}", r2.next(), r2.next(), r2.next(), r2.next())}],
            "licenses": [{"license": {"id": "MIT"}}],
            "externalReferences": [{"type": "distribution", "url": format!("https://registry.npmjs.org/{pkg}/-/{k}.tgz")}],
            "properties": [{"name": "cdx:npm:package:path", "value": format!("node_modules/{pkg}")}]
        });
        size += c.to_string().len();
        components.push(c);
        k += 1;
    }
    let bom = json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components});
    std::fs::write(out.join("bom.cdx.json"), serde_json::to_vec(&bom)?)?;
    println!(
        "wrote {} ({} records), package-lock.json (2000 packages), bom.cdx.json ({} components)",
        zip_path.display(),
        records,
        k
    );
    Ok(())
}
