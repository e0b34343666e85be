//! The fast Cargo.lock reader against the general TOML parser: on every real lockfile it must
//! read exactly what the general parser reads, and on generated and mutated lockfiles it may give
//! up, but whenever it answers, the answer must be the general parser's.

use palisade_inventory::cargo::{fast_entries, slow_entries};
use proptest::prelude::*;

fn real_lockfiles() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/lockfiles/cargo");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        if std::env::var_os("CI").is_some() {
            panic!("CI must provide ../shared/data/lockfiles/cargo");
        }
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("Cargo.lock"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_fast_reader_reads_every_real_lockfile_like_the_general_parser() {
    let files = real_lockfiles();
    for (name, text) in &files {
        let fast = fast_entries(text);
        assert!(
            fast.is_some(),
            "{name}: the fast reader gave up on a real lockfile"
        );
        assert_eq!(fast, slow_entries(text), "{name}");
    }
    println!(
        "inventory real data: fast Cargo.lock reader agrees on {} files",
        files.len()
    );
}

#[test]
fn the_fast_reader_gives_up_on_what_cargo_never_writes() {
    for text in [
        "[[package]]\nname = \"a\\u0041\"\nversion = \"1.0.0\"\n",
        "[[package]]\nname = \"a\"\nname = \"b\"\n",
        "[[package]]\nname = \"a\"\n\"name\" = \"b\"\n",
        "\"name\" = \"a\"\nname = \"b\"\n",
        "\"package\" = 1\n",
        "[[package]]\nname = \"a\"\nchecksum = \"1\"\nchecksum = \"2\"\n",
        "[package]\nname = \"a\"\n",
        "package = 1\n",
        "[[package]]\nname = \"a\"\nversion = { x = 1 }\n",
        "[[package]]\nname = \"a\"\ndependencies = [\n \"b\",\n",
        "[metadata]\n[metadata]\n",
        "[[package]]\nname = 'a'\n",
        // A carriage return that does not end a line, and a space TOML does not allow.
        "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\r",
        "[[package]]\n\u{a0}name = \"a\"\n",
        "[metadata]\n\"checksum a\" = \"1\"\n\"checksum b\" = \"2\"\n\"checksum a\" = \"3\"\n",
        // Control characters in strings, in files the whole-file check does not pass, so each
        // string is checked on its own: a tab, a DEL, and a tab beside a backslash elsewhere.
        "[[package]]\nname = \"a\tb\"\nversion = \"1.0.0\"\n",
        "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\ndependencies = [\n \"b\u{7f}\",\n]\n",
        "# a \\ b\n[[package]]\nname = \"a\"\nversion = \"1\t0\"\n",
    ] {
        assert_eq!(fast_entries(text), None, "{text:?}");
    }
}

const LINES: &[&str] = &[
    "[[package]]",
    "name = \"serde\"",
    "name = \"tokio\"",
    "version = \"1.0.0\"",
    "version = \"0.2.0-alpha.1\"",
    "version = 3",
    "source = \"registry+https://github.com/rust-lang/crates.io-index\"",
    "source = \"git+https://example.org/x#abc\"",
    "checksum = \"abcdef\"",
    "dependencies = [",
    " \"serde\",",
    " \"tokio 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)\",",
    "]",
    "[metadata]",
    "\"checksum a 1.0 (registry+x)\" = \"ff\"",
    "[[patch.unused]]",
    "# a comment",
    "",
    "name = \"with\\\"quote\"",
    "[package]",
    "name = 'literal'",
    "x.y = \"dotted\"",
    // Line ends and spacing: CRLF, tabs and spaces around, a space TOML does not allow.
    "name = \"crlf\"\r",
    "\tversion = \"1.2.3\" ",
    "\u{a0}name = \"nbsp\"",
    "version = \"1.0.0\"\r\r",
    "\"checksum a 1.0 (registry+x)\" = \"ee\"",
    // Quoted forms of a package's own keys, the same keys in TOML.
    "\"name\" = \"quoted\"",
    "\"checksum\" = \"ab\"",
];

proptest! {
    #[test]
    fn whenever_the_fast_reader_answers_it_agrees(
        picks in proptest::collection::vec(0..LINES.len(), 0..40),
        crlf in any::<bool>(),
        last_newline in any::<bool>(),
    ) {
        // Lines end in `\n` or `\r\n`, and the last one may have no end at all.
        let end = if crlf { "\r\n" } else { "\n" };
        let mut text: String = picks.iter().map(|&i| format!("{}{end}", LINES[i])).collect();
        if !last_newline {
            text.truncate(text.len() - if picks.is_empty() { 0 } else { end.len() });
        }
        if let Some(fast) = fast_entries(&text) {
            prop_assert_eq!(Some(fast), slow_entries(&text), "{}", text);
        }
    }

    #[test]
    fn mutated_real_lockfiles_never_disagree(seed in 0usize..10_000, cut in 0usize..2_000, byte in any::<u8>()) {
        let files = real_lockfiles();
        if let Some((_, text)) = files.get(seed % files.len().max(1)) {
            let mut bytes = text.as_bytes()[..text.len().min(4_000)].to_vec();
            if !bytes.is_empty() {
                let at = cut % bytes.len();
                bytes[at] = byte;
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Some(fast) = fast_entries(&text) {
                prop_assert_eq!(Some(fast), slow_entries(&text));
            }
        }
    }
}
