//! Property tests: whatever the bytes, every parser returns an inventory or an error naming the
//! file — it never panics. Besides arbitrary bytes and strings, inputs are built from fragments
//! of the formats themselves so that the generated text gets past the first line.

use palisade_inventory::{Format, parse, parse_auto};
use proptest::prelude::*;

const FILE: &str = "input-file";

fn check(format: Format, content: &[u8]) {
    if let Err(e) = parse(format, FILE, content) {
        assert_eq!(e.file, FILE);
        assert!(e.to_string().starts_with(FILE), "{e}");
    }
}

fn check_auto(name: &str, content: &[u8]) {
    if let Err(e) = parse_auto(name, content) {
        assert!(e.to_string().starts_with(name), "{e}");
    }
}

/// Names that steer detection to every format.
const NAMES: &[&str] = &[
    "composer.lock",
    "vendor/composer/installed.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "requirements.txt",
    "x.dpkg-status",
    "status",
    "bom.json",
    "a.spdx.json",
    "unknown.bin",
];

/// Pieces of every format: structure, field names, values, and the awkward characters.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "'",
    "\n",
    "  ",
    "    ",
    "#",
    "\\",
    "\\\n",
    "=",
    "==",
    "===",
    ">=",
    "~=",
    ";",
    "@",
    "/",
    "(",
    ")",
    "_",
    "-",
    "- ",
    ".",
    "*",
    "%",
    "%40",
    "%zz",
    "\"packages\"",
    "\"packages-dev\"",
    "\"dev-package-names\"",
    "\"name\"",
    "\"version\"",
    "\"dev\": true",
    "\"link\": true",
    "\"dependencies\"",
    "\"node_modules/a\"",
    "\"node_modules/@s/b\"",
    "\"\"",
    "\"npm:x@1.0.0\"",
    "\"file:../x\"",
    "\"1.0.0\"",
    "5",
    "null",
    "true",
    "\"lockfileVersion\"",
    "\"bomFormat\": \"CycloneDX\"",
    "\"components\"",
    "\"purl\"",
    "\"pkg:npm/%40a/b@1.0.0\"",
    "\"pkg:deb/debian/x@1?distro=debian-12&upstream=y%401\"",
    "\"pkg:pypi/a@1\"",
    "\"pkg:maven/a/b@1\"",
    "\"spdxVersion\": \"SPDX-2.3\"",
    "\"externalRefs\"",
    "\"referenceType\": \"purl\"",
    "\"referenceLocator\"",
    "\"default\"",
    "\"develop\"",
    "\"==1.0\"",
    "# yarn lockfile v1\n",
    "__metadata:\n",
    "a@^1.0.0:\n",
    "\"@a/b@^1\", \"@a/b@^2\":\n",
    "  version \"1.0.0\"\n",
    "  version: 1.10\n",
    "  resolution: \"a@npm:1.0.0\"\n",
    "  resolution: \"a@workspace:.\"\n",
    "lockfileVersion: '9.0'\n",
    "lockfileVersion: 5.4\n",
    "importers:\n",
    "packages:\n",
    "snapshots:\n",
    "  /a/1.0.0_b@2.0.0:\n",
    "  /a@1.0.0(b@2.0.0):\n",
    "  a@1.0.0:\n",
    "    dev: true\n",
    "    dependencies:\n",
    "      a: 1.0.0\n",
    "      devDependencies:\n",
    "        version: 1.0.0\n",
    "{}",
    "[[package]]\n",
    "name = \"a\"\n",
    "version = \"1.0\"\n",
    "source = \"git+https://x\"\n",
    "source = { editable = \".\" }\n",
    "source = { registry = \"https://pypi.org/simple\" }\n",
    "dependencies = [{ name = \"a\" }]\n",
    "[package.dev-dependencies]\n",
    "dev = [{ name = \"a\" }]\n",
    "groups = [\"dev\"]\n",
    "category = \"dev\"\n",
    "[package.source]\n",
    "type = \"git\"\n",
    "Django==1.0\n",
    "a[b]==1 ; python_version < \"3\"\n",
    "-e git+https://x#egg=a\n",
    "-r x.txt\n",
    "git+https://x@1#egg=b\n",
    "c @ https://x\n",
    " --hash=sha256:0\n",
    "Package: a\n",
    "Status: install ok installed\n",
    "Status: deinstall ok config-files\n",
    "Source: s (1.0-1)\n",
    "Source: s\n",
    "Version: 1.0-1\n",
    "Package: base-files\n",
    "Version: 12.4+deb12u5\n",
    " continuation\n",
    "\n\n",
    "\u{feff}",
    "é",
    "\u{0}",
    "|\n",
    "&a ",
    "*a",
    "!t ",
];

fn fragments() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..80).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(content in prop::collection::vec(any::<u8>(), 0..600)) {
        for format in Format::ALL {
            check(format, &content);
        }
        for name in NAMES {
            check_auto(name, &content);
        }
    }

    #[test]
    fn arbitrary_strings(content in any::<String>()) {
        for format in Format::ALL {
            check(format, content.as_bytes());
        }
        for name in NAMES {
            check_auto(name, content.as_bytes());
        }
    }

    #[test]
    fn format_fragments(content in fragments()) {
        for format in Format::ALL {
            check(format, content.as_bytes());
        }
        for name in NAMES {
            check_auto(name, content.as_bytes());
        }
    }

    #[test]
    fn fragments_behind_a_valid_start(content in fragments(), start in prop::sample::select(&[
        "{\"packages\": [",
        "{\"lockfileVersion\": 2, \"packages\": {",
        "{\"lockfileVersion\": 1, \"dependencies\": {",
        "{\"bomFormat\": \"CycloneDX\", \"components\": [",
        "{\"spdxVersion\": \"SPDX-2.3\", \"packages\": [",
        "{\"default\": {",
        "# yarn lockfile v1\n\n",
        "__metadata:\n  version: 6\n\n",
        "lockfileVersion: '9.0'\n\npackages:\n\n",
        "version = 3\n\n[[package]]\n",
        "Package: a\nStatus: install ok installed\n",
    ][..])) {
        let text = format!("{start}{content}");
        for format in Format::ALL {
            check(format, text.as_bytes());
        }
    }
}
