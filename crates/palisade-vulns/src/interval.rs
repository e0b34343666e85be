//! Affected versions as intervals. Every source's range syntax (OSV events, Cargo requirements,
//! Composer constraints, a Debian fixed version) is turned into sorted, disjoint intervals once,
//! at import; matching is then a binary search. Doing this per comparison is what made other
//! tools lose windows (a running verdict that the next `introduced` overwrites) or re-parse
//! versions inside sort comparators. The set operations ([`union`], [`Span::intersect`],
//! [`complement`]) are generic over the version type, because the feeds compute Cargo
//! requirements and Composer constraints in their own version types before they become
//! [`Interval`]s.

use std::cmp::Ordering;

use palisade_versions::{Scheme, Version};
use serde::{Deserialize, Serialize};

/// One end of an interval, as the source wrote the version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    pub version: String,
    pub inclusive: bool,
}

impl Bound {
    pub fn inclusive(version: impl Into<String>) -> Bound {
        Bound {
            version: version.into(),
            inclusive: true,
        }
    }

    pub fn exclusive(version: impl Into<String>) -> Bound {
        Bound {
            version: version.into(),
            inclusive: false,
        }
    }
}

/// A set of versions between two bounds; `None` is unbounded on that side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<Bound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<Bound>,
}

impl Interval {
    pub const ALL: Interval = Interval {
        lower: None,
        upper: None,
    };

    pub fn new(lower: Option<Bound>, upper: Option<Bound>) -> Interval {
        Interval { lower, upper }
    }
}

/// An OSV range event (`docs/schema.md`, "affected[].ranges[].events").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    /// Only meaningful for `GIT` ranges; ignored for version ranges.
    Limit(String),
}

/// One end of a set of versions of any ordered type, as exact as the source wrote it. The
/// feeds' range algebra works on their own version types (`semver::Version` for Cargo
/// requirements); the matcher on parsed [`Version`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End<T> {
    pub version: T,
    pub inclusive: bool,
}

impl<T> End<T> {
    pub fn inclusive(version: T) -> Self {
        End {
            version,
            inclusive: true,
        }
    }

    pub fn exclusive(version: T) -> Self {
        End {
            version,
            inclusive: false,
        }
    }
}

/// A set of versions between two ends; `None` is unbounded on that side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span<T> {
    pub lower: Option<End<T>>,
    pub upper: Option<End<T>>,
}

/// A bound parsed into the scheme's ordering.
pub type ParsedBound = End<Version>;

/// An interval with parsed bounds, ready for comparisons.
pub type ParsedInterval = Span<Version>;

impl<T: Ord + Clone> Span<T> {
    pub const ALL: Span<T> = Span {
        lower: None,
        upper: None,
    };

    pub fn new(lower: Option<End<T>>, upper: Option<End<T>>) -> Self {
        Span { lower, upper }
    }

    fn above_lower(&self, v: &T) -> bool {
        match &self.lower {
            None => true,
            Some(b) => match v.cmp(&b.version) {
                Ordering::Greater => true,
                Ordering::Equal => b.inclusive,
                Ordering::Less => false,
            },
        }
    }

    fn below_upper(&self, v: &T) -> bool {
        match &self.upper {
            None => true,
            Some(b) => match v.cmp(&b.version) {
                Ordering::Less => true,
                Ordering::Equal => b.inclusive,
                Ordering::Greater => false,
            },
        }
    }

    pub fn contains(&self, v: &T) -> bool {
        self.above_lower(v) && self.below_upper(v)
    }

    pub fn is_empty(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Some(l), Some(u)) => match l.version.cmp(&u.version) {
                Ordering::Greater => true,
                Ordering::Equal => !(l.inclusive && u.inclusive),
                Ordering::Less => false,
            },
            _ => false,
        }
    }

    /// Both conditions at once: the higher lower end and the lower upper end.
    pub fn intersect(&self, other: &Span<T>) -> Span<T> {
        let lower = match cmp_lower(&self.lower, &other.lower) {
            Ordering::Less => other.lower.clone(),
            _ => self.lower.clone(),
        };
        let upper = match cmp_upper(&self.upper, &other.upper) {
            Ordering::Greater => other.upper.clone(),
            _ => self.upper.clone(),
        };
        Span { lower, upper }
    }
}

impl ParsedInterval {
    fn to_interval(&self) -> Interval {
        let b = |p: &ParsedBound| Bound {
            version: p.version.as_str().to_owned(),
            inclusive: p.inclusive,
        };
        Interval::new(self.lower.as_ref().map(b), self.upper.as_ref().map(b))
    }
}

/// Parses an interval's bounds in `scheme`.
pub fn parse_interval(scheme: Scheme, i: &Interval) -> Result<ParsedInterval, String> {
    let p = |b: &Bound| -> Result<ParsedBound, String> {
        Ok(ParsedBound {
            version: scheme.parse(&b.version).map_err(|e| e.to_string())?,
            inclusive: b.inclusive,
        })
    };
    Ok(ParsedInterval {
        lower: i.lower.as_ref().map(p).transpose()?,
        upper: i.upper.as_ref().map(p).transpose()?,
    })
}

/// Orders lower bounds: unbounded first, then by version, inclusive before exclusive (it admits
/// more).
fn cmp_lower<T: Ord>(a: &Option<End<T>>, b: &Option<End<T>>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x
            .version
            .cmp(&y.version)
            .then_with(|| y.inclusive.cmp(&x.inclusive)),
    }
}

/// Orders upper bounds: by version, exclusive before inclusive (it admits less), unbounded last.
fn cmp_upper<T: Ord>(a: &Option<End<T>>, b: &Option<End<T>>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x
            .version
            .cmp(&y.version)
            .then_with(|| x.inclusive.cmp(&y.inclusive)),
    }
}

/// Whether `next` (whose lower bound is not below `cur`'s) overlaps or touches `cur`, so the two
/// can become one span.
fn joins<T: Ord>(cur: &Span<T>, next: &Span<T>) -> bool {
    match (&cur.upper, &next.lower) {
        (None, _) | (_, None) => true,
        (Some(u), Some(l)) => match l.version.cmp(&u.version) {
            Ordering::Less => true,
            Ordering::Equal => u.inclusive || l.inclusive,
            Ordering::Greater => false,
        },
    }
}

/// Sorts spans, drops empty ones and merges those that overlap or touch, giving the disjoint,
/// ordered list that `contains_sorted` searches.
pub fn union<T: Ord + Clone>(mut spans: Vec<Span<T>>) -> Vec<Span<T>> {
    spans.retain(|i| !i.is_empty());
    spans.sort_by(|a, b| cmp_lower(&a.lower, &b.lower));
    let mut out: Vec<Span<T>> = Vec::with_capacity(spans.len());
    for next in spans {
        match out.last_mut() {
            Some(cur) if joins(cur, &next) => {
                if cmp_upper(&next.upper, &cur.upper) == Ordering::Greater {
                    cur.upper = next.upper;
                }
            }
            _ => out.push(next),
        }
    }
    out
}

/// Every version not in `spans` (RustSec lists the *unaffected* side). Each gap keeps its ends
/// exact: what was an inclusive upper end of the set becomes an exclusive lower end of the
/// complement, and the other way round — never a step to a "next version".
pub fn complement<T: Ord + Clone>(spans: Vec<Span<T>>) -> Vec<Span<T>> {
    let merged = union(spans);
    let mut out = Vec::with_capacity(merged.len() + 1);
    // The start of the next gap: unbounded until the first span.
    let mut gap_lower: Option<End<T>> = None;
    for s in merged {
        if let Some(l) = s.lower {
            let gap = Span {
                lower: gap_lower.clone(),
                upper: Some(End {
                    version: l.version,
                    inclusive: !l.inclusive,
                }),
            };
            if !gap.is_empty() {
                out.push(gap);
            }
        }
        match s.upper {
            Some(u) => {
                gap_lower = Some(End {
                    version: u.version,
                    inclusive: !u.inclusive,
                });
            }
            // Unbounded above: nothing is left after it.
            None => return out,
        }
    }
    out.push(Span {
        lower: gap_lower,
        upper: None,
    });
    out
}

/// Parses, sorts and merges intervals written in `scheme`; an unparsable bound is an error
/// naming it.
pub fn normalize(scheme: Scheme, intervals: &[Interval]) -> Result<Vec<Interval>, String> {
    let parsed = intervals
        .iter()
        .map(|i| parse_interval(scheme, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(union(parsed)
        .iter()
        .map(ParsedInterval::to_interval)
        .collect())
}

/// Whether `v` lies in a sorted, disjoint list: a binary search for the last interval that
/// starts at or below `v`, then one upper-bound check.
pub fn contains_sorted(intervals: &[ParsedInterval], v: &Version) -> bool {
    let after = intervals.partition_point(|i| i.above_lower(v));
    after > 0 && intervals[after - 1].below_upper(v)
}

/// Turns one OSV range's events into intervals, following the schema's evaluation rules:
/// events sorted by version with `introduced: "0"` lowest; a window opens at `introduced`
/// (inclusive) and closes at `fixed` (exclusive) or `last_affected` (inclusive); a window still
/// open at the end is unbounded above; `limit` applies only to git ranges. A range may hold many
/// windows; each becomes its own interval.
pub fn from_osv_events(scheme: Scheme, events: &[Event]) -> Result<Vec<Interval>, String> {
    // Zero sorts below everything; every other version is parsed once, here.
    let mut keyed: Vec<(Option<Version>, u8, &Event)> = Vec::with_capacity(events.len());
    for e in events {
        let (text, rank) = match e {
            Event::Introduced(v) => (v, 0),
            Event::Fixed(v) => (v, 1),
            Event::LastAffected(v) => (v, 2),
            Event::Limit(_) => continue,
        };
        let version = if matches!(e, Event::Introduced(_)) && text.trim() == "0" {
            None
        } else {
            Some(scheme.parse(text).map_err(|err| err.to_string())?)
        };
        keyed.push((version, rank, e));
    }
    // At equal versions, `introduced` comes first so `introduced: X, fixed: X` is an empty
    // window rather than an unbounded one.
    keyed.sort_by(|a, b| match (&a.0, &b.0) {
        (None, None) => a.1.cmp(&b.1),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y).then(a.1.cmp(&b.1)),
    });
    let mut out = Vec::new();
    let mut open: Option<Option<ParsedBound>> = None;
    for (version, _, event) in keyed {
        match event {
            Event::Introduced(_) => {
                if open.is_none() {
                    open = Some(version.map(|v| ParsedBound {
                        version: v,
                        inclusive: true,
                    }));
                }
            }
            Event::Fixed(_) | Event::LastAffected(_) => {
                if let (Some(lower), Some(v)) = (open.take(), version) {
                    out.push(ParsedInterval {
                        lower,
                        upper: Some(ParsedBound {
                            version: v,
                            inclusive: matches!(event, Event::LastAffected(_)),
                        }),
                    });
                }
            }
            Event::Limit(_) => {}
        }
    }
    if let Some(lower) = open {
        out.push(ParsedInterval { lower, upper: None });
    }
    Ok(union(out).iter().map(ParsedInterval::to_interval).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(s: &str) -> Version {
        Scheme::SemVer.parse(s).unwrap()
    }

    fn parsed(scheme: Scheme, list: &[Interval]) -> Vec<ParsedInterval> {
        list.iter()
            .map(|i| parse_interval(scheme, i).unwrap())
            .collect()
    }

    #[test]
    fn several_windows_in_one_range_all_count() {
        use Event::*;
        let events = [
            Introduced("0".into()),
            Fixed("1.0.5".into()),
            Introduced("2.0.0".into()),
            Fixed("2.1.3".into()),
            Introduced("3.0.0".into()),
        ];
        let list = from_osv_events(Scheme::SemVer, &events).unwrap();
        assert_eq!(list.len(), 3);
        let p = parsed(Scheme::SemVer, &list);
        for (v, want) in [
            ("0.1.0", true),
            ("1.0.5", false),
            ("1.9.9", false),
            ("2.0.0", true),
            ("2.1.2", true),
            ("2.1.3", false),
            ("3.0.0", true),
            ("9.0.0", true),
        ] {
            assert_eq!(contains_sorted(&p, &sv(v)), want, "{v}");
        }
    }

    #[test]
    fn last_affected_is_inclusive_and_fixed_exclusive() {
        use Event::*;
        let list = from_osv_events(
            Scheme::SemVer,
            &[Introduced("1.0.0".into()), LastAffected("1.2.3".into())],
        )
        .unwrap();
        let p = parsed(Scheme::SemVer, &list);
        assert!(contains_sorted(&p, &sv("1.2.3")));
        // A pre-release of the next patch is above 1.2.3: never rewritten as `fixed: 1.2.4`.
        assert!(!contains_sorted(&p, &sv("1.2.4-rc.1")));
        assert!(!contains_sorted(&p, &sv("0.9.0")));
    }

    #[test]
    fn events_out_of_order_are_sorted_first() {
        use Event::*;
        let list = from_osv_events(
            Scheme::SemVer,
            &[Fixed("2.0.0".into()), Introduced("1.0.0".into())],
        )
        .unwrap();
        assert_eq!(
            list,
            vec![Interval::new(
                Some(Bound::inclusive("1.0.0")),
                Some(Bound::exclusive("2.0.0"))
            )]
        );
    }

    #[test]
    fn overlapping_and_touching_intervals_merge() {
        let list = normalize(
            Scheme::SemVer,
            &[
                Interval::new(
                    Some(Bound::inclusive("2.0.0")),
                    Some(Bound::exclusive("3.0.0")),
                ),
                Interval::new(
                    Some(Bound::inclusive("1.0.0")),
                    Some(Bound::exclusive("2.0.0")),
                ),
                Interval::new(
                    Some(Bound::inclusive("5.0.0")),
                    Some(Bound::exclusive("5.0.0")),
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            list,
            vec![Interval::new(
                Some(Bound::inclusive("1.0.0")),
                Some(Bound::exclusive("3.0.0"))
            )]
        );
    }

    #[test]
    fn an_unparsable_bound_is_an_error_not_a_verdict() {
        let err = from_osv_events(Scheme::SemVer, &[Event::Fixed("not-a-version".into())]);
        assert!(err.is_err());
    }

    fn span(l: Option<(u8, bool)>, u: Option<(u8, bool)>) -> Span<u8> {
        let e = |(v, inclusive)| End {
            version: v,
            inclusive,
        };
        Span::new(l.map(e), u.map(e))
    }

    #[test]
    fn complement_flips_inclusiveness() {
        // Unaffected: <= 3. Affected: > 3, exclusive — never "from 4".
        let c = complement(vec![span(None, Some((3, true)))]);
        assert_eq!(c, vec![span(Some((3, false)), None)]);
        let c = complement(vec![span(Some((2, true)), Some((5, false)))]);
        assert_eq!(
            c,
            vec![span(None, Some((2, false))), span(Some((5, true)), None)]
        );
        assert_eq!(complement::<u8>(vec![]), vec![Span::ALL]);
        assert!(complement(vec![Span::<u8>::ALL]).is_empty());
    }

    fn arb_span() -> impl proptest::strategy::Strategy<Value = Span<u8>> {
        use proptest::prelude::*;
        let end = proptest::option::of((0u8..12, any::<bool>()));
        (end.clone(), end).prop_map(|(l, u)| span(l, u))
    }

    proptest::proptest! {
        /// Membership in the union and the complement agrees with the spans themselves for
        /// every point, so the algebra is exact.
        #[test]
        fn union_and_complement_are_exact(spans in proptest::collection::vec(arb_span(), 0..6)) {
            let u = union(spans.clone());
            let c = complement(spans.clone());
            for v in 0u8..14 {
                let inside = spans.iter().any(|s| s.contains(&v));
                proptest::prop_assert_eq!(u.iter().any(|s| s.contains(&v)), inside);
                proptest::prop_assert_eq!(c.iter().any(|s| s.contains(&v)), !inside);
            }
        }

        #[test]
        fn intersection_is_exact(a in arb_span(), b in arb_span()) {
            let i = a.intersect(&b);
            for v in 0u8..14 {
                proptest::prop_assert_eq!(i.contains(&v), a.contains(&v) && b.contains(&v));
            }
        }
    }
}
