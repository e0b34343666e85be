//! Set operations on intervals over any ordered version type: intersection (a requirement's
//! comparators all hold), union (any requirement holds) and complement (RustSec lists the
//! *unaffected* side). `palisade_vulns::interval` only normalises unions of already-affected
//! ranges; these feeds need the other two operations, done with bounds kept exactly as written
//! (inclusive stays inclusive), never by stepping to a "next version".

use std::cmp::Ordering;

/// One end of an interval: the version and whether it belongs to the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct End<T> {
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

/// A set of versions between two ends; `None` is unbounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Span<T> {
    pub lower: Option<End<T>>,
    pub upper: Option<End<T>>,
}

impl<T: Ord + Clone> Span<T> {
    pub const ALL: Span<T> = Span {
        lower: None,
        upper: None,
    };

    pub fn new(lower: Option<End<T>>, upper: Option<End<T>>) -> Self {
        Span { lower, upper }
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

    #[cfg(test)]
    pub fn contains(&self, v: &T) -> bool {
        let above = match &self.lower {
            None => true,
            Some(l) => match v.cmp(&l.version) {
                Ordering::Greater => true,
                Ordering::Equal => l.inclusive,
                Ordering::Less => false,
            },
        };
        let below = match &self.upper {
            None => true,
            Some(u) => match v.cmp(&u.version) {
                Ordering::Less => true,
                Ordering::Equal => u.inclusive,
                Ordering::Greater => false,
            },
        };
        above && below
    }

    /// Both conditions at once: the higher lower end and the lower upper end.
    pub fn intersect(&self, other: &Span<T>) -> Span<T> {
        let lower = match (&self.lower, &other.lower) {
            (None, x) | (x, None) => x.clone(),
            (Some(a), Some(b)) => Some(match cmp_lower(a, b) {
                Ordering::Less => b.clone(),
                _ => a.clone(),
            }),
        };
        let upper = match (&self.upper, &other.upper) {
            (None, x) | (x, None) => x.clone(),
            (Some(a), Some(b)) => Some(match cmp_upper(a, b) {
                Ordering::Greater => b.clone(),
                _ => a.clone(),
            }),
        };
        Span { lower, upper }
    }
}

/// Lower ends: by version, then inclusive first (it admits more).
fn cmp_lower<T: Ord>(a: &End<T>, b: &End<T>) -> Ordering {
    a.version
        .cmp(&b.version)
        .then_with(|| b.inclusive.cmp(&a.inclusive))
}

/// Upper ends: by version, then exclusive first (it admits less).
fn cmp_upper<T: Ord>(a: &End<T>, b: &End<T>) -> Ordering {
    a.version
        .cmp(&b.version)
        .then_with(|| a.inclusive.cmp(&b.inclusive))
}

/// Sorted, disjoint, non-empty spans covering the same versions as `spans`: overlapping or
/// touching spans merge.
pub(crate) fn union<T: Ord + Clone>(mut spans: Vec<Span<T>>) -> Vec<Span<T>> {
    spans.retain(|s| !s.is_empty());
    spans.sort_by(|a, b| match (&a.lower, &b.lower) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => cmp_lower(x, y),
    });
    let mut out: Vec<Span<T>> = Vec::with_capacity(spans.len());
    for next in spans {
        if let Some(cur) = out.last_mut() {
            let joins = match (&cur.upper, &next.lower) {
                (None, _) | (_, None) => true,
                (Some(u), Some(l)) => match l.version.cmp(&u.version) {
                    Ordering::Less => true,
                    Ordering::Equal => u.inclusive || l.inclusive,
                    Ordering::Greater => false,
                },
            };
            if joins {
                let extends = match (&cur.upper, &next.upper) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(a), Some(b)) => cmp_upper(b, a) == Ordering::Greater,
                };
                if extends {
                    cur.upper = next.upper;
                }
                continue;
            }
        }
        out.push(next);
    }
    out
}

/// Every version not in `spans`. Each gap keeps its ends exact: what was an inclusive upper end
/// of the set becomes an exclusive lower end of the complement, and the other way round.
pub(crate) fn complement<T: Ord + Clone>(spans: Vec<Span<T>>) -> Vec<Span<T>> {
    let merged = union(spans);
    let mut out = Vec::with_capacity(merged.len() + 1);
    // The start of the next gap: unbounded until the first span.
    let mut gap_lower: Option<End<T>> = None;
    let mut open = true;
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
                open = true;
            }
            None => {
                open = false;
                break;
            }
        }
    }
    if open {
        out.push(Span {
            lower: gap_lower,
            upper: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    fn arb_span() -> impl Strategy<Value = Span<u8>> {
        let end = proptest::option::of((0u8..12, any::<bool>()));
        (end.clone(), end).prop_map(|(l, u)| span(l, u))
    }

    proptest! {
        /// Membership in the union and the complement agrees with the spans themselves for
        /// every point, so the algebra is exact.
        #[test]
        fn union_and_complement_are_exact(spans in proptest::collection::vec(arb_span(), 0..6)) {
            let u = union(spans.clone());
            let c = complement(spans.clone());
            for v in 0u8..14 {
                let inside = spans.iter().any(|s| s.contains(&v));
                prop_assert_eq!(u.iter().any(|s| s.contains(&v)), inside);
                prop_assert_eq!(c.iter().any(|s| s.contains(&v)), !inside);
            }
        }

        #[test]
        fn intersection_is_exact(a in arb_span(), b in arb_span()) {
            let i = a.intersect(&b);
            for v in 0u8..14 {
                prop_assert_eq!(i.contains(&v), a.contains(&v) && b.contains(&v));
            }
        }
    }
}
