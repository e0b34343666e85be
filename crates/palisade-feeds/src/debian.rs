//! The Debian security tracker's JSON (`https://security-tracker.debian.org/tracker/data/json`):
//! `{ source package: { CVE or TEMP id: { description, scope, debianbug, releases: { codename:
//! { status, repositories, fixed_version, urgency, nodsa, nodsa_reason } } } } }`.
//!
//! One advisory per tracker issue, `DEBIAN-<id>`, with the CVE in `upstream`, never in
//! `aliases` (notes, section 2, trap 6: a distribution record derives from the CVE but must not
//! merge with it). One affected entry per (source package, release), keyed by the release
//! codename, carrying the tracker's own state. The file is about 70 MB, so it is read in one
//! pass with typed visitors: no `serde_json::Value` tree of the whole document.

use std::collections::BTreeMap;
use std::fmt;

use palisade_versions::Scheme;
use palisade_vulns::ecosystem::debian_codename;
use palisade_vulns::interval::{Bound, Interval};
use palisade_vulns::{Advisory, Affected, DebianState, Ecosystem, PackageKey, Source};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::MAX_FEED_BYTES;
use crate::error::{FeedError, check_size, strip_bom_bytes};

/// Parses the whole tracker file into advisories, sorted by id.
pub fn parse(file: &str, content: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    check_size(
        file,
        content.len(),
        MAX_FEED_BYTES,
        "the Debian tracker file",
    )?;
    let content = strip_bom_bytes(content);
    let mut acc = Accumulator::default();
    let mut json = serde_json::Deserializer::from_slice(content);
    let mut track = serde_path_to_error::Track::new();
    let result = Packages { acc: &mut acc }.deserialize(serde_path_to_error::Deserializer::new(
        &mut json, &mut track,
    ));
    if let Err(e) = result {
        let field = track.path().to_string();
        return Err(crate::error::from_json_inner(file, &e).with_field(field));
    }
    json.end()
        .map_err(|e| crate::error::from_json_inner(file, &e))?;
    Ok(acc.finish())
}

#[derive(Default)]
struct Accumulator {
    advisories: BTreeMap<String, Advisory>,
    /// The highest urgency rank seen per issue, for `severity_text`.
    urgency: BTreeMap<String, u8>,
}

impl Accumulator {
    fn add(&mut self, package: &str, issue_id: &str, issue: Issue) {
        let issue_id = issue_id.trim();
        let advisory = self
            .advisories
            .entry(issue_id.to_owned())
            .or_insert_with(|| {
                let mut a = Advisory::new(Source::DebianTracker, format!("DEBIAN-{issue_id}"));
                if issue_id.starts_with("CVE-") {
                    a.upstream.push(issue_id.to_owned());
                }
                a.references.push(format!(
                    "https://security-tracker.debian.org/tracker/{issue_id}"
                ));
                a
            });
        if advisory.summary.is_empty()
            && let Some(d) = issue.description.as_deref()
        {
            advisory.summary = d.trim().to_owned();
        }
        for (release, r) in issue.releases {
            let urgency = r.urgency.0.unwrap_or_default().trim().to_owned();
            let rank = urgency_rank(&urgency);
            let best = self.urgency.entry(issue_id.to_owned()).or_insert(0);
            if rank > *best {
                *best = rank;
                advisory.severity_text = Some(urgency.trim_end_matches('*').to_owned());
            }
            let status = r.status.0.unwrap_or_default().trim().to_owned();
            let fixed = r.fixed_version.0.map(|v| v.trim().to_owned());
            let codename = debian_codename(&release)
                .map(str::to_owned)
                .unwrap_or_else(|| release.trim().to_ascii_lowercase());
            let mut entry = Affected::new(PackageKey::new(Ecosystem::Debian, codename, package));
            match (status.as_str(), fixed.as_deref()) {
                // The tracker's "0": this release never shipped the vulnerable code.
                ("resolved", Some("0")) => continue,
                ("resolved", Some(v)) if !v.is_empty() => {
                    entry.fixed.push(v.to_owned());
                    match Scheme::Debian.parse(v) {
                        Ok(_) => entry
                            .intervals
                            .push(Interval::new(None, Some(Bound::exclusive(v)))),
                        Err(e) => entry.problem = Some(format!("fixed_version {v:?}: {e}")),
                    }
                }
                // Resolved without a version: nothing to compare, the state alone is shown.
                ("resolved", _) => {}
                // `open` ("not yet fixed"), `undetermined`, and any status the tracker adds
                // later: every version is affected until a fix is recorded.
                _ => entry.intervals.push(Interval::ALL),
            }
            entry.debian = Some(DebianState {
                status,
                urgency,
                nodsa: r.nodsa.non_empty(),
                nodsa_reason: r.nodsa_reason.non_empty(),
            });
            advisory.affected.push(entry);
        }
    }

    fn finish(self) -> Vec<Advisory> {
        self.advisories.into_values().collect()
    }
}

/// Orders urgencies; the tracker marks guessed ones with a trailing `*`. "not yet assigned"
/// and "end-of-life" say nothing about severity.
fn urgency_rank(u: &str) -> u8 {
    match u.trim_end_matches('*').trim() {
        "high" => 4,
        "medium" => 3,
        "low" => 2,
        "unimportant" => 1,
        _ => 0,
    }
}

#[derive(Deserialize)]
struct Issue {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    releases: BTreeMap<String, Release>,
}

#[derive(Deserialize)]
struct Release {
    #[serde(default)]
    status: Text,
    #[serde(default)]
    fixed_version: Text,
    #[serde(default)]
    urgency: Text,
    #[serde(default)]
    nodsa: Text,
    #[serde(default)]
    nodsa_reason: Text,
}

/// A scalar read as text: the tracker writes some fields as strings, numbers or `null`
/// depending on the entry, and none of them is worth failing a 70 MB import over.
#[derive(Default)]
struct Text(Option<String>);

impl Text {
    /// The tracker writes `"nodsa_reason": ""` when there is none.
    fn non_empty(self) -> Option<String> {
        self.0
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text, E> {
                Ok(Text(Some(s.to_owned())))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Text, E> {
                Ok(Text(Some(n.to_string())))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Text, E> {
                Ok(Text(Some(n.to_string())))
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Text, E> {
                Ok(Text(Some(n.to_string())))
            }

            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Text, E> {
                Ok(Text(Some(b.to_string())))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(None))
            }

            fn visit_none<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The top level: package name → that package's issues, folded into the accumulator as they
/// are read.
struct Packages<'a> {
    acc: &'a mut Accumulator,
}

impl<'de> DeserializeSeed<'de> for Packages<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Packages<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of source packages")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(package) = map.next_key::<String>()? {
            map.next_value_seed(Issues {
                acc: &mut *self.acc,
                package: &package,
            })?;
        }
        Ok(())
    }
}

/// One package's issues: CVE/TEMP id → record.
struct Issues<'a> {
    acc: &'a mut Accumulator,
    package: &'a str,
}

impl<'de> DeserializeSeed<'de> for Issues<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Issues<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of CVE or TEMP ids")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(id) = map.next_key::<String>()? {
            let issue: Issue = map.next_value()?;
            self.acc.add(self.package, &id, issue);
        }
        Ok(())
    }
}
