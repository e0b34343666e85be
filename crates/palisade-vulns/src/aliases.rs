//! Alias groups: a union-find over asserted edges ("source S says A and B are the same
//! vulnerability"), with a size cap. Edges keep their provenance so a group can be rebuilt when a
//! source retracts a claim; `upstream` links are not edges here, so a distribution record never
//! joins its upstream CVE's group. A union that would grow a group past the cap is refused and
//! reported: bad data otherwise chains unrelated advisories together (osv.dev caps groups at 32
//! for the same reason).

use std::collections::HashMap;

/// osv.dev's limit on an alias group's size.
pub const DEFAULT_GROUP_CAP: usize = 32;

/// A union that was refused because the merged group would exceed the cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapAlarm {
    pub a: String,
    pub b: String,
    pub provenance: String,
    pub merged_size: usize,
}

/// Alias groups built from asserted edges.
#[derive(Clone, Debug)]
pub struct AliasGraph {
    cap: usize,
    index: HashMap<String, usize>,
    ids: Vec<String>,
    parent: Vec<usize>,
    size: Vec<usize>,
    edges: Vec<(String, String, String)>,
    alarms: Vec<CapAlarm>,
}

impl Default for AliasGraph {
    fn default() -> Self {
        AliasGraph::with_cap(DEFAULT_GROUP_CAP)
    }
}

impl AliasGraph {
    pub fn with_cap(cap: usize) -> AliasGraph {
        AliasGraph {
            cap,
            index: HashMap::new(),
            ids: Vec::new(),
            parent: Vec::new(),
            size: Vec::new(),
            edges: Vec::new(),
            alarms: Vec::new(),
        }
    }

    fn node(&mut self, id: &str) -> usize {
        if let Some(&n) = self.index.get(id) {
            return n;
        }
        let n = self.ids.len();
        self.index.insert(id.to_owned(), n);
        self.ids.push(id.to_owned());
        self.parent.push(n);
        self.size.push(1);
        n
    }

    fn find(&mut self, mut n: usize) -> usize {
        while self.parent[n] != n {
            self.parent[n] = self.parent[self.parent[n]];
            n = self.parent[n];
        }
        n
    }

    /// Records that `provenance` asserts `a` ≡ `b`. Returns false when the union was refused by
    /// the cap (the edge is still kept, with an alarm).
    pub fn assert_alias(&mut self, a: &str, b: &str, provenance: &str) -> bool {
        self.edges
            .push((a.to_owned(), b.to_owned(), provenance.to_owned()));
        let (na, nb) = (self.node(a), self.node(b));
        let (ra, rb) = (self.find(na), self.find(nb));
        if ra == rb {
            return true;
        }
        let merged = self.size[ra] + self.size[rb];
        if merged > self.cap {
            self.alarms.push(CapAlarm {
                a: a.to_owned(),
                b: b.to_owned(),
                provenance: provenance.to_owned(),
                merged_size: merged,
            });
            return false;
        }
        let (big, small) = if self.size[ra] >= self.size[rb] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[small] = big;
        self.size[big] = merged;
        true
    }

    /// Every id in `id`'s group, sorted; just `id` when it is unknown.
    pub fn group(&mut self, id: &str) -> Vec<String> {
        let Some(&n) = self.index.get(id) else {
            return vec![id.to_owned()];
        };
        let root = self.find(n);
        let members: Vec<usize> = (0..self.ids.len())
            .filter(|&m| self.find(m) == root)
            .collect();
        let mut out: Vec<String> = members.into_iter().map(|m| self.ids[m].clone()).collect();
        out.sort();
        out
    }

    /// A stable name for `id`'s group: its smallest id.
    pub fn group_key(&mut self, id: &str) -> String {
        self.group(id)
            .into_iter()
            .next()
            .unwrap_or_else(|| id.to_owned())
    }

    /// The same graph without the claims of `provenance`.
    pub fn without(&self, provenance: &str) -> AliasGraph {
        let mut g = AliasGraph::with_cap(self.cap);
        for (a, b, p) in &self.edges {
            if p != provenance {
                g.assert_alias(a, b, p);
            }
        }
        g
    }

    pub fn alarms(&self) -> &[CapAlarm] {
        &self.alarms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_asserted_in_any_order_is_one_group() {
        // A–D, B–C, C–D: pairwise-intersection grouping can split this; union-find cannot.
        let mut g = AliasGraph::default();
        g.assert_alias("A", "D", "s");
        g.assert_alias("B", "C", "s");
        g.assert_alias("C", "D", "s");
        assert_eq!(g.group("B"), ["A", "B", "C", "D"]);
        assert_eq!(g.group_key("D"), "A");
    }

    #[test]
    fn the_cap_refuses_a_merge_and_raises_an_alarm() {
        let mut g = AliasGraph::with_cap(3);
        assert!(g.assert_alias("A", "B", "s"));
        assert!(g.assert_alias("C", "D", "s"));
        assert!(!g.assert_alias("B", "C", "bad-feed"));
        assert_eq!(g.group("A"), ["A", "B"]);
        assert_eq!(g.alarms().len(), 1);
        assert_eq!(g.alarms()[0].merged_size, 4);
    }

    #[test]
    fn retracting_a_source_splits_what_only_it_joined() {
        let mut g = AliasGraph::default();
        g.assert_alias("CVE-1", "GHSA-1", "osv");
        g.assert_alias("GHSA-1", "PKSA-1", "packagist");
        let mut h = g.without("packagist");
        assert_eq!(h.group("CVE-1"), ["CVE-1", "GHSA-1"]);
        assert_eq!(h.group("PKSA-1"), ["PKSA-1"]);
    }
}
