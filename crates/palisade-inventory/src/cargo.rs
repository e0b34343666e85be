//! Cargo's `Cargo.lock`, versions 1 to 4: `[[package]]` tables with name, version and source.
//! RustSec advisories apply to crates.io only, so a crate from git, a path or another registry
//! gets a qualifier and never matches a crates.io advisory of the same name.
//!
//! Cargo writes its lockfiles in a small, fixed subset of TOML, and a general TOML parser spent
//! most of a one-lockfile scan building a document it then threw away (about 5 ms for a
//! 430-package file). `fast` reads exactly that subset line by line and gives up on the first
//! line outside it; the general parser then reads the file, so anything unusual is still read
//! correctly or refused with its location. The two are checked against each other on every real
//! lockfile and on generated ones.

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

/// One `[[package]]` as read: name, version, source, 1-based line of its name.
type Entry<'a> = (&'a str, Option<&'a str>, Option<&'a str>, u32);

pub(crate) fn parse(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let text = error::utf8(out.file, content)?;
    if let Some(entries) = fast(text) {
        out.reserve(entries.len());
        for (name, version, source, line) in entries {
            emit(out, name, version, source, Some(line))?;
        }
        return Ok(());
    }
    slow(out, text)
}

fn emit(
    out: &mut Collector<'_>,
    name: &str,
    version: Option<&str>,
    source: Option<&str>,
    line: Option<u32>,
) -> Result<(), ParseError> {
    match version {
        Some(v) if !v.is_empty() => {
            let key = PackageKey::new(Ecosystem::CratesIo, qualifier(source), name);
            out.package(key, v, false, line)
        }
        _ => out.unevaluable(
            Some(Ecosystem::CratesIo),
            name,
            "",
            "no version: cannot evaluate",
            line,
        ),
    }
}

/// A basic string with nothing to unescape, and nothing but a comment after it. `clean` says
/// that the whole file passed `plain_text`, so no string in it needs its bytes checked again.
///
/// Byte-wise, because it runs on every line of the file: the character-wise form was a third
/// of a one-lockfile scan.
fn plain_string(v: &str, clean: bool) -> Option<&str> {
    let rest = v.strip_prefix('"')?;
    let end = find_byte(rest, b'"')?;
    let (s, after) = (&rest[..end], trim(&rest[end + 1..]));
    if !clean && !plain_bytes(s) {
        return None;
    }
    (after.is_empty() || after.starts_with('#')).then_some(s)
}

/// No escape and no control character (a tab included, which Cargo never writes in a string).
fn plain_bytes(s: &str) -> bool {
    // A fold rather than `any`: without the early exit the compiler vectorises it.
    let escaped_or_control = s.bytes().fold(false, |bad, b| {
        bad | (b == b'\\') | (b < 0x20) | (b == 0x7f)
    });
    !escaped_or_control && (s.is_ascii() || !s.chars().any(char::is_control))
}

/// Whether the whole file is printable ASCII lines without a backslash, as Cargo writes it:
/// then no string in it can hold an escape or a control character. One pass over the file
/// costs less than checking each of its strings (most lines of a lockfile are strings).
fn plain_text(text: &str) -> bool {
    text.bytes().fold(true, |ok, b| {
        ok & (((0x20..0x7f).contains(&b) & (b != b'\\')) | (b == b'\n'))
    })
}

/// A search for one byte with SSE2, which every x86_64 CPU has, or word at a time elsewhere.
///
/// Not `memchr::memchr`: its first call detects the CPU's vector features with `cpuid`, which
/// in a virtual machine traps to the hypervisor, and that detection alone (~50 µs) cost more than
/// finding every line end and quote of a 475-package lockfile. A plain byte loop, the other way
/// to avoid it, made those searches several times slower.
#[derive(Clone, Copy)]
enum Finder {
    #[cfg(target_arch = "x86_64")]
    Sse2(memchr::arch::x86_64::sse2::memchr::One),
    Words(memchr::arch::all::memchr::One),
}

impl Finder {
    fn new(byte: u8) -> Finder {
        #[cfg(target_arch = "x86_64")]
        if let Some(f) = memchr::arch::x86_64::sse2::memchr::One::new(byte) {
            return Finder::Sse2(f);
        }
        Finder::Words(memchr::arch::all::memchr::One::new(byte))
    }

    fn find(self, haystack: &[u8]) -> Option<usize> {
        match self {
            #[cfg(target_arch = "x86_64")]
            Finder::Sse2(f) => f.find(haystack),
            Finder::Words(f) => f.find(haystack),
        }
    }
}

/// The first `byte` in `s`.
fn find_byte(s: &str, byte: u8) -> Option<usize> {
    Finder::new(byte).find(s.as_bytes())
}

/// The file's lines without their `\n` or `\r\n` (per line, `str::lines` cost more than reading
/// the line did).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let newline = Finder::new(b'\n');
    let mut start = 0;
    std::iter::from_fn(move || {
        let rest = text.get(start..).filter(|r| !r.is_empty())?;
        let (line, next) = match newline.find(rest.as_bytes()) {
            // As `str::lines`: a carriage return ends a line only before a newline.
            Some(end) => {
                let line = &rest[..end];
                (line.strip_suffix('\r').unwrap_or(line), start + end + 1)
            }
            // A last line without a newline.
            None => (rest, text.len()),
        };
        start = next;
        Some(line)
    })
}

/// TOML's whitespace (space and tab) off both ends. Anything else a general trim would take
/// (other Unicode spaces) stays, so such a line is left to the general parser, which refuses it.
fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let ws = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
    // Both ends are next to ASCII bytes, so they are character boundaries.
    &s[start..end]
}

fn bare_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A `[[package]]` being read: name, version, source, line of the name.
type Partial<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, u32);

fn finish<'a>(cur: Option<Partial<'a>>, out: &mut Vec<Entry<'a>>) -> Option<()> {
    if let Some((name, version, source, line)) = cur {
        // A package without a name is an error the general parser names properly.
        out.push((name?, version, source, line));
    }
    Some(())
}

/// Reads the TOML subset Cargo writes; `None` as soon as a line falls outside it.
pub(crate) fn fast(text: &str) -> Option<Vec<Entry<'_>>> {
    #[derive(PartialEq)]
    enum Table {
        Root,
        Package,
        Other,
    }
    // Sized once from the file's length (a `[[package]]` table takes well over 64 bytes): a
    // list grown by doubling touches fresh memory at each step, and each new page is a fault.
    let mut out: Vec<Entry<'_>> = Vec::with_capacity((text.len() / 64).min(crate::MAX_PACKAGES));
    let mut table = Table::Root;
    let mut keys: Vec<&str> = Vec::new();
    // Cargo's own keys of the current `[[package]]` seen so far, a bit each (see PACKAGE_KEYS).
    let mut package_keys = 0u8;
    let mut current: Option<Partial<'_>> = None;
    let mut in_array = false;
    let mut headers: Vec<&str> = Vec::new();
    let clean = plain_text(text);
    for (i, raw) in lines(text).enumerate() {
        let line = trim(raw);
        if in_array {
            if line == "]" {
                in_array = false;
            } else if !line.is_empty() && !line.starts_with('#') {
                plain_string(trim(line.strip_suffix(',').unwrap_or(line)), clean)?;
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            finish(current.take(), &mut out)?;
            distinct(&mut keys)?;
            keys.clear();
            package_keys = 0;
            if line == "[[package]]" {
                table = Table::Package;
                current = Some((None, None, None, 0));
            } else {
                let inner = line
                    .strip_prefix("[[")
                    .and_then(|l| l.strip_suffix("]]"))
                    .or_else(|| line.strip_prefix('[').and_then(|l| l.strip_suffix(']')))?;
                // Dotted headers such as `[[patch.unused]]` are fine; anything quoted is not,
                // nor any other shape of `package`, which the general parser must judge.
                if !inner.split('.').all(bare_key) || inner.split('.').next() == Some("package") {
                    return None;
                }
                // A plain table defined twice is a TOML error; leave that to the general parser.
                if !line.starts_with("[[") {
                    if headers.contains(&inner) {
                        return None;
                    }
                    headers.push(inner);
                }
                table = Table::Other;
            }
            continue;
        }
        // A quoted key may itself hold `=` (v1 checksum keys name git sources with `?rev=`).
        let (k, v) = match line.strip_prefix('"') {
            Some(rest) => {
                let end = find_byte(rest, b'"')? + 2;
                let v = trim(&line[end..]).strip_prefix('=')?;
                (&line[..end], trim(v))
            }
            None => {
                let eq = find_byte(line, b'=')?;
                (trim(&line[..eq]), trim(&line[eq + 1..]))
            }
        };
        // The key as TOML reads it, a quoted one without its quotes (it holds no escapes), so
        // that `"name"` and `name` count as the same key.
        let key = if bare_key(k) {
            k
        } else {
            plain_string(k, clean)?
        };
        // Cargo quotes no key of a package; a quoted one (`"name"` beside `name`) is left to
        // the general parser, as is a top-level `package`.
        if (table == Table::Root && key == "package") || (table == Table::Package && key != k) {
            return None;
        }
        // Repeats of a package's own keys are found with a bit each, not by sorting every
        // package's keys (sorting was 4 % of a scan's instructions, in `memcmp`).
        let bit = PACKAGE_KEYS.iter().position(|&p| p == key);
        match bit.filter(|_| table == Table::Package) {
            Some(b) if package_keys & (1 << b) != 0 => return None,
            Some(b) => package_keys |= 1 << b,
            None => keys.push(key),
        }
        if v == "[" {
            in_array = true;
            continue;
        }
        match (&table, k) {
            (Table::Package, "name" | "version" | "source") => {
                let s = plain_string(v, clean)?;
                let cur = current.as_mut()?;
                match k {
                    "name" => {
                        cur.0 = Some(s);
                        cur.3 = u32::try_from(i + 1).ok()?;
                    }
                    "version" => cur.1 = Some(s),
                    _ => cur.2 = Some(s),
                }
            }
            // `version = 3` at the top, checksums, and the like: plain strings or integers.
            _ => {
                if plain_string(v, clean).is_none() && !v.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
            }
        }
    }
    if in_array {
        return None;
    }
    finish(current.take(), &mut out)?;
    distinct(&mut keys)?;
    Some(out)
}

/// The keys Cargo writes in a `[[package]]` table.
const PACKAGE_KEYS: [&str; 5] = ["name", "version", "source", "checksum", "dependencies"];

/// A key defined twice in one table is a TOML error the general parser names; checked once per
/// table by sorting, because v1 lockfiles put hundreds of checksum keys in one table.
fn distinct(keys: &mut [&str]) -> Option<()> {
    keys.sort_unstable();
    keys.windows(2).all(|w| w[0] != w[1]).then_some(())
}

fn slow(out: &mut Collector<'_>, text: &str) -> Result<(), ParseError> {
    let lock: Lock = error::toml(out.file, text)?;
    let mut lines = OffsetLines::new(text);
    for p in &lock.package {
        let line = lines.line(p.name.span().start);
        emit(
            out,
            p.name.get_ref(),
            p.version.as_deref(),
            p.source.as_deref(),
            line,
        )?;
    }
    Ok(())
}

/// A package as both readers report it to tests: name, version, source.
pub type OwnedEntry = (String, Option<String>, Option<String>);

/// The general parser's reading, for tests that hold the fast path to it.
#[doc(hidden)]
pub fn slow_entries(text: &str) -> Option<Vec<OwnedEntry>> {
    let lock: Lock = toml::from_str(text).ok()?;
    Some(
        lock.package
            .into_iter()
            .map(|p| (p.name.into_inner(), p.version, p.source))
            .collect(),
    )
}

/// The fast path's reading, in the same shape.
#[doc(hidden)]
pub fn fast_entries(text: &str) -> Option<Vec<OwnedEntry>> {
    fast(text).map(|v| {
        v.into_iter()
            .map(|(n, ver, src, _)| (n.to_owned(), ver.map(str::to_owned), src.map(str::to_owned)))
            .collect()
    })
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
