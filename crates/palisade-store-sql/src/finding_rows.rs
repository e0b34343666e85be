//! How a finding and its events are laid out in rows. A finding's identity, state and sort keys
//! are columns; what belongs to it alone (its times, its triage) is a small JSON body; and what it
//! shares with every finding of the same advisory group, installed version, environment kind and
//! contract tier (title, ids, scores, fixed versions, the reasons of its priority) is a detail row,
//! stored once under the hash of its text. A first full match of the benchmark fleet writes
//! 874,602 findings: as whole-finding JSON their bodies averaged 1,282 bytes, most of them
//! repeated in the columns or shared with thousands of other findings (BENCHMARKS.md, fleet).
//!
//! Rows written before migration 0014 have no detail and hold the whole finding (or event) in
//! their body; they are still read as such, so the migration rewrites nothing.

use std::borrow::Cow;

use jiff::Timestamp;
use palisade_core::tenant::EnvironmentKind;
use palisade_fleet::priority::Reason;
use palisade_fleet::{
    EpssInfo, EventKind, Finding, FindingEvent, FindingState, Justification, KevInfo, RiskRequest,
};
use palisade_store::{StoreError, StoreResult};
use palisade_vulns::SeverityLevel;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fleet::package_key;
use crate::rows::{parse, row, to_json};

/// The findings columns every read selects, with the detail joined (`f` and `d`).
pub(crate) const FINDING_READ: &str = "f.id, f.client_id, f.site_id, f.environment_id, f.ecosystem, \
     f.qualifier, f.name, f.version, f.alias_group, f.state, f.priority, f.body, f.detail_id, \
     d.detail_body";
/// The join that brings a finding's detail, after `findings f`.
pub(crate) const DETAIL_JOIN: &str = "LEFT JOIN finding_details d ON d.detail_id = f.detail_id";

row!(FindingRow {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) site_id: String,
    pub(crate) environment_id: String,
    pub(crate) ecosystem: String,
    pub(crate) qualifier: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) alias_group: String,
    pub(crate) state: String,
    pub(crate) priority: i32,
    pub(crate) body: String,
    pub(crate) detail_id: Option<String>,
    pub(crate) detail_body: Option<String>,
});

row!(EventRow {
    pub(crate) id: String,
    pub(crate) finding_id: String,
    pub(crate) client_id: String,
    pub(crate) actor: Option<String>,
    pub(crate) kind: String,
    pub(crate) body: String,
});

/// What no column holds and no other finding shares. Times keep their nanoseconds here (the
/// columns hold microseconds, for sorting and filtering), so a finding reads back equal to what
/// was written and a re-match finds nothing to change.
#[derive(Serialize, Deserialize)]
struct OwnFields {
    detected_at: Timestamp,
    updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fix_available_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    risk_accepted_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "is_false")]
    dev: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state_before_inactive: Option<FindingState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    justification: Option<Justification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    risk_request: Option<RiskRequest>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a finding shares with the others of its advisory group, version, environment kind and
/// contract tier. Borrowed from the finding when written, owned when read.
#[derive(Serialize, Deserialize)]
struct Shared<'a> {
    environment_kind: EnvironmentKind,
    advisories: Cow<'a, [String]>,
    aliases: Cow<'a, [String]>,
    title: Cow<'a, str>,
    severity: SeverityLevel,
    cvss: Option<f64>,
    kev: Cow<'a, Option<KevInfo>>,
    epss: Cow<'a, Option<EpssInfo>>,
    fixed_versions: Cow<'a, [String]>,
    malicious: bool,
    reasons: Cow<'a, [Reason]>,
}

/// A finding's body, its detail's id (the first 16 bytes of the detail text's SHA-256, in hex)
/// and the detail text.
pub(crate) struct FindingParts {
    pub(crate) body: String,
    pub(crate) detail_id: String,
    pub(crate) detail: String,
}

pub(crate) fn finding_parts(f: &Finding) -> StoreResult<FindingParts> {
    let own = OwnFields {
        detected_at: f.detected_at,
        updated_at: f.updated_at,
        due_at: f.due_at,
        fix_available_at: f.fix_available_at,
        fixed_at: f.fixed_at,
        risk_accepted_until: f.risk_accepted_until,
        dev: f.dev,
        state_before_inactive: f.state_before_inactive,
        justification: f.justification,
        risk_request: f.risk_request.clone(),
    };
    let shared = Shared {
        environment_kind: f.environment_kind,
        advisories: Cow::Borrowed(&f.advisories),
        aliases: Cow::Borrowed(&f.aliases),
        title: Cow::Borrowed(&f.title),
        severity: f.severity,
        cvss: f.cvss,
        kev: Cow::Borrowed(&f.kev),
        epss: Cow::Borrowed(&f.epss),
        fixed_versions: Cow::Borrowed(&f.fixed_versions),
        malicious: f.malicious,
        reasons: Cow::Borrowed(&f.reasons),
    };
    let detail = to_json("finding detail", &shared)?;
    let digest = Sha256::digest(detail.as_bytes());
    Ok(FindingParts {
        body: to_json("finding", &own)?,
        detail_id: hex::encode(&digest[..16]),
        detail,
    })
}

/// A JSON column of one row, decoded; an error names the row and the column.
fn in_row<'a, T: Deserialize<'a>>(
    what: &str,
    id: &str,
    column: &str,
    text: &'a str,
) -> StoreResult<T> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{what} {id}, column {column}: {e}")))
}

pub(crate) fn finding_from(r: &FindingRow) -> StoreResult<Finding> {
    let Some(detail) = &r.detail_body else {
        if r.detail_id.is_some() {
            return Err(StoreError::Corrupt(format!(
                "finding {}: its detail row is missing",
                r.id
            )));
        }
        // Written before migration 0014: the body is the whole finding.
        return in_row("finding", &r.id, "body", &r.body);
    };
    let own: OwnFields = in_row("finding", &r.id, "body", &r.body)?;
    let shared: Shared<'_> = in_row("finding", &r.id, "detail_body", detail)?;
    Ok(Finding {
        id: parse("finding id", &r.id)?,
        client_id: parse("client id", &r.client_id)?,
        site_id: parse("site id", &r.site_id)?,
        environment_id: parse("environment id", &r.environment_id)?,
        environment_kind: shared.environment_kind,
        package: package_key(&r.ecosystem, r.qualifier.clone(), r.name.clone())?,
        version: r.version.clone(),
        dev: own.dev,
        alias_group: r.alias_group.clone(),
        advisories: shared.advisories.into_owned(),
        aliases: shared.aliases.into_owned(),
        title: shared.title.into_owned(),
        severity: shared.severity,
        cvss: shared.cvss,
        kev: shared.kev.into_owned(),
        epss: shared.epss.into_owned(),
        fixed_versions: shared.fixed_versions.into_owned(),
        malicious: shared.malicious,
        state: FindingState::parse(&r.state).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "finding {}, column state: unknown state {:?}",
                r.id, r.state
            ))
        })?,
        state_before_inactive: own.state_before_inactive,
        justification: own.justification,
        risk_accepted_until: own.risk_accepted_until,
        risk_request: own.risk_request,
        priority: r.priority,
        reasons: shared.reasons.into_owned(),
        detected_at: own.detected_at,
        fix_available_at: own.fix_available_at,
        due_at: own.due_at,
        fixed_at: own.fixed_at,
        updated_at: own.updated_at,
    })
}

/// An event's body: what its columns do not hold. Events written before migration 0014 hold the
/// whole event, which has these fields too.
#[derive(Serialize, Deserialize)]
struct EventFields<'a> {
    at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<FindingState>,
    to: FindingState,
    #[serde(borrow)]
    reason: Cow<'a, str>,
}

pub(crate) fn event_body(e: &FindingEvent) -> StoreResult<String> {
    to_json(
        "finding event",
        &EventFields {
            at: e.at,
            from: e.from,
            to: e.to,
            reason: Cow::Borrowed(&e.reason),
        },
    )
}

pub(crate) fn event_from(r: &EventRow) -> StoreResult<FindingEvent> {
    let fields: EventFields<'_> = in_row("finding event", &r.id, "body", &r.body)?;
    Ok(FindingEvent {
        id: parse("event id", &r.id)?,
        finding_id: parse("finding id", &r.finding_id)?,
        client_id: parse("client id", &r.client_id)?,
        at: fields.at,
        actor: r.actor.as_deref().map(|a| parse("actor", a)).transpose()?,
        kind: EventKind::parse(&r.kind).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "finding event {}, column kind: unknown kind {:?}",
                r.id, r.kind
            ))
        })?,
        from: fields.from,
        to: fields.to,
        reason: fields.reason.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::{ClientId, EnvironmentId, FindingEventId, FindingId, SiteId, UserId};
    use palisade_vulns::{Ecosystem, PackageKey};

    fn row_of(f: &Finding, detail: bool) -> FindingRow {
        let parts = finding_parts(f).unwrap();
        FindingRow {
            id: f.id.to_string(),
            client_id: f.client_id.to_string(),
            site_id: f.site_id.to_string(),
            environment_id: f.environment_id.to_string(),
            ecosystem: f.package.ecosystem.osv_name().to_owned(),
            qualifier: f.package.qualifier.clone(),
            name: f.package.name.clone(),
            version: f.version.clone(),
            alias_group: f.alias_group.clone(),
            state: f.state.as_str().to_owned(),
            priority: f.priority,
            body: if detail {
                parts.body
            } else {
                serde_json::to_string(f).unwrap()
            },
            detail_id: detail.then_some(parts.detail_id),
            detail_body: detail.then_some(parts.detail),
        }
    }

    /// Every field set, times with nanoseconds: anything the rows lost would make each re-match
    /// rewrite the finding.
    fn full() -> Finding {
        let t = Timestamp::from_nanosecond(1_764_936_941_965_531_585).unwrap();
        Finding {
            id: FindingId::new(),
            client_id: ClientId::new(),
            site_id: SiteId::new(),
            environment_id: EnvironmentId::new(),
            environment_kind: EnvironmentKind::Staging,
            package: PackageKey {
                ecosystem: Ecosystem::Debian,
                qualifier: "bookworm".into(),
                name: "openssl".into(),
            },
            version: "3.0.11-1~deb12u2".into(),
            dev: true,
            alias_group: "CVE-2024-0001".into(),
            advisories: vec!["DSA-5600-1".into()],
            aliases: vec!["CVE-2024-0001".into(), "DSA-5600-1".into()],
            title: "A \"quoted\" title\nover two lines".into(),
            severity: SeverityLevel::High,
            cvss: Some(7.5),
            kev: Some(KevInfo {
                cve: "CVE-2024-0001".into(),
                date_added: jiff::civil::date(2024, 3, 1),
                due_date: Some(jiff::civil::date(2024, 3, 22)),
                ransomware: true,
            }),
            epss: Some(EpssInfo {
                cve: "CVE-2024-0001".into(),
                score: 0.912_34,
                percentile: 0.998_7,
            }),
            fixed_versions: vec!["3.0.13-1~deb12u1".into()],
            malicious: false,
            state: FindingState::RiskAccepted,
            state_before_inactive: Some(FindingState::Affected),
            justification: Some(Justification::VulnerableCodeNotInExecutePath),
            risk_accepted_until: Some(t),
            risk_request: Some(RiskRequest {
                by: UserId::new(),
                until: t,
                reason: "waiting for the vendor".into(),
                at: t,
            }),
            priority: 812,
            reasons: vec![Reason {
                code: "kev".into(),
                points: 500,
                text: "exploited in the wild".into(),
            }],
            detected_at: t,
            fix_available_at: Some(t),
            due_at: Some(t),
            fixed_at: Some(t),
            updated_at: t,
        }
    }

    #[test]
    fn a_finding_reads_back_equal_from_lean_rows_and_from_rows_written_before_them() {
        let f = full();
        assert_eq!(finding_from(&row_of(&f, true)).unwrap(), f);
        assert_eq!(finding_from(&row_of(&f, false)).unwrap(), f);
        let mut bare = full();
        bare.dev = false;
        bare.kev = None;
        bare.epss = None;
        bare.cvss = None;
        bare.risk_request = None;
        bare.state_before_inactive = None;
        bare.justification = None;
        bare.fixed_at = None;
        assert_eq!(finding_from(&row_of(&bare, true)).unwrap(), bare);
    }

    #[test]
    fn findings_that_share_an_advisory_share_one_detail_and_nothing_else() {
        let a = full();
        let mut b = full();
        b.environment_id = EnvironmentId::new();
        b.detected_at = Timestamp::UNIX_EPOCH;
        let (pa, pb) = (finding_parts(&a).unwrap(), finding_parts(&b).unwrap());
        assert_eq!(pa.detail_id, pb.detail_id);
        assert_ne!(pa.body, pb.body);
        assert!(!pa.body.contains(&a.title) && !pa.body.contains(&a.id.to_string()));
        b.reasons[0].points = 499;
        assert_ne!(finding_parts(&b).unwrap().detail_id, pa.detail_id);
    }

    #[test]
    fn a_finding_whose_detail_row_is_gone_is_reported_corrupt() {
        let mut r = row_of(&full(), true);
        r.detail_body = None;
        let err = finding_from(&r).unwrap_err().to_string();
        assert!(err.contains("detail row is missing"), "{err}");
    }

    #[test]
    fn a_damaged_body_is_reported_with_its_row_and_column() {
        let mut r = row_of(&full(), true);
        r.body.truncate(10);
        let err = finding_from(&r).unwrap_err().to_string();
        assert!(
            err.contains(&format!("finding {}, column body", r.id)),
            "{err}"
        );
    }

    #[test]
    fn events_read_back_equal_from_lean_and_older_bodies() {
        let f = full();
        let e = FindingEvent {
            id: FindingEventId::new(),
            finding_id: f.id,
            client_id: f.client_id,
            at: f.detected_at,
            actor: Some(UserId::new()),
            kind: EventKind::RiskApproved,
            from: Some(FindingState::Affected),
            to: FindingState::RiskAccepted,
            reason: "approved \u{2014} \"until March\"".into(),
        };
        let row = |body: String| EventRow {
            id: e.id.to_string(),
            finding_id: e.finding_id.to_string(),
            client_id: e.client_id.to_string(),
            actor: e.actor.map(|a| a.to_string()),
            kind: e.kind.as_str().to_owned(),
            body,
        };
        assert_eq!(event_from(&row(event_body(&e).unwrap())).unwrap(), e);
        assert_eq!(
            event_from(&row(serde_json::to_string(&e).unwrap())).unwrap(),
            e
        );
    }
}
