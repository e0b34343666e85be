//! `palisade-scan`: the scanner alone, for CI jobs that start one scan per lockfile. It takes the
//! same options as `palisade scan` and finds the advisory store by `--db`, `--data-dir`, or the
//! `PALISADE_ADVISORY_DB` and `PALISADE_DATA_DIR` variables (it reads no configuration file).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use palisade_scan_cli::{OutputFormat, ScanArgs};

#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Scan lockfiles, dpkg status files and SBOMs offline against a local advisory store.
#[derive(Debug, Parser)]
#[command(name = "palisade-scan", version)]
struct Args {
    /// Folder of the advisory store (default: `advisories` in the data folder).
    #[arg(long, value_name = "DIR", env = "PALISADE_ADVISORY_DB")]
    db: Option<PathBuf>,
    /// Data folder.
    #[arg(
        long,
        value_name = "DIR",
        env = "PALISADE_DATA_DIR",
        default_value = "./palisade-data"
    )]
    data_dir: PathBuf,
    #[command(flatten)]
    scan: ScanArgs,
}

/// The arguments of the usual invocations, read without clap; `None` for anything else (help,
/// version, mistakes, repeated options, values that start with `-` or are empty, non-UTF-8
/// text), which clap then reads. Whenever this answers, it answers as clap would (the tests
/// below hold the two together). Why by hand: building clap's command and matching against it
/// was about a tenth of a small scan's instructions and 30 of its page faults, for options this
/// few lines can read.
fn quick_args(args: &[OsString], env: impl Fn(&str) -> Option<OsString>) -> Option<Args> {
    fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
        slot.replace(value).is_none().then_some(())
    }
    let (mut db, mut data_dir, mut format, mut fail_on) = (None, None, None, None);
    let (mut ignore_file, mut debian_release, mut output) = (None, None, None);
    let mut paths = Vec::new();
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        if !arg.starts_with('-') {
            if arg.is_empty() {
                return None;
            }
            paths.push(PathBuf::from(arg));
            continue;
        }
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, value),
            _ => (arg, rest.next()?.to_str()?),
        };
        if value.is_empty() || value.starts_with('-') {
            return None;
        }
        match name {
            "--db" => set(&mut db, PathBuf::from(value))?,
            "--data-dir" => set(&mut data_dir, PathBuf::from(value))?,
            "--format" => set(&mut format, OutputFormat::from_str(value, false).ok()?)?,
            "--fail-on" => set(&mut fail_on, value.parse().ok()?)?,
            "--ignore-file" => set(&mut ignore_file, PathBuf::from(value))?,
            "--debian-release" => set(&mut debian_release, value.to_owned())?,
            "--output" | "-o" => set(&mut output, PathBuf::from(value))?,
            _ => return None,
        }
    }
    if paths.is_empty() {
        return None;
    }
    // As clap: an option given wins over its variable; an empty variable is left to clap.
    let from_env = |name: &str| match env(name) {
        Some(v) if v.is_empty() => Err(()),
        v => Ok(v.map(PathBuf::from)),
    };
    let db = match db {
        Some(d) => Some(d),
        None => from_env("PALISADE_ADVISORY_DB").ok()?,
    };
    let data_dir = match data_dir {
        Some(d) => d,
        None => from_env("PALISADE_DATA_DIR")
            .ok()?
            .unwrap_or_else(|| PathBuf::from("./palisade-data")),
    };
    Some(Args {
        db,
        data_dir,
        scan: ScanArgs {
            format: format.unwrap_or(OutputFormat::Table),
            fail_on,
            ignore_file,
            debian_release,
            output,
            paths,
        },
    })
}

fn main() -> std::process::ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let a = quick_args(&argv, |name| std::env::var_os(name)).unwrap_or_else(Args::parse);
    let db_dir = a.db.unwrap_or_else(|| a.data_dir.join("advisories"));
    let code = palisade_scan_cli::run(&db_dir, &a.scan).unwrap_or_else(|e| {
        // 2, so CI can tell "could not scan" from "vulnerabilities found" (1).
        eprintln!("error: {e}");
        2
    });
    std::process::ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("palisade-scan")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// `Some` only where clap reads the same arguments to the same result. Both see the real
    /// environment.
    fn agrees_with_clap(words: &[&str]) -> Result<bool, String> {
        let args = argv(words);
        let Some(quick) = quick_args(&args, |name| std::env::var_os(name)) else {
            return Ok(false);
        };
        let clap = Args::try_parse_from(&args)
            .map_err(|e| format!("{words:?}: read by hand, refused by clap: {e}"))?;
        let (quick, clap) = (format!("{quick:?}"), format!("{clap:?}"));
        if quick != clap {
            return Err(format!("{words:?}: by hand {quick}, by clap {clap}"));
        }
        Ok(true)
    }

    #[test]
    fn the_usual_invocations_are_read_by_hand_as_clap_reads_them() {
        let usual: &[&[&str]] = &[
            &["Cargo.lock"],
            &["--db", "store", "--format", "json", "Cargo.lock"],
            &[
                "--db=store",
                "--format=sarif",
                "a/Cargo.lock",
                "b/package-lock.json",
            ],
            &[
                "--fail-on",
                "high",
                "--output",
                "report.json",
                "--format",
                "cyclonedx-vex",
                ".",
            ],
            &[
                "-o",
                "out",
                "--ignore-file",
                "ignore.toml",
                "--debian-release",
                "bookworm",
                "status",
            ],
            &["--data-dir", "data", "site", "--fail-on", "critical"],
        ];
        for words in usual {
            assert_eq!(agrees_with_clap(words), Ok(true), "{words:?}");
        }
        // Left to clap: help, version, mistakes and forms the hand reading does not know.
        let declined: &[&[&str]] = &[
            &[],
            &["--help"],
            &["-V"],
            &["--format", "xml", "Cargo.lock"],
            &["--fail-on", "severe", "Cargo.lock"],
            &["--db", "a", "--db", "b", "Cargo.lock"],
            &["--db"],
            &["--db", "--format", "json", "Cargo.lock"],
            &["--unknown", "x", "Cargo.lock"],
            &["--db", "", "Cargo.lock"],
            &["", "Cargo.lock"],
            &["-oout", "Cargo.lock"],
            &["--", "Cargo.lock"],
        ];
        for words in declined {
            assert_eq!(agrees_with_clap(words), Ok(false), "{words:?}");
        }
    }

    #[test]
    fn variables_fill_in_what_the_options_leave_out() {
        let env = |name: &str| match name {
            "PALISADE_ADVISORY_DB" => Some(OsString::from("from-env")),
            "PALISADE_DATA_DIR" => Some(OsString::from("data-env")),
            _ => None,
        };
        let a = quick_args(&argv(&["x.lock"]), env).expect("read by hand");
        assert_eq!(a.db, Some(PathBuf::from("from-env")));
        assert_eq!(a.data_dir, PathBuf::from("data-env"));
        let a = quick_args(&argv(&["--db", "given", "x.lock"]), env).expect("read by hand");
        assert_eq!(a.db, Some(PathBuf::from("given")));
        // An empty variable is clap's to judge.
        let empty = |name: &str| (name == "PALISADE_DATA_DIR").then(OsString::new);
        assert!(quick_args(&argv(&["x.lock"]), empty).is_none());
    }

    proptest! {
        #[test]
        fn any_arguments_are_read_as_clap_reads_them_or_left_to_it(
            words in proptest::collection::vec(prop::sample::select(vec![
                "--db", "--db=s", "--data-dir", "--format", "--format=json", "json", "table",
                "sarif", "cyclonedx-vex", "xml", "--fail-on", "high", "low", "none", "unknown",
                "--output", "-o", "--output=r", "--ignore-file", "--debian-release", "12",
                "x.lock", "dir", "-", "--", "-x", "--help", "-V", "", "--db=",
            ]), 0..8)
        ) {
            prop_assert!(agrees_with_clap(&words).is_ok(), "{:?}", agrees_with_clap(&words));
        }
    }
}
