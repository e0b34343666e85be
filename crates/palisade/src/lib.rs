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
pub mod scan;
pub mod serve;
pub mod tls;
