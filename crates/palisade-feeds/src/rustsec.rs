//! RustSec advisories as the `advisory-db` repository stores them: Markdown whose first block is
//! a fenced TOML front matter (`[advisory]`, `[versions]`, `[affected]`), followed by `# title`
//! and the description.
//!
//! RustSec lists the *unaffected* side — `patched` and `unaffected` Cargo requirements — so the
//! affected intervals are the complement of their union, computed with every bound kept exactly
//! as written: `unaffected = ["<= 1.2.3"]` means affected from *just above* 1.2.3 (exclusive
//! lower bound 1.2.3), never "from 1.2.4", which would miss `1.2.4-rc.1` (notes, section 2,
//! trap 3). Informational advisories (`unmaintained`, `unsound`, `notice`) are kept as their own
//! kind, apart from vulnerabilities; withdrawn ones are kept with their withdrawal date.
//! `[affected]` (arch, os, functions) narrows *where* a bug bites, not which versions carry it,
//! so it does not change matching.

use palisade_versions::Scheme;
use palisade_vulns::interval::{Bound, Interval, normalize};
use palisade_vulns::{
    Advisory, AdvisoryKind, Affected, Ecosystem, PackageKey, SeverityVector, Source,
};
use serde::Deserialize;

use crate::MAX_RECORD_BYTES;
use crate::cargo_req::requirement_span;
use crate::error::{FeedError, check_size, strip_bom};
use crate::util::{extend_unique, midnight_utc, push_unique};
use palisade_vulns::interval::{Span, complement};

/// The key qualifier for advisories against the Rust toolchain itself (`std`, `rustc`,
/// `cargo`, `rustdoc` under the database's `rust/` folder): their versions are toolchain
/// versions, so they must never match a crate of the same name in a `Cargo.lock`.
pub const TOOLCHAIN_QUALIFIER: &str = "toolchain";

/// Parses one advisory. `file` is shown in errors and decides the package key: a path whose
/// folder is `rust/<package>/` is a toolchain advisory.
pub fn parse(file: &str, content: &str) -> Result<Advisory, FeedError> {
    check_size(file, content.len(), MAX_RECORD_BYTES, "a RustSec advisory")?;
    let content = strip_bom(content);
    let doc = split(file, content)?;
    let front: Front = serde_path_to_error::deserialize(toml::Deserializer::new(doc.toml))
        .map_err(|e| crate::error::toml(file, doc.toml_line, doc.toml, e))?;
    let meta = front.advisory;
    // Semantic errors found after deserializing carry the line of the key they concern.
    let at_key = |key: &str, field: &str, message: String| {
        let mut e = FeedError::new(file, message).with_field(field);
        if let Some(line) = key_line(doc.toml, key) {
            e = e.at_line(doc.toml_line + line);
        }
        e
    };

    let mut a = Advisory::new(Source::Rustsec, meta.id.trim());
    if a.id.is_empty() {
        return Err(at_key(
            "id",
            "advisory.id",
            "the advisory id is empty".into(),
        ));
    }
    a.published = Some(date(&meta.date).ok_or_else(|| {
        at_key(
            "date",
            "advisory.date",
            format!("{} is not a date (YYYY-MM-DD)", meta.date),
        )
    })?);
    if let Some(w) = &meta.withdrawn {
        a.withdrawn = Some(date(w).ok_or_else(|| {
            at_key(
                "withdrawn",
                "advisory.withdrawn",
                format!("{w} is not a date (YYYY-MM-DD)"),
            )
        })?);
    }
    if let Some(label) = meta
        .informational
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        a.kind = AdvisoryKind::Informational(label.to_ascii_lowercase());
    }
    extend_unique(&mut a.aliases, meta.aliases.iter().map(String::as_str));
    extend_unique(&mut a.related, meta.related.iter().map(String::as_str));
    extend_unique(
        &mut a.references,
        meta.url.iter().chain(&meta.references).map(String::as_str),
    );
    if let Some(vector) = meta
        .cvss
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let kind = if vector.starts_with("CVSS:4") {
            "CVSS_V4"
        } else {
            "CVSS_V3"
        };
        a.severity.push(SeverityVector::new(kind, vector));
    }
    a.summary = doc.title.to_owned();
    a.details = doc.body.to_owned();

    let package = meta.package.trim();
    if package.is_empty() {
        return Err(at_key(
            "package",
            "advisory.package",
            "the package name is empty".into(),
        ));
    }
    let qualifier = if is_toolchain(file) {
        TOOLCHAIN_QUALIFIER
    } else {
        ""
    };
    let mut affected = Affected::new(PackageKey::new(Ecosystem::CratesIo, qualifier, package));
    affected_versions(&front.versions, &mut affected);
    a.affected.push(affected);
    Ok(a)
}

/// Fills intervals, `fixed` and `problem` from `[versions]`.
fn affected_versions(v: &Versions, out: &mut Affected) {
    let mut unaffected: Vec<Span<semver::Version>> = Vec::new();
    let mut problems = Vec::new();
    for (field, list) in [("patched", &v.patched), ("unaffected", &v.unaffected)] {
        for (i, req) in list.iter().enumerate() {
            match requirement_span(req) {
                Ok(Some(span)) => {
                    if field == "patched"
                        && let Some(lower) = &span.lower
                    {
                        // An exclusive lower end (`> 0.22.0`) is shown as such: 0.22.0 is
                        // not a fix.
                        let shown = if lower.inclusive {
                            lower.version.to_string()
                        } else {
                            format!(">{}", lower.version)
                        };
                        push_unique(&mut out.fixed, &shown);
                    }
                    unaffected.push(span);
                }
                Ok(None) => {}
                Err(e) => problems.push(format!("versions.{field}[{i}]: {e}")),
            }
        }
    }
    // With a requirement unreadable, the complement would flag fixed versions as affected;
    // leaving no intervals makes every version "cannot evaluate" instead.
    if !problems.is_empty() {
        out.problem = Some(problems.join("; "));
        return;
    }
    let bound = |e: &palisade_vulns::interval::End<semver::Version>| Bound {
        version: e.version.to_string(),
        inclusive: e.inclusive,
    };
    let intervals: Vec<Interval> = complement(unaffected)
        .iter()
        .map(|s| Interval::new(s.lower.as_ref().map(bound), s.upper.as_ref().map(bound)))
        .collect();
    match normalize(Scheme::SemVer, &intervals) {
        Ok(list) => out.intervals = list,
        Err(e) => out.problem = Some(e),
    }
}

/// Whether the file sits at `rust/<package>/<file>`, the database's toolchain folder.
fn is_toolchain(file: &str) -> bool {
    let parts: Vec<&str> = file.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    parts.len() >= 3 && parts[parts.len() - 3] == "rust"
}

/// A TOML date written as a string (`"2021-01-31"`, the database's style) or as a TOML local
/// date (`2021-01-31`), at midnight UTC.
fn date(v: &toml::Value) -> Option<jiff::Timestamp> {
    let text = match v {
        toml::Value::String(s) => s.trim().to_owned(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => return None,
    };
    let day = text.get(..10).unwrap_or(&text);
    midnight_utc(day.parse().ok()?)
}

/// The 0-based line (within the TOML) of the first `key = …` assignment.
fn key_line(toml: &str, key: &str) -> Option<usize> {
    toml.lines().position(|l| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
}

#[derive(Deserialize)]
struct Front {
    advisory: Meta,
    #[serde(default)]
    versions: Versions,
}

#[derive(Deserialize)]
struct Meta {
    id: String,
    package: String,
    date: toml::Value,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    related: Vec<String>,
    #[serde(default)]
    cvss: Option<String>,
    #[serde(default)]
    informational: Option<String>,
    #[serde(default)]
    withdrawn: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
struct Versions {
    #[serde(default)]
    patched: Vec<String>,
    #[serde(default)]
    unaffected: Vec<String>,
}

/// A file cut into its parts.
struct Document<'a> {
    toml: &'a str,
    /// The file line the TOML's first line is on.
    toml_line: usize,
    title: &'a str,
    body: &'a str,
}

/// Finds the ```` ```toml ```` fence (after optional blank lines), its closing fence, and the
/// `# title` line of the Markdown below.
fn split<'a>(file: &str, content: &'a str) -> Result<Document<'a>, FeedError> {
    let mut offset = 0;
    let mut toml_start = None;
    let mut toml_range = None;
    for (line, raw) in (1usize..).zip(content.split_inclusive('\n')) {
        let text = raw.trim();
        match toml_start {
            None if text.is_empty() => {}
            None if text == "```toml" => toml_start = Some((offset + raw.len(), line + 1)),
            None => {
                return Err(FeedError::new(
                    file,
                    "expected the advisory to start with a ```toml front matter",
                )
                .at_line(line));
            }
            Some((start, _)) if text == "```" => {
                toml_range = Some((start, offset, offset + raw.len()));
                break;
            }
            Some(_) => {}
        }
        offset += raw.len();
    }
    let Some((_, toml_line)) = toml_start else {
        return Err(FeedError::new(file, "the file has no ```toml front matter").at_line(1));
    };
    let Some((start, end, rest_from)) = toml_range else {
        return Err(
            FeedError::new(file, "the ```toml front matter is not closed with ```")
                .at_line(toml_line - 1),
        );
    };
    let toml = content.get(start..end).unwrap_or("");
    let rest = content.get(rest_from..).unwrap_or("").trim_start();
    let (title, body) = match rest.strip_prefix("# ") {
        Some(after) => match after.split_once('\n') {
            Some((t, b)) => (t.trim(), b.trim()),
            None => (after.trim(), ""),
        },
        None => ("", rest.trim()),
    };
    Ok(Document {
        toml,
        toml_line,
        title,
        body,
    })
}
