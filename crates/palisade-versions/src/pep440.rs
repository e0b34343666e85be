//! Python package versions (PEP 440, the "Version specifiers" specification on
//! packaging.python.org), parsed and ordered exactly as `packaging.version.Version` does, which is
//! what pip and OSV's `ECOSYSTEM` ranges for PyPI use.
//!
//! Form: `[v][N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, case-insensitive, surrounded by any
//! Python whitespace. Each of pre, post and dev takes the spellings and optional separators (`.`,
//! `-`, `_`) that `packaging`'s `VERSION_PATTERN` accepts, with an implicit 0 when the number is
//! missing; `1.0-1` is a post release. Parsing follows that regular expression's greedy,
//! possessive matching, so odd inputs it accepts (`1.0a.`, `1.0a--1`) are accepted here too.
//!
//! Order (`packaging`'s `_cmpkey`): epoch, then the release with trailing zeros dropped
//! (`1.0 == 1.0.0`), then pre-release (a dev release with neither pre nor post sorts below every
//! pre-release; no pre-release sorts above `rc`), then post (none below any), then dev (none above
//! any), then local (none below any; segments split on `.`, `-`, `_`, numbers above strings, strings
//! compared in lower case, a shorter list first when it is a prefix).
//!
//! Numbers have no size limit (Python integers), except the 4300-digit limit CPython puts on
//! converting text to `int`, which makes `packaging` raise; those are errors here too. Checked
//! against `packaging` on generated pairs in `tests/pep440_order.rs`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// CPython's default `sys.int_info.default_max_str_digits`: `int()` refuses longer digit strings.
const MAX_DIGITS: usize = 4300;

/// Why a string is not a PEP 440 version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Pep440VersionError {
    #[error("version is empty")]
    Empty,
    #[error("not a PEP 440 version: unexpected {found:?} at byte {at}")]
    Unexpected { at: usize, found: String },
    #[error("a number has more than {MAX_DIGITS} digits, which Python refuses to convert")]
    TooManyDigits,
}

/// A non-negative integer of any size. `Small` holds everything up to `u64::MAX`; `Big` holds the
/// digits, without leading zeros, of anything larger, so equal values have equal representations
/// and the derived `PartialEq`/`Hash` agree with `Ord`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Num {
    Small(u64),
    Big(Box<str>),
}

impl Num {
    fn parse(digits: &str) -> Result<Self, Pep440VersionError> {
        if digits.len() > MAX_DIGITS {
            return Err(Pep440VersionError::TooManyDigits);
        }
        let trimmed = digits.trim_start_matches('0');
        Ok(match trimmed.parse::<u64>() {
            Ok(n) => Self::Small(n),
            Err(_) if trimmed.is_empty() => Self::Small(0),
            Err(_) => Self::Big(trimmed.into()),
        })
    }

    fn is_zero(&self) -> bool {
        matches!(self, Self::Small(0))
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Small(a), Self::Small(b)) => a.cmp(b),
            (Self::Small(_), Self::Big(_)) => Ordering::Less,
            (Self::Big(_), Self::Small(_)) => Ordering::Greater,
            (Self::Big(a), Self::Big(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
        }
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Pre-release kinds in their order; `alpha`, `beta`, `c`, `pre` and `preview` are spellings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum PreKind {
    Alpha,
    Beta,
    Rc,
}

/// A local version segment. Strings sort below numbers, so the variant order is the spec's.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum LocalSegment {
    /// Lower-cased, since local labels compare case-insensitively.
    Text(Box<str>),
    Number(Num),
}

/// A parsed PEP 440 version.
#[derive(Clone, Debug)]
pub struct Pep440Version {
    epoch: Num,
    release: Box<[Num]>,
    /// How many release segments remain once trailing zeros are dropped; only these compare.
    significant: usize,
    pre: Option<(PreKind, Num)>,
    post: Option<Num>,
    dev: Option<Num>,
    local: Option<Box<[LocalSegment]>>,
    original: String,
}

impl Pep440Version {
    /// Whether this is a pre-release in pip's sense: it has an `a`/`b`/`rc` part or a dev part.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    pub fn is_postrelease(&self) -> bool {
        self.post.is_some()
    }

    pub fn is_devrelease(&self) -> bool {
        self.dev.is_some()
    }

    /// Whether the version has a `+local` label.
    pub fn has_local(&self) -> bool {
        self.local.is_some()
    }

    /// The text the version was parsed from.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The pre-release rank `_cmpkey` uses: a dev release with neither pre nor post sorts below
    /// alpha (0), no pre-release sorts above rc (4).
    fn pre_rank(&self) -> u8 {
        match (&self.pre, &self.post, &self.dev) {
            (None, None, Some(_)) => 0,
            (None, _, _) => 4,
            (Some((kind, _)), _, _) => *kind as u8 + 1,
        }
    }

    fn significant_release(&self) -> &[Num] {
        &self.release[..self.significant]
    }
}

/// Python's `str.isspace`, which `\s` in `packaging`'s pattern follows: Rust's Unicode White_Space
/// plus the ASCII information separators U+001C to U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A cursor over the trimmed input, matching it the way `VERSION_PATTERN` does. Every optional
/// part of that pattern is greedy and, in `packaging` 26, possessive; where the older
/// non-possessive pattern could backtrack, no other split reaches a full match, so one greedy pass
/// accepts the same strings and captures the same numbers.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    /// Consumes the next byte if `pred` accepts it.
    fn eat(&mut self, pred: impl Fn(u8) -> bool) -> bool {
        match self.peek() {
            Some(c) if pred(c) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn eat_separator(&mut self) -> bool {
        self.eat(|c| matches!(c, b'.' | b'-' | b'_'))
    }

    fn digits(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.eat(|c| c.is_ascii_digit()) {}
        (self.pos > start).then(|| &self.s[start..self.pos])
    }

    /// Consumes `sep` and the digits after it, if a digit follows; otherwise nothing.
    fn digits_after(&mut self, sep: u8) -> Option<&'a str> {
        let digit_follows = self
            .s
            .as_bytes()
            .get(self.pos + 1)
            .is_some_and(u8::is_ascii_digit);
        if self.peek() != Some(sep) || !digit_follows {
            return None;
        }
        self.pos += 1;
        self.digits()
    }

    /// Consumes the first of `words` (tried in order, ASCII case-insensitively) that comes next.
    fn word<T: Copy>(&mut self, words: &[(&str, T)]) -> Option<T> {
        let rest = &self.s.as_bytes()[self.pos..];
        let (word, value) = words.iter().find(|(w, _)| {
            rest.get(..w.len())
                .is_some_and(|r| r.eq_ignore_ascii_case(w.as_bytes()))
        })?;
        self.pos += word.len();
        Some(*value)
    }

    fn unexpected(&self) -> Pep440VersionError {
        let found = self.s[self.pos..].chars().take(8).collect();
        Pep440VersionError::Unexpected {
            at: self.pos,
            found,
        }
    }

    /// `[._-]? word [._-]? N?` as a unit: if the word is missing nothing is consumed.
    fn lettered<T: Copy>(
        &mut self,
        words: &[(&str, T)],
    ) -> Result<Option<(T, Num)>, Pep440VersionError> {
        let start = self.pos;
        self.eat_separator();
        let Some(value) = self.word(words) else {
            self.pos = start;
            return Ok(None);
        };
        self.eat_separator();
        let number = match self.digits() {
            Some(d) => Num::parse(d)?,
            None => Num::Small(0),
        };
        Ok(Some((value, number)))
    }
}

// Longer spellings come before their prefixes, as in `packaging`'s alternations.
const PRE_WORDS: &[(&str, PreKind)] = &[
    ("alpha", PreKind::Alpha),
    ("a", PreKind::Alpha),
    ("beta", PreKind::Beta),
    ("b", PreKind::Beta),
    ("preview", PreKind::Rc),
    ("pre", PreKind::Rc),
    ("c", PreKind::Rc),
    ("rc", PreKind::Rc),
];
const POST_WORDS: &[(&str, ())] = &[("post", ()), ("rev", ()), ("r", ())];
const DEV_WORDS: &[(&str, ())] = &[("dev", ())];

impl FromStr for Pep440Version {
    type Err = Pep440VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim_matches(is_py_space);
        if text.is_empty() {
            return Err(Pep440VersionError::Empty);
        }
        let mut c = Cursor { s: text, pos: 0 };
        c.eat(|b| b == b'v' || b == b'V');

        let first = c.digits().ok_or_else(|| c.unexpected())?;
        let (epoch, first) = if c.eat(|b| b == b'!') {
            let epoch = Num::parse(first)?;
            (epoch, c.digits().ok_or_else(|| c.unexpected())?)
        } else {
            (Num::Small(0), first)
        };
        let mut release = vec![Num::parse(first)?];
        while let Some(d) = c.digits_after(b'.') {
            release.push(Num::parse(d)?);
        }

        let pre = c.lettered(PRE_WORDS)?;
        // `-N` is an implicit post release and is tried before the spelled-out forms.
        let post = match c.digits_after(b'-') {
            Some(d) => Some(Num::parse(d)?),
            None => c.lettered(POST_WORDS)?.map(|((), n)| n),
        };
        let dev = c.lettered(DEV_WORDS)?.map(|((), n)| n);

        let local = if c.eat(|b| b == b'+') {
            let mut segments = Vec::new();
            loop {
                let start = c.pos;
                while c.eat(|b| b.is_ascii_alphanumeric()) {}
                let segment = &c.s[start..c.pos];
                if segment.is_empty() {
                    return Err(c.unexpected());
                }
                segments.push(if segment.bytes().all(|b| b.is_ascii_digit()) {
                    LocalSegment::Number(Num::parse(segment)?)
                } else {
                    LocalSegment::Text(segment.to_ascii_lowercase().into())
                });
                if !c.eat_separator() {
                    break;
                }
            }
            Some(segments.into_boxed_slice())
        } else {
            None
        };

        if c.pos != text.len() {
            return Err(c.unexpected());
        }
        let significant = release
            .iter()
            .rposition(|n| !n.is_zero())
            .map_or(0, |i| i + 1);
        Ok(Self {
            epoch,
            release: release.into_boxed_slice(),
            significant,
            pre,
            post,
            dev,
            local,
            original: s.to_owned(),
        })
    }
}

impl fmt::Display for Pep440Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl Ord for Pep440Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.significant_release().cmp(other.significant_release()))
            .then_with(|| self.pre_rank().cmp(&other.pre_rank()))
            .then_with(|| match (&self.pre, &other.pre) {
                (Some((_, a)), Some((_, b))) => a.cmp(b),
                // Equal ranks and no pre-release on either side: nothing more to compare here.
                _ => Ordering::Equal,
            })
            // `None` below `Some`: no post release sorts below any post release.
            .then_with(|| self.post.cmp(&other.post))
            .then_with(|| match (&self.dev, &other.dev) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialOrd for Pep440Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal as `packaging` sees it: `1.0 == 1.0.0 == v1.0`, `1.0a == 1.0-alpha0`, `+ABC == +abc`.
impl PartialEq for Pep440Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pep440Version {}

/// Hashes exactly what `Ord` compares, in normal form, so equal versions hash alike.
impl Hash for Pep440Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.epoch.hash(state);
        self.significant_release().hash(state);
        self.pre_rank().hash(state);
        self.pre.as_ref().map(|(_, n)| n).hash(state);
        self.post.hash(state);
        self.dev.hash(state);
        self.local.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Pep440Version {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn pep_440_summary_order() {
        // The ordering example from PEP 440 ("Summary of permitted suffixes and relative
        // ordering"), plus epochs and local versions; each strictly less than the next.
        let chain = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "1!0.1",
        ];
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn spellings_normalise_to_the_same_version() {
        let same = [
            ("1.0", "1.0.0.0"),
            ("v1.0", "1.0"),
            ("0!1.0", "1.0"),
            ("1.0a", "1.0a0"),
            ("1.0-ALPHA_1", "1.0a1"),
            ("1.0c1", "1.0rc1"),
            ("1.0pre1", "1.0rc1"),
            ("1.0preview1", "1.0rc1"),
            ("1.0-1", "1.0.post1"),
            ("1.0rev1", "1.0.post1"),
            ("1.0r", "1.0.post0"),
            ("1.0-dev", "1.0.dev0"),
            ("1.0+ABC-1_02", "1.0+abc.1.2"),
            ("01.002", "1.2"),
            (" \t1.0\n", "1.0"),
            ("\u{1c}1.0\u{85}", "1.0"),
            ("1.0a.", "1.0a0"),
            ("1.0a--1", "1.0a0.post1"),
            ("1.99999999999999999999999", "1.99999999999999999999999.0"),
        ];
        for (a, b) in same {
            assert_eq!(v(a), v(b), "{a} == {b}");
        }
        assert!(v("1.99999999999999999999999") > v("1.18446744073709551615"));
        assert!(v("1.0.dev0") < v("1.0a0"));
        assert!(v("1.0.post0.dev0") < v("1.0.post0"));
        assert!(v("1.0") < v("1.0+local"));
        assert!(v("1.0a1.dev1") < v("1.0a1"));
        assert!(v("1.0a1.post1") > v("1.0a1"));
        assert!(v("1.0+a") < v("1.0+a.b") && v("1.0+z") < v("1.0+0"));
    }

    #[test]
    fn what_packaging_rejects_is_an_error() {
        for bad in [
            "",
            "  ",
            "v",
            "1.0.",
            "1..0",
            "1.0-",
            "1.0+",
            "1.0+a..b",
            "1.0+a-",
            "1!",
            "1.0-1-1",
            "1.0.dev1.post1",
            "1.0a1b1",
            "1.0 a1",
            "V 1.0",
            "1.0\u{feff}",
            "1.0+\u{212a}",
            "\u{663}.0",
            "1.0-SNAPSHOT",
        ] {
            assert!(
                bad.parse::<Pep440Version>().is_err(),
                "{bad:?} should not parse"
            );
        }
        let huge = format!("1.{}", "9".repeat(MAX_DIGITS + 1));
        assert_eq!(
            huge.parse::<Pep440Version>().unwrap_err(),
            Pep440VersionError::TooManyDigits
        );
    }
}
