//! Reading an inventory upload: one or several files in any format the inventory parsers know, or
//! a tar archive (optionally gzip-compressed) of a site's root, in which the same files are found
//! by the same rules `palisade scan` applies to a folder. The result is one package list for the
//! environment; any file that fails to parse fails the whole upload, so a snapshot never records
//! half of what is installed.

use std::io::Read;
use std::path::Path;

use palisade_fleet::Package;
use palisade_inventory::Inventory;
use palisade_store::SnapshotSource;
use palisade_vulns::Ecosystem;

/// Most bytes read out of one archive (after decompression).
pub const MAX_ARCHIVE_BYTES: u64 = 256 * 1024 * 1024;
/// Most entries looked at in one archive.
pub const MAX_ARCHIVE_ENTRIES: usize = 200_000;
/// Most inventory files in one upload.
pub const MAX_FILES: usize = 200;

/// One uploaded file.
#[derive(Clone, Debug)]
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Why an upload was refused. Each names the file (and inside an archive, the entry).
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("{0}")]
    Parse(#[from] palisade_inventory::ParseError),
    #[error(
        "{file}: not a recognised inventory format (name it as the tool does: composer.lock, package-lock.json, …)"
    )]
    Unrecognised { file: String },
    #[error("{file}: {message}")]
    Archive { file: String, message: String },
    #[error("the upload holds no inventory file")]
    Empty,
    #[error("the upload holds more than {MAX_FILES} inventory files")]
    TooManyFiles,
}

/// What an upload says is installed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    /// Sorted, each (key, version) once; dev only if every file lists it as dev.
    pub packages: Vec<Package>,
    pub sources: Vec<SnapshotSource>,
    pub unevaluable: Vec<String>,
}

fn is_archive(u: &Upload) -> bool {
    let n = u.name.to_ascii_lowercase();
    n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

/// Reads every file of an upload.
pub fn parse_uploads(uploads: &[Upload]) -> Result<Parsed, IntakeError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for u in uploads {
        if is_archive(u) {
            files.extend(read_archive(u)?);
        } else {
            files.push((u.name.clone(), u.bytes.clone()));
        }
        if files.len() > MAX_FILES {
            return Err(IntakeError::TooManyFiles);
        }
    }
    if files.is_empty() {
        return Err(IntakeError::Empty);
    }
    let mut out = Parsed::default();
    let mut all: Vec<Package> = Vec::new();
    for (name, bytes) in &files {
        let Some(format) = palisade_inventory::detect(name, bytes) else {
            return Err(IntakeError::Unrecognised { file: name.clone() });
        };
        let inv = palisade_inventory::parse(format, name, bytes)?;
        out.sources.push(SnapshotSource {
            file: name.clone(),
            format: format.name().to_owned(),
            packages: u32::try_from(inv.packages.len()).unwrap_or(u32::MAX),
        });
        add_inventory(name, inv, &mut all, &mut out.unevaluable);
    }
    // Each file lists its packages in an order of its own, mostly sorted by name: a stable sort
    // merges those runs, where inserting into an ordered set compared strings on every step (a
    // tenth of the CPU of inventory intake).
    all.sort();
    // A version listed as runtime by one file and dev by another is a runtime dependency.
    let mut packages: Vec<Package> = Vec::with_capacity(all.len());
    for p in all {
        match packages.last_mut() {
            Some(last) if last.key == p.key && last.version == p.version => last.dev &= p.dev,
            _ => packages.push(p),
        }
    }
    out.packages = packages;
    Ok(out)
}

fn add_inventory(
    name: &str,
    inv: Inventory,
    all: &mut Vec<Package>,
    unevaluable: &mut Vec<String>,
) {
    for u in inv.unevaluable {
        unevaluable.push(format!(
            "{name}: {} {} — {}",
            u.name, u.requirement, u.reason
        ));
    }
    let mut unplaced = 0usize;
    for p in inv.packages {
        let mut key = p.key;
        if key.ecosystem == Ecosystem::Debian && key.qualifier.is_empty() {
            match &inv.debian_release {
                Some(r) => key.qualifier = r.clone(),
                None => {
                    unplaced += 1;
                    continue;
                }
            }
        }
        all.push(Package {
            key,
            version: p.version,
            dev: p.dev,
        });
    }
    if unplaced > 0 {
        unevaluable.push(format!(
            "{name}: {unplaced} Debian packages — their Debian release is unknown (the status \
             file has no base-files package, or a purl has no distro)"
        ));
    }
}

/// The inventory files inside a tar archive of a site's root.
fn read_archive(u: &Upload) -> Result<Vec<(String, Vec<u8>)>, IntakeError> {
    let err = |message: String| IntakeError::Archive {
        file: u.name.clone(),
        message,
    };
    let gz = u.bytes.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read + '_> = if gz {
        Box::new(flate2::read::GzDecoder::new(&u.bytes[..]))
    } else {
        Box::new(&u.bytes[..])
    };
    // The limit counts decompressed bytes, so a small compressed bomb stops at it.
    let mut archive = tar::Archive::new(reader.take(MAX_ARCHIVE_BYTES));
    let mut out = Vec::new();
    let entries = archive.entries().map_err(|e| err(e.to_string()))?;
    for (i, entry) in entries.enumerate() {
        if i >= MAX_ARCHIVE_ENTRIES {
            return Err(err(format!("more than {MAX_ARCHIVE_ENTRIES} entries")));
        }
        let mut entry = entry.map_err(|e| err(format!("entry {}: {e}", i + 1)))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| err(format!("entry {}: {e}", i + 1)))?
            .into_owned();
        // Archives made with `tar -C root .` start every path with `./`.
        let rel = path.strip_prefix(".").unwrap_or(&path).to_path_buf();
        if !palisade_scan::discover::is_site_inventory(&rel) {
            continue;
        }
        let shown = format!("{}:{}", u.name, display(&rel));
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| err(format!("{}: {e}", display(&rel))))?;
        out.push((shown, bytes));
    }
    if out.is_empty() {
        return Err(err("holds no inventory file (composer.lock, package-lock.json, vendor/composer/installed.json, …)".into()));
    }
    Ok(out)
}

fn display(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSER: &str = r#"{"packages":[{"name":"twig/twig","version":"v3.4.0"}],
        "packages-dev":[{"name":"phpunit/phpunit","version":"9.5.0"}]}"#;
    const NPM: &str = r#"{"lockfileVersion":3,"packages":{"":{"name":"site"},
        "node_modules/lodash":{"version":"4.17.20"}}}"#;

    fn tarball(files: &[(&str, &str)], gzip: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, text) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, text.as_bytes()).unwrap();
        }
        let raw = b.into_inner().unwrap();
        if !gzip {
            return raw;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn several_files_make_one_list_with_dev_packages_flagged() {
        let p = parse_uploads(&[
            Upload {
                name: "composer.lock".into(),
                bytes: COMPOSER.into(),
            },
            Upload {
                name: "package-lock.json".into(),
                bytes: NPM.into(),
            },
        ])
        .unwrap();
        let names: Vec<(&str, bool)> = p
            .packages
            .iter()
            .map(|p| (p.key.name.as_str(), p.dev))
            .collect();
        assert_eq!(
            names,
            vec![
                ("lodash", false),
                ("phpunit/phpunit", true),
                ("twig/twig", false)
            ]
        );
        assert_eq!(p.sources.len(), 2);
    }

    #[test]
    fn a_site_archive_is_read_by_the_folder_rules() {
        for gzip in [false, true] {
            let bytes = tarball(
                &[
                    ("./composer.lock", COMPOSER),
                    ("./vendor/acme/lib/composer.lock", "not read"),
                    ("./node_modules/x/package-lock.json", "not read"),
                    ("./web/package-lock.json", NPM),
                    ("./README.md", "hello"),
                ],
                gzip,
            );
            let p = parse_uploads(&[Upload {
                name: "site.tar.gz".into(),
                bytes,
            }])
            .unwrap();
            let files: Vec<&str> = p.sources.iter().map(|s| s.file.as_str()).collect();
            assert_eq!(
                files,
                vec![
                    "site.tar.gz:composer.lock",
                    "site.tar.gz:web/package-lock.json"
                ]
            );
        }
    }

    #[test]
    fn bad_input_names_the_file_and_stores_nothing() {
        let e = parse_uploads(&[
            Upload {
                name: "composer.lock".into(),
                bytes: COMPOSER.into(),
            },
            Upload {
                name: "package-lock.json".into(),
                bytes: b"{\"lockfileVersion\": 3, \"packages\": [".to_vec(),
            },
        ])
        .unwrap_err();
        assert!(e.to_string().contains("package-lock.json"), "{e}");
        let e = parse_uploads(&[Upload {
            name: "notes.txt".into(),
            bytes: b"hello".to_vec(),
        }])
        .unwrap_err();
        assert!(matches!(e, IntakeError::Unrecognised { .. }));
        let e = parse_uploads(&[Upload {
            name: "site.tgz".into(),
            bytes: vec![0x1f, 0x8b, 0, 1, 2, 3],
        }])
        .unwrap_err();
        assert!(e.to_string().starts_with("site.tgz: "), "{e}");
        assert!(matches!(parse_uploads(&[]), Err(IntakeError::Empty)));
    }
}
