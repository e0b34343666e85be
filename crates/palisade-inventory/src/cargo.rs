//! Cargo's `Cargo.lock`, versions 1 to 4: `[[package]]` tables with name, version and source.
//! RustSec advisories apply to crates.io only, so a crate from git, a path or another registry
//! gets a qualifier and never matches a crates.io advisory of the same name.

use palisade_vulns::{Ecosystem, PackageKey};
use serde::Deserialize;
use toml::Spanned;

use crate::lines::OffsetLines;
use crate::{Collector, ParseError, error};

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

pub(crate) fn parse(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let text = error::utf8(out.file, content)?;
    let lock: Lock = error::toml(out.file, text)?;
    let mut lines = OffsetLines::new(text);
    for p in &lock.package {
        let line = lines.line(p.name.span().start);
        let name = p.name.get_ref();
        match &p.version {
            Some(v) if !v.is_empty() => {
                let key =
                    PackageKey::new(Ecosystem::CratesIo, qualifier(p.source.as_deref()), name);
                out.package(key, v, false, line)?;
            }
            _ => out.unevaluable(
                Some(Ecosystem::CratesIo),
                name,
                "",
                "no version: cannot evaluate",
                line,
            )?,
        }
    }
    Ok(())
}

/// Empty for crates.io (the git index or the sparse one), `git` for git sources, `path` for
/// workspace and path crates (no source), else the source itself (another registry).
fn qualifier(source: Option<&str>) -> String {
    match source {
        None => "path".to_owned(),
        Some(
            "registry+https://github.com/rust-lang/crates.io-index"
            | "sparse+https://index.crates.io/",
        ) => String::new(),
        Some(s) if s.starts_with("git+") => "git".to_owned(),
        Some(s) => s.to_owned(),
    }
}
