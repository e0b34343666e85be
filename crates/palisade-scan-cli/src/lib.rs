//! The scan command as both executables run it: `palisade scan` and the scan-only
//! `palisade-scan`, which CI images start once per lockfile and which therefore carries nothing
//! but the scanner (no server, no configuration file, no async runtime). Exit status 0 when
//! nothing at or above `--fail-on` was found, 1 when something was, 2 when the scan could not run.

use std::path::{Path, PathBuf};

use palisade_scan::{IgnoreFile, ScanOptions, report};
use palisade_vulns::SeverityLevel;

/// Output formats of a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Sarif,
    CyclonedxVex,
}

/// The default ignore file, read when present and no `--ignore-file` is given.
pub const DEFAULT_IGNORE_FILE: &str = ".palisade-ignore.toml";

/// The options of a scan, as both executables take them (the advisory store is located by each
/// executable in its own way).
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Exit with status 1 when a vulnerability at or above this severity (low, medium, high,
    /// critical) is found; unknown severities count as meeting it.
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<SeverityLevel>,
    /// Ignore file (default: ./.palisade-ignore.toml when present).
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,
    /// Debian release (codename or number) for dpkg status files that do not reveal it.
    #[arg(long, value_name = "RELEASE")]
    pub debian_release: Option<String>,
    /// Write the report to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Files or folders to scan; folders are searched for lockfiles and inventories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("reading ignore file {path}: {source}")]
    ReadIgnore {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Ignore(#[from] palisade_scan::ignore::IgnoreError),
    #[error(transparent)]
    Db(#[from] palisade_vulndb::DbError),
    #[error(transparent)]
    Scan(#[from] palisade_scan::ScanError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs a scan against the store in `db_dir` and returns the process exit code (0 or 1; errors
/// are for the caller to turn into 2).
pub fn run(db_dir: &Path, a: &ScanArgs) -> Result<u8, RunError> {
    let ignore = match &a.ignore_file {
        Some(f) => read_ignore(f)?,
        None if Path::new(DEFAULT_IGNORE_FILE).exists() => {
            read_ignore(Path::new(DEFAULT_IGNORE_FILE))?
        }
        None => IgnoreFile::default(),
    };
    let db = palisade_vulndb::open_for_scan(db_dir)?;
    let now = jiff::Timestamp::now();
    let opts = ScanOptions {
        debian_release: a.debian_release.clone(),
        ignore,
        today: now.to_zoned(jiff::tz::TimeZone::UTC).date(),
    };
    // A bar only for scans long enough to want one, made when one turns out to be (setting up
    // its style was 2 % of a one-lockfile scan); indicatif draws nothing when stderr is not a
    // terminal, so CI logs stay clean.
    let mut bar: Option<indicatif::ProgressBar> = None;
    let r = palisade_scan::scan_with_progress(db.as_ref(), &a.paths, &opts, &mut |done, total| {
        if total >= 20 {
            let bar = bar.get_or_insert_with(|| {
                let bar = indicatif::ProgressBar::new(total as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg:>8} [{bar:40}] {pos}/{len} files",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_message("scanning");
                bar
            });
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let text = match a.format {
        OutputFormat::Table => report::to_table(&r),
        OutputFormat::Json => report::to_json(&r),
        OutputFormat::Sarif => report::to_sarif(&r),
        OutputFormat::CyclonedxVex => report::to_cyclonedx_vex(&r, now),
    };
    match &a.output {
        Some(path) => std::fs::write(path, text).map_err(|source| RunError::Write {
            path: path.display().to_string(),
            source,
        })?,
        None => write_stdout(format_args!("{text}"), false),
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

fn read_ignore(path: &Path) -> Result<IgnoreFile, RunError> {
    let text = std::fs::read_to_string(path).map_err(|source| RunError::ReadIgnore {
        path: path.display().to_string(),
        source,
    })?;
    Ok(IgnoreFile::parse(&path.display().to_string(), &text)?)
}

/// Writes to standard output. The standard macros panic when the reader has gone away
/// (`palisade scan . | head`); this ends the process as a closed pipe ends `cat`: quietly, with
/// the status a shell gives a command that SIGPIPE stopped (141).
pub fn write_stdout(args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
        // Anything else (a full disk behind a redirection) is as fatal as it was with `print!`,
        // but says what happened.
        Err(e) => {
            eprintln!("error: writing to standard output: {e}");
            std::process::exit(1);
        }
    }
}
