//! The tenant spine: client (with its contract) → site → environment, plus contacts and hosts.
//! Everything else in Palisade hangs off these records, and every query a client user can reach is
//! scoped by the client they belong to.

use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use serde::{Deserialize, Serialize};

use crate::validate::{
    self, FieldError, MAX_ADDRESSES, MAX_SUPPORT_RANGES, MAX_TEXT_LEN, Validate,
};
use crate::{ClientId, ContactId, EnvironmentId, HostId, SiteId};

/// The service level bought by a client; later issues attach SLA targets to each tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SlaTier {
    Basic,
    Standard,
    Premium,
}

impl SlaTier {
    pub const ALL: [SlaTier; 3] = [SlaTier::Basic, SlaTier::Standard, SlaTier::Premium];

    pub fn as_str(self) -> &'static str {
        match self {
            SlaTier::Basic => "basic",
            SlaTier::Standard => "standard",
            SlaTier::Premium => "premium",
        }
    }
}

/// A day of the week in support hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    pub const ALL: [Day; 7] = [
        Day::Monday,
        Day::Tuesday,
        Day::Wednesday,
        Day::Thursday,
        Day::Friday,
        Day::Saturday,
        Day::Sunday,
    ];

    pub fn weekday(self) -> Weekday {
        match self {
            Day::Monday => Weekday::Monday,
            Day::Tuesday => Weekday::Tuesday,
            Day::Wednesday => Weekday::Wednesday,
            Day::Thursday => Weekday::Thursday,
            Day::Friday => Weekday::Friday,
            Day::Saturday => Weekday::Saturday,
            Day::Sunday => Weekday::Sunday,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Day::Monday => "monday",
            Day::Tuesday => "tuesday",
            Day::Wednesday => "wednesday",
            Day::Thursday => "thursday",
            Day::Friday => "friday",
            Day::Saturday => "saturday",
            Day::Sunday => "sunday",
        }
    }
}

/// The text was not one of a closed set of names; the message lists them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{got:?} is not one of {expected}")]
pub struct UnknownName {
    pub got: String,
    pub expected: &'static str,
}

/// Parses the API/database name of a closed enum (`as_str` is the single spelling).
macro_rules! from_name {
    ($ty:ty, $expected:literal) => {
        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                <$ty>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownName {
                        got: s.to_owned(),
                        expected: $expected,
                    })
            }
        }
    };
}

from_name!(SlaTier, "basic, standard, premium");
from_name!(Day, "monday … sunday");

/// One weekday's support window, as local wall-clock times in the contract's zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DayRange {
    pub day: Day,
    /// Local start time, `HH:MM`.
    #[schema(example = "09:00")]
    pub start: String,
    /// Local end time, `HH:MM`, after the start.
    #[schema(example = "17:30")]
    pub end: String,
}

/// When the client gets in-hours support: weekday ranges plus an IANA zone. Stored as wall-clock
/// times and a zone, never as UTC offsets, so DST moves with the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportHours {
    #[schema(example = "Europe/London")]
    pub time_zone: String,
    pub ranges: Vec<DayRange>,
}

impl SupportHours {
    /// Monday to Friday, 09:00 to 17:30, in `zone`.
    pub fn office_hours(zone: &str) -> Self {
        Self {
            time_zone: zone.to_owned(),
            ranges: Day::ALL[..5]
                .iter()
                .map(|&day| DayRange {
                    day,
                    start: "09:00".into(),
                    end: "17:30".into(),
                })
                .collect(),
        }
    }

    /// Whether `at` falls inside support hours. Holidays are a later concern of the SLA engine.
    pub fn contains(&self, at: Timestamp) -> bool {
        let Ok(tz) = jiff::tz::TimeZone::get(&self.time_zone) else {
            return false;
        };
        let local = at.to_zoned(tz).datetime();
        self.ranges.iter().any(|r| {
            let (Ok(start), Ok(end)) = (parse_hhmm(&r.start), parse_hhmm(&r.end)) else {
                return false;
            };
            r.day.weekday() == local.weekday() && local.time() >= start && local.time() < end
        })
    }
}

fn parse_hhmm(s: &str) -> Result<Time, ()> {
    let (h, m) = s.split_once(':').ok_or(())?;
    if h.len() != 2 || m.len() != 2 {
        return Err(());
    }
    let h: i8 = h.parse().map_err(|_| ())?;
    let m: i8 = m.parse().map_err(|_| ())?;
    Time::new(h, m, 0, 0).map_err(|_| ())
}

impl Validate for SupportHours {
    fn validate(&self) -> Result<(), FieldError> {
        validate::time_zone("time_zone", &self.time_zone)?;
        if self.ranges.len() > MAX_SUPPORT_RANGES {
            return Err(FieldError::new(
                "ranges",
                format!("at most {MAX_SUPPORT_RANGES} ranges"),
            ));
        }
        for (i, r) in self.ranges.iter().enumerate() {
            let start = parse_hhmm(&r.start).map_err(|()| {
                FieldError::new(format!("ranges[{i}].start"), "must be a time HH:MM")
            })?;
            let end = parse_hhmm(&r.end).map_err(|()| {
                FieldError::new(format!("ranges[{i}].end"), "must be a time HH:MM")
            })?;
            if end <= start {
                return Err(FieldError::new(
                    format!("ranges[{i}].end"),
                    "must be after start",
                ));
            }
        }
        Ok(())
    }
}

/// What the client bought.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub sla_tier: SlaTier,
    pub support_hours: SupportHours,
    /// Name of the public-holiday calendar that suspends support hours, e.g. `gb-eng`.
    pub holiday_calendar: Option<String>,
    /// Whether critical issues out of hours may be raised on the (extra-billed) out-of-hours line.
    pub out_of_hours: bool,
}

impl Validate for Contract {
    fn validate(&self) -> Result<(), FieldError> {
        self.support_hours
            .validate()
            .map_err(|e| validate::nested("support_hours", e))?;
        if let Some(cal) = &self.holiday_calendar {
            validate::name("holiday_calendar", cal)?;
        }
        Ok(())
    }
}

/// A client organisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub contract: Contract,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// Fields a client is created or updated with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    pub name: String,
    pub contract: Contract,
}

impl Validate for ClientInput {
    fn validate(&self) -> Result<(), FieldError> {
        validate::name("name", &self.name)?;
        self.contract
            .validate()
            .map_err(|e| validate::nested("contract", e))
    }
}

/// A person at a client the provider talks to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: ContactId,
    pub client_id: ClientId,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    /// Job title or responsibility ("IT manager", "billing").
    pub title: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// Fields a contact is created or updated with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
}

impl Validate for ContactInput {
    fn validate(&self) -> Result<(), FieldError> {
        validate::name("name", &self.name)?;
        validate::email("email", &self.email)?;
        if let Some(p) = &self.phone {
            validate::text("phone", p, 40)?;
        }
        if let Some(t) = &self.title {
            validate::text("title", t, validate::MAX_NAME_LEN)?;
        }
        Ok(())
    }
}

/// A client's website.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Site {
    pub id: SiteId,
    pub client_id: ClientId,
    pub name: String,
    pub url: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// Fields a site is created with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    pub client_id: ClientId,
    pub name: String,
    pub url: String,
}

/// Fields of a site that can change (a site never moves to another client).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteUpdate {
    pub name: String,
    pub url: String,
}

impl Validate for SiteUpdate {
    fn validate(&self) -> Result<(), FieldError> {
        validate::name("name", &self.name)?;
        validate::http_url("url", &self.url)
    }
}

impl Validate for NewSite {
    fn validate(&self) -> Result<(), FieldError> {
        SiteUpdate {
            name: self.name.clone(),
            url: self.url.clone(),
        }
        .validate()
    }
}

/// The stage of an environment in the path from development to production.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentKind {
    Dev,
    Staging,
    Live,
}

impl EnvironmentKind {
    pub const ALL: [EnvironmentKind; 3] = [
        EnvironmentKind::Dev,
        EnvironmentKind::Staging,
        EnvironmentKind::Live,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EnvironmentKind::Dev => "dev",
            EnvironmentKind::Staging => "staging",
            EnvironmentKind::Live => "live",
        }
    }
}

/// One deployment of a site. Environments of a site are ordered by `position`, the promotion order
/// a fix follows (dev → staging → live).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Environment {
    pub id: EnvironmentId,
    pub site_id: SiteId,
    pub client_id: ClientId,
    pub kind: EnvironmentKind,
    pub name: String,
    pub url: Option<String>,
    /// Promotion order within the site; lower comes first.
    pub position: i32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// Fields an environment is created with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnvironment {
    pub site_id: SiteId,
    pub kind: EnvironmentKind,
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    /// Promotion order; defaults to the kind's natural place (dev 10, staging 20, live 30).
    #[serde(default)]
    pub position: Option<i32>,
}

/// Fields of an environment that can change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentUpdate {
    pub kind: EnvironmentKind,
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    pub position: i32,
}

from_name!(EnvironmentKind, "dev, staging, live");

impl EnvironmentKind {
    /// Where an environment of this kind goes in the promotion order unless told otherwise.
    pub fn default_position(self) -> i32 {
        match self {
            EnvironmentKind::Dev => 10,
            EnvironmentKind::Staging => 20,
            EnvironmentKind::Live => 30,
        }
    }
}

fn validate_env(name: &str, url: Option<&str>, position: i32) -> Result<(), FieldError> {
    validate::name("name", name)?;
    if let Some(url) = url {
        validate::http_url("url", url)?;
    }
    if !(0..=10_000).contains(&position) {
        return Err(FieldError::new("position", "must be between 0 and 10000"));
    }
    Ok(())
}

impl Validate for NewEnvironment {
    fn validate(&self) -> Result<(), FieldError> {
        validate_env(&self.name, self.url.as_deref(), self.position.unwrap_or(0))
    }
}

impl Validate for EnvironmentUpdate {
    fn validate(&self) -> Result<(), FieldError> {
        validate_env(&self.name, self.url.as_deref(), self.position)
    }
}

/// A server. A dedicated host belongs to one client; a shared host (no client) is visible to staff only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Host {
    pub id: HostId,
    pub client_id: Option<ClientId>,
    pub name: String,
    pub addresses: Vec<String>,
    pub os: String,
    /// The environments this host serves.
    pub environment_ids: Vec<EnvironmentId>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// Fields a host is created or updated with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostInput {
    #[serde(default)]
    pub client_id: Option<ClientId>,
    pub name: String,
    #[serde(default)]
    pub addresses: Vec<String>,
    pub os: String,
    #[serde(default)]
    pub environment_ids: Vec<EnvironmentId>,
}

impl Validate for HostInput {
    fn validate(&self) -> Result<(), FieldError> {
        validate::hostname("name", &self.name)?;
        if self.addresses.len() > MAX_ADDRESSES {
            return Err(FieldError::new(
                "addresses",
                format!("at most {MAX_ADDRESSES} addresses"),
            ));
        }
        for (i, a) in self.addresses.iter().enumerate() {
            if a.parse::<std::net::IpAddr>().is_err() {
                return Err(FieldError::new(
                    format!("addresses[{i}]"),
                    "must be an IPv4 or IPv6 address",
                ));
            }
        }
        validate::name("os", &self.os)?;
        if self.environment_ids.len() > MAX_TEXT_LEN {
            return Err(FieldError::new("environment_ids", "too many environments"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn support_hours_follow_the_clients_zone_across_dst() {
        let hours = SupportHours::office_hours("Europe/London");
        // Friday 27 March 2026, 08:30 UTC is 08:30 GMT: before opening.
        assert!(!hours.contains(ts("2026-03-27T08:30:00Z")));
        // Monday 30 March 2026 (after the spring change), 08:30 UTC is 09:30 BST: open.
        assert!(hours.contains(ts("2026-03-30T08:30:00Z")));
        // Saturday: closed.
        assert!(!hours.contains(ts("2026-03-28T12:00:00Z")));
    }

    #[test]
    fn contract_errors_name_the_nested_field() {
        let mut input = ClientInput {
            name: "Acme".into(),
            contract: Contract {
                sla_tier: SlaTier::Standard,
                support_hours: SupportHours::office_hours("Europe/Londn"),
                holiday_calendar: None,
                out_of_hours: false,
            },
        };
        assert_eq!(
            input.validate().unwrap_err().field,
            "contract.support_hours.time_zone"
        );
        input.contract.support_hours = SupportHours::office_hours("Europe/London");
        input.contract.support_hours.ranges[2].end = "08:00".into();
        assert_eq!(
            input.validate().unwrap_err().field,
            "contract.support_hours.ranges[2].end"
        );
        input.contract.support_hours.ranges[2].end = "25:00".into();
        assert_eq!(
            input.validate().unwrap_err().field,
            "contract.support_hours.ranges[2].end"
        );
    }

    #[test]
    fn host_addresses_must_be_ip_addresses() {
        let host = HostInput {
            client_id: None,
            name: "web-01".into(),
            addresses: vec!["127.0.0.1".into(), "::1".into(), "not-an-ip".into()],
            os: "Debian 12".into(),
            environment_ids: vec![],
        };
        assert_eq!(host.validate().unwrap_err().field, "addresses[2]");
    }
}
