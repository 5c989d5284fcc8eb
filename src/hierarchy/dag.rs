//! The hypernym DAG itself: synsets, edges, precomputed depths and NLTK's
//! lowest common hypernyms. Loaders (`xml`, `wndb`) fill a [`Builder`];
//! nothing here reads files.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;

/// WordNet's single noun root, `entity.n.01`.
pub const ENTITY: &str = "n00001740";

/// One synset's identity and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synset {
    pub wnid: String,
    pub words: String,
    pub gloss: String,
}

/// A hypernym DAG with precomputed depths.
#[derive(Clone, Debug)]
pub struct Hierarchy {
    synsets: Vec<Synset>,
    parents: Vec<Vec<u32>>,
    by_wnid: HashMap<String, u32>,
    max_depth: Vec<u32>,
    min_depth: Vec<u32>,
    /// Where it came from, for error messages and manifests.
    source: String,
}

/// Lowest common hypernyms of two synsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lca {
    /// Ids of the common hypernyms of greatest max_depth (empty when the two
    /// share no root), sorted by wnid.
    pub synsets: Vec<u32>,
    /// Their max_depth; `None` without a common hypernym.
    pub depth: Option<u32>,
    /// Shortest path distance through a common hypernym.
    pub shortest_path: Option<u32>,
}

/// Collects synsets and hypernym edges; `build` checks and indexes them.
#[derive(Default)]
pub(crate) struct Builder {
    pub(super) synsets: Vec<Synset>,
    parents: Vec<Vec<u32>>,
    by_wnid: HashMap<String, u32>,
}

impl Builder {
    /// The id of `wnid`, adding it if new (the first words/gloss seen win).
    pub(crate) fn synset(&mut self, wnid: &str, words: &str, gloss: &str) -> u32 {
        if let Some(&id) = self.by_wnid.get(wnid) {
            return id;
        }
        let id = self.synsets.len() as u32;
        self.synsets.push(Synset {
            wnid: wnid.to_string(),
            words: words.to_string(),
            gloss: gloss.to_string(),
        });
        self.parents.push(Vec::new());
        self.by_wnid.insert(wnid.to_string(), id);
        id
    }

    pub(crate) fn edge(&mut self, child: u32, parent: u32) {
        let p = &mut self.parents[child as usize];
        if !p.contains(&parent) {
            p.push(parent);
        }
    }

    pub(crate) fn build(self, source: String) -> Result<Hierarchy> {
        let n = self.synsets.len();
        // Depths by memoised iterative DFS over parents; a grey node met
        // again means a cycle, which WordNet never has but a bad file may.
        let mut max_depth = vec![u32::MAX; n];
        let mut min_depth = vec![u32::MAX; n];
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        for start in 0..n {
            if state[start] == 2 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                let ps = &self.parents[node];
                if *next < ps.len() {
                    let p = ps[*next] as usize;
                    *next += 1;
                    match state[p] {
                        0 => {
                            state[p] = 1;
                            stack.push((p, 0));
                        }
                        1 => bail!(
                            "{source}: hypernym cycle through {} and {}",
                            self.synsets[node].wnid,
                            self.synsets[p].wnid
                        ),
                        _ => {}
                    }
                } else {
                    let (mx, mn) = if ps.is_empty() {
                        (0, 0)
                    } else {
                        let mx = ps.iter().map(|&p| max_depth[p as usize]).max().unwrap_or(0);
                        let mn = ps.iter().map(|&p| min_depth[p as usize]).min().unwrap_or(0);
                        (mx + 1, mn + 1)
                    };
                    max_depth[node] = mx;
                    min_depth[node] = mn;
                    state[node] = 2;
                    stack.pop();
                }
            }
        }
        Ok(Hierarchy {
            synsets: self.synsets,
            parents: self.parents,
            by_wnid: self.by_wnid,
            max_depth,
            min_depth,
            source,
        })
    }
}

/// Whether `s` has the shape of a WordNet noun id: `n` + 8 digits.
pub fn is_wnid(s: &str) -> bool {
    s.len() == 9 && s.starts_with('n') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

impl Hierarchy {
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn len(&self) -> usize {
        self.synsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.synsets.is_empty()
    }

    pub fn id(&self, wnid: &str) -> Option<u32> {
        self.by_wnid.get(wnid).copied()
    }

    /// The id of `wnid`, or an error naming it and this hierarchy.
    pub fn require(&self, wnid: &str) -> Result<u32> {
        self.id(wnid)
            .with_context(|| format!("unknown wnid '{wnid}': not in hierarchy {}", self.source))
    }

    pub fn synset(&self, id: u32) -> &Synset {
        &self.synsets[id as usize]
    }

    pub fn wnid(&self, id: u32) -> &str {
        &self.synsets[id as usize].wnid
    }

    pub fn parents(&self, id: u32) -> &[u32] {
        &self.parents[id as usize]
    }

    /// Ids of the synsets without parents.
    pub fn roots(&self) -> Vec<u32> {
        (0..self.len() as u32)
            .filter(|&i| self.parents[i as usize].is_empty())
            .collect()
    }

    /// NLTK `max_depth`: longest path to a root.
    pub fn max_depth(&self, id: u32) -> u32 {
        self.max_depth[id as usize]
    }

    /// NLTK `min_depth`: shortest path to a root.
    pub fn min_depth(&self, id: u32) -> u32 {
        self.min_depth[id as usize]
    }

    /// Every hypernym of `id` (itself included) with its shortest distance,
    /// sorted by id so two lists intersect by merging.
    pub fn ancestors(&self, id: u32) -> Vec<(u32, u32)> {
        let mut dist: HashMap<u32, u32> = HashMap::new();
        let mut frontier = vec![id];
        dist.insert(id, 0);
        let mut d = 0;
        while !frontier.is_empty() {
            d += 1;
            let mut next = Vec::new();
            for &s in &frontier {
                for &p in self.parents(s) {
                    if let std::collections::hash_map::Entry::Vacant(e) = dist.entry(p) {
                        e.insert(d);
                        next.push(p);
                    }
                }
            }
            frontier = next;
        }
        let mut out: Vec<(u32, u32)> = dist.into_iter().collect();
        out.sort_unstable();
        out
    }

    /// LCA of two synsets given their [`Hierarchy::ancestors`] lists.
    pub fn lca_of_ancestors(&self, a: &[(u32, u32)], b: &[(u32, u32)]) -> Lca {
        let (mut i, mut j) = (0, 0);
        let mut best_depth: Option<u32> = None;
        let mut synsets: Vec<u32> = Vec::new();
        let mut shortest: Option<u32> = None;
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let s = a[i].0;
                    let path = a[i].1 + b[j].1;
                    shortest = Some(shortest.map_or(path, |x| x.min(path)));
                    let depth = self.max_depth(s);
                    match best_depth {
                        Some(bd) if depth < bd => {}
                        Some(bd) if depth == bd => synsets.push(s),
                        _ => {
                            best_depth = Some(depth);
                            synsets.clear();
                            synsets.push(s);
                        }
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        synsets.sort_by(|&x, &y| self.wnid(x).cmp(self.wnid(y)));
        Lca {
            synsets,
            depth: best_depth,
            shortest_path: shortest,
        }
    }

    /// LCA, LCA depth and shortest path of two synsets.
    pub fn lca(&self, a: u32, b: u32) -> Lca {
        self.lca_of_ancestors(&self.ancestors(a), &self.ancestors(b))
    }
}
