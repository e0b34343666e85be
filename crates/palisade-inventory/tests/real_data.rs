//! Every lockfile, status database and SBOM collected from public projects in
//! `/work/shared/data/lockfiles` (outside the repository; see its SOURCES.md files) is detected,
//! parsed and yields a plausible number of packages; cut short or edited, each one errors or
//! parses but never panics. Skipped when the folder is absent, except in CI.

use std::path::{Path, PathBuf};

use palisade_inventory::{Format, parse_auto};

fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/lockfiles");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "real inventory data missing at {} (required in CI)",
        dir.display()
    );
    println!("inventory real data: skipped, {} not found", dir.display());
    None
}

/// Data files (not SOURCES.md), relative to the data folder, sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("read data folder") {
            let path = entry.expect("read data folder entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n != "SOURCES.md") {
                let rel = path
                    .strip_prefix(dir)
                    .expect("inside the data folder")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read(&path).expect("read data file")));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Files that list few packages because the project had few: the count floor does not apply.
const SMALL: &[&str] = &["composer/eramba-uploader-2021.composer.lock"];

#[test]
fn every_real_file_is_detected_and_parsed() {
    let Some(dir) = data_dir() else { return };
    let files = files(&dir);
    assert!(!files.is_empty(), "no data files in {}", dir.display());
    for (name, content) in &files {
        let inv = parse_auto(name, content).unwrap_or_else(|e| panic!("{e}"));
        let dev = inv.packages.iter().filter(|p| p.dev).count();
        println!(
            "inventory real data: {name}: {}, {} packages ({dev} dev), {} unevaluable",
            inv.format,
            inv.packages.len(),
            inv.unevaluable.len()
        );
        let floor = if SMALL.contains(&name.as_str()) {
            0
        } else {
            10
        };
        assert!(
            inv.packages.len() > floor,
            "{name}: only {} packages",
            inv.packages.len()
        );
        // Lines are known for every entry of every real file.
        for p in &inv.packages {
            assert!(p.line.is_some(), "{name}: {} has no line", p.key);
        }
        if inv.format == Format::DpkgStatus {
            assert_eq!(inv.debian_release.as_deref(), Some("bookworm"));
        }
    }
}

#[test]
fn truncated_and_mutated_real_files_never_panic() {
    let Some(dir) = data_dir() else { return };
    for (name, content) in files(&dir) {
        let n = content.len();
        let cuts = [
            1,
            7,
            n / 10,
            n / 3,
            n / 2,
            n * 2 / 3,
            n * 9 / 10,
            n.saturating_sub(2),
        ];
        for cut in cuts {
            let part = content.get(..cut).unwrap_or(&content);
            match parse_auto(&name, part) {
                Ok(_) => {}
                Err(e) => assert!(e.to_string().starts_with(&name), "{e}"),
            }
        }
        // A few deterministic edits each: insert a structural character, delete a stretch,
        // overwrite a byte.
        let mut state = n as u64 | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % (1 << 31)).unwrap_or(0)
        };
        let inserts: [&[u8]; 8] = [b"[", b"{", b"\"", b"'", b"\n", b":", b"\xff", b"  "];
        for _ in 0..10 {
            let mut edited = content.clone();
            let at = next() % (edited.len() + 1);
            match next() % 3 {
                0 => {
                    let piece = inserts[next() % inserts.len()];
                    edited.splice(at..at, piece.iter().copied());
                }
                1 => {
                    let end = (at + next() % 40).min(edited.len());
                    edited.drain(at..end);
                }
                _ => {
                    if let Some(b) = edited.get_mut(at) {
                        *b = (next() % 256) as u8;
                    }
                }
            }
            if let Err(e) = parse_auto(&name, &edited) {
                assert!(e.to_string().starts_with(&name), "{e}");
            }
        }
    }
}
