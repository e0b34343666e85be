//! Finding inventories under the paths a user names. A named file is always read; folders are
//! walked for files the inventory parsers recognise by name. Dependency folders are not descended
//! into, except for Composer's record of what is installed: a `composer.lock` inside `vendor/`
//! belongs to a library and describes nothing installed here (Trivy's false positives, its
//! issues #147 and #2705), while `vendor/composer/installed.json` is the truth about deployment.

use std::path::{Path, PathBuf};

/// Folders never descended into.
const SKIP_DIRS: [&str; 5] = [".git", "node_modules", "target", ".venv", "__pycache__"];

/// Whether a file name looks like an inventory, before reading it.
fn looks_like_inventory(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let exact = [
        "composer.lock",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "cargo.lock",
        "poetry.lock",
        "uv.lock",
        "pipfile.lock",
        "status",
        "bom.json",
    ];
    if exact.contains(&name.as_str()) {
        return name != "status" || path.parent().is_some_and(|p| p.ends_with("var/lib/dpkg"));
    }
    if name == "installed.json" {
        return path
            .parent()
            .is_some_and(|p| p.ends_with("vendor/composer"));
    }
    name.ends_with(".composer.lock")
        || name.ends_with(".package-lock.json")
        || name.ends_with(".yarn.lock")
        || name.ends_with(".pnpm-lock.yaml")
        || name.ends_with(".cargo.lock")
        || name.ends_with(".poetry.lock")
        || name.ends_with(".uv.lock")
        || name.ends_with(".pipfile.lock")
        || name.ends_with(".dpkg-status")
        || name.ends_with(".cdx.json")
        || name.ends_with(".spdx.json")
        || (name.starts_with("requirements") && name.ends_with(".txt"))
        || name.ends_with(".requirements.txt")
}

/// Whether `rel`, a path relative to a site's root (in a folder or an archive of it), is an
/// inventory to read: the same rules the folder walk applies.
pub fn is_site_inventory(rel: &Path) -> bool {
    let skipped = rel
        .components()
        .any(|c| SKIP_DIRS.iter().any(|s| c.as_os_str() == *s));
    let is_installed_json = rel.file_name().is_some_and(|n| n == "installed.json");
    !skipped
        && looks_like_inventory(rel)
        && (is_installed_json || !rel.components().any(|c| c.as_os_str() == "vendor"))
}

/// Every inventory file under `paths`, sorted per path, with walk errors as messages.
pub fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for root in paths {
        match std::fs::metadata(root) {
            Err(e) => errors.push(format!("{}: {e}", root.display())),
            Ok(m) if m.is_file() => files.push(root.clone()),
            Ok(_) => {
                let mut found = Vec::new();
                let walk = walkdir::WalkDir::new(root)
                    .follow_links(false)
                    .into_iter()
                    .filter_entry(|e| {
                        !(e.file_type().is_dir() && SKIP_DIRS.iter().any(|s| e.file_name() == *s))
                    });
                for entry in walk {
                    match entry {
                        Err(e) => errors.push(e.to_string()),
                        Ok(e)
                            if e.file_type().is_file()
                                && is_site_inventory(
                                    e.path().strip_prefix(root).unwrap_or(e.path()),
                                ) =>
                        {
                            found.push(e.into_path());
                        }
                        Ok(_) => {}
                    }
                }
                found.sort();
                files.extend(found);
            }
        }
    }
    (files, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_lockfiles_are_skipped_but_installed_json_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "composer.lock",
            "vendor/composer/installed.json",
            "vendor/acme/lib/composer.lock",
            "node_modules/x/package-lock.json",
            "web/package-lock.json",
            "README.md",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "{}").unwrap();
        }
        let (files, errors) = discover(&[root.to_owned()]);
        assert!(errors.is_empty());
        let rel: Vec<_> = files
            .iter()
            .map(|f| {
                f.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect();
        assert_eq!(
            rel,
            [
                "composer.lock",
                "vendor/composer/installed.json",
                "web/package-lock.json"
            ]
        );
    }
}
