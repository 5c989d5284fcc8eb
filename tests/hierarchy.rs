//! The hierarchy against NLTK (reference TSVs made with NLTK 3.10 on
//! Debian's WordNet 3.0; see each file's header), and the XML loader against
//! the WordNet-database loader.
//!
//! Tests marked "needs wordnet-base" read /usr/share/wordnet, which .ci/run
//! installs (`apt-get install wordnet-base`); they fail, not skip, without it.

use negstudy::hierarchy::{read_wnid_list, write_structure_xml, ClassLcaTable, Hierarchy};
use std::path::Path;

mod common;
use common::repo;

fn wordnet() -> Hierarchy {
    let dir = Path::new("/usr/share/wordnet");
    Hierarchy::from_wordnet_dir(dir).unwrap_or_else(|e| {
        panic!(
            "needs Debian's wordnet-base in {} (see .ci/run): {e:#}",
            dir.display()
        )
    })
}

/// Rows of a reference TSV without its `#` header lines.
fn rows(p: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(repo(p))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn lca_wnids(h: &Hierarchy, a: u32, b: u32) -> String {
    let l = h.lca(a, b);
    l.synsets
        .iter()
        .map(|&s| h.wnid(s))
        .collect::<Vec<_>>()
        .join(",")
}

/// fashion_mnist_lca_nltk.tsv columns: a b a_name b_name a_max_depth
/// b_max_depth lca_wnids lca_names lca_max_depth lca_min_depth shortest_path.
fn check_fashion_mnist(h: &Hierarchy) {
    let rows = rows("tests/data/fashion_mnist_lca_nltk.tsv");
    assert_eq!(rows.len(), 100);
    for r in rows {
        let (a, b) = (h.require(&r[0]).unwrap(), h.require(&r[1]).unwrap());
        let l = h.lca(a, b);
        let mut want: Vec<&str> = r[6].split(',').collect();
        want.sort_unstable();
        assert_eq!(
            lca_wnids(h, a, b),
            want.join(","),
            "LCA set of {} {}",
            r[0],
            r[1]
        );
        assert_eq!(
            l.depth,
            Some(r[8].parse().unwrap()),
            "LCA depth {} {}",
            r[0],
            r[1]
        );
        assert_eq!(
            h.min_depth(l.synsets[0]),
            r[9].parse::<u32>().unwrap(),
            "LCA min_depth"
        );
        assert_eq!(h.max_depth(a), r[4].parse::<u32>().unwrap());
        assert_eq!(h.max_depth(b), r[5].parse::<u32>().unwrap());
        assert_eq!(
            l.shortest_path,
            Some(r[10].parse().unwrap()),
            "shortest path {} {}",
            r[0],
            r[1]
        );
    }
}

#[test]
fn fashion_mnist_pairs_match_nltk_bundled() {
    check_fashion_mnist(Hierarchy::bundled());
}

#[test]
fn fashion_mnist_pairs_match_nltk_wordnet_dir() {
    check_fashion_mnist(&wordnet()); // needs wordnet-base
}

/// imagenet_pairs_nltk.tsv: 3 000 random ImageNet-1k pairs and 20 self-pairs.
#[test]
fn imagenet_pairs_match_nltk() {
    let h = Hierarchy::bundled();
    for r in rows("tests/data/imagenet_pairs_nltk.tsv") {
        let (a, b) = (h.require(&r[0]).unwrap(), h.require(&r[1]).unwrap());
        let l = h.lca(a, b);
        assert_eq!(h.max_depth(a), r[2].parse::<u32>().unwrap(), "{}", r[0]);
        assert_eq!(h.max_depth(b), r[3].parse::<u32>().unwrap(), "{}", r[1]);
        assert_eq!(
            h.min_depth(a),
            r[4].parse::<u32>().unwrap(),
            "{} min_depth",
            r[0]
        );
        assert_eq!(lca_wnids(h, a, b), r[5], "{} {}", r[0], r[1]);
        assert_eq!(l.depth, Some(r[6].parse().unwrap()));
        assert_eq!(
            l.shortest_path,
            Some(r[7].parse().unwrap()),
            "{} {}",
            r[0],
            r[1]
        );
    }
}

#[test]
fn xml_and_wordnet_loaders_agree_on_all_imagenet_classes_and_pairs() {
    let x = Hierarchy::bundled();
    let w = wordnet(); // needs wordnet-base
    let wnids = read_wnid_list(&repo("assets/classes/imagenet1k_wnids.txt")).unwrap();
    assert_eq!(wnids.len(), 1000);
    let xi: Vec<u32> = wnids.iter().map(|s| x.require(s).unwrap()).collect();
    let wi: Vec<u32> = wnids.iter().map(|s| w.require(s).unwrap()).collect();
    for (k, s) in wnids.iter().enumerate() {
        assert_eq!(x.max_depth(xi[k]), w.max_depth(wi[k]), "max_depth of {s}");
        assert_eq!(x.min_depth(xi[k]), w.min_depth(wi[k]), "min_depth of {s}");
    }
    let xa: Vec<_> = xi.iter().map(|&i| x.ancestors(i)).collect();
    let wa: Vec<_> = wi.iter().map(|&i| w.ancestors(i)).collect();
    let mut pairs = 0;
    for i in 0..1000 {
        for j in i + 1..1000 {
            let (lx, lw) = (
                x.lca_of_ancestors(&xa[i], &xa[j]),
                w.lca_of_ancestors(&wa[i], &wa[j]),
            );
            let names = |h: &Hierarchy, l: &negstudy::hierarchy::Lca| {
                l.synsets
                    .iter()
                    .map(|&s| h.wnid(s).to_string())
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                names(x, &lx),
                names(&w, &lw),
                "LCA of {} {}",
                wnids[i],
                wnids[j]
            );
            assert_eq!((lx.depth, lx.shortest_path), (lw.depth, lw.shortest_path));
            pairs += 1;
        }
    }
    assert_eq!(pairs, 499_500);
}

#[test]
fn bundled_asset_is_what_hierarchy_build_writes() {
    // Regenerate the asset from WordNet (needs wordnet-base) and compare bytes.
    let w = wordnet();
    let mut wnids = read_wnid_list(&repo("assets/classes/imagenet1k_wnids.txt")).unwrap();
    for s in read_wnid_list(&repo("assets/classes/fashion_mnist_wordnet.tsv")).unwrap() {
        if !wnids.contains(&s) {
            wnids.push(s);
        }
    }
    let note = format!(
        "negstudy {} hierarchy build from WordNet 3.0 data.noun; {} target synsets",
        negstudy::VERSION,
        wnids.len()
    );
    let mut out = Vec::new();
    write_structure_xml(&w, &wnids, &note, &mut out).unwrap();
    let asset = std::fs::read(repo("assets/hierarchy/imagenet1k_fmnist.xml")).unwrap();
    assert!(
        out == asset,
        "assets/hierarchy/imagenet1k_fmnist.xml is stale: rebuild it (docs/hierarchy.md)"
    );
}

/// An ImageNet-style file: artificial `fall11` root, a synset under two
/// parents (duplicated subtree), entities escaped in attributes.
const IMAGENET_STYLE: &str = r#"<?xml version="1.0"?>
<ImageNetStructure>
 <releaseData>fall2011</releaseData>
 <synset wnid="fall11" words="ImageNet 2011 Fall Release" gloss="ImageNet 2011 Fall Release.">
  <synset wnid="n00000001" words="top &amp; more" gloss="a">
   <synset wnid="n00000002" words="left" gloss="b">
    <synset wnid="n00000004" words="shared" gloss="d"><synset wnid="n00000005" words="leaf" gloss="e"/></synset>
   </synset>
   <synset wnid="n00000003" words="right" gloss="c">
    <synset wnid="n00000006" words="mid" gloss="f">
     <synset wnid="n00000004" words="shared" gloss="d"><synset wnid="n00000005" words="leaf" gloss="e"/></synset>
    </synset>
   </synset>
  </synset>
 </synset>
</ImageNetStructure>"#;

#[test]
fn xml_merges_duplicates_and_skips_artificial_root() {
    let h = Hierarchy::from_xml_str(IMAGENET_STYLE, "test").unwrap();
    assert_eq!(h.len(), 6, "fall11 gets no node; duplicates merge");
    assert_eq!(
        h.roots().iter().map(|&r| h.wnid(r)).collect::<Vec<_>>(),
        vec!["n00000001"]
    );
    assert_eq!(
        h.synset(h.require("n00000001").unwrap()).words,
        "top & more"
    );
    let shared = h.require("n00000004").unwrap();
    assert_eq!(h.parents(shared).len(), 2);
    assert_eq!((h.max_depth(shared), h.min_depth(shared)), (3, 2));
    let leaf = h.require("n00000005").unwrap();
    let left = h.require("n00000002").unwrap();
    let mid = h.require("n00000006").unwrap();
    // leaf↔mid: common hypernyms {mid, right, top}; deepest (max_depth) is mid itself.
    let l = h.lca(leaf, mid);
    assert_eq!(
        (l.synsets, l.depth, l.shortest_path),
        (vec![mid], Some(2), Some(2))
    );
    // left↔mid: common {top} only.
    assert_eq!(h.lca(left, mid).depth, Some(0));
    assert_eq!(h.lca(left, mid).shortest_path, Some(3));
}

#[test]
fn xml_errors_are_clear() {
    let cases = [
        ("<ImageNetStructure><synset wnid=\"n00000001\" words=\"a\">", "truncated"),
        ("<ImageNetStructure><synset wnid=\"n00000001\"></synst></ImageNetStructure>", "malformed"),
        ("<ImageNetStructure><synset words=\"a\"/></ImageNetStructure>", "without a wnid"),
        ("<ImageNetStructure></ImageNetStructure>", "no <synset>"),
        (
            "<a><synset wnid=\"n00000001\"><synset wnid=\"n00000002\"><synset wnid=\"n00000001\"/></synset></synset></a>",
            "cycle",
        ),
    ];
    for (text, want) in cases {
        let e = format!(
            "{:#}",
            Hierarchy::from_xml_str(text, "bad.xml").unwrap_err()
        );
        assert!(e.contains(want) && e.contains("bad.xml"), "{want}: {e}");
    }
}

#[test]
fn wordnet_dir_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let e = format!("{:#}", Hierarchy::from_wordnet_dir(dir.path()).unwrap_err());
    assert!(e.contains("data.noun"), "{e}");
    // A data.noun whose line offset does not match its byte position.
    std::fs::write(
        dir.path().join("data.noun"),
        "00000005 03 n 01 entity 0 000 | x\n",
    )
    .unwrap();
    let e = format!("{:#}", Hierarchy::from_wordnet_dir(dir.path()).unwrap_err());
    assert!(e.contains("byte position"), "{e}");
    // A pointer to a synset that has no line.
    std::fs::write(
        dir.path().join("data.noun"),
        "00000000 03 n 01 thing 0 001 @ 00000099 n 0000 | x\n",
    )
    .unwrap();
    let e = format!("{:#}", Hierarchy::from_wordnet_dir(dir.path()).unwrap_err());
    assert!(e.contains("n00000099"), "{e}");
}

#[test]
fn class_table_is_symmetric_with_own_depth_on_the_diagonal() {
    let h = Hierarchy::bundled();
    let wnids = read_wnid_list(&repo("assets/classes/fashion_mnist_wordnet.tsv")).unwrap();
    let t = ClassLcaTable::new(h, &wnids).unwrap();
    for (i, w) in wnids.iter().enumerate() {
        assert_eq!(t.depth(i, i), h.max_depth(h.require(w).unwrap()) as f64);
        for j in 0..10 {
            assert_eq!(t.depth(i, j), t.depth(j, i));
        }
    }
    let e = format!(
        "{:#}",
        ClassLcaTable::new(h, &["n99999999".to_string()]).unwrap_err()
    );
    assert!(e.contains("n99999999") && e.contains("class 0"), "{e}");
}

/// Reports show a class named by its wnid with its WordNet word (from the
/// hierarchy's `words`: NLTK's `synset.lemma_names()[0]`, `tench`,
/// `great_white_shark` with the underscore as a space); other names and
/// unknown wnids are left as they are.
#[test]
fn wnid_classes_are_shown_with_their_words() {
    let names: Vec<String> = ["n01440764", "n01484850", "cat", "n99999999"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let shown = negstudy::analysis::input::readable_class_names(
        &names,
        negstudy::hierarchy::Hierarchy::bundled(),
    );
    assert_eq!(
        shown,
        [
            "n01440764 tench",
            "n01484850 great white shark",
            "cat",
            "n99999999"
        ]
    );
}
