//! One small hand-written file per format, asserting exactly what is read from it — keys,
//! versions, dev flags, lines — with each format's traps: Composer dev packages kept and flagged,
//! dpkg's removed-but-configured packages left out and binNMU source versions used, unpinned
//! requirements reported, every package-lock, Yarn and pnpm generation, Cargo sources qualified.

use palisade_inventory::{
    Format, InstalledPackage, Inventory, MAX_INPUT_BYTES, ParseError, Unevaluable, parse,
    parse_auto,
};
use palisade_vulns::Ecosystem;

/// (key, version, dev, line) of each package.
fn rows(inv: &Inventory) -> Vec<(String, &str, bool, Option<u32>)> {
    inv.packages
        .iter()
        .map(|p: &InstalledPackage| (p.key.to_string(), p.version.as_str(), p.dev, p.line))
        .collect()
}

/// (name, reason, line) of each unevaluable entry.
fn skipped(inv: &Inventory) -> Vec<(&str, &str, Option<u32>)> {
    inv.unevaluable
        .iter()
        .map(|u: &Unevaluable| (u.name.as_str(), u.reason.as_str(), u.line))
        .collect()
}

fn ok(format: Format, file: &str, text: &str) -> Inventory {
    let inv = parse(format, file, text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inv.format, format);
    // Detection agrees with the format the test names.
    assert_eq!(
        palisade_inventory::detect(file, text.as_bytes()),
        Some(format)
    );
    inv
}

fn row(
    key: &str,
    version: &'static str,
    dev: bool,
    line: u32,
) -> (String, &'static str, bool, Option<u32>) {
    (key.to_owned(), version, dev, Some(line))
}

const NOT_PINNED: &str = "not pinned with ==: cannot evaluate";
const NO_VERSION: &str = "no version: cannot evaluate";

#[test]
fn composer_lock_keeps_dev_packages_flagged() {
    let text = r#"{
  "packages": [
    {
      "name": "Symfony/HTTP-Kernel",
      "version": "v5.4.1",
      "require": {"phpunit/phpunit": "^9"}
    },
    {
      "name": "drupal/token",
      "version": "1.11.0",
      "notification-url": "https://packages.drupal.org/8/downloads"
    },
    {
      "name": "acme/branch",
      "version": "dev-main"
    },
    {
      "name": "acme/noversion"
    }
  ],
  "packages-dev": [
    {
      "name": "phpunit/phpunit",
      "version": "4.8.27",
      "notification-url": "https://packagist.org/downloads/"
    }
  ]
}"#;
    let inv = ok(Format::ComposerLock, "composer.lock", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("Packagist/symfony/http-kernel", "v5.4.1", false, 4),
            row(
                "Packagist:https://packages.drupal.org/8/drupal/token",
                "1.11.0",
                false,
                9
            ),
            row("Packagist/acme/branch", "dev-main", false, 14),
            row("Packagist/phpunit/phpunit", "4.8.27", true, 23),
        ]
    );
    assert_eq!(
        skipped(&inv),
        vec![("acme/noversion", NO_VERSION, Some(18))]
    );
    assert_eq!(inv.debian_release, None);
}

#[test]
fn composer_installed_json_both_generations() {
    let v2 = r#"{
    "packages": [
        {
            "name": "monolog/monolog",
            "version": "2.9.1"
        },
        {
            "name": "phpunit/phpunit",
            "version": "9.6.0"
        }
    ],
    "dev": true,
    "dev-package-names": [
        "phpunit/phpunit"
    ]
}"#;
    let inv = ok(
        Format::ComposerInstalled,
        "vendor/composer/installed.json",
        v2,
    );
    assert_eq!(
        rows(&inv),
        vec![
            row("Packagist/monolog/monolog", "2.9.1", false, 4),
            row("Packagist/phpunit/phpunit", "9.6.0", true, 8),
        ]
    );
    let v1 = r#"[
  {"name": "monolog/monolog", "version": "1.25.0"}
]"#;
    let inv = ok(Format::ComposerInstalled, "installed.json", v1);
    assert_eq!(
        rows(&inv),
        vec![row("Packagist/monolog/monolog", "1.25.0", false, 2)]
    );
}

#[test]
fn package_lock_v1_tree() {
    let text = r#"{
  "name": "app",
  "lockfileVersion": 1,
  "requires": true,
  "dependencies": {
    "@babel/core": {
      "version": "7.1.2",
      "dev": true,
      "requires": {
        "debug": "^4.1.0"
      },
      "dependencies": {
        "debug": {
          "version": "4.1.0",
          "dev": true
        }
      }
    },
    "debug": {
      "version": "2.6.9"
    },
    "my-alias": {
      "version": "npm:lodash@4.17.21"
    },
    "local": {
      "version": "file:../local"
    }
  }
}"#;
    let inv = ok(Format::PackageLock, "package-lock.json", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("npm/@babel/core", "7.1.2", true, 6),
            row("npm/debug", "4.1.0", true, 13),
            row("npm/debug", "2.6.9", false, 19),
            row("npm/lodash", "4.17.21", false, 22),
        ]
    );
    assert!(inv.unevaluable.is_empty());
}

#[test]
fn package_lock_v2_uses_the_packages_map() {
    let text = r#"{
  "name": "app",
  "lockfileVersion": 2,
  "packages": {
    "": {
      "name": "app",
      "dependencies": {"@scope/pkg": "^1.0.0"}
    },
    "node_modules/@scope/pkg": {
      "version": "1.0.0"
    },
    "node_modules/@scope/pkg/node_modules/left-pad": {
      "version": "1.3.0",
      "dev": true
    },
    "node_modules/left-pad": {
      "version": "1.3.0",
      "dev": true
    },
    "node_modules/workspace-a": {
      "resolved": "packages/a",
      "link": true
    },
    "packages/a": {
      "name": "workspace-a",
      "version": "0.0.1"
    },
    "node_modules/string-width-cjs": {
      "name": "string-width",
      "version": "4.2.3"
    },
    "node_modules/opt": {
      "version": "2.0.0",
      "devOptional": true
    },
    "node_modules/broken": {
      "resolved": "x"
    }
  },
  "dependencies": {
    "@scope/pkg": {
      "version": "9.9.9"
    }
  }
}"#;
    let inv = ok(Format::PackageLock, "package-lock.json", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("npm/@scope/pkg", "1.0.0", false, 9),
            // Installed twice (nested and hoisted): one entry.
            row("npm/left-pad", "1.3.0", true, 12),
            row("npm/string-width", "4.2.3", false, 28),
            row("npm/opt", "2.0.0", false, 32),
        ]
    );
    assert_eq!(skipped(&inv), vec![("broken", NO_VERSION, Some(36))]);
}

#[test]
fn package_lock_v3_nested_scoped() {
    let text = r#"{
  "lockfileVersion": 3,
  "packages": {
    "": {"name": "x"},
    "node_modules/a": {"version": "1.0.0"},
    "node_modules/a/node_modules/@b/c": {"version": "2.0.0", "dev": true}
  }
}"#;
    let inv = ok(Format::PackageLock, "npm-shrinkwrap.json", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("npm/a", "1.0.0", false, 5),
            row("npm/@b/c", "2.0.0", true, 6)
        ]
    );
}

#[test]
fn yarn_v1() {
    let text = r#"# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.
# yarn lockfile v1


"@babel/core@^7.0.0", "@babel/core@^7.1.0":
  version "7.1.2"
  resolved "https://registry.yarnpkg.com/@babel/core/-/core-7.1.2.tgz#abc"
  dependencies:
    debug "^4.1.0"
    version "^1.0.0"

debug@^4.1.0:
  version "4.1.0"

"my-lodash@npm:lodash@^4.17.0":
  version "4.17.21"

local@file:../local:
  version "0.0.1"

nover@^1.0.0:
  resolved "x"
"#;
    let inv = ok(Format::YarnLock, "yarn.lock", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("npm/@babel/core", "7.1.2", false, 5),
            row("npm/debug", "4.1.0", false, 12),
            row("npm/lodash", "4.17.21", false, 15),
        ]
    );
    assert_eq!(skipped(&inv), vec![("nover", NO_VERSION, Some(21))]);
}

#[test]
fn yarn_berry() {
    let text = r#"# This file is generated by running "yarn install" inside your project.
# Manual changes might be lost - proceed with caution!

__metadata:
  version: 6
  cacheKey: 8

"@babel/core@npm:^7.0.0, @babel/core@npm:^7.1.0":
  version: 7.1.2
  resolution: "@babel/core@npm:7.1.2"
  checksum: abc
  languageName: node
  linkType: hard

"app@workspace:.":
  version: 0.0.0-use.local
  resolution: "app@workspace:."
  languageName: unknown
  linkType: soft

"left-pad@npm:1.10":
  version: 1.10
  resolution: "left-pad@npm:1.10"

"resolve@patch:resolve@npm%3A^1.22.1#~builtin<compat/resolve>":
  version: 1.22.1
  resolution: "resolve@patch:resolve@npm%3A1.22.1#~builtin<compat/resolve>::version=1.22.1&hash=07638b"
"#;
    let inv = ok(Format::YarnLock, "yarn.lock", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("npm/@babel/core", "7.1.2", false, 8),
            // Not the float 1.1.
            row("npm/left-pad", "1.10", false, 21),
            row("npm/resolve", "1.22.1", false, 25),
        ]
    );
}

#[test]
fn pnpm_v5() {
    let text = r#"lockfileVersion: 5.4

specifiers:
  react: ^16.0.0
  '@babel/core': ^7.0.0

dependencies:
  react: 16.14.0

devDependencies:
  '@babel/core': 7.1.2_react@16.14.0

packages:

  /react/16.14.0:
    resolution: {integrity: sha512-x}
    dev: false

  /@babel/core/7.1.2_react@16.14.0:
    resolution: {integrity: sha512-y}
    dev: true

  github.com/user/repo/abc123:
    resolution: {tarball: https://codeload.github.com/user/repo/tar.gz/abc123}
    name: forked
    version: 1.0.0
    dev: false
"#;
    let inv = ok(Format::PnpmLock, "pnpm-lock.yaml", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("npm/react", "16.14.0", false, 15),
            row("npm/@babel/core", "7.1.2", true, 19),
            row("npm/forked", "1.0.0", false, 23),
        ]
    );
}

#[test]
fn pnpm_v6() {
    let text = r#"lockfileVersion: '6.0'

dependencies:
  react-dom:
    specifier: ^18.0.0
    version: 18.2.0(react@18.2.0)

packages:

  /react-dom@18.2.0(react@18.2.0):
    resolution: {integrity: sha512-a}
    peerDependencies:
      react: ^18.2.0
    dependencies:
      react: 18.2.0
    dev: false

  /react@18.2.0:
    resolution: {integrity: sha512-b}
    dev: false

  /@types/node@20.1.0:
    resolution: {integrity: sha512-c}
    dev: true
"#;
    let inv = ok(Format::PnpmLock, "pnpm-lock.yaml", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("npm/react-dom", "18.2.0", false, 10),
            row("npm/react", "18.2.0", false, 18),
            row("npm/@types/node", "20.1.0", true, 22),
        ]
    );
}

#[test]
fn pnpm_v9_derives_dev_from_importers() {
    let text = r#"lockfileVersion: '9.0'

importers:

  .:
    dependencies:
      a:
        specifier: ^1.0.0
        version: 1.0.0
    devDependencies:
      b:
        specifier: ^2.0.0
        version: 2.0.0(a@1.0.0)
      alias-c:
        specifier: npm:c@^3.0.0
        version: c@3.0.0

packages:

  a@1.0.0:
    resolution: {integrity: sha512-a}

  b@2.0.0:
    resolution: {integrity: sha512-b}
    peerDependencies:
      a: ^1.0.0

  c@3.0.0:
    resolution: {integrity: sha512-c}

  shared@1.0.0:
    resolution: {integrity: sha512-s}

  '@s/only-dev@4.0.0':
    resolution: {integrity: sha512-d}

snapshots:

  a@1.0.0:
    dependencies:
      shared: 1.0.0

  b@2.0.0(a@1.0.0):
    dependencies:
      a: 1.0.0
      shared: 1.0.0
      '@s/only-dev': 4.0.0

  c@3.0.0: {}

  shared@1.0.0: {}

  '@s/only-dev@4.0.0': {}
"#;
    let inv = ok(Format::PnpmLock, "pnpm-lock.yaml", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("npm/a", "1.0.0", false, 20),
            row("npm/b", "2.0.0", true, 23),
            row("npm/c", "3.0.0", true, 28),
            // Also reached through the production dependency `a`.
            row("npm/shared", "1.0.0", false, 31),
            row("npm/@s/only-dev", "4.0.0", true, 34),
        ]
    );
}

#[test]
fn cargo_sources_become_qualifiers() {
    let text = r#"# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "serde",
]

[[package]]
name = "serde"
version = "1.0.200"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "abc"

[[package]]
name = "forked"
version = "0.3.0"
source = "git+https://github.com/me/forked?branch=main#0123abcd"

[[package]]
name = "internal"
version = "2.0.0"
source = "registry+https://my.registry/index"

[[package]]
name = "sparse"
version = "1.0.0"
source = "sparse+https://index.crates.io/"
"#;
    let inv = ok(Format::CargoLock, "Cargo.lock", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("crates.io:path/app", "0.1.0", false, 5),
            row("crates.io/serde", "1.0.200", false, 12),
            row("crates.io:git/forked", "0.3.0", false, 18),
            row(
                "crates.io:registry+https://my.registry/index/internal",
                "2.0.0",
                false,
                23
            ),
            row("crates.io/sparse", "1.0.0", false, 28),
        ]
    );
}

#[test]
fn poetry_categories_and_groups() {
    let old = r#"[[package]]
name = "Django"
version = "3.2.15"
description = "x"
category = "main"
optional = false
python-versions = ">=3.6"

[[package]]
name = "pytest"
version = "7.0.0"
category = "dev"
optional = false

[[package]]
name = "mylib"
version = "0.1.0"
category = "main"

[package.source]
type = "git"
url = "https://github.com/me/mylib.git"
reference = "main"
resolved_reference = "abc"

[metadata]
lock-version = "1.1"
"#;
    let inv = ok(Format::PoetryLock, "poetry.lock", old);
    assert_eq!(
        rows(&inv),
        vec![
            row("PyPI/django", "3.2.15", false, 2),
            row("PyPI/pytest", "7.0.0", true, 10),
            row("PyPI:git/mylib", "0.1.0", false, 16),
        ]
    );
    let new = r#"[[package]]
name = "attrs"
version = "26.1.0"
groups = ["main"]

[[package]]
name = "Black"
version = "24.1.0"
groups = ["dev", "lint"]

[[package]]
name = "both_groups"
version = "1.0"
groups = ["main", "dev"]
"#;
    let inv = ok(Format::PoetryLock, "poetry.lock", new);
    assert_eq!(
        rows(&inv),
        vec![
            row("PyPI/attrs", "26.1.0", false, 2),
            row("PyPI/black", "24.1.0", true, 7),
            row("PyPI/both-groups", "1.0", false, 12),
        ]
    );
}

#[test]
fn uv_skips_the_project_and_derives_dev() {
    let text = r#"version = 1
requires-python = ">=3.12"

[[package]]
name = "app"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "requests" },
]

[package.dev-dependencies]
dev = [
    { name = "pytest" },
]

[[package]]
name = "requests"
version = "2.32.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "urllib3" },
]

[[package]]
name = "urllib3"
version = "2.2.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pytest"
version = "8.0.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "urllib3" },
    { name = "pluggy" },
]

[[package]]
name = "pluggy"
version = "1.5.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "from-git"
version = "0.1.0"
source = { git = "https://github.com/me/x?rev=main#abc" }
"#;
    let inv = ok(Format::UvLock, "uv.lock", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("PyPI/requests", "2.32.0", false, 18),
            row("PyPI/urllib3", "2.2.0", false, 26),
            row("PyPI/pytest", "8.0.0", true, 31),
            row("PyPI/pluggy", "1.5.0", true, 40),
            row("PyPI:git/from-git", "0.1.0", false, 45),
        ]
    );
}

#[test]
fn pipfile_lock_default_and_develop() {
    let text = r#"{
    "_meta": {"pipfile-spec": 6},
    "default": {
        "Django": {
            "hashes": ["sha256:abc"],
            "version": "==3.2.15"
        },
        "mylib": {
            "editable": true,
            "path": "."
        },
        "anyver": {
            "version": "*"
        }
    },
    "develop": {
        "pytest": {
            "version": "==7.0.0"
        }
    }
}"#;
    let inv = ok(Format::PipfileLock, "Pipfile.lock", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("PyPI/django", "3.2.15", false, 4),
            row("PyPI/pytest", "7.0.0", true, 17)
        ]
    );
    assert_eq!(
        skipped(&inv),
        vec![
            ("mylib", NOT_PINNED, Some(8)),
            ("anyver", NOT_PINNED, Some(12))
        ]
    );
}

#[test]
fn requirements_report_every_unpinned_line() {
    let text = r#"# comment
-r base.txt
--index-url https://pypi.org/simple
Django==3.2.15  # pinned
requests[security]==2.31.0 ; python_version >= "3.8"
Flask_Login===0.6.3
celery>=5.0
numpy
urllib3==1.26.*
cryptography==41.0.0 \
    --hash=sha256:abc \
    --hash=sha256:def
-e git+https://github.com/me/lib.git#egg=my_lib
git+https://github.com/me/other.git@v1#egg=other
pkg @ https://example.com/pkg-1.0.tar.gz
twilio~=6.37.0
pillow == 10.0.0
"#;
    let inv = ok(Format::Requirements, "requirements.txt", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("PyPI/django", "3.2.15", false, 4),
            row("PyPI/requests", "2.31.0", false, 5),
            row("PyPI/flask-login", "0.6.3", false, 6),
            row("PyPI/cryptography", "41.0.0", false, 10),
            row("PyPI/pillow", "10.0.0", false, 17),
        ]
    );
    assert_eq!(
        skipped(&inv),
        vec![
            ("celery", NOT_PINNED, Some(7)),
            ("numpy", NOT_PINNED, Some(8)),
            ("urllib3", NOT_PINNED, Some(9)),
            ("my_lib", NOT_PINNED, Some(13)),
            ("other", NOT_PINNED, Some(14)),
            ("pkg", NOT_PINNED, Some(15)),
            ("twilio", NOT_PINNED, Some(16)),
        ]
    );
    assert!(
        inv.unevaluable
            .iter()
            .all(|u| u.ecosystem == Some(Ecosystem::PyPi))
    );
    assert_eq!(inv.unevaluable[0].requirement, "celery>=5.0");
}

#[test]
fn dpkg_status_groups_binaries_by_source() {
    let text = "Package: libssl3
Status: install ok installed
Priority: optional
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit
 This package is part of the OpenSSL project.
 .
 More text.

Package: openssl
Status: install ok installed
Version: 3.0.11-1~deb12u2

Package: libc6
Status: install ok installed
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4+b1

Package: oldpkg
Status: deinstall ok config-files
Version: 1.0-1

Package: base-files
Status: install ok installed
Version: 12.4+deb12u5

Package: noversion
Status: install ok installed
";
    let inv = ok(Format::DpkgStatus, "status", text);
    assert_eq!(inv.debian_release.as_deref(), Some("bookworm"));
    assert_eq!(
        rows(&inv),
        vec![
            row("Debian:bookworm/openssl", "3.0.11-1~deb12u2", false, 1),
            // binNMU: the source version in parentheses, not the binary's +b1.
            row("Debian:bookworm/glibc", "2.36-9+deb12u4", false, 15),
            row("Debian:bookworm/base-files", "12.4+deb12u5", false, 24),
        ]
    );
    assert_eq!(inv.packages[0].binaries, vec!["libssl3", "openssl"]);
    assert_eq!(inv.packages[1].binaries, vec!["libc6"]);
    assert!(
        !inv.packages
            .iter()
            .any(|p| p.binaries.contains(&"oldpkg".to_owned()))
    );
    assert_eq!(
        skipped(&inv),
        vec![("noversion", "no Version field: cannot evaluate", Some(28))]
    );
}

#[test]
fn dpkg_without_base_files_has_no_release() {
    let inv = ok(
        Format::DpkgStatus,
        "x.dpkg-status",
        "Package: a\nStatus: install ok installed\nVersion: 1\n",
    );
    assert_eq!(inv.debian_release, None);
    assert_eq!(rows(&inv), vec![row("Debian/a", "1", false, 1)]);
}

#[test]
fn cyclonedx_components_by_purl() {
    let text = r#"{
  "bomFormat": "CycloneDX",
  "specVersion": "1.5",
  "metadata": {"component": {"name": "app", "purl": "pkg:npm/app@1.0.0"}},
  "components": [
    {
      "type": "library",
      "name": "core",
      "version": "7.0.0",
      "purl": "pkg:npm/%40babel/core@7.0.0",
      "components": [
        {
          "name": "inner",
          "purl": "pkg:cargo/inner@0.1.0"
        }
      ]
    },
    {
      "name": "Django",
      "purl": "pkg:pypi/Django@3.2.15",
      "scope": "excluded"
    },
    {
      "name": "http-kernel",
      "purl": "pkg:composer/symfony/http-kernel@v5.4.1"
    },
    {
      "name": "libssl3",
      "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12"
    },
    {
      "name": "guava",
      "purl": "pkg:maven/com.google.guava/guava@32.0.0"
    },
    {
      "name": "nopurl",
      "version": "1.0"
    },
    {
      "name": "noversion",
      "purl": "pkg:npm/noversion"
    }
  ]
}"#;
    let inv = ok(Format::CycloneDx, "bom.json", text);
    assert_eq!(
        rows(&inv),
        vec![
            row("npm/@babel/core", "7.0.0", false, 10),
            row("crates.io/inner", "0.1.0", false, 14),
            row("PyPI/django", "3.2.15", true, 20),
            row("Packagist/symfony/http-kernel", "v5.4.1", false, 25),
            row("Debian:bookworm/openssl", "3.0.11-1~deb12u2", false, 29),
        ]
    );
    assert_eq!(inv.packages[4].binaries, vec!["libssl3"]);
    assert_eq!(
        skipped(&inv),
        vec![
            (
                "guava",
                "unsupported package URL type \"maven\": cannot evaluate",
                Some(33)
            ),
            ("nopurl", "no package URL (purl): cannot evaluate", None),
            ("noversion", NO_VERSION, Some(41)),
        ]
    );
    // Found by content too.
    assert_eq!(
        palisade_inventory::detect("sbom.json", text.as_bytes()),
        Some(Format::CycloneDx)
    );
}

#[test]
fn spdx_packages_by_purl() {
    let text = r#"{
  "spdxVersion": "SPDX-2.3",
  "SPDXID": "SPDXRef-DOCUMENT",
  "documentDescribes": ["SPDXRef-root"],
  "packages": [
    {
      "SPDXID": "SPDXRef-root",
      "name": "my-image"
    },
    {
      "SPDXID": "SPDXRef-1",
      "name": "lodash",
      "versionInfo": "4.17.21",
      "externalRefs": [
        {
          "referenceCategory": "PACKAGE-MANAGER",
          "referenceType": "purl",
          "referenceLocator": "pkg:npm/lodash@4.17.21"
        }
      ]
    },
    {
      "SPDXID": "SPDXRef-2",
      "name": "serde",
      "versionInfo": "1.0.0",
      "externalRefs": [
        {
          "referenceType": "cpe23Type",
          "referenceLocator": "cpe:2.3:a:serde:serde:1.0.0:*:*:*:*:*:*:*"
        }
      ]
    }
  ]
}"#;
    let inv = ok(Format::Spdx, "image.spdx.json", text);
    assert_eq!(rows(&inv), vec![row("npm/lodash", "4.17.21", false, 18)]);
    assert_eq!(
        skipped(&inv),
        vec![("serde", "no package URL (purl): cannot evaluate", None)]
    );
}

fn err(format: Format, file: &str, text: &[u8]) -> ParseError {
    match parse(format, file, text) {
        Ok(inv) => panic!("expected an error, got {inv:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_name_file_line_and_field() {
    let e = err(
        Format::ComposerLock,
        "composer.lock",
        b"{\"packages\": [\n  {\"name\": \"a/b\", \"version\": \"1\"},\n  {\"name\": \"c/d\", \"version\": 5}\n]}",
    );
    assert_eq!(e.line, Some(3));
    assert_eq!(e.field.as_deref(), Some("packages[1].version"));
    assert_eq!(
        e.to_string(),
        "composer.lock:3: packages[1].version: invalid type: integer `5`, expected a string"
    );

    let e = err(
        Format::CargoLock,
        "Cargo.lock",
        b"[[package]]\nname = \"a\"\nversion = 5\n",
    );
    assert_eq!(e.line, Some(3), "{e}");
    assert_eq!(e.field.as_deref(), Some("package[0].version"), "{e}");
    assert!(
        e.to_string()
            .starts_with("Cargo.lock:3: package[0].version: "),
        "{e}"
    );

    let e = err(Format::CargoLock, "Cargo.lock", b"[[package]\n");
    assert_eq!(e.line, Some(1), "{e}");

    let e = err(
        Format::PnpmLock,
        "pnpm-lock.yaml",
        b"lockfileVersion: '6.0'\npackages:\n  /a@1.0.0:\n    dev: maybe\n",
    );
    assert_eq!(e.line, Some(4), "{e}");
    assert_eq!(e.field.as_deref(), Some("packages./a@1.0.0.dev"), "{e}");
    assert!(e.message.starts_with("invalid"), "{e}");

    let e = err(Format::Requirements, "requirements.txt", b"a==1\n!!!\n");
    assert_eq!(
        e.to_string(),
        "requirements.txt:2: not a requirement: \"!!!\""
    );

    let e = err(Format::DpkgStatus, "status", b"Package: a\nno colon here\n");
    assert_eq!(e.to_string(), "status:2: expected a `Field: value` line");

    let e = err(
        Format::YarnLock,
        "yarn.lock",
        b"a@1:\n  version \"1\"\nb@1\n",
    );
    assert_eq!(e.line, Some(3));

    let e = err(Format::Requirements, "r.txt", b"a==1\nb==\xff\n");
    assert_eq!(e.to_string(), "r.txt:2: not valid UTF-8");

    let e = err(
        Format::CycloneDx,
        "x.cdx.json",
        br#"{"bomFormat": "Other"}"#,
    );
    assert_eq!(e.field.as_deref(), Some("bomFormat"));

    let e = parse_auto("notes.md", b"hello").unwrap_err();
    assert_eq!(e.to_string(), "notes.md: not a recognised inventory format");
}

#[test]
fn oversized_input_is_refused_first() {
    // Zeroed memory is mapped lazily; nothing here touches it.
    let big = vec![0u8; MAX_INPUT_BYTES + 1];
    for format in Format::ALL {
        let e = err(format, "big", &big);
        assert!(e.message.contains("limit"), "{e}");
    }
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let deep = |open: &str, n: usize| open.repeat(n);
    for format in Format::ALL {
        for input in [
            deep("[", 100_000),
            deep("{\"a\":", 100_000),
            deep("- ", 50_000),
            deep("a = [", 50_000),
        ] {
            let r = parse(format, "deep", input.as_bytes());
            if let Err(e) = r {
                assert!(e.to_string().starts_with("deep"), "{e}");
            }
        }
    }
    // CycloneDX components nested within the decoder's limit parse; deeper ones are refused.
    let nested = |n: usize| {
        let mut s = String::from(r#"{"bomFormat":"CycloneDX","components":"#);
        for i in 0..n {
            s.push_str(&format!(r#"[{{"purl":"pkg:npm/p{i}@1.0.0","components":"#));
        }
        s.push_str("[]");
        for _ in 0..n {
            s.push_str("}]");
        }
        s.push('}');
        s
    };
    let inv = parse(Format::CycloneDx, "bom.json", nested(60).as_bytes()).unwrap();
    assert_eq!(inv.packages.len(), 60);
    assert!(parse(Format::CycloneDx, "bom.json", nested(500).as_bytes()).is_err());
}

#[test]
fn inventories_serialize_for_the_scanner() {
    let inv = ok(
        Format::Requirements,
        "requirements.txt",
        "Django==3.2.15\nflask\n",
    );
    let json = serde_json::to_value(&inv).unwrap();
    assert_eq!(json["format"], "requirements.txt");
    assert_eq!(json["packages"][0]["key"]["name"], "django");
    assert_eq!(json["packages"][0]["line"], 1);
    assert_eq!(json["unevaluable"][0]["reason"], NOT_PINNED);
    let back: Inventory = serde_json::from_value(json).unwrap();
    assert_eq!(back, inv);
    for f in Format::ALL {
        assert_eq!(serde_json::to_value(f).unwrap(), f.name());
    }
}
