//! Line numbers for entries of formats whose decoders do not report positions (JSON, YAML).
//!
//! Entries are decoded in file order, so each one is found by searching forward from the previous
//! one: one pass over the text in all. A search that fails (an odd escape, a reordered file)
//! leaves the entry without a line; after a few failures the locator gives up, so a hostile file
//! cannot turn the searches quadratic.

/// Searches allowed to fail before a locator stops searching.
const MAX_MISSES: u8 = 8;

fn count_newlines(s: &str) -> u32 {
    let n = s.bytes().filter(|&b| b == b'\n').count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The 1-based line of a byte offset.
pub(crate) fn line_of_offset(text: &str, offset: usize) -> Option<u32> {
    palisade_vulns::located::line_of_offset(text, offset).and_then(|n| u32::try_from(n).ok())
}

/// Lines of increasing byte offsets, counting each stretch of text once.
pub(crate) struct OffsetLines<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
}

impl<'a> OffsetLines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        OffsetLines {
            text,
            pos: 0,
            line: 1,
        }
    }

    pub(crate) fn line(&mut self, offset: usize) -> Option<u32> {
        if offset < self.pos {
            // Out of order (not produced by the decoders, but cheap to survive): start over.
            self.pos = 0;
            self.line = 1;
        }
        let stretch = self.text.get(self.pos..offset)?;
        self.line = self.line.saturating_add(count_newlines(stretch));
        self.pos = offset;
        Some(self.line)
    }
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    b.get(n..).unwrap_or_default()
}

/// What follows `"key"` in `"key": {` or `"key": "value"`.
pub(crate) enum Then<'v> {
    Object,
    Str(&'v str),
}

/// Finds JSON object members in file order.
pub(crate) struct JsonLocator<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
    misses: u8,
}

impl<'a> JsonLocator<'a> {
    pub(crate) fn new(content: &'a [u8]) -> Self {
        let (text, misses) = match std::str::from_utf8(content) {
            Ok(t) => (t, 0),
            Err(_) => ("", MAX_MISSES),
        };
        JsonLocator {
            text,
            pos: 0,
            line: 1,
            misses,
        }
    }

    /// The line of the next member named `key` whose value is an object or the given string.
    pub(crate) fn member(&mut self, key: &str, then: Then<'_>) -> Option<u32> {
        if self.misses >= MAX_MISSES {
            return None;
        }
        let needle = serde_json::to_string(key).ok()?;
        let value = match then {
            Then::Str(v) => Some(serde_json::to_string(v).ok()?),
            Then::Object => None,
        };
        let bytes = self.text.as_bytes();
        let mut from = self.pos;
        while let Some(rel) = self.text.get(from..).and_then(|t| t.find(&needle)) {
            let at = from + rel;
            let escaped = at > 0 && bytes.get(at - 1) == Some(&b'\\');
            let after = skip_ws(bytes.get(at + needle.len()..).unwrap_or_default());
            let fits = after.first() == Some(&b':') && {
                let v = skip_ws(after.get(1..).unwrap_or_default());
                match &value {
                    None => v.first() == Some(&b'{'),
                    Some(s) => v.starts_with(s.as_bytes()),
                }
            };
            if !escaped && fits {
                let stretch = self.text.get(self.pos..at)?;
                self.line = self.line.saturating_add(count_newlines(stretch));
                self.pos = at + needle.len();
                return Some(self.line);
            }
            // The needle starts with an ASCII quote, so one byte on is a character boundary.
            from = at + 1;
        }
        self.misses += 1;
        None
    }
}

/// Finds YAML mapping keys (plain, single- or double-quoted) in file order.
pub(crate) struct YamlKeyLocator<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
    misses: u8,
}

impl<'a> YamlKeyLocator<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        YamlKeyLocator {
            text,
            pos: 0,
            line: 1,
            misses: 0,
        }
    }

    /// Moves past the top-level key `key:` (a section such as `packages:`), if there is one.
    pub(crate) fn skip_to_section(&mut self, key: &str) {
        let mut offset = 0;
        let mut line = 1u32;
        for l in self.text.split_inclusive('\n') {
            let body = l.trim_end();
            if body.strip_prefix(key).is_some_and(|r| r.starts_with(':')) {
                self.pos = offset + l.len();
                self.line = line.saturating_add(1);
                return;
            }
            offset += l.len();
            line = line.saturating_add(1);
        }
    }

    pub(crate) fn key(&mut self, key: &str) -> Option<u32> {
        if self.misses >= MAX_MISSES {
            return None;
        }
        let mut offset = self.pos;
        let mut line = self.line;
        for l in self.text.get(self.pos..)?.split_inclusive('\n') {
            let body = l.trim_start();
            let found = [("", ""), ("'", "'"), ("\"", "\"")]
                .iter()
                .any(|(open, close)| {
                    body.strip_prefix(open)
                        .and_then(|r| r.strip_prefix(key))
                        .and_then(|r| r.strip_prefix(close))
                        .is_some_and(|r| r.starts_with(':'))
                });
            if found {
                self.pos = offset + l.len();
                self.line = line.saturating_add(1);
                return Some(line);
            }
            offset += l.len();
            line = line.saturating_add(1);
        }
        self.misses += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_members_are_found_in_order() {
        let text = "{\n \"a\": {\"requires\": {\"b\": \"^1\"}},\n \"b\": {\n }\n}";
        let mut loc = JsonLocator::new(text.as_bytes());
        assert_eq!(loc.member("a", Then::Object), Some(2));
        assert_eq!(loc.member("b", Then::Object), Some(3));
        assert_eq!(loc.member("zzz", Then::Object), None);
    }

    #[test]
    fn yaml_keys_in_any_quoting() {
        let text = "a: 1\npackages:\n  /x/1.0:\n    dev: true\n  '@s/y@2.0':\n  \"z@3\":\n";
        let mut loc = YamlKeyLocator::new(text);
        loc.skip_to_section("packages");
        assert_eq!(loc.key("/x/1.0"), Some(3));
        assert_eq!(loc.key("@s/y@2.0"), Some(5));
        assert_eq!(loc.key("z@3"), Some(6));
    }

    #[test]
    fn offsets_become_lines() {
        let mut l = OffsetLines::new("a\nb\nc");
        assert_eq!(l.line(0), Some(1));
        assert_eq!(l.line(2), Some(2));
        assert_eq!(l.line(4), Some(3));
        assert_eq!(l.line(1), Some(1));
        assert_eq!(l.line(99), None);
        assert_eq!(line_of_offset("a\nb", 2), Some(2));
    }
}
