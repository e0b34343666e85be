//! Which format a file is in: by its name first, since lockfiles have fixed names (also as a
//! suffix, `bookstack-2019.composer.lock`, as collected samples are named), then by sniffing the
//! start of the content for the formats whose names vary (SBOMs, dpkg status copies).

use crate::Format;

/// How far into the content the sniffers look; the markers sit in the first lines.
const SNIFF_BYTES: usize = 64 * 1024;

/// Detects the format of `file_name` (a path or a bare name) with the given content.
pub fn detect(file_name: &str, content: &[u8]) -> Option<Format> {
    let path = file_name.replace('\\', "/").to_ascii_lowercase();
    let base = path.rsplit('/').next().unwrap_or(&path);

    let by_name = [
        ("composer.lock", Format::ComposerLock),
        ("package-lock.json", Format::PackageLock),
        ("npm-shrinkwrap.json", Format::PackageLock),
        ("yarn.lock", Format::YarnLock),
        ("pnpm-lock.yaml", Format::PnpmLock),
        ("pnpm-lock.yml", Format::PnpmLock),
        ("cargo.lock", Format::CargoLock),
        ("poetry.lock", Format::PoetryLock),
        ("uv.lock", Format::UvLock),
        ("pipfile.lock", Format::PipfileLock),
        ("requirements.txt", Format::Requirements),
        ("dpkg-status", Format::DpkgStatus),
        ("cdx.json", Format::CycloneDx),
        ("bom.json", Format::CycloneDx),
        ("spdx.json", Format::Spdx),
    ];
    if let Some((_, format)) = by_name.iter().find(|(n, _)| has_suffix(base, n)) {
        return Some(*format);
    }
    // Sniffed only when the name does not tell: decoding it is a cost on every file.
    let head = content.get(..SNIFF_BYTES).unwrap_or(content);
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let head = String::from_utf8_lossy(head);
    // Composer 1 wrote a list of packages, Composer 2 an object with `packages`.
    if path.ends_with("vendor/composer/installed.json")
        || (has_suffix(base, "installed.json")
            && (head.trim_start().starts_with('[') || head.contains("\"packages\"")))
    {
        return Some(Format::ComposerInstalled);
    }
    // `requirements-dev.txt`, `requirements/base.txt`.
    if base.ends_with(".txt")
        && (base.starts_with("requirements") || path.contains("requirements/"))
    {
        return Some(Format::Requirements);
    }
    if path.ends_with("var/lib/dpkg/status") || (base == "status" && looks_like_dpkg(&head)) {
        return Some(Format::DpkgStatus);
    }
    sniff(&head)
}

/// `name` ends with `suffix` at a word boundary: `x.composer.lock` and `composer.lock` do,
/// `mycomposer.lock` does not.
fn has_suffix(name: &str, suffix: &str) -> bool {
    match name.strip_suffix(suffix) {
        Some(rest) => rest
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric()),
        None => false,
    }
}

fn looks_like_json(head: &str) -> bool {
    matches!(head.trim_start().chars().next(), Some('{' | '['))
}

fn looks_like_dpkg(head: &str) -> bool {
    head.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.starts_with("Package:"))
}

fn sniff(head: &str) -> Option<Format> {
    if looks_like_json(head) {
        let compact: String = head.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.contains("\"bomFormat\":\"CycloneDX\"") {
            return Some(Format::CycloneDx);
        }
        if compact.contains("\"spdxVersion\":") {
            return Some(Format::Spdx);
        }
        if compact.contains("\"lockfileVersion\":") {
            return Some(Format::PackageLock);
        }
        if compact.contains("\"pipfile-spec\":") {
            return Some(Format::PipfileLock);
        }
        if compact.contains("\"content-hash\":") || compact.contains("getcomposer.org") {
            return Some(Format::ComposerLock);
        }
        return None;
    }
    if head.contains("# yarn lockfile v1") || head.lines().any(|l| l == "__metadata:") {
        return Some(Format::YarnLock);
    }
    if head.starts_with("lockfileVersion:") {
        return Some(Format::PnpmLock);
    }
    if looks_like_dpkg(head) {
        return Some(Format::DpkgStatus);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_suffixes() {
        assert_eq!(
            detect("app/composer.lock", b"{}"),
            Some(Format::ComposerLock)
        );
        assert_eq!(
            detect("bookstack-2019.composer.lock", b"{}"),
            Some(Format::ComposerLock)
        );
        assert_eq!(
            detect("x/atuin-2021.Cargo.lock", b""),
            Some(Format::CargoLock)
        );
        assert_eq!(detect("mycomposer.lock", b""), None);
        assert_eq!(
            detect("vendor/composer/installed.json", b"{\"packages\": []}"),
            Some(Format::ComposerInstalled)
        );
        assert_eq!(
            detect("requirements-dev.txt", b""),
            Some(Format::Requirements)
        );
        assert_eq!(
            detect("requirements/base.txt", b""),
            Some(Format::Requirements)
        );
        assert_eq!(
            detect("a.requirements.txt", b""),
            Some(Format::Requirements)
        );
        assert_eq!(detect("notes.txt", b""), None);
        assert_eq!(
            detect("rust-ci-image-bookworm.dpkg-status", b""),
            Some(Format::DpkgStatus)
        );
        assert_eq!(
            detect("/var/lib/dpkg/status", b""),
            Some(Format::DpkgStatus)
        );
        assert_eq!(
            detect("status", b"Package: a\nStatus: x\n"),
            Some(Format::DpkgStatus)
        );
        assert_eq!(detect("status", b"all good\n"), None);
        assert_eq!(detect("app.cdx.json", b""), Some(Format::CycloneDx));
        assert_eq!(detect("img.spdx.json", b""), Some(Format::Spdx));
    }

    #[test]
    fn json_content_is_sniffed() {
        assert_eq!(
            detect("sbom.json", b"{\n  \"bomFormat\" : \"CycloneDX\"}"),
            Some(Format::CycloneDx)
        );
        assert_eq!(
            detect("x.json", b"{\"spdxVersion\": \"SPDX-2.3\"}"),
            Some(Format::Spdx)
        );
        assert_eq!(detect("x.json", b"{\"other\": 1}"), None);
    }
}
