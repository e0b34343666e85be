//! Python: `poetry.lock`, `uv.lock`, `Pipfile.lock` and `requirements.txt`. Names are PEP 503
//! normalised by the package key. A requirements line not pinned with `==` names no version —
//! pip would resolve one at install time — so it is reported as unevaluable, never dropped.

use std::collections::{HashMap, HashSet};

use palisade_vulns::{Ecosystem, PackageKey};
use serde::Deserialize;
use toml::Spanned;

use crate::de::Entries;
use crate::lines::{JsonLocator, OffsetLines, Then};
use crate::{Collector, ParseError, error};

const NOT_PINNED: &str = "not pinned with ==: cannot evaluate";
const NO_VERSION: &str = "no version: cannot evaluate";

fn pypi(name: &str, qualifier: String) -> PackageKey {
    PackageKey::new(Ecosystem::PyPi, qualifier, name)
}

// ---------------------------------------------------------------------------------------------
// poetry.lock

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryPackage>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: Spanned<String>,
    #[serde(default)]
    version: Option<String>,
    /// Poetry before 1.2: `main` or `dev`.
    #[serde(default)]
    category: Option<String>,
    /// Poetry 1.2+: the dependency groups that pull the package in.
    #[serde(default)]
    groups: Option<Vec<String>>,
    #[serde(default)]
    source: Option<PoetrySource>,
}

#[derive(Deserialize)]
struct PoetrySource {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

pub(crate) fn parse_poetry(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let text = error::utf8(out.file, content)?;
    let lock: PoetryLock = error::toml(out.file, text)?;
    let mut lines = OffsetLines::new(text);
    for p in &lock.package {
        let line = lines.line(p.name.span().start);
        let name = p.name.get_ref();
        let dev = match (&p.groups, &p.category) {
            (Some(groups), _) => !groups.iter().any(|g| g == "main"),
            (None, Some(category)) => category == "dev",
            (None, None) => false,
        };
        // `legacy` sources are package indexes, usually PyPI mirrors: PyPI advisories apply.
        let qualifier = match p.source.as_ref().and_then(|s| s.kind.as_deref()) {
            Some("git") => "git".to_owned(),
            Some("directory" | "file") => "path".to_owned(),
            Some("url") => p
                .source
                .as_ref()
                .and_then(|s| s.url.clone())
                .unwrap_or_else(|| "url".to_owned()),
            _ => String::new(),
        };
        match &p.version {
            Some(v) if !v.is_empty() => out.package(pypi(name, qualifier), v, dev, line)?,
            _ => out.unevaluable(Some(Ecosystem::PyPi), name, "", NO_VERSION, line)?,
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// uv.lock

#[derive(Deserialize)]
struct UvLock {
    #[serde(default)]
    package: Vec<UvPackage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UvPackage {
    name: Spanned<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    source: Option<UvSource>,
    #[serde(default)]
    dependencies: Vec<UvDep>,
    #[serde(default)]
    optional_dependencies: Entries<Vec<UvDep>>,
    #[serde(default)]
    dev_dependencies: Entries<Vec<UvDep>>,
}

#[derive(Deserialize, Default)]
struct UvSource {
    #[serde(default)]
    registry: Option<String>,
    #[serde(default)]
    git: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    directory: Option<String>,
    #[serde(default)]
    editable: Option<String>,
    #[serde(rename = "virtual", default)]
    virtual_: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct UvDep {
    name: String,
    #[serde(default)]
    version: Option<String>,
}

impl UvSource {
    /// Editable and virtual sources are the project and its workspace members.
    fn is_project(&self) -> bool {
        self.editable.is_some() || self.virtual_.is_some()
    }

    /// Any registry is PyPI or a mirror of it (or an index such as PyTorch's that publishes the
    /// same project names), so PyPI advisories apply.
    fn qualifier(&self) -> String {
        if self.git.is_some() {
            "git".to_owned()
        } else if self.path.is_some() || self.directory.is_some() {
            "path".to_owned()
        } else if let (None, Some(url)) = (&self.registry, &self.url) {
            url.clone()
        } else {
            String::new()
        }
    }
}

pub(crate) fn parse_uv(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let text = error::utf8(out.file, content)?;
    let lock: UvLock = error::toml(out.file, text)?;
    let dev = uv_dev_only(&lock);
    let mut lines = OffsetLines::new(text);
    for (i, p) in lock.package.iter().enumerate() {
        let line = lines.line(p.name.span().start);
        let source = p.source.as_ref();
        if source.is_some_and(UvSource::is_project) {
            continue;
        }
        let name = p.name.get_ref();
        let qualifier = source.map(UvSource::qualifier).unwrap_or_default();
        match &p.version {
            Some(v) if !v.is_empty() => {
                out.package(pypi(name, qualifier), v, dev.contains(&i), line)?;
            }
            _ => out.unevaluable(Some(Ecosystem::PyPi), name, "", NO_VERSION, line)?,
        }
    }
    Ok(())
}

/// The packages (by index) reachable from the projects' dev dependency groups and not from their
/// dependencies or extras. Extras of dependencies are followed too: over-counting production is
/// the safe direction.
/// A package's dependencies, with those of all its extras.
fn deps_of(p: &UvPackage) -> impl Iterator<Item = &UvDep> {
    p.dependencies
        .iter()
        .chain(p.optional_dependencies.0.iter().flat_map(|(_, deps)| deps))
}

fn uv_dev_only(lock: &UvLock) -> HashSet<usize> {
    let normalize = |n: &str| Ecosystem::PyPi.normalize_name(n);
    // A dependency names a package, and its version when several are locked.
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_name_version: HashMap<(String, &str), Vec<usize>> = HashMap::new();
    for (i, p) in lock.package.iter().enumerate() {
        let name = normalize(p.name.get_ref());
        if let Some(v) = &p.version {
            by_name_version
                .entry((name.clone(), v.as_str()))
                .or_default()
                .push(i);
        }
        by_name.entry(name).or_default().push(i);
    }
    // Each distinct dependency (name, version) is expanded once and each package visited once,
    // so a file with many versions of one name cannot make the walk quadratic.
    let walk = |roots: Vec<&UvDep>| -> HashSet<usize> {
        let mut seen = HashSet::new();
        let mut expanded: HashSet<(String, Option<&str>)> = HashSet::new();
        let mut pending = roots;
        while let Some(d) = pending.pop() {
            let name = normalize(&d.name);
            let version = d.version.as_deref();
            let candidates = match version {
                None => by_name.get(&name),
                Some(v) => by_name_version.get(&(name.clone(), v)),
            };
            if !expanded.insert((name, version)) {
                continue;
            }
            for &i in candidates.map(Vec::as_slice).unwrap_or_default() {
                if seen.insert(i)
                    && let Some(p) = lock.package.get(i)
                {
                    pending.extend(deps_of(p));
                }
            }
        }
        seen
    };
    let mut prod_roots = Vec::new();
    let mut dev_roots = Vec::new();
    for p in &lock.package {
        if p.source.as_ref().is_some_and(UvSource::is_project) {
            prod_roots.extend(deps_of(p));
            dev_roots.extend(p.dev_dependencies.0.iter().flat_map(|(_, deps)| deps));
        }
    }
    let prod = walk(prod_roots);
    let dev = walk(dev_roots);
    dev.difference(&prod).copied().collect()
}

// ---------------------------------------------------------------------------------------------
// Pipfile.lock

#[derive(Deserialize)]
struct PipfileLock {
    #[serde(default)]
    default: Option<Entries<PipfileEntry>>,
    #[serde(default)]
    develop: Option<Entries<PipfileEntry>>,
}

#[derive(Deserialize)]
struct PipfileEntry {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    git: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    file: Option<String>,
}

pub(crate) fn parse_pipfile(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let lock: PipfileLock = error::json(out.file, content)?;
    let mut lines = JsonLocator::new(content);
    let sections = [(lock.default, false), (lock.develop, true)];
    for (entries, dev) in sections {
        for (name, e) in entries.iter().flat_map(|e| e.0.iter()) {
            let line = lines.member(name, Then::Object);
            let pinned = e
                .version
                .as_deref()
                .and_then(|v| v.strip_prefix("===").or_else(|| v.strip_prefix("==")))
                .map(str::trim)
                .filter(|v| !v.is_empty());
            match (pinned, &e.version) {
                (Some(v), _) => out.package(pypi(name, String::new()), v, dev, line)?,
                (None, Some(v)) => {
                    out.unevaluable(Some(Ecosystem::PyPi), name, v, NOT_PINNED, line)?;
                }
                (None, None) => {
                    let what = e.git.as_deref().or(e.path.as_deref()).or(e.file.as_deref());
                    out.unevaluable(
                        Some(Ecosystem::PyPi),
                        name,
                        what.unwrap_or(""),
                        NOT_PINNED,
                        line,
                    )?;
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// requirements.txt

pub(crate) fn parse_requirements(
    out: &mut Collector<'_>,
    content: &[u8],
) -> Result<(), ParseError> {
    let text = error::utf8(out.file, content)?;
    let mut logical = String::new();
    let mut start_line = 0u32;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        if logical.is_empty() {
            start_line = line_no;
        }
        // pip joins continuation lines before it strips comments.
        match raw.strip_suffix('\\') {
            Some(part) => {
                logical.push_str(part);
                logical.push(' ');
            }
            None => {
                logical.push_str(raw);
                requirement_line(out, &logical, start_line)?;
                logical.clear();
            }
        }
    }
    if !logical.is_empty() {
        requirement_line(out, &logical, start_line)?;
    }
    Ok(())
}

/// Removes a comment: `#` at the start or after whitespace (pip's rule; `#egg=` in a URL stays).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes.get(i - 1).is_some_and(|c| c.is_ascii_whitespace())) {
            return line.get(..i).unwrap_or(line);
        }
    }
    line
}

fn requirement_line(out: &mut Collector<'_>, raw: &str, line_no: u32) -> Result<(), ParseError> {
    let line = strip_comment(raw).trim();
    if line.is_empty() {
        return Ok(());
    }
    let line_opt = Some(line_no);
    if let Some(option) = line.strip_prefix('-') {
        // `-e`/`--editable` installs a local folder or a VCS checkout: a requirement without a
        // version. Every other option (`-r`, `-c`, `--index-url`, ...) configures pip.
        let target = option
            .strip_prefix("e")
            .or_else(|| option.strip_prefix("-editable"))
            .filter(|t| t.is_empty() || t.starts_with([' ', '\t', '=']));
        if let Some(target) = target {
            let target = target.trim_start_matches('=').trim();
            let name = egg_name(target).unwrap_or(target);
            out.unevaluable(Some(Ecosystem::PyPi), name, line, NOT_PINNED, line_opt)?;
        }
        return Ok(());
    }
    // Per-requirement options (`--hash=...`) follow the requirement after whitespace.
    let spec = match line.find(" --").or_else(|| line.find("\t--")) {
        Some(i) => line.get(..i).unwrap_or(line).trim(),
        None => line,
    };
    // Environment markers do not change the pinned version; whether they apply to a host is
    // not knowable from the file.
    let spec = spec.split(';').next().unwrap_or(spec).trim();

    let name_len = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(spec.len());
    let (name, rest) = spec.split_at(name_len);
    let rest = rest.trim_start();
    let is_url = spec.contains("://")
        || spec.starts_with(['.', '/'])
        || rest.starts_with('@')
        || name.is_empty();
    if is_url {
        let url_name = if rest.starts_with('@') && !name.is_empty() {
            Some(name)
        } else {
            egg_name(spec)
        };
        if url_name.is_none() && !spec.contains("://") && !spec.starts_with(['.', '/']) {
            return Err(out.error(line_opt, None, format!("not a requirement: {spec:?}")));
        }
        let name = url_name.unwrap_or(spec);
        return out.unevaluable(Some(Ecosystem::PyPi), name, line, NOT_PINNED, line_opt);
    }
    // Extras (`name[a,b]`) do not change what is installed under the name.
    let rest = match rest.strip_prefix('[') {
        Some(r) => match r.split_once(']') {
            Some((_, after)) => after.trim_start(),
            None => return Err(out.error(line_opt, None, "unclosed `[` in extras")),
        },
        None => rest,
    };
    let rest = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(rest);
    match pinned_version(rest) {
        Some(v) => out.package(pypi(name, String::new()), v, false, line_opt),
        None => out.unevaluable(Some(Ecosystem::PyPi), name, line, NOT_PINNED, line_opt),
    }
}

/// The version of an exact pin (`==1.2.3`, `===1.2.3`) in a specifier set; `==1.*` is a range.
fn pinned_version(specifiers: &str) -> Option<&str> {
    specifiers.split(',').find_map(|clause| {
        let clause = clause.trim();
        let v = clause
            .strip_prefix("===")
            .or_else(|| clause.strip_prefix("=="))?
            .trim();
        (!v.is_empty() && !v.ends_with(".*") && !v.contains(char::is_whitespace)).then_some(v)
    })
}

/// The project name in a URL's `#egg=name` fragment.
fn egg_name(url: &str) -> Option<&str> {
    let (_, after) = url
        .split_once("#egg=")
        .or_else(|| url.split_once("&egg="))?;
    let name = after.split(['&', ' ', '[']).next()?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_and_ranges() {
        assert_eq!(pinned_version("==1.2.3"), Some("1.2.3"));
        assert_eq!(pinned_version("=== 1.0"), Some("1.0"));
        assert_eq!(pinned_version(">=1,==1.2"), Some("1.2"));
        assert_eq!(pinned_version("==1.*"), None);
        assert_eq!(pinned_version(">=1.0"), None);
        assert_eq!(pinned_version(""), None);
    }

    #[test]
    fn comments_and_eggs() {
        assert_eq!(strip_comment("a==1 # x"), "a==1 ");
        assert_eq!(strip_comment("git+https://x#egg=y"), "git+https://x#egg=y");
        assert_eq!(
            egg_name("git+https://x@v1#egg=Django-Foo"),
            Some("Django-Foo")
        );
    }
}
