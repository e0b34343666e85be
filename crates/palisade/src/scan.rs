//! `palisade scan PATH…`: the offline scanner. Exit status 0 when nothing at or above
//! `--fail-on` was found, 1 when something was, 2 when the scan itself could not run.

use std::path::{Path, PathBuf};

use anyhow::Context;
use palisade_scan::{IgnoreFile, ScanOptions, report};
use palisade_vulndb::VulnDb;
use palisade_vulns::SeverityLevel;

/// Output formats of `palisade scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Sarif,
    CyclonedxVex,
}

/// The default ignore file, read when present and no `--ignore-file` is given.
pub const DEFAULT_IGNORE_FILE: &str = ".palisade-ignore.toml";

pub struct ScanArgs<'a> {
    pub db_dir: &'a Path,
    pub paths: &'a [PathBuf],
    pub format: OutputFormat,
    pub fail_on: Option<SeverityLevel>,
    pub ignore_file: Option<&'a Path>,
    pub debian_release: Option<String>,
    pub output: Option<&'a Path>,
}

/// Runs a scan and returns the process exit code.
pub fn run(a: ScanArgs<'_>) -> anyhow::Result<u8> {
    let ignore = match a.ignore_file {
        Some(f) => read_ignore(f)?,
        None if Path::new(DEFAULT_IGNORE_FILE).exists() => {
            read_ignore(Path::new(DEFAULT_IGNORE_FILE))?
        }
        None => IgnoreFile::default(),
    };
    let db = VulnDb::open_existing(a.db_dir)?;
    let now = jiff::Timestamp::now();
    let opts = ScanOptions {
        debian_release: a.debian_release,
        ignore,
        today: now.to_zoned(jiff::tz::TimeZone::UTC).date(),
    };
    // A bar only for scans long enough to want one; indicatif draws nothing when stderr is not
    // a terminal, so CI logs stay clean.
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} files")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("scanning");
    let r = palisade_scan::scan_with_progress(&db, a.paths, &opts, &mut |done, total| {
        if total >= 20 {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    })?;
    bar.finish_and_clear();
    let text = match a.format {
        OutputFormat::Table => report::to_table(&r),
        OutputFormat::Json => report::to_json(&r),
        OutputFormat::Sarif => report::to_sarif(&r),
        OutputFormat::CyclonedxVex => report::to_cyclonedx_vex(&r, now),
    };
    match a.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => out!("{text}"),
    }
    if a.format != OutputFormat::Table {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        for f in r.files.iter().filter_map(|f| f.error.as_deref()) {
            eprintln!("error: {f}");
        }
    }
    Ok(match a.fail_on {
        Some(level) if r.failing(level) > 0 => 1,
        _ => 0,
    })
}

fn read_ignore(path: &Path) -> anyhow::Result<IgnoreFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading ignore file {}", path.display()))?;
    Ok(IgnoreFile::parse(&path.display().to_string(), &text)?)
}
