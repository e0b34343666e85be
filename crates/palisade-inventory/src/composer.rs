//! Composer: `composer.lock` (what the project intends) and `vendor/composer/installed.json`
//! (what is deployed). Dev packages are kept and flagged: Trivy drops `packages-dev` by default
//! and so misses PHPUnit's CVE-2017-9841 on hosts that deploy them.

use std::collections::HashSet;
use std::fmt;

use palisade_vulns::{Ecosystem, PackageKey};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use crate::lines::{JsonLocator, Then};
use crate::{Collector, ParseError, error};

#[derive(Deserialize)]
struct Lock {
    packages: Vec<Package>,
    #[serde(rename = "packages-dev", default)]
    packages_dev: Option<Vec<Package>>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(rename = "notification-url", default)]
    notification_url: Option<String>,
}

pub(crate) fn parse_lock(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let lock: Lock = error::json(out.file, content)?;
    let mut lines = JsonLocator::new(content);
    for p in &lock.packages {
        add(out, &mut lines, p, false)?;
    }
    for p in lock.packages_dev.iter().flatten() {
        add(out, &mut lines, p, true)?;
    }
    Ok(())
}

/// `installed.json`: a list (Composer 1) or `{"packages": [...], "dev-package-names": [...]}`
/// (Composer 2).
struct Installed {
    packages: Vec<Package>,
    dev_names: Vec<String>,
}

impl<'de> Deserialize<'de> for Installed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Installed;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of packages or an object with `packages`")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Installed, A::Error> {
                let mut packages = Vec::new();
                while let Some(p) = seq.next_element()? {
                    packages.push(p);
                }
                Ok(Installed {
                    packages,
                    dev_names: Vec::new(),
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Installed, A::Error> {
                let mut packages = None;
                let mut dev_names = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "packages" => packages = Some(map.next_value()?),
                        "dev-package-names" => dev_names = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                let packages =
                    packages.ok_or_else(|| serde::de::Error::missing_field("packages"))?;
                Ok(Installed {
                    packages,
                    dev_names,
                })
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn parse_installed(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let installed: Installed = error::json(out.file, content)?;
    let dev: HashSet<String> = installed
        .dev_names
        .iter()
        .map(|n| Ecosystem::Packagist.normalize_name(n))
        .collect();
    let mut lines = JsonLocator::new(content);
    for p in &installed.packages {
        let is_dev = dev.contains(&Ecosystem::Packagist.normalize_name(&p.name));
        add(out, &mut lines, p, is_dev)?;
    }
    Ok(())
}

fn add(
    out: &mut Collector<'_>,
    lines: &mut JsonLocator<'_>,
    p: &Package,
    dev: bool,
) -> Result<(), ParseError> {
    let line = lines.member("name", Then::Str(&p.name));
    match &p.version {
        Some(v) if !v.trim().is_empty() => {
            let key = PackageKey::new(Ecosystem::Packagist, qualifier(p), &p.name);
            out.package(key, v, dev, line)
        }
        _ => out.unevaluable(
            Some(Ecosystem::Packagist),
            &p.name,
            "",
            "no version: cannot evaluate",
            line,
        ),
    }
}

/// The repository a package came from, when it is not Packagist. Composer records it only as the
/// download-notification URL; for Drupal's repository that is
/// `https://packages.drupal.org/8/downloads`, and OSV names the ecosystem
/// `Packagist:https://packages.drupal.org/8`, so the trailing `/downloads` goes.
fn qualifier(p: &Package) -> String {
    let Some(url) = p.notification_url.as_deref() else {
        return String::new();
    };
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if host.is_empty() || host == "packagist.org" || host == "repo.packagist.org" {
        return String::new();
    }
    let url = url.trim_end_matches('/');
    url.strip_suffix("/downloads").unwrap_or(url).to_owned()
}
