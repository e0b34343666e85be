//! Yarn's `yarn.lock`: version 1 in Yarn's own indented text format, Berry (Yarn 2+) in YAML with
//! a `__metadata` entry. An entry lists the specifiers it satisfies (`"a@^1.0", "a@^1.1":`) and
//! the version they resolved to. Local code (workspaces, links, portals) is not a dependency.

use palisade_vulns::{Ecosystem, PackageKey};
use serde::Deserialize;

use crate::de::Entries;
use crate::lines::YamlKeyLocator;
use crate::npm::split_name_version;
use crate::{Collector, ParseError, error};

pub(crate) fn parse(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let text = error::utf8(out.file, content)?;
    if is_berry(text) {
        parse_berry(out, text)
    } else {
        parse_v1(out, text)
    }
}

fn is_berry(text: &str) -> bool {
    text.lines()
        .map(str::trim_end)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l == "__metadata:" || l == "\"__metadata\":")
}

/// Protocols of code that lives in the project itself.
fn is_local(range: &str) -> bool {
    ["workspace:", "link:", "portal:", "file:"]
        .iter()
        .any(|p| range.starts_with(p))
}

/// The package a specifier (`@babel/core@^7.0.0`, `x@npm:real@^1`) names, and its range.
fn spec_name(spec: &str) -> (&str, &str) {
    let spec = spec.trim().trim_matches('"');
    let Some((name, range)) = split_name_version(spec) else {
        return (spec, "");
    };
    // An alias installs the package after `npm:` under another name; advisories concern the
    // real one.
    if let Some(real) = range.strip_prefix("npm:")
        && let Some((real_name, real_range)) = split_name_version(real)
    {
        return (real_name, real_range);
    }
    (name, range)
}

struct V1Entry<'t> {
    header: &'t str,
    line: u32,
    version: Option<&'t str>,
}

fn parse_v1(out: &mut Collector<'_>, text: &str) -> Result<(), ParseError> {
    let mut current: Option<V1Entry<'_>> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent == 0 {
            if let Some(entry) = current.take() {
                finish_v1(out, entry)?;
            }
            let Some(header) = line.strip_suffix(':') else {
                return Err(out.error(
                    Some(line_no),
                    None,
                    "expected an entry header ending in `:`",
                ));
            };
            current = Some(V1Entry {
                header,
                line: line_no,
                version: None,
            });
        } else if let Some(entry) = current.as_mut() {
            // Only the entry's own fields (two spaces in); deeper lines list its dependencies,
            // one of which may be called `version`.
            if indent == 2
                && let Some(v) = trimmed
                    .strip_prefix("version ")
                    .or_else(|| trimmed.strip_prefix("version:"))
            {
                entry.version = Some(v.trim().trim_matches('"'));
            }
        } else {
            return Err(out.error(Some(line_no), None, "indented line outside an entry"));
        }
    }
    if let Some(entry) = current {
        finish_v1(out, entry)?;
    }
    Ok(())
}

fn finish_v1(out: &mut Collector<'_>, entry: V1Entry<'_>) -> Result<(), ParseError> {
    let first = entry.header.split(',').next().unwrap_or(entry.header);
    let (name, range) = spec_name(first);
    if is_local(range) {
        return Ok(());
    }
    add(out, name, entry.version, entry.header, Some(entry.line))
}

#[derive(Deserialize)]
struct BerryEntry {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    resolution: Option<String>,
}

fn parse_berry(out: &mut Collector<'_>, text: &str) -> Result<(), ParseError> {
    let entries: Entries<BerryEntry> = error::yaml(out.file, text)?;
    let mut lines = YamlKeyLocator::new(text);
    for (key, entry) in entries.0 {
        if key == "__metadata" {
            continue;
        }
        let line = lines.key(&key);
        // The resolution names the package actually installed (aliases resolve to the real
        // name); the key's first specifier is the fallback.
        let (name, range) = match entry.resolution.as_deref() {
            Some(r) => split_name_version(r).unwrap_or((r, "")),
            None => spec_name(key.split(',').next().unwrap_or(&key)),
        };
        if is_local(range) {
            continue;
        }
        add(out, name, entry.version.as_deref(), &key, line)?;
    }
    Ok(())
}

fn add(
    out: &mut Collector<'_>,
    name: &str,
    version: Option<&str>,
    requirement: &str,
    line: Option<u32>,
) -> Result<(), ParseError> {
    match version {
        Some(v) if !v.is_empty() => {
            out.package(PackageKey::new(Ecosystem::Npm, "", name), v, false, line)
        }
        _ => out.unevaluable(
            Some(Ecosystem::Npm),
            name,
            requirement,
            "no version: cannot evaluate",
            line,
        ),
    }
}
