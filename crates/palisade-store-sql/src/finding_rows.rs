//! How a finding and its events are laid out in rows. A finding's identity, state and sort keys
//! are columns, its times too, to the microsecond; what belongs to it alone (its triage, the times
//! no column holds, and the nanoseconds of those that have one) is a small JSON body; and what it
//! shares with every finding of the same advisory group, installed version, environment kind and
//! contract tier (title, ids, scores, fixed versions, the reasons of its priority) is a detail row,
//! stored once under the hash of its text. A first full match of the benchmark fleet writes
//! 874,602 findings: as whole-finding JSON their bodies averaged 1,282 bytes, most of them
//! repeated in the columns or shared with thousands of other findings (BENCHMARKS.md, fleet).
//!
//! Rows written before migration 0014 have no detail and hold the whole finding (or event) in
//! their body; they are still read as such, so the migration rewrites nothing.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

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
use crate::rows::{opt_ts, parse, row, to_json, ts};

/// The findings columns every read selects (`f`).
macro_rules! finding_columns {
    () => {
        "f.id, f.client_id, f.site_id, f.environment_id, f.ecosystem, f.qualifier, f.name, \
         f.version, f.alias_group, f.state, f.priority, f.detected_at, f.updated_at, f.due_at, \
         f.risk_until, f.body, f.detail_id"
    };
}
/// The findings columns with the detail joined (`d`, [`DETAIL_JOIN`]).
pub(crate) const FINDING_READ: &str = concat!(finding_columns!(), ", d.detail_body");
/// The findings columns without their details, which [`findings_from`] adds.
pub(crate) const FINDING_READ_BARE: &str = concat!(finding_columns!(), ", NULL AS detail_body");
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
    pub(crate) detected_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) due_at: Option<i64>,
    pub(crate) risk_until: Option<i64>,
    pub(crate) body: String,
    pub(crate) detail_id: Option<String>,
    pub(crate) detail_body: Option<String>,
});

row!(DetailRow {
    pub(crate) detail_id: String,
    pub(crate) detail_body: String,
});

row!(EventRow {
    pub(crate) id: String,
    pub(crate) finding_id: String,
    pub(crate) client_id: String,
    pub(crate) at: i64,
    pub(crate) actor: Option<String>,
    pub(crate) kind: String,
    pub(crate) body: String,
});

/// `t` for a body, if its column cannot hold it exactly. The columns hold microseconds, for
/// sorting and filtering; a time with nanoseconds is kept whole in the body as well, so that a
/// finding reads back equal to what was written and a re-match finds nothing to change. The
/// matcher stamps its findings to the microsecond, and leaving those times out made a first full
/// match's findings and events a seventh smaller and the match a tenth faster (BENCHMARKS.md,
/// fleet).
fn beyond_column(t: Timestamp) -> Option<Timestamp> {
    (t.subsec_nanosecond() % 1_000 != 0).then_some(t)
}

/// A time from the body if it is there, else from its column.
fn either(body: Option<Timestamp>, column: i64) -> StoreResult<Timestamp> {
    body.map_or_else(|| ts(column), Ok)
}

/// What no column holds and no other finding shares. The times that have columns are here only
/// when their columns cannot hold them ([`beyond_column`]); rows written before that have them
/// all, and are read the same way.
#[derive(Serialize, Deserialize)]
struct OwnFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detected_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<Timestamp>,
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
#[derive(Clone, PartialEq, Serialize, Deserialize)]
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

/// A finding's body: what no column holds and no other finding shares.
pub(crate) fn own_body(f: &Finding) -> StoreResult<String> {
    to_json(
        "finding",
        &OwnFields {
            detected_at: beyond_column(f.detected_at),
            updated_at: beyond_column(f.updated_at),
            due_at: f.due_at.and_then(beyond_column),
            fix_available_at: f.fix_available_at,
            fixed_at: f.fixed_at,
            risk_accepted_until: f.risk_accepted_until.and_then(beyond_column),
            dev: f.dev,
            state_before_inactive: f.state_before_inactive,
            justification: f.justification,
            risk_request: f.risk_request.clone(),
        },
    )
}

/// The details of a batch of findings, each turned into text and hashed once. A first full
/// match's 874,602 findings share 8,019 details, and writing and hashing every finding's detail
/// was a quarter of the time spent preparing its statements; comparing with the details already
/// met costs a few string comparisons.
#[derive(Default)]
pub(crate) struct Details<'a> {
    /// The details met, by alias group and version (which narrow them down to a few).
    met: HashMap<(&'a str, &'a str), Vec<(Shared<'a>, String)>>,
    /// Each distinct detail's id (the first 16 bytes of its text's SHA-256, in hex) and text.
    pub(crate) texts: BTreeMap<String, String>,
}

impl<'a> Details<'a> {
    /// The id of `f`'s detail.
    pub(crate) fn id_of(&mut self, f: &'a Finding) -> StoreResult<String> {
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
        let met = self
            .met
            .entry((f.alias_group.as_str(), f.version.as_str()))
            .or_default();
        if let Some((_, id)) = met.iter().find(|(known, _)| *known == shared) {
            return Ok(id.clone());
        }
        let text = to_json("finding detail", &shared)?;
        let id = hex::encode(&Sha256::digest(text.as_bytes())[..16]);
        self.texts.insert(id.clone(), text);
        met.push((shared, id.clone()));
        Ok(id)
    }
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

/// A finding from its row, read with its detail joined ([`FINDING_READ`]).
pub(crate) fn finding_from(r: &FindingRow) -> StoreResult<Finding> {
    decode_row(r, r.detail_body.as_deref(), &mut HashMap::new())
}

/// Findings from rows read with their details joined ([`FINDING_READ`]).
pub(crate) fn findings_joined(rows: &[FindingRow]) -> StoreResult<Vec<Finding>> {
    let mut decoded = HashMap::new();
    rows.iter()
        .map(|r| decode_row(r, r.detail_body.as_deref(), &mut decoded))
        .collect()
}

/// Findings from rows read without their details ([`FINDING_READ_BARE`]), with the details'
/// texts from `details` (by id): a re-match reads each package's findings across the fleet, and
/// joining the detail of every row had been most of the time spent reading them.
pub(crate) fn findings_from(
    rows: &[FindingRow],
    details: &HashMap<String, String>,
) -> StoreResult<Vec<Finding>> {
    let mut decoded = HashMap::new();
    rows.iter()
        .map(|r| {
            let text = r.detail_id.as_deref().and_then(|id| details.get(id));
            decode_row(r, text.map(String::as_str), &mut decoded)
        })
        .collect()
}

/// A finding from its row, `detail` being the text of the detail the row names. `decoded` holds
/// the details already decoded, by id: findings read together decode a detail they share once
/// (a package's thousands of findings share a few dozen).
fn decode_row(
    r: &FindingRow,
    detail: Option<&str>,
    decoded: &mut HashMap<String, Shared<'static>>,
) -> StoreResult<Finding> {
    let Some(id) = r.detail_id.as_deref() else {
        // Written before migration 0014: the body is the whole finding.
        return in_row("finding", &r.id, "body", &r.body);
    };
    let shared = match decoded.get(id) {
        Some(known) => known.clone(),
        None => {
            let text = detail.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "finding {}: its detail row is missing (finding_details {id})",
                    r.id
                ))
            })?;
            let fresh: Shared<'static> = in_row("finding", &r.id, "detail_body", text)?;
            decoded.insert(id.to_owned(), fresh.clone());
            fresh
        }
    };
    assemble(r, shared)
}

/// A finding from its row and its decoded detail.
fn assemble(r: &FindingRow, shared: Shared<'_>) -> StoreResult<Finding> {
    let own: OwnFields = in_row("finding", &r.id, "body", &r.body)?;
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
        risk_accepted_until: own.risk_accepted_until.or(opt_ts(r.risk_until)?),
        risk_request: own.risk_request,
        priority: r.priority,
        reasons: shared.reasons.into_owned(),
        detected_at: either(own.detected_at, r.detected_at)?,
        fix_available_at: own.fix_available_at,
        due_at: own.due_at.or(opt_ts(r.due_at)?),
        fixed_at: own.fixed_at,
        updated_at: either(own.updated_at, r.updated_at)?,
    })
}

/// An event's body: what its columns do not hold (its time only if its column cannot hold it:
/// [`beyond_column`]). Events written before migration 0014 hold the whole event, which has
/// these fields too.
#[derive(Serialize, Deserialize)]
struct EventFields<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<Timestamp>,
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
            at: beyond_column(e.at),
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
        at: either(fields.at, r.at)?,
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
    use crate::rows::micros;
    use palisade_core::{ClientId, EnvironmentId, FindingEventId, FindingId, SiteId, UserId};
    use palisade_vulns::{Ecosystem, PackageKey};

    /// `f`'s body, detail id and detail text.
    fn parts(f: &Finding) -> (String, String, String) {
        let mut details = Details::default();
        let id = details.id_of(f).unwrap();
        let text = details.texts.remove(&id).unwrap();
        (own_body(f).unwrap(), id, text)
    }

    fn row_of(f: &Finding, detail: bool) -> FindingRow {
        let (body, detail_id, detail_text) = parts(f);
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
            detected_at: micros(f.detected_at),
            updated_at: micros(f.updated_at),
            due_at: f.due_at.map(micros),
            risk_until: f.risk_accepted_until.map(micros),
            body: if detail {
                body
            } else {
                serde_json::to_string(f).unwrap()
            },
            detail_id: detail.then_some(detail_id),
            detail_body: detail.then_some(detail_text),
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
        let (pa, pb) = (parts(&a), parts(&b));
        assert_eq!(pa.1, pb.1);
        assert_ne!(pa.0, pb.0);
        assert!(!pa.0.contains(&a.title) && !pa.0.contains(&a.id.to_string()));
        b.reasons[0].points = 499;
        assert_ne!(parts(&b).1, pa.1);
    }

    /// Within a batch, a detail met again is recognised without being written out, and one that
    /// differs in anything it holds is a detail of its own, with the id its text hashes to.
    #[test]
    fn a_batch_writes_each_detail_once_and_tells_near_twins_apart() {
        let a = full();
        let mut same = full();
        same.environment_id = EnvironmentId::new();
        let mut other_title = full();
        other_title.title.push('!');
        let mut other_kind = full();
        other_kind.environment_kind = EnvironmentKind::Live;
        let mut other_epss = full();
        other_epss.epss = None;
        let mut details = Details::default();
        let ids: Vec<String> = [&a, &same, &other_title, &other_kind, &other_epss, &a]
            .into_iter()
            .map(|f| details.id_of(f).unwrap())
            .collect();
        assert_eq!(ids[0], ids[1]);
        assert_eq!(ids[0], ids[5]);
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), 4, "{ids:?}");
        assert_eq!(details.texts.len(), 4);
        for f in [&a, &other_title, &other_kind, &other_epss] {
            assert!(details.texts.contains_key(&parts(f).1));
        }
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
            at: micros(e.at),
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

    /// Findings read in bulk get their details from the texts read beside them, shared or not;
    /// a row from before details reads from its body; a detail that is not there is an error
    /// that names the finding.
    #[test]
    fn findings_read_in_bulk_share_their_decoded_details() {
        let a = full();
        let mut b = full();
        b.environment_id = EnvironmentId::new();
        let mut c = full();
        c.title.push('!');
        let legacy = full();
        let bare = |f: &Finding, detail: bool| FindingRow {
            detail_body: None,
            ..row_of(f, detail)
        };
        let rows = vec![
            bare(&a, true),
            bare(&b, true),
            bare(&c, true),
            bare(&legacy, false),
        ];
        let texts: HashMap<String, String> = [&a, &c]
            .into_iter()
            .map(|f| {
                let (_, id, text) = parts(f);
                (id, text)
            })
            .collect();
        assert_eq!(texts.len(), 2);
        assert_eq!(
            findings_from(&rows, &texts).unwrap(),
            vec![a.clone(), b, c, legacy]
        );
        let err = findings_from(&rows[..1], &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&a.id.to_string()) && err.contains("detail row is missing"),
            "{err}"
        );
    }

    /// Times to the whole microsecond are read from their columns and left out of the bodies;
    /// times with nanoseconds are kept in the bodies too. Either way the finding and the event
    /// read back equal.
    #[test]
    fn times_are_in_a_body_only_when_their_column_cannot_hold_them() {
        let whole = Timestamp::from_microsecond(1_764_936_941_965_531).unwrap();
        let mut f = full();
        f.detected_at = whole;
        f.updated_at = whole;
        f.due_at = Some(whole);
        f.risk_accepted_until = Some(whole);
        let body = own_body(&f).unwrap();
        for name in ["detected_at", "updated_at", "due_at", "risk_accepted_until"] {
            assert!(!body.contains(name), "{name} in {body}");
        }
        assert_eq!(finding_from(&row_of(&f, true)).unwrap(), f);

        let nanos = full();
        assert_ne!(nanos.detected_at.subsec_nanosecond() % 1_000, 0);
        let body = own_body(&nanos).unwrap();
        assert!(body.contains("detected_at"), "{body}");
        assert_eq!(finding_from(&row_of(&nanos, true)).unwrap(), nanos);

        let mut e = FindingEvent::new(&f, whole, None, EventKind::Detected, None, "matched");
        let mut row = EventRow {
            id: e.id.to_string(),
            finding_id: e.finding_id.to_string(),
            client_id: e.client_id.to_string(),
            at: micros(e.at),
            actor: None,
            kind: e.kind.as_str().to_owned(),
            body: event_body(&e).unwrap(),
        };
        assert!(!row.body.contains("\"at\""), "{}", row.body);
        assert_eq!(event_from(&row).unwrap(), e);
        e.at = nanos.detected_at;
        row.at = micros(e.at);
        row.body = event_body(&e).unwrap();
        assert_eq!(event_from(&row).unwrap(), e);
    }
}
