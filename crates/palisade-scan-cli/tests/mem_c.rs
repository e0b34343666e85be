//! The `memcpy`, `memmove` and `memcmp` that the static musl build links in place of musl's
//! (`c/mem.c`, see `build.rs`), checked against byte-by-byte copies and comparisons by a C driver
//! built here with the system's C compiler. The functions are renamed for the check, so the C
//! library's own are not what is tested. A missing compiler fails the test: it is part of the
//! machine's toolchain.

#![cfg(target_arch = "x86_64")]

use std::path::Path;
use std::process::Command;

#[test]
fn copies_and_comparisons_match_byte_by_byte_ones() {
    let c = Path::new(env!("CARGO_MANIFEST_DIR")).join("c");
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("mem_test");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let built = Command::new(&compiler)
        .args([
            "-O2",
            "-fno-builtin",
            "-Dmemcpy=palisade_memcpy",
            "-Dmemmove=palisade_memmove",
            "-Dmemcmp=palisade_memcmp",
        ])
        .arg(c.join("mem.c"))
        .arg(c.join("mem_test.c"))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("running the C compiler `{compiler}`: {e}"));
    assert!(
        built.status.success(),
        "compiling c/mem.c: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "ok");
}
