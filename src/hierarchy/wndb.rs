//! Loader for a WordNet database directory (e.g. Debian's `wordnet-base` at
//! `/usr/share/wordnet`): the noun synsets of `data.noun` and their `@`
//! (hypernym) and `@i` (instance hypernym) pointers.
//!
//! Line format (wndb(5)): `offset lex_filenum ss_type w_cnt(hex) {word lex_id}
//! p_cnt(dec) {symbol offset pos source/target} | gloss`. Lines starting with
//! spaces are the licence header. Each line's offset equals its byte offset
//! in the file; we check that, which catches truncated or edited files.

use super::dag::{Builder, Hierarchy};
use anyhow::{bail, Context, Result};
use std::path::Path;

pub(super) fn load(dir: &Path) -> Result<Hierarchy> {
    let path = dir.join("data.noun");
    let bytes = crate::input_file::read(&path).with_context(|| {
        format!(
            "reading {} (is this a WordNet database directory?)",
            path.display()
        )
    })?;
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("{}: not valid UTF-8", path.display()))?;
    parse(
        text,
        &path.display().to_string(),
        format!("WordNet database {}", dir.display()),
    )
}

/// One synset line of `data.noun`.
struct Entry<'a> {
    wnid: String,
    words: String,
    gloss: &'a str,
    /// Hypernyms (`@`) and instance hypernyms (`@i`) among nouns.
    parents: Vec<String>,
}

/// Parses the text of a `data.noun` file; `name` prefixes error locations.
pub(super) fn parse(text: &str, name: &str, source: String) -> Result<Hierarchy> {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    for (lineno, line) in text.split_inclusive('\n').enumerate() {
        let start = pos;
        pos += line.len();
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() || line.starts_with(' ') {
            continue;
        }
        let at = |what: &str| format!("{name}:{}: {what}", lineno + 1);
        entries.push(parse_line(line, start, &at)?);
    }
    if entries.is_empty() {
        bail!("{name}: no synsets found");
    }
    build(&entries, name, source)
}

/// One synset line starting at byte `start`; `at` locates an error.
fn parse_line<'a>(line: &'a str, start: usize, at: &dyn Fn(&str) -> String) -> Result<Entry<'a>> {
    let (fields, gloss) = match line.split_once(" | ") {
        Some((f, g)) => (f, g.trim_end()),
        None => (line.trim_end_matches(" |"), ""),
    };
    let mut it = fields.split(' ').filter(|s| !s.is_empty());
    let mut next = |what: &str| {
        it.next()
            .with_context(|| at(&format!("line ends before {what}")))
    };
    let offset = next("the synset offset")?;
    let offset_num: usize = offset
        .parse()
        .with_context(|| at(&format!("bad offset '{offset}'")))?;
    if offset_num != start {
        bail!(at(&format!(
            "synset offset {offset} does not match its byte position {start} (file truncated or edited?)"
        )));
    }
    next("lex_filenum")?;
    let ss_type = next("ss_type")?;
    if ss_type != "n" {
        bail!(at(&format!(
            "ss_type '{ss_type}' in data.noun (expected 'n')"
        )));
    }
    let w_cnt_s = next("w_cnt")?;
    let w_cnt = usize::from_str_radix(w_cnt_s, 16)
        .with_context(|| at(&format!("bad word count '{w_cnt_s}'")))?;
    let mut words = Vec::new();
    for _ in 0..w_cnt {
        words.push(next("a word")?.replace('_', " "));
        next("a lex_id")?;
    }
    let p_cnt_s = next("p_cnt")?;
    let p_cnt: usize = p_cnt_s
        .parse()
        .with_context(|| at(&format!("bad pointer count '{p_cnt_s}'")))?;
    let mut parents = Vec::new();
    for _ in 0..p_cnt {
        let symbol = next("a pointer symbol")?;
        let target = next("a pointer offset")?;
        let pos = next("a pointer part of speech")?;
        next("a pointer source/target")?;
        if (symbol == "@" || symbol == "@i") && pos == "n" {
            parents.push(format!("n{target}"));
        }
    }
    Ok(Entry {
        wnid: format!("n{offset}"),
        words: words.join(", "),
        gloss,
        parents,
    })
}

/// The hierarchy of `entries`; every hypernym must have its own line.
fn build(entries: &[Entry], name: &str, source: String) -> Result<Hierarchy> {
    let mut b = Builder::default();
    for e in entries {
        b.synset(&e.wnid, &e.words, e.gloss);
    }
    let known = b.synsets.len();
    for e in entries {
        let child = b.synset(&e.wnid, "", "");
        for p in &e.parents {
            let parent = b.synset(p, "", "");
            b.edge(child, parent);
        }
    }
    if b.synsets.len() != known {
        let missing = &b.synsets[known].wnid;
        bail!("{name}: a hypernym pointer targets {missing}, which has no line in the file (truncated?)");
    }
    b.build(source)
}
