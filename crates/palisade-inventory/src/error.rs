//! The one error type of the parsers, and the adapters that turn JSON, TOML and YAML decoding
//! errors into it with the line and the field path (via `serde_path_to_error`), so an operator can
//! find the broken spot in a 50,000-line lockfile.

use serde::de::DeserializeOwned;

use crate::lines::line_of_offset;

/// Why a file could not be parsed: [`palisade_vulns::LocatedError`], shared with the feed
/// parsers so both report a location the same way.
pub type ParseError = palisade_vulns::LocatedError;

/// `serde_path_to_error` shows the root as `.`; that names no field.
fn field_path(path: &serde_path_to_error::Path) -> Option<String> {
    let p = path.to_string();
    (p != ".").then_some(p)
}

fn to_u32(n: usize) -> Option<u32> {
    u32::try_from(n).ok().filter(|&n| n > 0)
}

/// Decodes JSON into typed structs (never a `Value` tree: a 10 MB SBOM must not cost 100 MB).
pub(crate) fn json<T: DeserializeOwned>(file: &str, content: &[u8]) -> Result<T, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(content);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = field_path(e.path());
        json_error(file, field, e.inner())
    })?;
    de.end().map_err(|e| json_error(file, None, &e))?;
    Ok(value)
}

fn json_error(file: &str, field: Option<String>, e: &serde_json::Error) -> ParseError {
    let mut message = e.to_string();
    // serde_json appends the position, which the error already carries as its line.
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message = stripped.to_owned();
    }
    ParseError {
        file: file.to_owned(),
        line: to_u32(e.line()),
        field,
        message,
    }
}

pub(crate) fn toml<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, ParseError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_path(e.path());
        let inner = e.into_inner();
        ParseError {
            file: file.to_owned(),
            line: inner.span().and_then(|s| line_of_offset(text, s.start)),
            field,
            // toml puts the cause on a second line ("invalid table header\nrecursion limit
            // exceeded"); errors display on one.
            message: inner.message().trim_end().replace('\n', ": "),
        }
    })
}

pub(crate) fn yaml<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, ParseError> {
    if let Err((line, message)) = crate::yaml_guard::check(text) {
        return Err(ParseError {
            file: file.to_owned(),
            line: Some(line),
            field: None,
            message,
        });
    }
    let de = serde_norway::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_path(e.path());
        let inner = e.into_inner();
        let line = inner.location().and_then(|l| to_u32(l.line()));
        let mut message = inner.to_string();
        // serde_norway repeats the path in front and the position behind; both are fields of
        // the error already.
        if let Some(loc) = inner.location() {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
        if let Some(f) = &field
            && let Some(stripped) = message.strip_prefix(&format!("{f}: "))
        {
            message = stripped.to_owned();
        }
        ParseError {
            file: file.to_owned(),
            line,
            field,
            message,
        }
    })
}

/// The text of a text format, or an error at the line holding the first invalid byte.
pub(crate) fn utf8<'a>(file: &str, content: &'a [u8]) -> Result<&'a str, ParseError> {
    std::str::from_utf8(content).map_err(|e| {
        let valid = content.get(..e.valid_up_to()).unwrap_or_default();
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        ParseError {
            file: file.to_owned(),
            line: u32::try_from(line).ok(),
            field: None,
            message: "not valid UTF-8".to_owned(),
        }
    })
}
