//! SemVer ordering: property tests (a total order; any string parses or fails without panicking)
//! and a differential test against node-semver (`semver.clean` + `semver.compare`) on 10,000
//! generated pairs plus malformed variants, run through one `node` process. node-semver is looked
//! up in `PALISADE_NODE_SEMVER` (a directory with `node_modules/semver`), then `/tmp/nodeoracle`,
//! the working directory and `NODE_PATH`. Without it the differential test reports that it did not
//! run, except in CI (`CI` set), where it fails.

mod common;
mod properties;

use common::Rng;
use palisade_versions::semver::SemVersion;
use proptest::prelude::*;

// Small alphabets, so that equal and prefix-related versions come up often.
const NUMBER: &str = "(0|[1-9][0-9]?)";
const PRE_ID: &str = "(0|[1-9][0-9]?|[0-9]?[a-cA-C-][a-c0-9-]{0,2})";
const BUILD_ID: &str = "[a-z0-9-]{1,3}";

fn version_strategy() -> impl Strategy<Value = String> {
    let pattern = format!(
        "(=?v)?{NUMBER}\\.{NUMBER}\\.{NUMBER}(-{PRE_ID}(\\.{PRE_ID}){{0,3}})?(\\+{BUILD_ID}(\\.{BUILD_ID}){{0,2}})?"
    );
    proptest::string::string_regex(&pattern).expect("valid regex")
}

fn parse(s: &str) -> SemVersion {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn assert_roundtrip(s: &str) -> Result<(), TestCaseError> {
    properties::roundtrip::<SemVersion>(s).map(drop)
}

proptest! {
    #[test]
    fn ordering_is_reflexive_and_antisymmetric(a in version_strategy(), b in version_strategy()) {
        properties::total_order(&parse(&a), &parse(&b))?;
    }

    #[test]
    fn ordering_is_transitive(
        a in version_strategy(),
        b in version_strategy(),
        c in version_strategy(),
    ) {
        properties::transitive([parse(&a), parse(&b), parse(&c)])?;
    }

    #[test]
    fn equal_versions_hash_alike(a in version_strategy(), b in version_strategy()) {
        properties::hash_agrees(&parse(&a), &parse(&b))?;
    }

    #[test]
    fn any_string_parses_or_fails_cleanly(s in ".*") {
        assert_roundtrip(&s)?;
    }

    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        assert_roundtrip(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn version_like_strings_parse_or_fail_cleanly(s in "[ =v0-9.+a-zA-Z-]{0,16}") {
        assert_roundtrip(&s)?;
    }
}

/// The pieces of one generated version, so a second version can be made by changing one piece.
#[derive(Clone)]
struct Parts {
    pad: (&'static str, &'static str),
    prefix: &'static str,
    core: [&'static str; 3],
    pre: Vec<&'static str>,
    build: Vec<&'static str>,
}

// Up to 2^53 − 1: node-semver refuses larger numbers in MAJOR.MINOR.PATCH and compares larger
// pre-release numbers as floating point, both documented differences.
const CORE_NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "9",
    "10",
    "11",
    "99",
    "100",
    "2147483647",
    "4294967296",
    "9007199254740991",
];
const PRE_NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "9",
    "10",
    "11",
    "99",
    "100",
    "999999999",
    "9007199254740990",
    "9007199254740991",
];
// Alphanumeric identifiers: words, case, hyphen-only, digits before letters, digits after a hyphen.
const PRE_WORDS: &[&str] = &[
    "alpha", "beta", "rc", "a", "b", "A", "Z", "z", "-", "--", "a-b", "0a", "1a", "00a", "x-1",
    "alpha1", "beta2", "ALPHA", "Alpha", "0-", "-1", "rc-1",
];
const BUILD_IDS: &[&str] = &[
    "build",
    "001",
    "1",
    "exp",
    "sha",
    "5114f85",
    "20130313144700",
    "x-y",
    "-",
    "0",
];
// What JavaScript's trim removes, including U+FEFF, which Rust's `trim` would not.
const PADS: &[&str] = &[
    "", "", "", "", "", "", " ", "\t", "\n", "  ", "\u{a0}", "\u{feff}", "\u{2028}", "\u{3000}",
];
const PREFIXES: &[&str] = &["", "", "", "", "v", "=", "=v"];

impl Parts {
    fn generate(rng: &mut Rng) -> Self {
        let pad = if rng.one_in(6) {
            (rng.pick(PADS), rng.pick(PADS))
        } else {
            ("", "")
        };
        let mut parts = Parts {
            pad,
            prefix: rng.pick(PREFIXES),
            core: [
                rng.pick(CORE_NUMBERS),
                rng.pick(CORE_NUMBERS),
                rng.pick(CORE_NUMBERS),
            ],
            pre: Vec::new(),
            build: Vec::new(),
        };
        if rng.one_in(2) {
            for _ in 0..1 + rng.below(5) {
                parts.pre.push(Self::pre_id(rng));
            }
        }
        if rng.one_in(3) {
            for _ in 0..1 + rng.below(3) {
                parts.build.push(rng.pick(BUILD_IDS));
            }
        }
        // Small cores collide more often, which is where pre-release rules decide.
        if rng.one_in(2) {
            parts.core = ["1", "0", "0"];
        }
        parts
    }

    fn pre_id(rng: &mut Rng) -> &'static str {
        if rng.one_in(2) {
            rng.pick(PRE_NUMBERS)
        } else {
            rng.pick(PRE_WORDS)
        }
    }

    /// A neighbour: the same version with one piece changed, often equal in precedence.
    fn mutate(&self, rng: &mut Rng) -> Self {
        let mut p = self.clone();
        match rng.below(8) {
            0 => p.pre.push(Self::pre_id(rng)),
            1 => {
                p.pre.pop();
            }
            2 => {
                if let Some(last) = p.pre.last_mut() {
                    *last = Self::pre_id(rng);
                } else {
                    p.pre.push(Self::pre_id(rng));
                }
            }
            3 => p.build = vec![rng.pick(BUILD_IDS)],
            4 => p.prefix = rng.pick(PREFIXES),
            5 => p.core[2] = rng.pick(CORE_NUMBERS),
            6 => p.pre.clear(),
            _ => p.pad = (rng.pick(PADS), rng.pick(PADS)),
        }
        p
    }

    fn render(&self) -> String {
        let mut s = format!(
            "{}{}{}.{}.{}",
            self.pad.0, self.prefix, self.core[0], self.core[1], self.core[2]
        );
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre.join("."));
        }
        if !self.build.is_empty() {
            s.push('+');
            s.push_str(&self.build.join("."));
        }
        s.push_str(self.pad.1);
        s
    }
}

/// Malformed neighbours of a valid version, for checking that both sides reject the same text.
fn malformed(parts: &Parts, rng: &mut Rng) -> String {
    let valid = parts.render();
    let [major, minor, patch] = parts.core;
    match rng.below(14) {
        0 => format!("{major}.{minor}"),
        1 => format!("{major}.{minor}.{patch}.0"),
        2 => format!("0{major}.{minor}.{patch}"),
        3 => format!("{major}.{minor}.{patch}-01"),
        4 => format!("{major}.{minor}.{patch}-"),
        5 => format!("{major}.{minor}.{patch}+"),
        6 => format!("{major}.{minor}.{patch}-a..b"),
        7 => format!("{major}.{minor}.{patch}-a_b"),
        8 => format!("V{major}.{minor}.{patch}"),
        // U+0085 is Unicode whitespace but not JavaScript whitespace.
        9 => format!("{valid}\u{85}"),
        10 => format!("18446744073709551616.{minor}.{patch}"),
        11 => format!("{major}.{minor}.{patch}+é"),
        12 => format!("{major}.{minor}.x"),
        _ => rng
            .pick(&["", "   ", "v", "=", "-1.0.0", "1.0.0 - 2.0.0", "^1.0.0"])
            .to_owned(),
    }
}

const NODE_SCRIPT: &str = r#"
const path = require('path');
const dirs = [process.env.PALISADE_NODE_SEMVER, '/tmp/nodeoracle', process.cwd()].filter(Boolean);
let semver = null, where = null;
for (const dir of dirs) {
  try { where = require.resolve('semver', { paths: [dir] }); semver = require(where); break; } catch (e) {}
}
if (!semver) { try { where = require.resolve('semver'); semver = require(where); } catch (e) {} }
if (!semver) { console.log('MISSING node package semver not found'); process.exit(0); }
let version = '?';
try { version = require(path.join(path.dirname(where), 'package.json')).version; } catch (e) {}
const out = ['ORACLE node semver ' + version];
const input = require('fs').readFileSync(0, 'utf8');
for (const line of input.split('\n')) {
  if (line === '') continue;
  const [ha, hb] = line.split(' ');
  const a = semver.clean(Buffer.from(ha, 'hex').toString('utf8'));
  const b = semver.clean(Buffer.from(hb, 'hex').toString('utf8'));
  const order = a !== null && b !== null ? String(semver.compare(a, b)) : 'x';
  out.push((a !== null ? '1' : '0') + ' ' + (b !== null ? '1' : '0') + ' ' + order);
}
process.stdout.write(out.join('\n') + '\n');
"#;

const PREFIX: &str = "semver versions";
const INSTALL: &str = "npm install semver@7 in a directory named by PALISADE_NODE_SEMVER";

#[test]
fn agrees_with_node_semver_on_ten_thousand_generated_pairs() {
    let mut rng = Rng(0x5e3e_4a11_7e57);
    let mut pairs = Vec::new();
    while pairs.len() < 10_000 {
        let a = Parts::generate(&mut rng);
        // One pair in three are neighbours, where the subtle rules decide.
        let b = if rng.one_in(3) {
            a.mutate(&mut rng)
        } else {
            Parts::generate(&mut rng)
        };
        pairs.push((a.render(), b.render()));
    }
    for _ in 0..1_500 {
        let a = Parts::generate(&mut rng);
        let bad = malformed(&a, &mut rng);
        pairs.push((a.render(), bad));
    }
    let (oracle, verdicts) = match common::run_oracle("node", &["-e", NODE_SCRIPT], &pairs) {
        Ok(run) => run,
        Err(reason) => return common::oracle_missing(PREFIX, &reason, INSTALL),
    };
    common::check_against_oracle(
        PREFIX,
        &oracle,
        &pairs,
        &verdicts,
        |s| s.parse::<SemVersion>().is_ok(),
        |a, b| parse(a).cmp(&parse(b)),
    );
}
