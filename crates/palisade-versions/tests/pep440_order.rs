//! PEP 440 ordering: property tests (a total order; any string parses or fails without panicking)
//! and a differential test against Python's `packaging.version.Version` on 10,000 generated pairs
//! plus malformed variants, run through one Python process (`PALISADE_PYTHON`, else `python3`).
//! Without `packaging` the differential test reports that it did not run, except in CI (`CI` set),
//! where it fails.

mod common;
mod properties;

use common::Rng;
use palisade_versions::pep440::Pep440Version;
use proptest::prelude::*;

const SEP: &str = "[._-]?";
const NUM: &str = "[0-2]?";
const PRE_WORD: &str = "(a|alpha|b|beta|c|rc|pre|preview|A|RC)";
const POST_WORD: &str = "(post|rev|r|POST)";
const LOCAL_SEG: &str = "[a-c0-2]{1,2}";

fn version_strategy() -> impl Strategy<Value = String> {
    let pattern = format!(
        "[vV]?([0-2]!)?[0-2](\\.[0-2]){{0,3}}\
         ({SEP}{PRE_WORD}{SEP}{NUM})?\
         (-[0-2]|{SEP}{POST_WORD}{SEP}{NUM})?\
         ({SEP}dev{SEP}{NUM})?\
         (\\+{LOCAL_SEG}([._-]{LOCAL_SEG}){{0,2}})?"
    );
    proptest::string::string_regex(&pattern).expect("valid regex")
}

fn parse(s: &str) -> Pep440Version {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn assert_roundtrip(s: &str) -> Result<(), TestCaseError> {
    properties::roundtrip::<Pep440Version>(s).map(drop)
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
    fn version_like_strings_parse_or_fail_cleanly(s in "[ vV!0-9._+abcdeioprstvwADPR-]{0,16}") {
        assert_roundtrip(&s)?;
    }
}

/// `[sep] word [sep] [number]`, as a pre, post or dev part is written.
#[derive(Clone)]
struct Lettered {
    before: &'static str,
    word: &'static str,
    after: &'static str,
    number: &'static str,
}

#[derive(Clone)]
enum Post {
    Implicit(&'static str),
    Lettered(Lettered),
}

/// The pieces of one generated version, so a second can be made by changing one piece.
#[derive(Clone)]
struct Parts {
    pad: (&'static str, &'static str),
    v: &'static str,
    epoch: &'static str,
    release: Vec<&'static str>,
    pre: Option<Lettered>,
    post: Option<Post>,
    dev: Option<Lettered>,
    local: Vec<(&'static str, &'static str)>,
}

// Python whitespace, including U+001C–U+001F and U+0085 (which `str.strip` and `\s` accept).
const PADS: &[&str] = &[
    "", "", "", "", "", "", " ", "\t", "\n", "\u{b}", "\u{c}", "\u{1c}", "\u{1f}", "\u{85}",
    "\u{a0}", "\u{2000}", "\u{3000}",
];
const VS: &[&str] = &["", "", "", "", "v", "V"];
const EPOCHS: &[&str] = &["", "", "", "", "", "", "0!", "1!", "2!", "01!", "10!"];
// Leading zeros, trailing zeros and numbers past u64.
const RELEASE: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "9",
    "10",
    "00",
    "01",
    "000",
    "11",
    "100",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
];
const SEPS: &[&str] = &["", "", ".", "-", "_"];
const NUMBERS: &[&str] = &["", "", "0", "1", "2", "00", "01", "10", "11"];
const PRE_WORDS: &[&str] = &[
    "a", "alpha", "b", "beta", "c", "rc", "pre", "preview", "A", "ALPHA", "Rc", "RC", "PREVIEW",
    "Beta", "C", "Pre",
];
const POST_WORDS: &[&str] = &["post", "rev", "r", "POST", "Rev", "R"];
const DEV_WORDS: &[&str] = &["dev", "DEV", "Dev"];
const LOCAL: &[&str] = &[
    "abc", "ABC", "ubuntu", "Ubuntu", "1", "01", "0", "2", "a1", "10", "z", "Z", "deadbeef",
];
const LOCAL_SEPS: &[&str] = &[".", "-", "_"];

impl Lettered {
    fn generate(rng: &mut Rng, words: &[&'static str]) -> Self {
        Lettered {
            before: rng.pick(SEPS),
            word: rng.pick(words),
            after: rng.pick(SEPS),
            number: rng.pick(NUMBERS),
        }
    }

    fn render(&self, s: &mut String) {
        for piece in [self.before, self.word, self.after, self.number] {
            s.push_str(piece);
        }
    }
}

impl Parts {
    fn generate(rng: &mut Rng) -> Self {
        let mut release = vec![rng.pick(RELEASE)];
        for _ in 0..rng.below(4) {
            release.push(rng.pick(RELEASE));
        }
        // Short releases with a shared prefix meet more often, where the suffix rules decide.
        if rng.one_in(2) {
            release = vec!["1", "0"];
            release.extend(std::iter::repeat_n("0", rng.below(3)));
        }
        let post = match rng.below(6) {
            0 => Some(Post::Implicit(rng.pick(&["0", "1", "2", "01", "10"]))),
            1 | 2 => Some(Post::Lettered(Lettered::generate(rng, POST_WORDS))),
            _ => None,
        };
        Parts {
            pad: if rng.one_in(6) {
                (rng.pick(PADS), rng.pick(PADS))
            } else {
                ("", "")
            },
            v: rng.pick(VS),
            epoch: rng.pick(EPOCHS),
            release,
            pre: rng.one_in(2).then(|| Lettered::generate(rng, PRE_WORDS)),
            post,
            dev: rng.one_in(3).then(|| Lettered::generate(rng, DEV_WORDS)),
            local: Self::local(rng),
        }
    }

    fn local(rng: &mut Rng) -> Vec<(&'static str, &'static str)> {
        if !rng.one_in(4) {
            return Vec::new();
        }
        (0..1 + rng.below(4))
            .map(|_| (rng.pick(LOCAL_SEPS), rng.pick(LOCAL)))
            .collect()
    }

    /// A neighbour: the same version with one piece changed, often equal after normalisation.
    fn mutate(&self, rng: &mut Rng) -> Self {
        let mut p = self.clone();
        match rng.below(9) {
            0 => p.release.push(rng.pick(&["0", "00", "1"])),
            1 => {
                if p.release.len() > 1 {
                    p.release.pop();
                }
            }
            2 => p.pre = rng.one_in(3).then(|| Lettered::generate(rng, PRE_WORDS)),
            3 => p.post = Some(Post::Lettered(Lettered::generate(rng, POST_WORDS))),
            4 => p.dev = rng.one_in(3).then(|| Lettered::generate(rng, DEV_WORDS)),
            5 => p.local = Self::local(rng),
            6 => p.epoch = rng.pick(EPOCHS),
            7 => p.v = rng.pick(VS),
            _ => {
                if let Some(pre) = &mut p.pre {
                    pre.number = rng.pick(NUMBERS);
                    pre.before = rng.pick(SEPS);
                }
            }
        }
        p
    }

    fn render(&self) -> String {
        let mut s = format!("{}{}{}", self.pad.0, self.v, self.epoch);
        s.push_str(&self.release.join("."));
        if let Some(pre) = &self.pre {
            pre.render(&mut s);
        }
        match &self.post {
            Some(Post::Implicit(n)) => {
                s.push('-');
                s.push_str(n);
            }
            Some(Post::Lettered(post)) => post.render(&mut s),
            None => {}
        }
        if let Some(dev) = &self.dev {
            dev.render(&mut s);
        }
        for (i, (sep, segment)) in self.local.iter().enumerate() {
            s.push_str(if i == 0 { "+" } else { sep });
            s.push_str(segment);
        }
        s.push_str(self.pad.1);
        s
    }
}

/// Malformed neighbours of a valid version (and near misses that are valid after all), for
/// checking that both sides accept exactly the same text.
fn malformed(parts: &Parts, rng: &mut Rng) -> String {
    let valid = parts.render();
    let release = parts.release.join(".");
    match rng.below(20) {
        0 => format!("{release}."),
        1 => format!("{release}..0"),
        2 => format!("{release}-"),
        3 => format!("{valid}+"),
        4 => format!("{release}+a..b"),
        5 => format!("{release}-1-1"),
        6 => format!("{release}.dev1.post1"),
        7 => format!("{release}a1b1"),
        8 => format!("{release} a1"),
        9 => format!("{valid}\u{feff}"),
        10 => format!("{release}+\u{212a}"),
        11 => format!("{release}po\u{17f}t1"),
        12 => format!("\u{663}.{release}"),
        13 => format!("{release}-SNAPSHOT"),
        14 => format!("vv{release}"),
        15 => format!("{release}_1"),
        16 => format!("{release}-r-1"),
        17 => format!("1.{}", "9".repeat(4300)),
        18 => format!("1.{}", "0".repeat(4301)),
        _ => rng
            .pick(&[
                "",
                " ",
                "!1",
                "1!",
                "v",
                "1.0+",
                "1.0.",
                "a1",
                "1.0 .1",
                "1.0-dev-1",
            ])
            .to_owned(),
    }
}

const PYTHON_SCRIPT: &str = r#"
import platform, sys
try:
    import packaging
    from packaging.version import Version
except ImportError as e:
    print("MISSING python package packaging not importable (" + str(e) + ")")
    sys.exit(0)

def parse(s):
    try:
        return Version(s)
    except ValueError:  # InvalidVersion, and int()'s digit limit
        return None

out = ["ORACLE python packaging %s on Python %s" % (packaging.__version__, platform.python_version())]
for line in sys.stdin.buffer.read().decode("ascii").split("\n"):
    if not line:
        continue
    ha, hb = line.split(" ")
    a = parse(bytes.fromhex(ha).decode("utf-8"))
    b = parse(bytes.fromhex(hb).decode("utf-8"))
    if a is None or b is None:
        order = "x"
    else:
        order = "-1" if a < b else ("0" if a == b else "1")
    out.append("%d %d %s" % (a is not None, b is not None, order))
sys.stdout.write("\n".join(out) + "\n")
"#;

const PREFIX: &str = "pep440 versions";
const INSTALL: &str = "pip install packaging (python3, or the interpreter in PALISADE_PYTHON)";

#[test]
fn agrees_with_python_packaging_on_ten_thousand_generated_pairs() {
    let mut rng = Rng(0x0e94_4050_7e57);
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
    let python = std::env::var("PALISADE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let (oracle, verdicts) = match common::run_oracle(&python, &["-c", PYTHON_SCRIPT], &pairs) {
        Ok(run) => run,
        Err(reason) => return common::oracle_missing(PREFIX, &reason, INSTALL),
    };
    common::check_against_oracle(
        PREFIX,
        &oracle,
        &pairs,
        &verdicts,
        |s| s.parse::<Pep440Version>().is_ok(),
        |a, b| parse(a).cmp(&parse(b)),
    );
}
