//! FriendsOfPHP `security-advisories`: one YAML file per advisory at
//! `vendor/package/<CVE or date>.yaml`, with `branches`, each holding a list of Composer
//! constraints that must all hold (`['>=2.0.0', '<2.0.17']`); the branches are alternatives.
//!
//! Bounds are kept as written and compared in the Composer scheme, where `1.0` and `1.0.0` are
//! the same version (notes, section 2, trap 9): `<1.0` does not cover `1.0.0`. The database has
//! typos in bounds; such a bound marks the entry's `problem` ("cannot evaluate") rather than
//! failing the record or being guessed at.

use std::collections::BTreeMap;
use std::fmt;

use palisade_versions::{Scheme, Version};
use palisade_vulns::interval::{Bound, Interval, normalize};
use palisade_vulns::{Advisory, Affected, Ecosystem, PackageKey, Source};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use crate::MAX_RECORD_BYTES;
use crate::error::{FeedError, check_size, strip_bom};
use crate::util::push_unique;
use palisade_vulns::interval::{End, Span};
use palisade_vulns::located::line_of_offset;

/// Parses one advisory. `file` is the path relative to the database root
/// (`symfony/http-kernel/CVE-2019-18887.yaml`); it names the record
/// (`FRIENDSOFPHP-symfony/http-kernel/CVE-2019-18887`), since the files carry no id.
pub fn parse(file: &str, content: &str) -> Result<Advisory, FeedError> {
    check_size(
        file,
        content.len(),
        MAX_RECORD_BYTES,
        "a FriendsOfPHP advisory",
    )?;
    let content = strip_bom(content);
    let de = serde_norway::Deserializer::from_str(content);
    let rec: Record =
        serde_path_to_error::deserialize(de).map_err(|e| crate::error::yaml(file, e))?;
    let at_key = |key: &str, message: String| {
        let mut e = FeedError::new(file, message).with_field(key);
        if let Some(line) = content
            .find(&format!("\n{key}:"))
            .and_then(|at| line_of_offset(content, at + 1))
        {
            e = e.at_line(line);
        } else if content.starts_with(&format!("{key}:")) {
            e = e.at_line(1);
        }
        e
    };

    let reference = rec.reference.as_deref().map(str::trim).unwrap_or("");
    let Some(name) = reference.strip_prefix("composer://").map(str::trim) else {
        return Err(at_key(
            "reference",
            format!("{reference:?} is not a composer://vendor/package reference"),
        ));
    };
    if name.is_empty() {
        return Err(at_key("reference", "the package name is empty".into()));
    }

    let mut a = Advisory::new(Source::Friendsofphp, record_id(file));
    a.summary = rec.title.as_deref().unwrap_or("").trim().to_owned();
    if let Some(cve) = rec
        .cve
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty() && *c != "~")
    {
        push_unique(&mut a.aliases, cve);
    }
    if let Some(link) = rec.link.as_deref() {
        for ghsa in ghsa_ids(link) {
            push_unique(&mut a.aliases, &ghsa);
        }
        push_unique(&mut a.references, link);
    }
    // `composer-repository: false` marks packages not on Packagist (installed from elsewhere,
    // still named the same in composer.lock); a URL names another repository, which becomes the
    // key's qualifier as OSV's `Packagist:<repository>` does.
    let qualifier = match &rec.composer_repository {
        Some(serde_norway::Value::String(url)) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => String::new(),
    };
    let mut affected = Affected::new(PackageKey::new(Ecosystem::Packagist, qualifier, name));
    branches(&rec.branches, &mut affected);
    a.affected.push(affected);
    Ok(a)
}

/// `FRIENDSOFPHP-` and the path without its extension, with `/` separators.
fn record_id(file: &str) -> String {
    let path = file.replace('\\', "/");
    let path = path.trim_start_matches("./").trim_start_matches('/');
    let stem = path
        .strip_suffix(".yaml")
        .or_else(|| path.strip_suffix(".yml"))
        .unwrap_or(path);
    format!("FRIENDSOFPHP-{stem}")
}

/// GHSA ids (`GHSA-xxxx-xxxx-xxxx`) in a link, as aliases.
fn ghsa_ids(link: &str) -> Vec<String> {
    let lower = link.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = lower.get(from..).and_then(|s| s.find("ghsa-")) {
        let start = from + pos;
        let candidate = lower.get(start + 5..start + 19).unwrap_or("");
        let ok = candidate.len() == 14
            && candidate.split('-').count() == 3
            && candidate
                .split('-')
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_alphanumeric()));
        if ok {
            out.push(format!("GHSA-{candidate}"));
        }
        from = start + 5;
    }
    out
}

/// Turns branches into intervals, `fixed` (the exclusive upper ends: the first safe release of
/// each branch) and `problem`.
fn branches(list: &BTreeMap<String, Branch>, out: &mut Affected) {
    let mut spans: Vec<Span<Version>> = Vec::new();
    let mut problems = Vec::new();
    for (name, branch) in list {
        match branch_span(&branch.versions.0) {
            Ok(Some(span)) => {
                if let Some(upper) = span.upper.as_ref().filter(|u| !u.inclusive) {
                    push_unique(&mut out.fixed, upper.version.as_str());
                }
                spans.push(span);
            }
            Ok(None) => {}
            Err(e) => problems.push(format!("branches.{name}: {e}")),
        }
    }
    let intervals: Vec<Interval> = spans
        .iter()
        .map(|s| {
            let b = |e: &End<Version>| Bound {
                version: e.version.as_str().to_owned(),
                inclusive: e.inclusive,
            };
            Interval::new(s.lower.as_ref().map(b), s.upper.as_ref().map(b))
        })
        .collect();
    match normalize(Scheme::Composer, &intervals) {
        Ok(list) => out.intervals = list,
        Err(e) => problems.push(e),
    }
    if !problems.is_empty() {
        out.problem = Some(problems.join("; "));
    }
}

/// All of a branch's constraints at once; `Ok(None)` when they exclude each other.
fn branch_span(constraints: &[String]) -> Result<Option<Span<Version>>, String> {
    let mut acc = Span::ALL;
    let mut any = false;
    for item in constraints {
        for c in constraint_tokens(item)? {
            acc = acc.intersect(&constraint_span(&c)?);
            any = true;
        }
    }
    if !any {
        return Err("no version constraints".into());
    }
    Ok(if acc.is_empty() { None } else { Some(acc) })
}

/// Splits `">=2.0, <2.0.17"` or `">= 2.0 <2.0.17"` into single constraints. Composer's `||`
/// (alternatives inside one constraint) does not occur in the database and is refused.
fn constraint_tokens(item: &str) -> Result<Vec<String>, String> {
    if item.contains('|') {
        return Err(format!(
            "{item:?}: alternatives (||) inside a constraint are not supported"
        ));
    }
    let mut out: Vec<String> = Vec::new();
    let mut pending_op: Option<String> = None;
    for word in item.split([',', ' ', '\t']).filter(|w| !w.is_empty()) {
        let is_op = word.bytes().all(|b| matches!(b, b'<' | b'>' | b'=' | b'!'));
        match pending_op.take() {
            Some(op) => out.push(format!("{op}{word}")),
            None if is_op => pending_op = Some(word.to_owned()),
            None => out.push(word.to_owned()),
        }
    }
    if let Some(op) = pending_op {
        return Err(format!("{item:?}: operator {op:?} has no version"));
    }
    Ok(out)
}

/// One constraint as an interval in the Composer scheme.
fn constraint_span(c: &str) -> Result<Span<Version>, String> {
    let (op, version) = match c.find(|ch: char| !matches!(ch, '<' | '>' | '=' | '!')) {
        Some(i) => c.split_at(i),
        None => return Err(format!("{c:?} has no version")),
    };
    let parse = || {
        Scheme::Composer
            .parse(version)
            .map_err(|e| format!("bound {version:?} does not parse: {e}"))
    };
    Ok(match op {
        ">=" => Span::new(Some(End::inclusive(parse()?)), None),
        ">" => Span::new(Some(End::exclusive(parse()?)), None),
        "<=" => Span::new(None, Some(End::inclusive(parse()?))),
        "<" => Span::new(None, Some(End::exclusive(parse()?))),
        "" | "=" | "==" => {
            let v = parse()?;
            Span::new(Some(End::inclusive(v.clone())), Some(End::inclusive(v)))
        }
        other => return Err(format!("{c:?}: operator {other:?} is not supported")),
    })
}

#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    cve: Option<String>,
    #[serde(default)]
    branches: BTreeMap<String, Branch>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default, rename = "composer-repository")]
    composer_repository: Option<serde_norway::Value>,
}

#[derive(Deserialize)]
struct Branch {
    versions: Constraints,
}

/// A branch's `versions`: a list of constraints or one string of them.
struct Constraints(Vec<String>);

impl<'de> Deserialize<'de> for Constraints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Constraints;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of version constraints or one constraint string")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Constraints, E> {
                Ok(Constraints(vec![s.to_owned()]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Constraints, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(Constraints(out))
            }
        }
        d.deserialize_any(V)
    }
}
