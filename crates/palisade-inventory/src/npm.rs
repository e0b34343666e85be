//! npm's `package-lock.json` (and `npm-shrinkwrap.json`): version 1 nests a `dependencies` tree;
//! versions 2 and 3 have a flat `packages` map keyed by install path (`node_modules/a/node_modules/@s/b`),
//! which version 2 writes next to the old tree. The map is the truth when present.

use std::fmt;

use palisade_vulns::{Ecosystem, PackageKey};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::de::Entries;
use crate::lines::{JsonLocator, Then};
use crate::{Collector, ParseError, error};

/// The top level, decoded by hand so that a v2 file's legacy `dependencies` tree, which repeats
/// the `packages` map, is skipped rather than built (npm writes `packages` first).
struct Lock {
    packages: Option<Entries<Entry>>,
    dependencies: Option<Entries<DepV1>>,
}

impl<'de> Deserialize<'de> for Lock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Lock;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a package-lock.json object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lock, A::Error> {
                let mut lock = Lock {
                    packages: None,
                    dependencies: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "packages" => lock.packages = map.next_value()?,
                        "dependencies" if lock.packages.is_none() => {
                            lock.dependencies = map.next_value()?;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(lock)
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    link: bool,
}

#[derive(Deserialize)]
struct DepV1 {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    dependencies: Option<Entries<DepV1>>,
}

pub(crate) fn parse(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let lock: Lock = error::json(out.file, content)?;
    let mut lines = JsonLocator::new(content);
    if let Some(packages) = lock.packages {
        parse_packages(out, &mut lines, packages)
    } else if let Some(deps) = lock.dependencies {
        parse_v1(out, &mut lines, deps)
    } else {
        Ok(())
    }
}

fn parse_packages(
    out: &mut Collector<'_>,
    lines: &mut JsonLocator<'_>,
    packages: Entries<Entry>,
) -> Result<(), ParseError> {
    for (path, entry) in packages.0 {
        let line = lines.member(&path, Then::Object);
        // Keys without `node_modules/` are the root ("") and workspace folders: the project's own
        // code, not a dependency. Links point at such folders.
        let Some((_, installed_as)) = path.rsplit_once("node_modules/") else {
            continue;
        };
        if entry.link {
            continue;
        }
        // `name` is written when it differs from the folder: an alias (`"x": "npm:y@1"`).
        let name = entry.name.as_deref().unwrap_or(installed_as);
        // A dev package (`dev: true`) is one needed only for development. `devOptional` marks a
        // package that is also an optional dependency of a production package, so it may well be
        // deployed: not dev.
        add(out, name, entry.version.as_deref(), entry.dev, line)?;
    }
    Ok(())
}

fn parse_v1(
    out: &mut Collector<'_>,
    lines: &mut JsonLocator<'_>,
    deps: Entries<DepV1>,
) -> Result<(), ParseError> {
    // Depth first in file order, with an explicit stack. The decoder's recursion limit already
    // bounds the depth; the stack keeps this walk from adding to the call stack.
    let mut stack: Vec<(String, DepV1)> = deps.0.into_iter().rev().collect();
    while let Some((name, dep)) = stack.pop() {
        let line = lines.member(&name, Then::Object);
        let version = dep.version.as_deref();
        match version.and_then(|v| v.strip_prefix("npm:")) {
            // An alias: `"version": "npm:real-name@1.2.3"`.
            Some(alias) => match split_name_version(alias) {
                Some((real, v)) => add(out, real, Some(v), dep.dev, line)?,
                None => add(out, &name, version, dep.dev, line)?,
            },
            None if version.is_some_and(|v| v.starts_with("file:")) => {}
            None => add(out, &name, version, dep.dev, line)?,
        }
        if let Some(children) = dep.dependencies {
            stack.extend(children.0.into_iter().rev());
        }
    }
    Ok(())
}

/// `name@version`, where the name may start with a scope's `@`.
pub(crate) fn split_name_version(s: &str) -> Option<(&str, &str)> {
    let at = s.get(1..)?.find('@')? + 1;
    let (name, version) = (s.get(..at)?, s.get(at + 1..)?);
    (!name.is_empty()).then_some((name, version))
}

fn add(
    out: &mut Collector<'_>,
    name: &str,
    version: Option<&str>,
    dev: bool,
    line: Option<u32>,
) -> Result<(), ParseError> {
    match version {
        Some(v) if !v.trim().is_empty() => {
            out.package(PackageKey::new(Ecosystem::Npm, "", name), v, dev, line)
        }
        _ => out.unevaluable(
            Some(Ecosystem::Npm),
            name,
            "",
            "no version: cannot evaluate",
            line,
        ),
    }
}
