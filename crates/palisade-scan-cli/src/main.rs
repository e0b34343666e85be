//! `palisade-scan`: the scanner alone, for CI jobs that start one scan per lockfile. It takes the
//! same options as `palisade scan` and finds the advisory store by `--db`, `--data-dir`, or the
//! `PALISADE_ADVISORY_DB` and `PALISADE_DATA_DIR` variables (it reads no configuration file).

use std::path::PathBuf;

use clap::Parser;
use palisade_scan_cli::ScanArgs;

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

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let db_dir = a.db.unwrap_or_else(|| a.data_dir.join("advisories"));
    let code = palisade_scan_cli::run(&db_dir, &a.scan).unwrap_or_else(|e| {
        // 2, so CI can tell "could not scan" from "vulnerabilities found" (1).
        eprintln!("error: {e}");
        2
    });
    std::process::ExitCode::from(code)
}
