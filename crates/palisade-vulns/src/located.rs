//! The error of every parser of outside input, advisory feeds and inventories alike: a feed or a
//! lockfile is thousands of records written by many hands, so an error must say exactly where to
//! look — the file, the line and the field path. It lives here, the lowest crate both parser
//! crates use, so the two cannot drift apart in what they report or how it reads.

use std::fmt;

/// Why a file (or one record in it) could not be read. Displays as `file:line: field: message`,
/// leaving out the parts that are unknown (`composer.lock:12: packages[3].version: invalid type:
/// integer, expected a string`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Rendered(self))]
pub struct LocatedError {
    /// The display name the caller gave the file (a path, or `archive.zip!/member.json`).
    pub file: String,
    /// 1-based line in the file, when known.
    pub line: Option<u32>,
    /// The field path, e.g. `affected[0].ranges[1].events`.
    pub field: Option<String>,
    pub message: String,
}

struct Rendered<'a>(&'a LocatedError);

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        f.write_str(&e.file)?;
        if let Some(line) = e.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &e.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", e.message)
    }
}

impl LocatedError {
    /// An error about the file as a whole.
    pub fn new(file: &str, message: impl Into<String>) -> LocatedError {
        LocatedError {
            file: file.to_owned(),
            line: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn at_line(mut self, line: usize) -> LocatedError {
        self.line = Some(u32::try_from(line).unwrap_or(u32::MAX));
        self
    }

    /// Sets the field path; `serde_path_to_error` shows the root as `.`, which names no field.
    pub fn with_field(mut self, field: impl Into<String>) -> LocatedError {
        let field = field.into();
        if !field.is_empty() && field != "." {
            self.field = Some(field);
        }
        self
    }
}

/// The 1-based line that byte `offset` of `text` lies on, or `None` past the end. Bytes are
/// counted, not characters, so an offset a format library reports inside a multi-byte character
/// is an answer rather than a panic.
pub fn line_of_offset(text: &str, offset: usize) -> Option<usize> {
    let before = text.as_bytes().get(..offset)?;
    Some(before.iter().filter(|&&b| b == b'\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_leaves_out_missing_parts() {
        let e = LocatedError::new("a.json", "bad");
        assert_eq!(e.to_string(), "a.json: bad");
        let e = LocatedError::new("a.json", "bad")
            .at_line(3)
            .with_field("x.y");
        assert_eq!(e.to_string(), "a.json:3: x.y: bad");
        let e = LocatedError::new("a.json", "bad").with_field("x");
        assert_eq!(e.to_string(), "a.json: x: bad");
        assert_eq!(
            LocatedError::new("a", "b").with_field("."),
            LocatedError::new("a", "b")
        );
    }

    #[test]
    fn offsets_become_lines_even_inside_a_character() {
        assert_eq!(line_of_offset("a\nb", 2), Some(2));
        assert_eq!(line_of_offset("a\nb", 3), Some(2));
        assert_eq!(line_of_offset("a\nb", 4), None);
        assert_eq!(line_of_offset("\né", 2), Some(2));
    }
}
