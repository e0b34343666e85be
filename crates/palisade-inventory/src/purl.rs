//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`, the purl specification),
//! the package identity SBOMs carry. Parsed by hand, following the spec's parsing steps, with
//! percent-decoding of every component.

use std::fmt;

/// A parsed package URL. Components are percent-decoded; the type and qualifier keys are lower
/// case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    pub ty: String,
    /// Segments joined with `/` (`@babel` for npm, the vendor for Composer, `debian` for deb).
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub qualifiers: Vec<(String, String)>,
    pub subpath: Option<String>,
}

/// Why a string is not a package URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurlError(pub String);

impl fmt::Display for PurlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PurlError {}

fn err(msg: impl Into<String>) -> PurlError {
    PurlError(msg.into())
}

impl Purl {
    pub fn parse(s: &str) -> Result<Purl, PurlError> {
        let s = s.trim();
        let scheme = s.get(..4).filter(|p| p.eq_ignore_ascii_case("pkg:"));
        let rest = match (scheme, s.get(4..)) {
            (Some(_), Some(rest)) => rest.trim_start_matches('/'),
            _ => return Err(err("not a package URL: no `pkg:` scheme")),
        };
        let (rest, subpath) = match rest.rsplit_once('#') {
            Some((r, sub)) => {
                let segments = sub
                    .split('/')
                    .filter(|seg| !seg.is_empty() && *seg != "." && *seg != "..")
                    .map(decode)
                    .collect::<Result<Vec<_>, _>>()?;
                (r, (!segments.is_empty()).then(|| segments.join("/")))
            }
            None => (rest, None),
        };
        let (rest, qualifiers) = match rest.rsplit_once('?') {
            Some((r, q)) => (r, parse_qualifiers(q)?),
            None => (rest, Vec::new()),
        };
        let Some((ty, rest)) = rest.split_once('/') else {
            return Err(err("not a package URL: no type"));
        };
        let ty = ty.to_ascii_lowercase();
        if ty.is_empty()
            || !ty
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))
        {
            return Err(err(format!("invalid package URL type {ty:?}")));
        }
        let rest = rest.trim_matches('/');
        // The version follows an `@` in the last segment; an unencoded npm scope (`@babel/core`)
        // puts an `@` in an earlier one.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (path, version) = match rest.get(last_slash..).and_then(|last| last.rfind('@')) {
            Some(at) => {
                let at = last_slash + at;
                let v = decode(rest.get(at + 1..).unwrap_or(""))?;
                (rest.get(..at).unwrap_or(""), (!v.is_empty()).then_some(v))
            }
            None => (rest, None),
        };
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, name)) => {
                let segments = ns
                    .split('/')
                    .filter(|seg| !seg.is_empty())
                    .map(decode)
                    .collect::<Result<Vec<_>, _>>()?;
                (
                    (!segments.is_empty()).then(|| segments.join("/")),
                    decode(name)?,
                )
            }
            None => (None, decode(path)?),
        };
        if name.is_empty() {
            return Err(err("not a package URL: no name"));
        }
        Ok(Purl {
            ty,
            namespace,
            name,
            version,
            qualifiers,
            subpath,
        })
    }

    /// The value of a qualifier (`distro`, `arch`, `upstream`).
    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn parse_qualifiers(q: &str) -> Result<Vec<(String, String)>, PurlError> {
    let mut out = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(err(format!("qualifier without a value: {pair:?}")));
        };
        let v = decode(v)?;
        if !v.is_empty() {
            out.push((k.to_ascii_lowercase(), v));
        }
    }
    Ok(out)
}

/// Percent-decoding; the result must be UTF-8.
fn decode(s: &str) -> Result<String, PurlError> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| err(format!("invalid percent-encoding in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| err(format!("percent-encoding of {s:?} is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_scopes_encoded_or_not() {
        for s in ["pkg:npm/%40babel/core@7.0.0", "pkg:npm/@babel/core@7.0.0"] {
            let p = Purl::parse(s).unwrap();
            assert_eq!(p.ty, "npm");
            assert_eq!(p.namespace.as_deref(), Some("@babel"));
            assert_eq!(p.name, "core");
            assert_eq!(p.version.as_deref(), Some("7.0.0"));
        }
        let p = Purl::parse("pkg:npm/@babel/core").unwrap();
        assert_eq!(
            (p.namespace.as_deref(), p.name.as_str(), p.version),
            (Some("@babel"), "core", None)
        );
    }

    #[test]
    fn qualifiers_and_subpath() {
        let p = Purl::parse(
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl%403.0.11-1~deb12u2&distro=debian-12#usr/lib",
        )
        .unwrap();
        assert_eq!(p.qualifier("upstream"), Some("openssl@3.0.11-1~deb12u2"));
        assert_eq!(p.qualifier("distro"), Some("debian-12"));
        assert_eq!(p.subpath.as_deref(), Some("usr/lib"));
        assert_eq!(p.version.as_deref(), Some("3.0.11-1~deb12u2"));
    }

    #[test]
    fn rejects_what_is_not_a_purl() {
        assert!(Purl::parse("npm/x@1").is_err());
        assert!(Purl::parse("pkg:").is_err());
        assert!(Purl::parse("pkg:npm/").is_err());
        assert!(Purl::parse("pkg:npm/%zz@1").is_err());
        assert!(Purl::parse("pkg:npm/%ff@1").is_err());
        assert!(Purl::parse("pkg:n p/x").is_err());
    }
}
