//! Merkle trees over transaction ids in the RFC 6962 / RFC 9162 shape (leaf and node hashes
//! domain-separated), with inclusion proofs a client can check on its own.

use crate::crypto::{Hash, sha256};
use serde::{Deserialize, Serialize};

fn leaf_hash(leaf: &Hash) -> Hash {
    sha256(&[&[0u8], &leaf.0])
}

fn node_hash(l: &Hash, r: &Hash) -> Hash {
    sha256(&[&[1u8], &l.0, &r.0])
}

/// Largest power of two strictly less than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The Merkle root of `leaves`; the root of no leaves is SHA-256 of the empty string.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaf_hash(&leaves[0]),
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Proof that one leaf is in a tree of `tree_size` leaves with a given root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub leaf_index: u32,
    pub tree_size: u32,
    pub path: Vec<Hash>,
}

fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &leaves[..k], out);
        out.push(root(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], out);
        out.push(root(&leaves[..k]));
    }
}

/// The inclusion proof of leaf `index`, or `None` when the index is out of range.
pub fn prove(leaves: &[Hash], index: usize) -> Option<InclusionProof> {
    if index >= leaves.len() {
        return None;
    }
    let mut p = Vec::new();
    path(index, leaves, &mut p);
    Some(InclusionProof {
        leaf_index: u32::try_from(index).ok()?,
        tree_size: u32::try_from(leaves.len()).ok()?,
        path: p,
    })
}

impl InclusionProof {
    /// Checks that `leaf` is at `leaf_index` in a tree with root `expected_root`
    /// (RFC 9162, section 2.1.3.2).
    pub fn verify(&self, leaf: &Hash, expected_root: &Hash) -> bool {
        if self.leaf_index >= self.tree_size {
            return false;
        }
        let (mut f, mut s) = (u64::from(self.leaf_index), u64::from(self.tree_size) - 1);
        let mut r = leaf_hash(leaf);
        for p in &self.path {
            if s == 0 {
                return false;
            }
            if f & 1 == 1 || f == s {
                r = node_hash(p, &r);
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            } else {
                r = node_hash(&r, p);
            }
            f >>= 1;
            s >>= 1;
        }
        s == 0 && r == *expected_root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_of_every_small_tree_proves_and_nothing_else_does() {
        for n in 1..40usize {
            let leaves: Vec<Hash> = (0..n).map(|i| sha256(&[&(i as u64).to_be_bytes()])).collect();
            let r = root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let p = prove(&leaves, i).unwrap();
                assert!(p.verify(leaf, &r), "n={n} i={i}");
                let other = sha256(&[b"other"]);
                assert!(!p.verify(&other, &r));
                let mut moved = p.clone();
                moved.leaf_index = ((i + 1) % n) as u32;
                if n > 1 {
                    assert!(!moved.verify(leaf, &r), "n={n} i={i} moved");
                }
            }
            assert!(prove(&leaves, n).is_none());
        }
    }
}
