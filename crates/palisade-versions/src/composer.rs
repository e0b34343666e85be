//! Composer (PHP, Packagist) versions, normalised and ordered the way Composer itself does when it
//! matches a version against a constraint. There is no PHP on the build machines, so instead of a
//! differential test the rules are written down here with their sources and pinned by the table
//! in `tests/composer_order.rs`.
//!
//! Normalisation follows composer/semver's `VersionParser::normalize` (src/VersionParser.php):
//! - surrounding whitespace is removed with PHP's `trim` set (space, `\t`, `\n`, `\r`, `\0`, `\x0B`);
//! - `master`, `trunk`, `default` and anything starting with `dev-` (any case) are branches;
//! - build metadata `+…` is dropped (`1.0.0+foo` is `1.0.0.0`);
//! - "classical" versions, `v?` then 1–5 digits and up to three more `.digits`, are padded to four
//!   parts (`1.2` → `1.2.0.0`, leading zeros kept: `00.01` stays `00.01.0.0`);
//! - otherwise date versions, `\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3}){0,2}`, keep their digits
//!   and turn every separator into `.` (`2010-01-02` → `2010.01.02`, `20100102` stays);
//! - either may carry the modifier `[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*+)?)?([.-]?dev)?`
//!   (case-insensitive), written out as `-alpha`, `-beta`, `-RC` or `-patch` plus its numbers
//!   (`-b.2` → `-beta2`, `-pl3` → `-patch3`), then `-dev`; `-stable` leaves the bare version;
//! - `1.x-dev`, `2.1.x-dev`, `1.*-dev` and other numbered branches (`normalizeBranch`) are
//!   branches too.
//!
//! Ordering is PHP's `version_compare` (PHP manual; php-src ext/standard/versioning.c) on the
//! normalised strings, which is what Composer's constraints evaluate (composer/semver
//! `Constraint::versionCompare`, reached through `Comparator`): `-`, `_`, `+` become `.`, letters
//! and digits are split apart, then parts compare left to right, numbers numerically and words by
//! their special-form rank `dev < alpha = a < beta = b < RC = rc < # < pl = p` (a number ranks as
//! `#`); when one side runs out, the other's next part decides: a number or `patch` makes it
//! greater, `dev`/`alpha`/`beta`/`RC` make it smaller. So
//! `1.0.0-dev < 1.0.0-alpha1 < 1.0.0-beta < 1.0.0-RC1 < 1.0.0 < 1.0.0-p1`, and
//! `1.0 == 1.0.0 == v1.0.0.0`.
//!
//! Deliberate refusals, each an error rather than a guess (callers report "cannot evaluate"):
//! - branches ([`ComposerVersionError::Branch`]): Composer never orders them against releases;
//! - any `#`: `version_compare` ranks a `#` part equal to every number, so `1.#` would equal both
//!   `1.5` and `1.6` while `1.5 < 1.6`, and the order would not be transitive;
//! - `stable` spelt in any case but lower (`1.0-STABLE`): Composer's check for it is
//!   case-sensitive, so it would keep `-stable`, which `version_compare` ranks below `dev`;
//! - numbers above `i64::MAX`: PHP's `strtol` clamps them, making different versions equal;
//! - constraint syntax that `normalize` tolerates but no real version carries: `as` aliases and
//!   `@stability` flags.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Why a string is not a Composer version that can be ordered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ComposerVersionError {
    #[error("version is empty")]
    Empty,
    #[error("{0:?} is a branch, not a release; Composer does not order branches")]
    Branch(String),
    #[error(
        "'#' is not allowed: PHP's version_compare treats it as a placeholder and cannot order it"
    )]
    Placeholder,
    #[error(
        "stability {0:?} must be lower case: Composer would keep it as an unknown word that sorts below dev"
    )]
    StabilityCase(String),
    #[error("number {0:?} is larger than PHP's integer range")]
    TooLarge(String),
    #[error("not a Composer version (expected something like 1.2.3, v1.2.3-beta.1 or 2010-01-02)")]
    Invalid,
}

/// One part of a normalised version as `version_compare` sees it. The variant order is the
/// comparison order: `dev < alpha < beta < RC < any number < patch` (numbers rank as PHP's `#`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Token {
    Dev,
    Alpha,
    Beta,
    Rc,
    Number(u64),
    Patch,
}

impl Token {
    /// How a side that still has this part compares with a side that has run out, which PHP
    /// decides by comparing the part with `#`.
    fn against_end(self) -> Ordering {
        match self {
            Token::Dev | Token::Alpha | Token::Beta | Token::Rc => Ordering::Less,
            Token::Number(_) | Token::Patch => Ordering::Greater,
        }
    }
}

/// A parsed, normalised Composer version.
#[derive(Clone, Debug)]
pub struct ComposerVersion {
    tokens: Box<[Token]>,
    normalized: String,
    original: String,
}

impl ComposerVersion {
    /// The normalised form `VersionParser::normalize` gives, e.g. `1.0.0.0-RC1`.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// Whether the version is below stable: `-dev`, `-alpha`, `-beta` or `-RC`.
    pub fn is_prerelease(&self) -> bool {
        self.tokens
            .iter()
            .any(|t| matches!(t, Token::Dev | Token::Alpha | Token::Beta | Token::Rc))
    }

    /// The text the version was parsed from.
    pub fn as_str(&self) -> &str {
        &self.original
    }
}

/// PHP's `trim` default character set.
fn is_php_trim(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\0' | '\u{b}')
}

/// PCRE's `\s` without the UTF flag.
fn is_pcre_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

fn starts_with_ignore_case(s: &[u8], prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn digits_end(s: &[u8], from: usize) -> usize {
    from + s.get(from..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    })
}

fn is_digit_at(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

/// The stability word of a modifier, as matched.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stability {
    Stable,
    Alpha,
    Beta,
    Rc,
    Patch,
}

// The alternation order of `$modifierRegex`. Each shorter word is a prefix of one before it, and
// the letters it would leave behind can never complete a match, so the first word that matches is
// the one PCRE ends up with.
const STABILITY_WORDS: &[(&str, Stability)] = &[
    ("stable", Stability::Stable),
    ("beta", Stability::Beta),
    ("b", Stability::Beta),
    ("RC", Stability::Rc),
    ("alpha", Stability::Alpha),
    ("a", Stability::Alpha),
    ("patch", Stability::Patch),
    ("pl", Stability::Patch),
    ("p", Stability::Patch),
];

/// A matched `$modifierRegex`.
struct Modifier<'a> {
    /// The stability word as written, its kind, and its numbers (`(?:[.-]?\d+)*`).
    stability: Option<(&'a str, Stability, &'a str)>,
    dev: bool,
}

/// Matches `$modifierRegex . '$'` against the whole of `r`, case-insensitively.
fn modifier(r: &str) -> Option<Modifier<'_>> {
    let b = r.as_bytes();
    let mut i = 0;
    // `[._-]?` is greedy; giving the separator back never helps, because the optional `[.-]` in
    // front of `dev` can take the same characters.
    if matches!(b.first(), Some(b'.' | b'_' | b'-')) {
        i += 1;
    }
    let mut stability = None;
    if let Some((word, kind)) = STABILITY_WORDS
        .iter()
        .find(|(w, _)| starts_with_ignore_case(&b[i..], w))
    {
        let written = &r[i..i + word.len()];
        i += word.len();
        let numbers_start = i;
        loop {
            if is_digit_at(b, i) {
                i = digits_end(b, i);
            } else if matches!(b.get(i), Some(b'.' | b'-')) && is_digit_at(b, i + 1) {
                i = digits_end(b, i + 1);
            } else {
                break;
            }
        }
        stability = Some((written, *kind, &r[numbers_start..i]));
    }
    let mut dev = false;
    if matches!(b.get(i), Some(b'.' | b'-')) && starts_with_ignore_case(&b[i + 1..], "dev") {
        i += 4;
        dev = true;
    } else if starts_with_ignore_case(&b[i..], "dev") {
        i += 3;
        dev = true;
    }
    (i == b.len()).then_some(Modifier { stability, dev })
}

/// Matches the classical pattern `^v?(\d{1,5}+)(\.\d++)?(\.\d++)?(\.\d++)?` + modifier + `$`,
/// returning the numeric parts (as written) and the modifier.
fn classical(s: &str) -> Option<(Vec<&str>, Modifier<'_>)> {
    let b = s.as_bytes();
    let start = usize::from(matches!(b.first(), Some(b'v' | b'V')));
    let end = digits_end(b, start);
    // More than five digits leaves a digit that nothing after the major can take.
    if end == start || end - start > 5 {
        return None;
    }
    let mut parts = vec![&s[start..end]];
    let mut i = end;
    while parts.len() < 4 && b.get(i) == Some(&b'.') && is_digit_at(b, i + 1) {
        let end = digits_end(b, i + 1);
        parts.push(&s[i + 1..end]);
        i = end;
    }
    Some((parts, modifier(&s[i..])?))
}

/// Matches the date pattern `^v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3}){0,2})` + modifier +
/// `$`, returning the date group and the modifier.
fn date(s: &str) -> Option<(&str, Modifier<'_>)> {
    let b = s.as_bytes();
    let start = usize::from(matches!(b.first(), Some(b'v' | b'V')));
    // The modifier cannot begin with a digit or with a separator followed by a digit, so the date
    // group must run to the last digit of the leading stretch of digits and date separators.
    let stretch = b[start..]
        .iter()
        .take_while(|c| c.is_ascii_digit() || matches!(c, b'.' | b':' | b'-'))
        .count();
    let group_len = b[start..start + stretch]
        .iter()
        .rposition(u8::is_ascii_digit)
        .map_or(0, |i| i + 1);
    let group = &s[start..start + group_len];
    if !date_group(group.as_bytes()) {
        return None;
    }
    Some((group, modifier(&s[start + group_len..])?))
}

fn date_group(g: &[u8]) -> bool {
    g.len() >= 4 && g[..4].iter().all(u8::is_ascii_digit) && date_pairs(g, 4, 0)
}

fn skip_date_separator(g: &[u8], i: usize) -> usize {
    if matches!(g.get(i), Some(b'.' | b':' | b'-')) {
        i + 1
    } else {
        i
    }
}

/// `(?:[.:-]?\d{2}){1,6}` after `count` repetitions, then the tail, to the end of `g`.
fn date_pairs(g: &[u8], i: usize, count: usize) -> bool {
    if count < 6 {
        let j = skip_date_separator(g, i);
        if is_digit_at(g, j) && is_digit_at(g, j + 1) && date_pairs(g, j + 2, count + 1) {
            return true;
        }
    }
    count >= 1 && date_tail(g, i, 0)
}

/// `(?:[.:-]?\d{1,3}){0,2}` after `count` repetitions, to the end of `g`.
fn date_tail(g: &[u8], i: usize, count: usize) -> bool {
    if i == g.len() {
        return true;
    }
    if count == 2 {
        return false;
    }
    let j = skip_date_separator(g, i);
    (1..=3)
        .rev()
        .any(|n| (j..j + n).all(|k| is_digit_at(g, k)) && date_tail(g, j + n, count + 1))
}

/// `normalizeBranch`'s numbered-branch pattern `^v?(\d++)(\.(?:\d++|[xX*])){0,3}$`, applied to
/// what precedes a trailing `[.-]?dev`.
fn numbered_branch(s: &str) -> bool {
    let Some(head) = s
        .len()
        .checked_sub(3)
        .filter(|&n| s.is_char_boundary(n) && s[n..].eq_ignore_ascii_case("dev"))
        .map(|n| &s[..n])
    else {
        return false;
    };
    let head = head
        .strip_suffix(['.', '-'])
        .unwrap_or(head)
        .trim_matches(is_php_trim);
    let b = head.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'v' | b'V')));
    let end = digits_end(b, i);
    if end == i {
        return false;
    }
    i = end;
    for _ in 0..3 {
        if b.get(i) != Some(&b'.') {
            break;
        }
        if matches!(b.get(i + 1), Some(b'x' | b'X' | b'*')) {
            i += 2;
        } else if is_digit_at(b, i + 1) {
            i = digits_end(b, i + 1);
        } else {
            return false;
        }
    }
    i == b.len()
}

fn number(digits: &str) -> Result<Token, ComposerVersionError> {
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .map(Token::Number)
        .ok_or_else(|| ComposerVersionError::TooLarge(digits.to_owned()))
}

impl FromStr for ComposerVersion {
    type Err = ComposerVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim_matches(is_php_trim);
        if text.is_empty() {
            return Err(ComposerVersionError::Empty);
        }
        if text.contains('#') {
            return Err(ComposerVersionError::Placeholder);
        }
        if matches!(text, "master" | "trunk" | "default")
            || starts_with_ignore_case(text.as_bytes(), "dev-")
        {
            return Err(ComposerVersionError::Branch(text.to_owned()));
        }
        // `^([^,\s+]++)\+[^\s]++$`: metadata from the first `+`; if that pattern fails the `+`
        // stays and nothing below accepts it.
        let core = match text.split_once('+') {
            Some((head, meta))
                if !head.is_empty()
                    && !head.contains(|c| c == ',' || is_pcre_space(c))
                    && !meta.is_empty()
                    && !meta.contains(is_pcre_space) =>
            {
                head
            }
            Some(_) => return Err(ComposerVersionError::Invalid),
            None => text,
        };

        let mut tokens = Vec::new();
        let mut normalized = String::new();
        let modifier = if let Some((parts, modifier)) = classical(core) {
            for i in 0..4 {
                let part = parts.get(i).copied().unwrap_or("0");
                if i > 0 {
                    normalized.push('.');
                }
                normalized.push_str(part);
                tokens.push(number(part)?);
            }
            modifier
        } else if let Some((group, modifier)) = date(core) {
            for (i, part) in group.split(|c: char| !c.is_ascii_digit()).enumerate() {
                if i > 0 {
                    normalized.push('.');
                }
                normalized.push_str(part);
                tokens.push(number(part)?);
            }
            modifier
        } else if numbered_branch(core) {
            return Err(ComposerVersionError::Branch(text.to_owned()));
        } else {
            return Err(ComposerVersionError::Invalid);
        };

        if let Some((written, kind, numbers)) = modifier.stability {
            let (word, token) = match kind {
                // `'stable' === $matches[$index]` returns the bare version, dropping numbers and
                // `-dev`; the comparison is case-sensitive, hence the refusal of other spellings.
                Stability::Stable if written == "stable" => {
                    return Ok(Self::new(tokens, normalized, s));
                }
                Stability::Stable => {
                    return Err(ComposerVersionError::StabilityCase(written.to_owned()));
                }
                Stability::Alpha => ("alpha", Token::Alpha),
                Stability::Beta => ("beta", Token::Beta),
                Stability::Rc => ("RC", Token::Rc),
                Stability::Patch => ("patch", Token::Patch),
            };
            normalized.push('-');
            normalized.push_str(word);
            tokens.push(token);
            let numbers = numbers.trim_start_matches(['.', '-']);
            normalized.push_str(numbers);
            // Empty when the word has no numbers (`-beta`); otherwise single separators only.
            for part in numbers.split(['.', '-']).filter(|p| !p.is_empty()) {
                tokens.push(number(part)?);
            }
        }
        if modifier.dev {
            normalized.push_str("-dev");
            tokens.push(Token::Dev);
        }
        Ok(Self::new(tokens, normalized, s))
    }
}

impl ComposerVersion {
    fn new(tokens: Vec<Token>, normalized: String, original: &str) -> Self {
        Self {
            tokens: tokens.into_boxed_slice(),
            normalized,
            original: original.to_owned(),
        }
    }
}

impl fmt::Display for ComposerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl Ord for ComposerVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.tokens, &other.tokens);
        for (x, y) in a.iter().zip(b.iter()) {
            match x.cmp(y) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        match a.len().cmp(&b.len()) {
            Ordering::Equal => Ordering::Equal,
            Ordering::Greater => a.get(b.len()).map_or(Ordering::Equal, |t| t.against_end()),
            Ordering::Less => b
                .get(a.len())
                .map_or(Ordering::Equal, |t| t.against_end().reverse()),
        }
    }
}

impl PartialOrd for ComposerVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal as Composer sees it: `1.0 == 1.0.0.0`, `1.0.0-b1 == 1.0.0-beta.1`, `01.1 == 1.01`.
impl PartialEq for ComposerVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ComposerVersion {}

/// Two versions compare equal exactly when their part lists are identical, so hashing the parts
/// agrees with `Eq`.
impl Hash for ComposerVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.tokens.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ComposerVersion {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_like_version_parser() {
        for (input, normalized) in [
            ("1.0.0", "1.0.0.0"),
            ("1.0.0RC1dev", "1.0.0.0-RC1-dev"),
            ("1.0.0.RC.15-dev", "1.0.0.0-RC15-dev"),
            ("1.0.0.pl3-dev", "1.0.0.0-patch3-dev"),
            ("1.0.0-alpha-2.1-3+foo", "1.0.0.0-alpha2.1-3"),
            ("2010-01-02-10-20-30.0.3", "2010.01.02.10.20.30.0.3"),
            ("20100102-203040-p1", "20100102.203040-patch1"),
            ("1.0.0-stable-dev", "1.0.0.0"),
        ] {
            assert_eq!(v(input).normalized(), normalized, "{input}");
        }
    }

    #[test]
    fn tail_rule_follows_version_compare() {
        assert!(
            v("1.0.0-beta") < v("1.0.0-beta0"),
            "a number after the end is greater"
        );
        assert!(
            v("1.0.0-beta1-dev") < v("1.0.0-beta1"),
            "dev after the end is smaller"
        );
        assert!(
            v("1.0.0") < v("1.0.0-patch1"),
            "patch after the end is greater"
        );
        assert!(v("20100102") < v("20100102.0"), "dates are not padded");
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            "1.x-dev".parse::<ComposerVersion>(),
            Err(ComposerVersionError::Branch(_))
        ));
        assert!(matches!(
            "1.0-STABLE".parse::<ComposerVersion>(),
            Err(ComposerVersionError::StabilityCase(_))
        ));
        assert!(matches!(
            "1.9223372036854775808".parse::<ComposerVersion>(),
            Err(ComposerVersionError::TooLarge(_))
        ));
        assert_eq!(
            "1.0.0+#1".parse::<ComposerVersion>().unwrap_err(),
            ComposerVersionError::Placeholder
        );
    }
}
