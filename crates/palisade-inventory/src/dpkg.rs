//! Debian's dpkg status database (`/var/lib/dpkg/status`): RFC 822-like stanzas, one per binary
//! package. Debian advisories name *source* packages and their versions, so binaries are grouped
//! under their source (`Source:`, which carries its own version after a binNMU rebuild:
//! `Source: glibc (2.36-9)`), and the release (from `base-files`) qualifies every key.

use palisade_vulns::ecosystem::debian_codename;
use palisade_vulns::{Ecosystem, PackageKey};

use crate::{Collector, ParseError, error};

/// The fields of one stanza that matter here.
#[derive(Default)]
struct Stanza<'t> {
    line: u32,
    package: Option<&'t str>,
    status: Option<&'t str>,
    source: Option<&'t str>,
    version: Option<&'t str>,
}

/// Source packages in order of first appearance, with the binaries built from them.
struct Group {
    source: String,
    version: String,
    line: u32,
    binaries: Vec<String>,
}

pub(crate) fn parse(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let text = error::utf8(out.file, content)?;
    let mut groups: Vec<Group> = Vec::new();
    let mut index: std::collections::HashMap<(String, String), usize> = Default::default();
    let mut base_files_version: Option<String> = None;
    let mut missing_version: Vec<(String, u32)> = Vec::new();

    let mut stanza = Stanza::default();
    let mut in_stanza = false;
    let mut finish = |s: Stanza<'_>, out: &mut Collector<'_>| -> Result<(), ParseError> {
        let Some(package) = s.package else {
            return Err(out.error(Some(s.line), None, "stanza without a Package field"));
        };
        if !s.status.is_some_and(is_installed) {
            return Ok(());
        }
        if package == "base-files" {
            base_files_version = s.version.map(str::to_owned);
        }
        let (source, source_version) = match s.source {
            Some(src) => parse_source(src),
            None => (package, None),
        };
        let Some(version) = source_version.or(s.version) else {
            missing_version.push((package.to_owned(), s.line));
            return Ok(());
        };
        let k = (source.to_ascii_lowercase(), version.to_owned());
        match index.get(&k) {
            Some(&i) => {
                if let Some(g) = groups.get_mut(i)
                    && !g.binaries.iter().any(|b| b == package)
                {
                    g.binaries.push(package.to_owned());
                }
            }
            None => {
                index.insert(k, groups.len());
                groups.push(Group {
                    source: source.to_owned(),
                    version: version.to_owned(),
                    line: s.line,
                    binaries: vec![package.to_owned()],
                });
            }
        }
        Ok(())
    };

    for (idx, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            if in_stanza {
                finish(std::mem::take(&mut stanza), out)?;
                in_stanza = false;
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation of a multi-line field (Description, Conffiles).
            if !in_stanza {
                return Err(out.error(Some(line_no), None, "continuation line outside a stanza"));
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(out.error(Some(line_no), None, "expected a `Field: value` line"));
        };
        if !in_stanza {
            in_stanza = true;
            stanza.line = line_no;
        }
        let value = value.trim();
        // Field names are case-insensitive (deb822).
        let slot = if name.eq_ignore_ascii_case("Package") {
            &mut stanza.package
        } else if name.eq_ignore_ascii_case("Status") {
            &mut stanza.status
        } else if name.eq_ignore_ascii_case("Source") {
            &mut stanza.source
        } else if name.eq_ignore_ascii_case("Version") {
            &mut stanza.version
        } else {
            continue;
        };
        *slot = Some(value);
    }
    if in_stanza {
        finish(stanza, out)?;
    }

    let release = base_files_version
        .as_deref()
        .and_then(release_of_base_files);
    let qualifier = release.clone().unwrap_or_default();
    for g in groups {
        let key = PackageKey::new(Ecosystem::Debian, qualifier.clone(), &g.source);
        out.package_with_binaries(key, &g.version, false, Some(g.line), g.binaries)?;
    }
    for (package, line) in missing_version {
        out.unevaluable(
            Some(Ecosystem::Debian),
            &package,
            "",
            "no Version field: cannot evaluate",
            Some(line),
        )?;
    }
    out.set_debian_release(release);
    Ok(())
}

/// Only installed packages have code on the system; `deinstall ok config-files` (removed, its
/// configuration left behind) and the like do not. The trigger states come after configuration:
/// the package is installed and only awaits another package's trigger processing.
fn is_installed(status: &str) -> bool {
    matches!(
        status.split_whitespace().nth(2),
        Some("installed" | "triggers-pending" | "triggers-awaited")
    )
}

/// `name` or `name (version)`.
fn parse_source(src: &str) -> (&str, Option<&str>) {
    match src.split_once('(') {
        Some((name, rest)) => {
            let version = rest
                .split(')')
                .next()
                .map(str::trim)
                .filter(|v| !v.is_empty());
            (name.trim(), version)
        }
        None => (src.trim(), None),
    }
}

/// The release codename from `base-files`' version, whose major number is the Debian release
/// (`12.4+deb12u5` is bookworm). Ubuntu's `base-files` (`12ubuntu4.6`) numbers differently.
fn release_of_base_files(version: &str) -> Option<String> {
    if version.contains("ubuntu") {
        return None;
    }
    let major: String = version.chars().take_while(char::is_ascii_digit).collect();
    debian_codename(&major).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_with_and_without_versions() {
        assert_eq!(parse_source("glibc (2.36-9)"), ("glibc", Some("2.36-9")));
        assert_eq!(parse_source("openssl"), ("openssl", None));
        assert_eq!(parse_source("x ()"), ("x", None));
    }

    #[test]
    fn base_files_gives_the_release() {
        assert_eq!(
            release_of_base_files("12.4+deb12u5").as_deref(),
            Some("bookworm")
        );
        assert_eq!(
            release_of_base_files("11.1+deb11u9").as_deref(),
            Some("bullseye")
        );
        assert_eq!(release_of_base_files("13"), Some("trixie".to_owned()));
        assert_eq!(release_of_base_files("12ubuntu4.6"), None);
        assert_eq!(release_of_base_files("99"), None);
    }

    #[test]
    fn installed_states() {
        assert!(is_installed("install ok installed"));
        assert!(is_installed("hold ok installed"));
        assert!(!is_installed("deinstall ok config-files"));
        assert!(!is_installed("purge ok not-installed"));
        assert!(!is_installed("installed"));
    }
}
