//! Shared by the differential tests: a deterministic generator, and a runner that sends every
//! pair to a native implementation in one subprocess over stdin and reads back its verdicts.
//!
//! Protocol: one line per pair, `HEX(a) HEX(b)` (hex keeps whitespace and odd characters intact).
//! The oracle answers with a first line `ORACLE <description>` (or `MISSING <reason>` when it cannot
//! load its library), then per pair `OK_A OK_B CMP`: `1`/`0` for "parses", and `-1`/`0`/`1`, or `x`
//! when either side does not parse.

use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};

/// SplitMix64: a small deterministic generator, so every run checks the same pairs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// What the oracle said about one pair.
pub struct Verdict {
    pub a_ok: bool,
    pub b_ok: bool,
    pub order: Option<Ordering>,
}

/// The oracle's description and its verdicts, or why it could not run.
pub type OracleRun = Result<(String, Vec<Verdict>), String>;

/// Runs `program args…` once, feeding it all pairs. Only an oracle that cannot start, or that says
/// its library is missing, is an `Err` (a skip outside CI); any other malfunction fails the test.
pub fn run_oracle(program: &str, args: &[&str], pairs: &[(String, String)]) -> OracleRun {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let input: String = pairs
        .iter()
        .map(|(a, b)| format!("{} {}\n", hex(a), hex(b)))
        .collect();
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Written from another thread so a full stdout pipe cannot deadlock the two processes.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{program} failed: {e}"));
    let written = writer.join().expect("writer thread");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let header = lines.next().unwrap_or("");
    // Checked before the write result: an oracle without its library exits without reading.
    if let Some(reason) = header.strip_prefix("MISSING ") {
        return Err(reason.to_owned());
    }
    if let Err(e) = written {
        panic!("writing to {program}: {e}");
    }
    let Some(description) = header.strip_prefix("ORACLE ") else {
        panic!(
            "{program} gave no oracle header (status {}): {}\n{}",
            output.status,
            header,
            String::from_utf8_lossy(&output.stderr)
        );
    };
    assert!(
        output.status.success(),
        "{program} exited with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<Verdict> = lines
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let [a_ok, b_ok, order] = fields[..] else {
                panic!("bad oracle line {line:?}");
            };
            Verdict {
                a_ok: a_ok == "1",
                b_ok: b_ok == "1",
                order: match order {
                    "-1" => Some(Ordering::Less),
                    "0" => Some(Ordering::Equal),
                    "1" => Some(Ordering::Greater),
                    _ => None,
                },
            }
        })
        .collect();
    assert_eq!(verdicts.len(), pairs.len(), "one verdict per pair");
    Ok((description.to_owned(), verdicts))
}

/// A missing oracle skips the test, except in CI (`CI` set), where it must be installed.
pub fn oracle_missing(prefix: &str, reason: &str, install: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{prefix}: the differential test needs its native oracle in CI ({reason}); install it with: {install}"
    );
    println!("{prefix}: differential test not run: {reason} (install with: {install})");
}

/// Compares our answers with the oracle's and prints the summary line CI looks for. `ours`
/// returns, for one string, whether it parses, and for two parsed strings their order.
pub fn check_against_oracle(
    prefix: &str,
    oracle: &str,
    pairs: &[(String, String)],
    verdicts: &[Verdict],
    parses: impl Fn(&str) -> bool,
    compare: impl Fn(&str, &str) -> Ordering,
) {
    let mut compared = 0;
    let mut equal = 0;
    let mut rejected = 0;
    let mut disagreements = Vec::new();
    for ((a, b), verdict) in pairs.iter().zip(verdicts) {
        let (a_ok, b_ok) = (parses(a), parses(b));
        if (a_ok, b_ok) != (verdict.a_ok, verdict.b_ok) {
            disagreements.push(format!(
                "{a:?} / {b:?}: we parse ({a_ok}, {b_ok}), {oracle} parses ({}, {})",
                verdict.a_ok, verdict.b_ok
            ));
            continue;
        }
        rejected += usize::from(!a_ok) + usize::from(!b_ok);
        if a_ok && b_ok {
            compared += 1;
            let ours = compare(a, b);
            equal += usize::from(ours == Ordering::Equal);
            if Some(ours) != verdict.order {
                disagreements.push(format!(
                    "{a:?} vs {b:?}: ours {ours:?}, {oracle} {:?}",
                    verdict.order
                ));
            }
        }
    }
    println!(
        "{prefix}: {compared} pairs compared with {oracle}, {} disagreements ({equal} pairs equal; {rejected} invalid inputs rejected by both)",
        disagreements.len()
    );
    let shown = disagreements.len().min(50);
    assert!(
        disagreements.is_empty(),
        "{}\n({} shown of {})",
        disagreements[..shown].join("\n"),
        shown,
        disagreements.len()
    );
    assert!(
        compared >= 10_000,
        "at least 10,000 pairs compared: {compared}"
    );
}
