//! On the static musl build only, links `c/mem.c`'s `memcpy`, `memmove` and `memcmp` in place of
//! musl's.
//!
//! Why: musl's x86_64 `memcpy` moves the unaligned head and tail one `movsb` at a time around a
//! `rep movsq`, about 30 ns per call whatever the length. A 475-package scan makes about 15,000
//! short copies (report JSON, strings, vector growth), and with musl's copy they took a quarter
//! of the process (BENCHMARKS.md, "A musl `palisade-scan`, on an Intel machine"). glibc's copies
//! are fast, but its start-up runs dozens of `cpuid` instructions, each a trap to the hypervisor
//! in a VM, which cost more than the whole scan of a small lockfile. musl's `memcmp` compares one
//! byte at a time (4 % of a scan's instructions). No crate provides these symbols for a C
//! library to link against, hence the few lines of C.

fn main() {
    println!("cargo::rerun-if-changed=c/mem.c");
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl")
        && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
    {
        cc::Build::new()
            .file("c/mem.c")
            .opt_level(2)
            .flag("-fno-builtin")
            .compile("palisade_mem");
    }
}
