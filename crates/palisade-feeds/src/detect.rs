//! Which feed a file belongs to, from its name and the first bytes of its content. Importers meet
//! files in folders and zip archives whose layout changes over time, so detection looks at what
//! the file *is* (a RustSec front matter, a FriendsOfPHP `reference: composer://`, the KEV
//! catalogue keys, the tracker's package → CVE shape, an OSV id) rather than at paths alone.
//! Only a bounded prefix is read, so detecting a 70 MB tracker file costs nothing.

use crate::error::strip_bom_bytes;

/// The formats this crate parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeedFormat {
    Osv,
    Rustsec,
    FriendsOfPhp,
    DebianTracker,
    Kev,
    Epss,
}

impl FeedFormat {
    pub fn name(self) -> &'static str {
        match self {
            FeedFormat::Osv => "osv",
            FeedFormat::Rustsec => "rustsec",
            FeedFormat::FriendsOfPhp => "friendsofphp",
            FeedFormat::DebianTracker => "debian-tracker",
            FeedFormat::Kev => "kev",
            FeedFormat::Epss => "epss",
        }
    }
}

/// How far into a file the key sniffing looks. OSV records put `id` and `modified` first, the
/// KEV catalogue its header keys; a megabyte covers a record with a very long `details`.
const SNIFF_BYTES: usize = 1024 * 1024;

/// Guesses the format of one file. `None` for anything else (READMEs, licences, schemas).
pub fn detect(file_name: &str, content: &[u8]) -> Option<FeedFormat> {
    let name = file_name.to_ascii_lowercase();
    let content = strip_bom_bytes(content);
    let head = &content[..content.len().min(SNIFF_BYTES)];
    if name.ends_with(".md") {
        return is_rustsec(head).then_some(FeedFormat::Rustsec);
    }
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return is_friendsofphp(head).then_some(FeedFormat::FriendsOfPhp);
    }
    if is_epss(head) {
        return Some(FeedFormat::Epss);
    }
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace())?;
    if first != b'{' && first != b'[' {
        return None;
    }
    // Keys followed by the value types the catalogue uses, so CISA's JSON schema for the
    // catalogue (which names the same keys) is not taken for it.
    if first == b'{'
        && key_then(head, b"\"catalogVersion\"", b'"')
        && key_then(head, b"\"vulnerabilities\"", b'[')
    {
        return Some(FeedFormat::Kev);
    }
    if first == b'{' && is_debian_tracker(head) {
        return Some(FeedFormat::DebianTracker);
    }
    if contains(head, b"\"id\"")
        && (contains(head, b"\"affected\"") || contains(head, b"\"modified\""))
    {
        return Some(FeedFormat::Osv);
    }
    None
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether some occurrence of `key` is followed by `:` and a value starting with `opening`.
fn key_then(hay: &[u8], key: &[u8], opening: u8) -> bool {
    let mut from = 0;
    while let Some(pos) = hay
        .get(from..)
        .and_then(|h| h.windows(key.len()).position(|w| w == key))
    {
        let mut s = Scanner {
            bytes: hay,
            at: from + pos + key.len(),
        };
        if s.eat(b':') && s.eat(opening) {
            return true;
        }
        from += pos + 1;
    }
    false
}

/// A ```` ```toml ```` fence first, and an `[advisory]` table before it closes.
fn is_rustsec(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let Some(rest) = text.trim_start().strip_prefix("```toml") else {
        return false;
    };
    let front = match rest.find("\n```") {
        Some(end) => &rest[..end],
        None => rest,
    };
    front.lines().any(|l| l.trim() == "[advisory]")
}

/// A top-level `reference:` whose value (quoted or not) starts with `composer://`.
fn is_friendsofphp(head: &[u8]) -> bool {
    String::from_utf8_lossy(head).lines().any(|l| {
        l.strip_prefix("reference:").is_some_and(|v| {
            v.trim()
                .trim_start_matches(['"', '\''])
                .starts_with("composer://")
        })
    })
}

/// The model comment line, or the header of the score table.
fn is_epss(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(512)]);
    let first = text.lines().next().unwrap_or("").trim();
    first.starts_with("#model_version") || first.eq_ignore_ascii_case("cve,epss,percentile")
}

/// `{ "package": { "CVE-…" | "TEMP-…": {` — the tracker's package → issue → record shape,
/// read token by token from the first bytes.
fn is_debian_tracker(head: &[u8]) -> bool {
    let mut s = Scanner {
        bytes: &head[..head.len().min(4096)],
        at: 0,
    };
    s.eat(b'{')
        && s.string().is_some()
        && s.eat(b':')
        && s.eat(b'{')
        && s.string()
            .is_some_and(|k| k.starts_with(b"CVE-") || k.starts_with(b"TEMP-"))
        && s.eat(b':')
        && s.eat(b'{')
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn skip_ws(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        if self.bytes.get(self.at) == Some(&b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// A JSON string's raw content (escapes left as written; enough for sniffing).
    fn string(&mut self) -> Option<&'a [u8]> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        loop {
            match self.bytes.get(self.at)? {
                b'\\' => self.at += 2,
                b'"' => {
                    let s = self.bytes.get(start..self.at)?;
                    self.at += 1;
                    return Some(s);
                }
                _ => self.at += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_is_recognised() {
        let rustsec = "```toml\n[advisory]\nid = \"RUSTSEC-2020-0001\"\n```\n# T\n";
        assert_eq!(
            detect("RUSTSEC-2020-0001.md", rustsec.as_bytes()),
            Some(FeedFormat::Rustsec)
        );
        assert_eq!(detect("README.md", b"# RustSec\n"), None);
        let fop = "title: x\nreference: composer://a/b\n";
        assert_eq!(
            detect("a/b/CVE-1.yaml", fop.as_bytes()),
            Some(FeedFormat::FriendsOfPhp)
        );
        let kev = r#"{"title":"x","catalogVersion":"1","vulnerabilities":[]}"#;
        assert_eq!(detect("kev.json", kev.as_bytes()), Some(FeedFormat::Kev));
        let deb = r#"{ "openssl": { "CVE-2023-1": { "releases": {} } } }"#;
        assert_eq!(
            detect("json", deb.as_bytes()),
            Some(FeedFormat::DebianTracker)
        );
        let osv = r#"{"id":"GHSA-1","modified":"2021-01-01T00:00:00Z"}"#;
        assert_eq!(detect("GHSA-1.json", osv.as_bytes()), Some(FeedFormat::Osv));
        let epss =
            "#model_version:v2025.03.14,score_date:2025-06-01T00:00:00+0000\ncve,epss,percentile\n";
        assert_eq!(detect("epss.csv", epss.as_bytes()), Some(FeedFormat::Epss));
        assert_eq!(
            detect("x.csv", b"cve,epss,percentile\n"),
            Some(FeedFormat::Epss)
        );
        assert_eq!(detect("schema.json", br#"{"$schema":"x"}"#), None);
        let kev_schema = r#"{"properties":{"catalogVersion":{"type":"string"},"vulnerabilities":{"type":"array"}}}"#;
        assert_eq!(detect("kev_schema.json", kev_schema.as_bytes()), None);
        assert_eq!(detect("empty", b""), None);
    }
}
