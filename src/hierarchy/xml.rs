//! ImageNet `structure_released.xml` format: nested
//! `<synset wnid words gloss>` elements, where a synset with several
//! hypernyms appears once under each. Reading merges the duplicates into
//! one DAG.
//!
//! Artificial roots: ImageNet's own file hangs its top categories under
//! `<synset wnid="fall11" …>`, which is no WordNet synset. Any element whose
//! `wnid` is not `n` + 8 digits is *skipped*: it gets no node, and its
//! children become roots (depth 0). Depths read from such a file are
//! therefore relative to ImageNet's top categories, not WordNet depths; files
//! written by `negstudy hierarchy build` keep full paths from `entity` and
//! give NLTK's depths.

use super::dag::{is_wnid, Builder, Hierarchy};
use anyhow::{bail, Context, Result};
use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;

pub(super) fn parse(text: &str, source: &str) -> Result<Hierarchy> {
    let mut reader = Reader::from_str(text);
    let mut b = Builder::default();
    // One entry per open <synset>: Some(id) for a real synset, None for an
    // artificial root.
    let mut stack: Vec<Option<u32>> = Vec::new();
    let mut seen_synset = false;
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| anyhow::anyhow!("{source}: malformed XML near byte {pos}: {e}"))?;
        match event {
            Event::Start(e) if e.name().as_ref() == "synset" => {
                let id = open_synset(&mut b, &e, stack.last().copied().flatten(), source, pos)?;
                seen_synset = true;
                stack.push(id);
            }
            Event::Empty(e) if e.name().as_ref() == "synset" => {
                open_synset(&mut b, &e, stack.last().copied().flatten(), source, pos)?;
                seen_synset = true;
            }
            Event::End(e) if e.name().as_ref() == "synset" && stack.pop().is_none() => {
                bail!("{source}: unbalanced </synset> near byte {pos}");
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        bail!(
            "{source}: file ends inside {} open <synset> element(s) (truncated?)",
            stack.len()
        );
    }
    if !seen_synset {
        bail!("{source}: no <synset> elements (not an ImageNet structure file?)");
    }
    b.build(source.to_string())
}

fn open_synset(
    b: &mut Builder,
    e: &BytesStart,
    parent: Option<u32>,
    source: &str,
    pos: u64,
) -> Result<Option<u32>> {
    let mut wnid = None;
    let mut words = String::new();
    let mut gloss = String::new();
    for attr in e.attributes() {
        let attr =
            attr.map_err(|err| anyhow::anyhow!("{source}: bad attribute near byte {pos}: {err}"))?;
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| anyhow::anyhow!("{source}: bad attribute value near byte {pos}: {err}"))?
            .into_owned();
        match attr.key.as_ref() {
            "wnid" => wnid = Some(value),
            "words" => words = value,
            "gloss" => gloss = value,
            _ => {}
        }
    }
    let wnid = wnid
        .with_context(|| format!("{source}: <synset> without a wnid attribute near byte {pos}"))?;
    if !is_wnid(&wnid) {
        // An artificial root such as ImageNet's `fall11`: skipped (see module docs).
        return Ok(None);
    }
    let id = b.synset(&wnid, &words, &gloss);
    if let Some(p) = parent {
        b.edge(id, p);
    }
    Ok(Some(id))
}

/// Carried by every file we derive from WordNet, as its licence requires
/// (full text: assets/licenses/WordNet-3.0.txt).
const WORDNET_NOTICE: &str = "Derived from WordNet 3.0. WordNet 3.0 Copyright 2006 by Princeton University. \
All rights reserved. Provided AS IS under the WordNet 3.0 licence, whose full text ships with negstudy \
as assets/licenses/WordNet-3.0.txt";

/// Writes ImageNet-structure XML holding every hypernym path from the roots
/// (in WordNet: `entity`) down to each of `wnids`. Children are ordered by
/// wnid so the output is deterministic.
pub fn write_structure_xml(
    h: &Hierarchy,
    wnids: &[String],
    note: &str,
    out: &mut impl Write,
) -> Result<()> {
    let mut keep: BTreeSet<u32> = BTreeSet::new();
    for w in wnids {
        let id = h.require(w)?;
        keep.extend(h.ancestors(id).into_iter().map(|(a, _)| a));
    }
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for &s in &keep {
        for &p in h.parents(s) {
            children.entry(p).or_default().push(s);
        }
    }
    for c in children.values_mut() {
        c.sort_by(|&x, &y| h.wnid(x).cmp(h.wnid(y)));
    }
    let mut roots: Vec<u32> = keep
        .iter()
        .copied()
        .filter(|&s| h.parents(s).is_empty())
        .collect();
    roots.sort_by(|&x, &y| h.wnid(x).cmp(h.wnid(y)));

    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(out, "<!-- {WORDNET_NOTICE} -->")?;
    writeln!(out, "<ImageNetStructure>")?;
    writeln!(out, " <releaseData>{}</releaseData>", escape(note))?;
    fn emit(
        h: &Hierarchy,
        children: &HashMap<u32, Vec<u32>>,
        s: u32,
        level: usize,
        out: &mut impl Write,
    ) -> Result<()> {
        let syn = h.synset(s);
        let indent = " ".repeat(level + 1);
        write!(
            out,
            "{indent}<synset wnid=\"{}\" words=\"{}\" gloss=\"{}\"",
            escape(syn.wnid.as_str()),
            escape(syn.words.as_str()),
            escape(syn.gloss.as_str())
        )?;
        match children.get(&s) {
            None => writeln!(out, "/>")?,
            Some(kids) => {
                writeln!(out, ">")?;
                for &k in kids {
                    emit(h, children, k, level + 1, out)?;
                }
                writeln!(out, "{indent}</synset>")?;
            }
        }
        Ok(())
    }
    for r in roots {
        emit(h, &children, r, 0, out)?;
    }
    writeln!(out, "</ImageNetStructure>")?;
    Ok(())
}
