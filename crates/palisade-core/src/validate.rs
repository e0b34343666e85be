//! Field validation with errors that name the field, so an API caller or a form user learns exactly
//! what to fix. Limits are explicit constants, documented in the API reference.

use serde::Serialize;

/// Longest accepted name (clients, sites, environments, hosts, users).
pub const MAX_NAME_LEN: usize = 200;
/// Longest accepted URL, e-mail address or free-text line.
pub const MAX_TEXT_LEN: usize = 2_000;
/// Most addresses one host may list.
pub const MAX_ADDRESSES: usize = 64;
/// Most weekday ranges in one support-hours definition.
pub const MAX_SUPPORT_RANGES: usize = 28;

/// One invalid field: its path (`contract.support_hours.time_zone`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Inputs check themselves before anything is stored.
pub trait Validate {
    /// The first invalid field, if any.
    fn validate(&self) -> Result<(), FieldError>;
}

/// Trimmed-nonempty, bounded, free of control characters. Any other text (quotes, angle brackets,
/// SQL) is legitimate data and is stored verbatim.
pub fn name(field: &str, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    text(field, value, MAX_NAME_LEN)
}

/// Bounded text without control characters (tabs allowed).
pub fn text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// An absolute http or https URL with a host.
pub fn http_url(field: &str, value: &str) -> Result<(), FieldError> {
    text(field, value, MAX_TEXT_LEN)?;
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| FieldError::new(field, "must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(FieldError::new(field, "must name a host"));
    }
    Ok(())
}

/// A plausible e-mail address: one `@`, something on both sides, no spaces.
pub fn email(field: &str, value: &str) -> Result<(), FieldError> {
    text(field, value, 254)?;
    let mut parts = value.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None)
            if !local.is_empty()
                && domain.contains('.')
                && !value.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(FieldError::new(
            field,
            "must be an e-mail address like name@example.com",
        )),
    }
}

/// An IANA time zone name known to the bundled database, like `Europe/London`.
pub fn time_zone(field: &str, value: &str) -> Result<(), FieldError> {
    if jiff::tz::TimeZone::get(value).is_err() {
        return Err(FieldError::new(
            field,
            format!("{value:?} is not an IANA time zone name (for example Europe/London)"),
        ));
    }
    Ok(())
}

/// A DNS host name (RFC 1123 labels).
pub fn hostname(field: &str, value: &str) -> Result<(), FieldError> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be a host name like web-01.example.net",
        ))
    }
}

/// Prefixes a nested error's field with its parent's path.
pub fn nested(parent: &str, err: FieldError) -> FieldError {
    FieldError::new(format!("{parent}.{}", err.field), err.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_blank_and_control_characters_but_keep_markup_and_sql() {
        assert_eq!(name("name", "  ").unwrap_err().field, "name");
        assert!(name("name", "a\u{0}b").is_err());
        assert!(name("name", "Robert'); DROP TABLE clients;--").is_ok());
        assert!(name("name", "<script>alert(1)</script>").is_ok());
        assert!(name("name", &"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn urls_emails_zones_and_hosts() {
        assert!(http_url("url", "https://shop.example.com/path").is_ok());
        assert!(http_url("url", "ftp://x").is_err());
        assert!(http_url("url", "https://").is_err());
        assert!(email("email", "ops@example.com").is_ok());
        assert!(email("email", "ops@@example.com").is_err());
        assert!(time_zone("tz", "Europe/London").is_ok());
        assert!(time_zone("tz", "Mars/Olympus_Mons").is_err());
        assert!(hostname("name", "web-01.example.net").is_ok());
        assert!(hostname("name", "-bad-.example").is_err());
    }
}
