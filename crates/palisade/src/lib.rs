//! The `palisade` binary's library half: command-line parsing, configuration, start-up wiring and
//! the demo data set. Kept as a library so integration tests drive exactly what the binary runs.

/// `print!` and `println!` for the commands' output. The standard macros panic when the reader
/// has gone away (`palisade scan . | head`); these end the process as a closed pipe ends `cat`:
/// quietly, with the status a shell gives a command that SIGPIPE stopped (141).
macro_rules! out {
    ($($arg:tt)*) => { $crate::write_stdout(format_args!($($arg)*), false) };
}
macro_rules! outln {
    () => { $crate::write_stdout(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::write_stdout(format_args!($($arg)*), true) };
}

#[doc(hidden)]
pub use palisade_scan_cli::write_stdout;

pub mod advisories;
pub mod audit;
pub mod cli;
pub mod config;
pub mod demo;
pub mod demo_vulns;
pub mod keys;
pub mod mail;
pub mod outbound;
pub mod remote;
pub mod serve;
pub mod tls;
