//! Rendering a scan report: a table for people, JSON for programs, SARIF 2.1.0 for code-scanning
//! dashboards, and CycloneDX 1.6 VEX for exchanging vulnerability status with other tools.

use std::fmt::Write as _;

use palisade_vulns::{Ecosystem, SeverityLevel};
use serde_json::{Value, json};

use crate::{Finding, Report};

/// Percent-encodes everything but RFC 3986's unreserved characters, as the purl spec asks for
/// each namespace segment, the name and the version.
fn purl_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The package URL of a finding's package (purl spec): `/` separates namespace segments (an
/// npm scope, a Composer vendor) from the name; every segment and the version are encoded.
pub fn purl(f: &Finding) -> String {
    let path = match f.ecosystem {
        Ecosystem::Debian => format!("debian/{}", purl_encode(&f.package)),
        _ => f
            .package
            .split('/')
            .map(purl_encode)
            .collect::<Vec<_>>()
            .join("/"),
    };
    format!(
        "pkg:{}/{}@{}",
        f.ecosystem.purl_type(),
        path,
        purl_encode(&f.installed)
    )
}

fn ids(f: &Finding) -> String {
    if f.aliases.is_empty() {
        f.advisory.clone()
    } else {
        format!("{} ({})", f.advisory, f.aliases.join(", "))
    }
}

fn fixed(f: &Finding) -> String {
    if !f.fixed.is_empty() {
        f.fixed.join(", ")
    } else if let Some(l) = &f.last_known_affected {
        format!("none known (last affected {l})")
    } else {
        "none known".to_owned()
    }
}

fn severity(f: &Finding) -> String {
    match f.score {
        Some(s) => format!("{} {s:.1}", f.severity.name()),
        None => f.severity.name().to_owned(),
    }
}

/// Lays out rows in columns as wide as their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut first = true;
        for (i, c) in cells.enumerate() {
            if !first {
                out.push_str("  ");
            }
            first = false;
            let pad = width[i] - c.chars().count();
            out.push_str(c);
            if i + 1 < width.len() {
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    line(&mut out, &mut rule.iter().map(String::as_str));
    for r in rows {
        line(&mut out, &mut r.iter().map(String::as_str));
    }
    out
}

/// The human-readable report.
pub fn to_table(r: &Report) -> String {
    let mut out = String::new();
    let row = |f: &Finding| {
        let mut pkg = f.package.clone();
        if f.dev {
            pkg.push_str(" (dev)");
        }
        vec![
            pkg,
            f.installed.clone(),
            ids(f),
            severity(f),
            match &f.kev {
                Some(k) if k.ransomware => "yes, ransomware".to_owned(),
                Some(_) => "yes".to_owned(),
                None => String::new(),
            },
            f.epss
                .as_ref()
                .map(|e| format!("{:.1}%", e.score * 100.0))
                .unwrap_or_default(),
            fixed(f),
            match f.line {
                Some(l) => format!("{}:{l}", f.path),
                None => f.path.clone(),
            },
        ]
    };
    let header = [
        "PACKAGE",
        "INSTALLED",
        "ADVISORY",
        "SEVERITY",
        "KEV",
        "EPSS",
        "FIXED IN",
        "PATH",
    ];
    let live: Vec<_> = r.findings.iter().filter(|f| f.ignored.is_none()).collect();
    if live.is_empty() {
        out.push_str("No known vulnerabilities found.\n");
    } else {
        let rows: Vec<_> = live.iter().map(|f| row(f)).collect();
        out.push_str(&table(&header, &rows));
    }
    if !r.notices.is_empty() {
        let _ = writeln!(out, "\nInformational advisories (not vulnerabilities):");
        let rows: Vec<_> = r
            .notices
            .iter()
            .map(|f| {
                let label = match &f.kind {
                    palisade_vulns::AdvisoryKind::Informational(l) => l.clone(),
                    _ => String::new(),
                };
                vec![
                    f.package.clone(),
                    f.installed.clone(),
                    f.advisory.clone(),
                    label,
                    f.summary.clone(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["PACKAGE", "INSTALLED", "ADVISORY", "KIND", "SUMMARY"],
            &rows,
        ));
    }
    let ignored: Vec<_> = r.findings.iter().filter(|f| f.ignored.is_some()).collect();
    if !ignored.is_empty() {
        let _ = writeln!(out, "\nIgnored by the ignore file:");
        for f in &ignored {
            let _ = writeln!(
                out,
                "  {} {} {}: {}",
                f.package,
                f.installed,
                f.advisory,
                f.ignored.as_deref().unwrap_or("")
            );
        }
    }
    if !r.cannot_evaluate.is_empty() {
        let _ = writeln!(out, "\nCannot evaluate ({}):", r.cannot_evaluate.len());
        for u in &r.cannot_evaluate {
            let adv = u
                .advisory
                .as_deref()
                .map(|a| format!(" {a}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}: {} {}{adv}: {}",
                u.path, u.package, u.installed, u.reason
            );
        }
    }
    for f in r.files.iter().filter(|f| f.error.is_some()) {
        let _ = writeln!(out, "\nerror: {}", f.error.as_deref().unwrap_or(""));
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(
        out,
        "\n{} files, {} packages: {} vulnerabilities ({} ignored), {} informational, {} cannot evaluate, {} files with errors",
        r.files.len(),
        r.packages,
        live.len(),
        ignored.len(),
        r.notices.len(),
        r.cannot_evaluate.len(),
        r.files.iter().filter(|f| f.error.is_some()).count(),
    );
    out
}

/// The report as JSON.
pub fn to_json(r: &Report) -> String {
    // Sized once for about a kilobyte per row: a text grown by doubling touches fresh memory at
    // each step, a page fault per 4 KB.
    let rows = r.findings.len() + r.notices.len() + r.cannot_evaluate.len() + r.files.len();
    let mut out = Vec::with_capacity(1024 * (rows + 1));
    match serde_json::to_writer_pretty(&mut out, r) {
        Ok(()) => String::from_utf8(out).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
        Err(e) => format!("{{\"error\": \"{e}\"}}"),
    }
}

fn sarif_level(s: SeverityLevel) -> &'static str {
    match s {
        SeverityLevel::Critical | SeverityLevel::High | SeverityLevel::Unknown => "error",
        SeverityLevel::Medium => "warning",
        SeverityLevel::Low | SeverityLevel::None => "note",
    }
}

/// SARIF 2.1.0: one rule per advisory, one result per affected installation.
pub fn to_sarif(r: &Report) -> String {
    let mut rules: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut results = Vec::new();
    for f in r.findings.iter().chain(&r.notices) {
        if seen.insert(f.advisory.clone()) {
            let mut rule = json!({
                "id": f.advisory,
                "shortDescription": {"text": if f.summary.is_empty() { &f.advisory } else { &f.summary }},
                "properties": {"tags": ["security", "vulnerability"]},
            });
            if let Some(s) = f.score {
                rule["properties"]["security-severity"] = json!(format!("{s:.1}"));
            }
            if let Some(u) = &f.url {
                rule["helpUri"] = json!(u);
            }
            rules.push(rule);
        }
        let mut result = json!({
            "ruleId": f.advisory,
            "level": if f.kind.is_vulnerability() { sarif_level(f.severity) } else { "note" },
            "message": {"text": format!(
                "{} {} is affected by {}; fixed in {}",
                f.package, f.installed, ids(f), fixed(f)
            )},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": f.path},
                "region": {"startLine": f.line.unwrap_or(1)},
            }}],
            "properties": {"purl": purl(f), "dev": f.dev, "kev": f.kev.is_some()},
        });
        if let Some(reason) = &f.ignored {
            result["suppressions"] = json!([{"kind": "external", "justification": reason}]);
        }
        results.push(result);
    }
    let doc = json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "palisade",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// CycloneDX 1.6 VEX: the affected components and one vulnerability per advisory, with the
/// components it affects. Ignored findings carry their reason as the analysis detail.
pub fn to_cyclonedx_vex(r: &Report, timestamp: jiff::Timestamp) -> String {
    let mut components = Vec::new();
    let mut seen_components = std::collections::HashSet::new();
    let mut vulns: Vec<Value> = Vec::new();
    // Indexes into `vulns` and the (advisory, component) pairs already listed, so a scan of a
    // whole fleet (tens of thousands of findings) stays linear.
    let mut vuln_index: std::collections::HashMap<&str, usize> = Default::default();
    let mut seen_affects = std::collections::HashSet::new();
    for f in r.findings.iter().chain(&r.notices) {
        let p = purl(f);
        if seen_components.insert(p.clone()) {
            components.push(json!({
                "type": "library", "bom-ref": p, "name": f.package, "version": f.installed, "purl": p,
            }));
        }
        let first_affect = seen_affects.insert((f.advisory.as_str(), p.clone()));
        if let Some(&i) = vuln_index.get(f.advisory.as_str()) {
            if first_affect && let Some(list) = vulns[i]["affects"].as_array_mut() {
                list.push(json!({"ref": p}));
            }
            continue;
        }
        let mut v = json!({
            "bom-ref": format!("vuln:{}", f.advisory),
            "id": f.advisory,
            "source": {"name": f.source},
            "references": f.aliases.iter().map(|a| json!({"id": a, "source": {"name": a.split('-').next().unwrap_or("")}})).collect::<Vec<_>>(),
            "description": f.summary,
            "ratings": [{"severity": match f.severity {
                SeverityLevel::Unknown => "unknown",
                SeverityLevel::None => "none",
                l => l.name(),
            }}],
            "affects": [{"ref": p}],
            "analysis": match &f.ignored {
                Some(reason) => json!({"state": "in_triage", "response": ["will_not_fix"], "detail": reason}),
                None => json!({"state": "in_triage"}),
            },
        });
        if let Some(s) = f.score {
            v["ratings"][0]["score"] = json!(s);
        }
        if !f.fixed.is_empty() {
            v["recommendation"] = json!(format!("Upgrade to {}", f.fixed.join(" or ")));
        }
        vuln_index.insert(f.advisory.as_str(), vulns.len());
        vulns.push(v);
    }
    let doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": timestamp.to_string(),
            "tools": {"components": [{"type": "application", "name": "palisade", "version": env!("CARGO_PKG_VERSION")}]},
        },
        "components": components,
        "vulnerabilities": vulns,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_vulns::AdvisoryKind;

    fn finding(ecosystem: Ecosystem, package: &str, installed: &str) -> Finding {
        Finding {
            path: "p".into(),
            line: None,
            ecosystem,
            package: package.into(),
            installed: installed.into(),
            dev: false,
            advisory: "A".into(),
            source: "osv".into(),
            aliases: Vec::new(),
            kind: AdvisoryKind::Vulnerability,
            summary: String::new(),
            severity: SeverityLevel::High,
            score: None,
            kev: None,
            epss: None,
            fixed: Vec::new(),
            last_known_affected: None,
            url: None,
            ignored: None,
        }
    }

    #[test]
    fn purls_encode_scopes_names_and_versions() {
        let p = |e, n, v| purl(&finding(e, n, v));
        assert_eq!(
            p(Ecosystem::Npm, "@babel/core", "7.0.0-beta.1"),
            "pkg:npm/%40babel/core@7.0.0-beta.1"
        );
        assert_eq!(
            p(Ecosystem::Npm, "@a/b c", "1.0.0+build.5"),
            "pkg:npm/%40a/b%20c@1.0.0%2Bbuild.5"
        );
        assert_eq!(
            p(Ecosystem::Packagist, "symfony/http-kernel", "v5.4.1"),
            "pkg:composer/symfony/http-kernel@v5.4.1"
        );
        assert_eq!(
            p(Ecosystem::Debian, "openssl", "1:3.0.11-1~deb12u2"),
            "pkg:deb/debian/openssl@1%3A3.0.11-1~deb12u2"
        );
        assert_eq!(
            p(Ecosystem::PyPi, "django", "4.2.8+sp1"),
            "pkg:pypi/django@4.2.8%2Bsp1"
        );
    }
}
