//! Entry point: parse the command line and run it. Everything else lives in the library half.

use clap::Parser;

// mimalloc rather than glibc's allocator: glibc's malloc and free were a fifth of the samples of a
// first full match, which allocates and frees millions of short strings; with mimalloc the match
// took 23.8 s instead of 26.8 s (BENCHMARKS.md, fleet). SQLite keeps its own allocator calls.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = palisade::cli::Cli::parse();
    let result = if cli.command.needs_runtime() {
        run_async(cli)
    } else {
        palisade::cli::run_offline(cli)
    };
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_async(cli: palisade::cli::Cli) -> anyhow::Result<u8> {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => anyhow::bail!("cannot start the async runtime: {e}"),
    };
    runtime.block_on(palisade::cli::run(cli))
}
