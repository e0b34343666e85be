//! Fuzz target: the scan index reader must never panic or read past the file, whatever bytes
//! stand in `scan.idx`; every lookup a scan makes runs on what opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_vulndb::{AdvisoryLookup, INDEX_FILE, ScanIndex};
use palisade_vulns::{Ecosystem, PackageKey};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("palisade-fuzz-index-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    if std::fs::write(dir.join(INDEX_FILE), data).is_err() {
        return;
    }
    if let Ok(Some(ix)) = ScanIndex::open(&dir) {
        let keys = [
            PackageKey::new(Ecosystem::CratesIo, "", "tokio"),
            PackageKey::new(Ecosystem::Npm, "", "lodash"),
        ];
        let _ = ix.candidates_many(&keys);
        for rowid in [0, 1, 2, i64::MAX] {
            let _ = ix.head(rowid);
        }
        let _ = ix.has_enrichment();
        let _ = ix.alias_group("CVE-2024-0001");
        let _ = ix.kev("CVE-2024-0001");
        let _ = ix.epss("CVE-2024-0001");
    }
});
