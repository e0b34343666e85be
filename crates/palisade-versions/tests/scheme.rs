//! The unified API the engine uses: scheme names, `Scheme::parse`, error kinds and messages, and
//! `Version` ordering within and across schemes.

use std::cmp::Ordering;

use palisade_versions::{Scheme, Version, VersionError, VersionErrorKind};

#[test]
fn scheme_names_round_trip() {
    for scheme in Scheme::ALL {
        assert_eq!(scheme.name().parse::<Scheme>(), Ok(scheme));
        assert_eq!(scheme.to_string(), scheme.name());
    }
    assert_eq!(
        ["semver", "composer", "pep440", "debian"].map(|n| n.parse::<Scheme>().ok()),
        [
            Some(Scheme::SemVer),
            Some(Scheme::Composer),
            Some(Scheme::Pep440),
            Some(Scheme::Debian)
        ]
    );
    let unknown = "SemVer".parse::<Scheme>().unwrap_err();
    assert!(unknown.to_string().contains("\"SemVer\""), "{unknown}");
    assert!("npm".parse::<Scheme>().is_err());
}

#[test]
fn parse_keeps_the_text_and_the_scheme() {
    for (scheme, text) in [
        (Scheme::SemVer, " v1.2.3-rc.1+build "),
        (Scheme::Composer, "v1.2-beta.1"),
        (Scheme::Pep440, "1!2.0.post1+Local"),
        (Scheme::Debian, "1:2.30-1~bpo12+1"),
    ] {
        let v = scheme.parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.scheme(), scheme);
        assert_eq!(v.as_str(), text);
        assert_eq!(v.to_string(), text);
    }
}

#[test]
fn versions_order_by_their_scheme() {
    let v = |scheme: Scheme, s: &str| scheme.parse(s).unwrap_or_else(|e| panic!("{e}"));
    assert!(v(Scheme::SemVer, "1.0.0-rc.1") < v(Scheme::SemVer, "1.0.0"));
    assert!(v(Scheme::Composer, "1.0.0-RC1") < v(Scheme::Composer, "1.0.0-p1"));
    assert_eq!(v(Scheme::Composer, "1.0"), v(Scheme::Composer, "v1.0.0.0"));
    assert!(v(Scheme::Pep440, "1.0.dev0") < v(Scheme::Pep440, "1.0a0"));
    assert_eq!(v(Scheme::Pep440, "1.0"), v(Scheme::Pep440, "1.0.0"));
    assert!(v(Scheme::Debian, "1.0~rc1") < v(Scheme::Debian, "1.0"));

    // The same text orders differently by scheme: `1.0-1` is a Debian revision, a PEP 440 post
    // release, and not a SemVer version at all.
    assert!(v(Scheme::Pep440, "1.0-1") > v(Scheme::Pep440, "1.0"));
    assert!(v(Scheme::Debian, "1.0-1") > v(Scheme::Debian, "1.0"));
    assert!(Scheme::SemVer.parse("1.0-1").is_err());

    // Across schemes the order is the schemes' order, whatever the numbers, and never equal.
    let mixed: Vec<Version> = vec![
        v(Scheme::Debian, "0.1"),
        v(Scheme::Pep440, "99"),
        v(Scheme::Composer, "5"),
        v(Scheme::SemVer, "100.0.0"),
    ];
    let mut sorted = mixed.clone();
    sorted.sort();
    assert_eq!(
        sorted.iter().map(Version::scheme).collect::<Vec<_>>(),
        Scheme::ALL.to_vec()
    );
    assert_ne!(v(Scheme::SemVer, "1.0.0"), v(Scheme::Pep440, "1.0.0"));
    assert_eq!(
        v(Scheme::SemVer, "1.0.0").cmp(&v(Scheme::Pep440, "1.0.0")),
        Ordering::Less
    );
}

#[test]
fn errors_say_what_failed_and_whether_it_can_ever_be_ordered() {
    let e = Scheme::SemVer.parse("1.2").unwrap_err();
    assert_eq!(e.scheme, Scheme::SemVer);
    assert_eq!(e.input, "1.2");
    assert_eq!(e.kind, VersionErrorKind::Invalid);
    assert_eq!(
        e.to_string(),
        format!("semver version \"1.2\": {}", e.reason)
    );

    for branch in [
        "dev-main",
        "dev-feature/x",
        "1.x-dev",
        "2.1.x-dev",
        "master",
    ] {
        let e = Scheme::Composer.parse(branch).unwrap_err();
        assert_eq!(e.kind, VersionErrorKind::NotComparable, "{branch}");
        assert!(e.reason.contains("branch"), "{e}");
    }
    for (scheme, bad) in [
        (Scheme::Composer, "1.0#abc"),
        (Scheme::Composer, "1.0.0-meh"),
        (Scheme::Pep440, "1.0-SNAPSHOT"),
        (Scheme::Debian, "abc"),
        (Scheme::SemVer, "01.2.3"),
    ] {
        let e: VersionError = scheme.parse(bad).unwrap_err();
        assert_eq!(e.kind, VersionErrorKind::Invalid, "{e}");
        assert!(
            e.to_string().starts_with(&format!("{scheme} version ")),
            "{e}"
        );
    }
}
