//! Small helpers the parsers share: lenient deserialization of fields that feeds write as
//! `null` or as a scalar of the wrong type, timestamp parsing, and order-keeping de-duplication.

use std::collections::HashSet;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::FeedError;

/// Reads one JSON document of type `T`, with the field path in errors, refusing trailing data.
pub(crate) fn read_json<T: DeserializeOwned>(file: &str, content: &[u8]) -> Result<T, FeedError> {
    let mut de = serde_json::Deserializer::from_slice(content);
    let value =
        serde_path_to_error::deserialize(&mut de).map_err(|e| crate::error::json(file, e))?;
    de.end()
        .map_err(|e| crate::error::from_json_inner(file, &e))?;
    Ok(value)
}

/// A field that may be absent *or* `null` (OSV exports write `"aliases": null`).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Parses the timestamps feeds write: RFC 3339 with an offset (the standard), a date and time
/// without one, or a bare date — the last two read as UTC, as the OSV schema says timestamps are.
pub(crate) fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    if let Ok(dt) = s.parse::<DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    s.parse::<Date>().ok().and_then(midnight_utc)
}

/// Midnight UTC on `date`, for sources that give dates only (RustSec).
pub(crate) fn midnight_utc(date: Date) -> Option<Timestamp> {
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Appends `item` unless it is already there; lists stay in source order.
pub(crate) fn push_unique(list: &mut Vec<String>, item: &str) {
    extend_unique(list, [item]);
}

/// Appends each of `items` not already there, trimmed, in source order. A set remembers what is
/// there: a record may list hundreds of thousands of versions, and a search of the list per item
/// would be quadratic.
pub(crate) fn extend_unique<'a>(list: &mut Vec<String>, items: impl IntoIterator<Item = &'a str>) {
    let mut seen: HashSet<String> = list.iter().cloned().collect();
    for item in items {
        let item = item.trim();
        if !item.is_empty() && seen.insert(item.to_owned()) {
            list.push(item.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_without_offsets_are_utc() {
        let a = parse_timestamp("2021-01-02T03:04:05Z").unwrap();
        assert_eq!(parse_timestamp("2021-01-02T03:04:05").unwrap(), a);
        assert_eq!(
            parse_timestamp("2021-01-02").unwrap(),
            parse_timestamp("2021-01-02T00:00:00Z").unwrap()
        );
        assert!(parse_timestamp("yesterday").is_none());
    }
}
