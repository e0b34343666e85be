//! An environment's installed packages and the difference between two uploads of them. The
//! difference is what incremental matching re-evaluates and what the snapshot page shows: added,
//! removed, upgraded, downgraded, or changed when the two versions cannot be ordered (a branch).

use std::cmp::Ordering;

use palisade_vulns::PackageKey;
use serde::{Deserialize, Serialize};

/// One installed package version in an environment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    pub key: PackageKey,
    pub version: String,
    /// Only needed for development; kept and flagged, never dropped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
}

/// How one package differs between two snapshots.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Added,
    Removed,
    Upgraded,
    Downgraded,
    /// The version changed but the two cannot be ordered (a branch, an unparsable version).
    Changed,
    /// Same version; only its development flag changed.
    DevFlag,
}

/// One line of a snapshot's difference from the previous one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub key: PackageKey,
    pub kind: ChangeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
}

/// Installed versions per package, each with its development flag, in key then version order:
/// each key with the range of its versions in one shared list (a list per key was an allocation
/// per package per upload). The same version listed as both runtime and dev is a runtime
/// dependency.
struct Grouped<'a> {
    keys: Vec<(&'a PackageKey, std::ops::Range<usize>)>,
    versions: Vec<(&'a str, bool)>,
}

impl<'a> Grouped<'a> {
    fn of(list: &'a [Package]) -> Self {
        let mut sorted: Vec<&Package> = list.iter().collect();
        // Stable: lists arrive as a few sorted runs (the store orders ecosystems by name, the
        // enum does not), which a stable sort merges instead of sorting from scratch.
        sorted.sort_by(|a, b| (&a.key, &a.version).cmp(&(&b.key, &b.version)));
        let mut out = Grouped {
            keys: Vec::new(),
            versions: Vec::with_capacity(sorted.len()),
        };
        for p in sorted {
            match out.keys.last_mut() {
                Some((key, range)) if *key == &p.key => match out.versions.last_mut() {
                    Some((v, dev)) if *v == p.version => *dev &= p.dev,
                    _ => {
                        out.versions.push((&p.version, p.dev));
                        range.end += 1;
                    }
                },
                _ => {
                    let at = out.versions.len();
                    out.versions.push((&p.version, p.dev));
                    out.keys.push((&p.key, at..at + 1));
                }
            }
        }
        out
    }

    fn get(&self, i: usize) -> Option<(&'a PackageKey, &[(&'a str, bool)])> {
        let (key, range) = self.keys.get(i)?;
        Some((*key, &self.versions[range.clone()]))
    }
}

/// The difference from `old` to `new`, ordered by package key. A package installed at exactly
/// one version on each side is an upgrade, downgrade or change; a package that several versions
/// of are installed (npm allows it) differs by the versions added and removed.
///
/// Both sides are sorted once and walked together: looking every key up in ordered maps cost
/// tens of thousands of string comparisons per upload, a fifth of the CPU of inventory intake.
pub fn diff(old: &[Package], new: &[Package]) -> Vec<Change> {
    let (old, new) = (Grouped::of(old), Grouped::of(new));
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    loop {
        let (key, before, after) = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a.0 == b.0 => {
                i += 1;
                j += 1;
                (a.0, a.1, b.1)
            }
            (Some(a), Some(b)) if a.0 < b.0 => {
                i += 1;
                (a.0, a.1, &[][..])
            }
            (Some(a), None) => {
                i += 1;
                (a.0, a.1, &[][..])
            }
            (_, Some(b)) => {
                j += 1;
                (b.0, &[][..], b.1)
            }
            (None, None) => break,
        };
        if before != after {
            changes_of(key, before, after, &mut out);
        }
    }
    out
}

/// One package's changes; `before` and `after` are its versions in order (a few at most).
fn changes_of(
    key: &PackageKey,
    before: &[(&str, bool)],
    after: &[(&str, bool)],
    out: &mut Vec<Change>,
) {
    let dev_of = |list: &[(&str, bool)], v: &str| list.iter().find(|(x, _)| *x == v).map(|e| e.1);
    let removed: Vec<(&str, bool)> = before
        .iter()
        .filter(|(v, _)| dev_of(after, v).is_none())
        .copied()
        .collect();
    let added: Vec<(&str, bool)> = after
        .iter()
        .filter(|(v, _)| dev_of(before, v).is_none())
        .copied()
        .collect();
    for (v, dev) in after {
        if dev_of(before, v).is_some_and(|was| was != *dev) {
            out.push(Change {
                key: key.clone(),
                kind: ChangeKind::DevFlag,
                from: Some((*v).to_owned()),
                to: Some((*v).to_owned()),
                dev: *dev,
            });
        }
    }
    if let ([(from, _)], [(to, dev)]) = (removed.as_slice(), added.as_slice()) {
        let scheme = key.ecosystem.scheme();
        let kind = match (scheme.parse(from), scheme.parse(to)) {
            (Ok(a), Ok(b)) => match a.cmp(&b) {
                Ordering::Less => ChangeKind::Upgraded,
                Ordering::Greater => ChangeKind::Downgraded,
                // Equal under the scheme but spelt differently (`v1.0` and `1.0.0`).
                Ordering::Equal => ChangeKind::Changed,
            },
            _ => ChangeKind::Changed,
        };
        out.push(Change {
            key: key.clone(),
            kind,
            from: Some((*from).to_owned()),
            to: Some((*to).to_owned()),
            dev: *dev,
        });
        return;
    }
    for (v, dev) in removed {
        out.push(Change {
            key: key.clone(),
            kind: ChangeKind::Removed,
            from: Some(v.to_owned()),
            to: None,
            dev,
        });
    }
    for (v, dev) in added {
        out.push(Change {
            key: key.clone(),
            kind: ChangeKind::Added,
            from: None,
            to: Some(v.to_owned()),
            dev,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_vulns::Ecosystem;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            key: PackageKey::new(Ecosystem::Packagist, "", name),
            version: version.to_owned(),
            dev: false,
        }
    }

    #[test]
    fn upgrades_downgrades_additions_and_removals_are_told_apart() {
        let old = vec![
            pkg("symfony/http-kernel", "v5.4.1"),
            pkg("guzzlehttp/guzzle", "7.4.0"),
            pkg("monolog/monolog", "2.3.0"),
            pkg("twig/twig", "dev-main"),
        ];
        let new = vec![
            pkg("symfony/http-kernel", "v5.4.20"),
            pkg("guzzlehttp/guzzle", "7.3.0"),
            pkg("psr/log", "1.1.4"),
            pkg("twig/twig", "3.4.0"),
        ];
        let d = diff(&old, &new);
        let kinds: Vec<(&str, ChangeKind)> =
            d.iter().map(|c| (c.key.name.as_str(), c.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("guzzlehttp/guzzle", ChangeKind::Downgraded),
                ("monolog/monolog", ChangeKind::Removed),
                ("psr/log", ChangeKind::Added),
                ("symfony/http-kernel", ChangeKind::Upgraded),
                ("twig/twig", ChangeKind::Changed),
            ]
        );
        assert_eq!(d[3].from.as_deref(), Some("v5.4.1"));
        assert_eq!(d[3].to.as_deref(), Some("v5.4.20"));
    }

    #[test]
    fn several_installed_versions_differ_by_the_versions_added_and_removed() {
        let old = vec![pkg("a", "1.0.0"), pkg("a", "2.0.0")];
        let new = vec![pkg("a", "2.0.0"), pkg("a", "3.0.0"), pkg("a", "4.0.0")];
        let d = diff(&old, &new);
        assert_eq!(
            d.iter()
                .map(|c| (c.kind, c.from.as_deref(), c.to.as_deref()))
                .collect::<Vec<_>>(),
            vec![
                (ChangeKind::Removed, Some("1.0.0"), None),
                (ChangeKind::Added, None, Some("3.0.0")),
                (ChangeKind::Added, None, Some("4.0.0")),
            ]
        );
    }

    #[test]
    fn a_package_moving_between_dev_and_runtime_is_a_change() {
        let old = vec![pkg("phpunit/phpunit", "9.5.0")];
        let mut moved = old.clone();
        moved[0].dev = true;
        let d = diff(&old, &moved);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, ChangeKind::DevFlag);
        assert!(d[0].dev);
    }

    /// The grouping and key walk of the first implementation (ordered maps), kept as the
    /// reference the merge must agree with; what a package's versions mean is `changes_of` in both.
    fn diff_reference(old: &[Package], new: &[Package]) -> Vec<Change> {
        fn by_key(list: &[Package]) -> BTreeMap<&PackageKey, BTreeMap<&str, bool>> {
            let mut m: BTreeMap<&PackageKey, BTreeMap<&str, bool>> = BTreeMap::new();
            for p in list {
                let dev = m
                    .entry(&p.key)
                    .or_default()
                    .entry(&p.version)
                    .or_insert(true);
                *dev &= p.dev;
            }
            m
        }
        let (old, new) = (by_key(old), by_key(new));
        let keys: BTreeSet<&PackageKey> = old.keys().chain(new.keys()).copied().collect();
        let mut out = Vec::new();
        for key in keys {
            changes_of(key, &versions(&old, key), &versions(&new, key), &mut out);
        }
        out
    }

    fn versions<'a>(
        m: &BTreeMap<&PackageKey, BTreeMap<&'a str, bool>>,
        key: &PackageKey,
    ) -> Vec<(&'a str, bool)> {
        m.get(key)
            .map(|v| v.iter().map(|(v, d)| (*v, *d)).collect())
            .unwrap_or_default()
    }

    fn arb_list() -> impl Strategy<Value = Vec<Package>> {
        prop::collection::vec(
            ("[a-e]", 0u8..4, 0u8..4, any::<bool>()).prop_map(|(n, a, b, dev)| Package {
                key: PackageKey::new(Ecosystem::Npm, "", &n),
                version: format!("{a}.{b}.0"),
                dev,
            }),
            0..12,
        )
    }

    proptest! {
        /// Applying the difference to the old set gives the new set: nothing is lost or invented.
        #[test]
        fn the_difference_turns_old_into_new(old in arb_list(), new in arb_list()) {
            let as_set = |l: &[Package]| -> BTreeSet<(PackageKey, String)> {
                l.iter().map(|p| (p.key.clone(), p.version.clone())).collect()
            };
            let mut have = as_set(&old);
            for c in diff(&old, &new) {
                if let Some(f) = &c.from { have.remove(&(c.key.clone(), f.clone())); }
                if let Some(t) = &c.to { have.insert((c.key.clone(), t.clone())); }
            }
            prop_assert_eq!(have, as_set(&new));
            prop_assert!(diff(&new, &new).is_empty());
        }

        /// The same changes, in the same order, as the reference implementation.
        #[test]
        fn the_merge_agrees_with_the_reference(old in arb_list(), new in arb_list()) {
            prop_assert_eq!(diff(&old, &new), diff_reference(&old, &new));
        }
    }
}
