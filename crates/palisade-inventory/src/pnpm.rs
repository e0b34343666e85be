//! pnpm's `pnpm-lock.yaml`. The `packages` keys changed shape across lockfile versions:
//! 5.x `/name/1.2.3_peer@1.0.0`, 6.x `/name@1.2.3(peer@1.0.0)`, 9.x `name@1.2.3` with the peer
//! variants moved to `snapshots`. Versions 5 and 6 mark dev-only packages with `dev: true`;
//! version 9 dropped that, so dev-only is derived from the importers' `devDependencies` through
//! the snapshot graph: dev if reachable from a dev dependency and not from a production one.

use std::collections::{HashMap, HashSet};
use std::fmt;

use palisade_vulns::{Ecosystem, PackageKey};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::de::Entries;
use crate::lines::YamlKeyLocator;
use crate::npm::split_name_version;
use crate::{Collector, ParseError, error};

#[derive(Deserialize)]
struct Lock {
    #[serde(rename = "lockfileVersion", default)]
    lockfile_version: Option<String>,
    #[serde(default)]
    importers: Option<Entries<Importer>>,
    #[serde(default)]
    packages: Option<Entries<Package>>,
    #[serde(default)]
    snapshots: Option<Entries<Snapshot>>,
}

#[derive(Deserialize)]
struct Package {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dev: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Importer {
    #[serde(default)]
    dependencies: Option<Entries<ImporterDep>>,
    #[serde(default)]
    dev_dependencies: Option<Entries<ImporterDep>>,
    #[serde(default)]
    optional_dependencies: Option<Entries<ImporterDep>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Snapshot {
    #[serde(default)]
    dependencies: Option<Entries<String>>,
    #[serde(default)]
    optional_dependencies: Option<Entries<String>>,
}

/// An importer's dependency: `{specifier, version}` since lockfile 6, a bare version before.
/// Only the version is kept.
struct ImporterDep(Option<String>);

impl<'de> Deserialize<'de> for ImporterDep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ImporterDep;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a version or a mapping with `version`")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ImporterDep, A::Error> {
                let mut version = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "version" {
                        version = Some(map.next_value::<String>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ImporterDep(version))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ImporterDep, E> {
                Ok(ImporterDep(Some(v.to_owned())))
            }

            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<ImporterDep, E> {
                Ok(ImporterDep(None))
            }

            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<ImporterDep, E> {
                Ok(ImporterDep(None))
            }

            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<ImporterDep, E> {
                Ok(ImporterDep(None))
            }

            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<ImporterDep, E> {
                Ok(ImporterDep(None))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<ImporterDep, E> {
                Ok(ImporterDep(None))
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn parse(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let text = error::utf8(out.file, content)?;
    let lock: Lock = error::yaml(out.file, text)?;
    let major: u32 = lock
        .lockfile_version
        .as_deref()
        .and_then(|v| v.trim().split('.').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let dev_only = if major >= 9 {
        dev_only_v9(&lock)
    } else {
        HashSet::new()
    };
    let mut lines = YamlKeyLocator::new(text);
    lines.skip_to_section("packages");
    for (key, p) in lock.packages.iter().flat_map(|p| p.0.iter()) {
        let line = lines.key(key);
        if is_local(key.strip_prefix('/').unwrap_or(key)) {
            continue;
        }
        let parsed = parse_key(key);
        let name = p
            .name
            .as_deref()
            .or(parsed.map(|(n, _)| n))
            .unwrap_or(key.as_str());
        // The key's version is the registry version; for tarballs and git it is a URL, and the
        // entry carries the package's own version.
        let version = match (parsed.map(|(_, v)| v), p.version.as_deref()) {
            (_, Some(v)) if p.name.is_some() => Some(v),
            (Some(v), _) if is_local(v) => continue,
            (Some(v), Some(own)) if !looks_like_version(v) => Some(own),
            (Some(v), _) if looks_like_version(v) => Some(v),
            (_, own) => own,
        };
        let dev = if major >= 9 {
            dev_only.contains(key.as_str())
        } else {
            p.dev.unwrap_or(false)
        };
        match version {
            Some(v) if !v.is_empty() => {
                out.package(PackageKey::new(Ecosystem::Npm, "", name), v, dev, line)?;
            }
            _ => out.unevaluable(
                Some(Ecosystem::Npm),
                name,
                key,
                "no version: cannot evaluate",
                line,
            )?,
        }
    }
    Ok(())
}

fn is_local(v: &str) -> bool {
    ["file:", "link:", "workspace:"]
        .iter()
        .any(|p| v.starts_with(p))
}

fn looks_like_version(v: &str) -> bool {
    v.chars().next().is_some_and(|c| c.is_ascii_digit()) && !v.contains(':') && !v.contains('/')
}

/// Drops the peer-dependency suffix of lockfile 6+ keys: `a@1.0.0(b@2.0.0)` → `a@1.0.0`.
fn strip_peers(key: &str) -> &str {
    key.split('(').next().unwrap_or(key)
}

/// The name and version in a `packages` key of any lockfile version.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    let k = strip_peers(key.strip_prefix('/').unwrap_or(key));
    // After a scope (`@s/`), a `/` before any `@` means the 5.x `name/version` layout.
    let after_scope = if k.starts_with('@') {
        k.find('/').map_or(k.len(), |i| i + 1)
    } else {
        0
    };
    let rest = k.get(after_scope..)?;
    let slash = rest.find('/');
    let at = rest.find('@');
    match (slash, at) {
        (Some(s), a) if a.is_none_or(|a| s < a) => {
            let name = k.get(..after_scope + s)?;
            let version = rest.get(s + 1..)?;
            // 5.x peers: `1.2.3_react@16.0.0`; a further `/` would be a non-registry path.
            let version = version.split('_').next().unwrap_or(version);
            (!version.contains('/')).then_some((name, version))
        }
        _ => split_name_version(k),
    }
}

/// Lockfile 9: the `packages` keys reachable only through dev dependencies.
fn dev_only_v9(lock: &Lock) -> HashSet<&str> {
    let Some(importers) = &lock.importers else {
        return HashSet::new();
    };
    let mut graph: HashMap<&str, Vec<String>> = HashMap::new();
    for (key, snap) in lock.snapshots.iter().flat_map(|s| s.0.iter()) {
        let children = snap
            .dependencies
            .iter()
            .chain(snap.optional_dependencies.iter())
            .flat_map(|d| d.0.iter())
            .filter_map(|(name, reference)| child_key(name, reference))
            .collect();
        graph.insert(key.as_str(), children);
    }
    let mut prod_roots = Vec::new();
    let mut dev_roots = Vec::new();
    for (_, importer) in &importers.0 {
        let refs = |deps: &Option<Entries<ImporterDep>>| -> Vec<String> {
            deps.iter()
                .flat_map(|d| d.0.iter())
                .filter_map(|(name, dep)| child_key(name, dep.0.as_deref()?))
                .collect()
        };
        prod_roots.extend(refs(&importer.dependencies));
        prod_roots.extend(refs(&importer.optional_dependencies));
        dev_roots.extend(refs(&importer.dev_dependencies));
    }
    let prod = reachable(&graph, prod_roots);
    let dev = reachable(&graph, dev_roots);
    let prod_packages: HashSet<&str> = prod.iter().map(|k| strip_peers(k)).collect();
    let dev_packages: HashSet<&str> = dev.iter().map(|k| strip_peers(k)).collect();
    lock.packages
        .iter()
        .flat_map(|p| p.0.iter())
        .map(|(key, _)| key.as_str())
        .filter(|k| dev_packages.contains(k) && !prod_packages.contains(k))
        .collect()
}

/// The snapshot key a dependency reference points at: `1.0.0(peer@2)` under `name`, or an alias
/// `real-name@1.0.0`. Links to local folders point at no snapshot.
fn child_key(name: &str, reference: &str) -> Option<String> {
    if is_local(reference) {
        return None;
    }
    let base = strip_peers(reference);
    if base.get(1..).is_some_and(|b| b.contains('@')) {
        Some(reference.to_owned())
    } else {
        Some(format!("{name}@{reference}"))
    }
}

fn reachable(graph: &HashMap<&str, Vec<String>>, roots: Vec<String>) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut stack = roots;
    while let Some(k) = stack.pop() {
        if seen.contains(&k) {
            continue;
        }
        if let Some(children) = graph.get(k.as_str()) {
            stack.extend(children.iter().filter(|c| !seen.contains(*c)).cloned());
        }
        seen.insert(k);
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_lockfile_version() {
        assert_eq!(parse_key("/lodash/4.17.21"), Some(("lodash", "4.17.21")));
        assert_eq!(
            parse_key("/@babel/core/7.0.0_react@16.0.0"),
            Some(("@babel/core", "7.0.0"))
        );
        assert_eq!(
            parse_key("/@babel/core@7.0.0(react@16.0.0)"),
            Some(("@babel/core", "7.0.0"))
        );
        assert_eq!(parse_key("/a@1.0.0(b@2.0.0)"), Some(("a", "1.0.0")));
        assert_eq!(parse_key("@s/x@1.2.3"), Some(("@s/x", "1.2.3")));
        assert_eq!(parse_key("x@1.2.3"), Some(("x", "1.2.3")));
        assert_eq!(parse_key("github.com/a/b/123abc"), None);
    }

    #[test]
    fn references_become_snapshot_keys() {
        assert_eq!(
            child_key("a", "1.0.0(b@2)").as_deref(),
            Some("a@1.0.0(b@2)")
        );
        assert_eq!(
            child_key("alias", "real@1.0.0").as_deref(),
            Some("real@1.0.0")
        );
        assert_eq!(child_key("a", "link:../a"), None);
    }
}
