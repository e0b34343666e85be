//! RFC 6962 Merkle tree hashes over a range of events (leaves `SHA-256(0x00 || bytes)`, nodes
//! `SHA-256(0x01 || left || right)`, so a leaf can never pass for a node), and inclusion proofs that
//! show one event is under a signed root with about log2(n) hashes instead of the whole range.

use sha2::{Digest as _, Sha256};

use crate::event::Hash;

/// The hash of an empty tree: `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Computes the root of leaves pushed one by one, keeping only one hash per level: verifying ten
/// million events must not hold ten million hashes.
#[derive(Clone, Debug, Default)]
pub struct RootBuilder {
    /// Complete subtrees, largest first, with their heights.
    stack: Vec<(u32, Hash)>,
    count: u64,
}

impl RootBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, leaf: Hash) {
        self.count += 1;
        let mut entry = (0u32, leaf);
        while let Some(&(height, left)) = self.stack.last() {
            if height != entry.0 {
                break;
            }
            self.stack.pop();
            entry = (height + 1, node(&left, &entry.1));
        }
        self.stack.push(entry);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The RFC 6962 root: the complete subtrees, which are exactly the binary digits of the count,
    /// folded from the right.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node(left, &acc);
        }
        acc
    }
}

/// The root of a complete list of leaves.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut b = RootBuilder::new();
    leaves.iter().for_each(|l| b.push(*l));
    b.root()
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The audit path of leaf `index` (RFC 6962 section 2.1.1), bottom up. Empty when `index` is out of
/// range.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    let mut path = Vec::new();
    if index < leaves.len() {
        collect_path(leaves, index, &mut path);
    }
    path
}

fn collect_path(leaves: &[Hash], index: usize, path: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if index < k {
        collect_path(&leaves[..k], index, path);
        path.push(root(&leaves[k..]));
    } else {
        collect_path(&leaves[k..], index - k, path);
        path.push(root(&leaves[..k]));
    }
}

/// Checks an audit path (RFC 9162 section 2.1.3.2): does `leaf` sit at `index` in the tree of
/// `size` leaves whose root is `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| {
                let mut h = Sha256::new();
                h.update([0u8]);
                h.update((i as u64).to_be_bytes());
                Hash(h.finalize().into())
            })
            .collect()
    }

    /// The RFC's recursive definition, written out literally, to check the streaming builder.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n);
                node(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn small_trees_have_the_rfc_shape() {
        let l = leaves(3);
        assert_eq!(root(&l), node(&node(&l[0], &l[1]), &l[2]));
        assert_eq!(root(&l[..1]), l[0]);
        assert_eq!(
            root(&[]).to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    proptest! {
        #[test]
        fn streaming_root_matches_the_definition(n in 0usize..200) {
            let l = leaves(n);
            prop_assert_eq!(root(&l), reference_root(&l));
        }

        #[test]
        fn every_leaf_proves_and_no_other_does(n in 1usize..130, pick in 0usize..1000) {
            let l = leaves(n);
            let r = root(&l);
            let i = pick % n;
            let path = inclusion_proof(&l, i);
            prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &path, &r));
            // Wrong position, wrong leaf, wrong root: all refused. (A wrong size is not always
            // caught by the path alone; the size is bound by the signed digest instead.)
            if n > 1 {
                let j = (i + 1) % n;
                prop_assert!(!verify_inclusion(&l[i], j as u64, n as u64, &path, &r));
                prop_assert!(!verify_inclusion(&l[j], i as u64, n as u64, &path, &r));
            }
            prop_assert!(!verify_inclusion(&l[i], i as u64, n as u64, &path, &root(&l[..n - 1])) || n == 1);
            prop_assert!(!verify_inclusion(&l[i], n as u64, n as u64, &path, &r));
        }
    }
}
