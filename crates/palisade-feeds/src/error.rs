//! The one error type every parser returns ([`palisade_vulns::LocatedError`], shared with the
//! inventory parsers), and the adapters that fill it from each format library's own error type:
//! the line, and the field path the deserializer was in (from `serde_path_to_error`), turned into
//! text once, here.

use palisade_vulns::located::line_of_offset;

/// Why a feed file (or one record in it) could not be read.
pub type FeedError = palisade_vulns::LocatedError;

/// A JSON error with the path the deserializer had reached.
pub(crate) fn json(file: &str, err: serde_path_to_error::Error<serde_json::Error>) -> FeedError {
    let field = err.path().to_string();
    let inner = err.into_inner();
    from_json_inner(file, &inner).with_field(field)
}

pub(crate) fn from_json_inner(file: &str, inner: &serde_json::Error) -> FeedError {
    let text = inner.to_string();
    if inner.line() == 0 {
        return FeedError::new(file, text);
    }
    // serde_json appends " at line L column C"; the line goes in its own field, and the
    // column stays in the message because whole-feed files can be a single line.
    let message = match text.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &text[..i], inner.column()),
        None => text,
    };
    FeedError::new(file, message).at_line(inner.line())
}

/// A YAML error; `serde_norway` reports the mark where parsing stopped.
pub(crate) fn yaml(file: &str, err: serde_path_to_error::Error<serde_norway::Error>) -> FeedError {
    let field = err.path().to_string();
    let inner = err.into_inner();
    let text = inner.to_string();
    // serde_norway prefixes its own copy of the path; the field carries it already.
    let text = match text.strip_prefix(&format!("{field}: ")) {
        Some(rest) => rest.to_owned(),
        None => text,
    };
    let located = match inner.location() {
        Some(loc) => {
            // The location goes in `line`; drop serde_norway's own " at line L column C".
            let message = match text.rfind(" at line ") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            FeedError::new(file, message).at_line(loc.line())
        }
        None => FeedError::new(file, text),
    };
    located.with_field(field)
}

/// A TOML error in a document that starts at line `first_line` of the file (RustSec front
/// matter sits below a fence), with `source` the TOML text the span refers to.
pub(crate) fn toml(
    file: &str,
    first_line: usize,
    source: &str,
    err: serde_path_to_error::Error<toml::de::Error>,
) -> FeedError {
    let field = err.path().to_string();
    let inner = err.into_inner();
    // toml's messages can span lines ("invalid string\nexpected ..."); one line reads
    // better in logs and tables.
    let message = inner
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let mut e = FeedError::new(file, message);
    if let Some(span) = inner.span() {
        let line = line_of_offset(source, span.start.min(source.len())).unwrap_or(1);
        e = e.at_line(first_line + line - 1);
    }
    e.with_field(field)
}

/// Refuses input larger than `limit` before any parsing starts, so a hostile or corrupt download
/// cannot make a parser allocate without bound.
pub(crate) fn check_size(
    file: &str,
    len: usize,
    limit: usize,
    what: &str,
) -> Result<(), FeedError> {
    if len > limit {
        return Err(FeedError::new(
            file,
            format!("{what} is {len} bytes; the limit is {limit} bytes"),
        ));
    }
    Ok(())
}

/// Strips a UTF-8 byte-order mark: some exports carry one, and no format here allows it.
pub(crate) fn strip_bom_bytes(content: &[u8]) -> &[u8] {
    content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content)
}

pub(crate) fn strip_bom(content: &str) -> &str {
    content.strip_prefix('\u{feff}').unwrap_or(content)
}
