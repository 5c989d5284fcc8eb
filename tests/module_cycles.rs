//! No import cycles between the files of `src/`: a file may use items of
//! another only if that other never (directly or through others) uses items
//! of the first. Cycles are how a module grows into its neighbour's job;
//! this test reads every `crate::…`, `super::…` and `self::…` path (and a
//! `use` of a child module) outside `#[cfg(test)]` blocks, resolves it to the
//! file that defines the module, and fails with the cycle it finds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module path of a source file: `src/train/mod.rs` → `["train"]`,
/// `src/train/moco.rs` → `["train", "moco"]`, `src/lib.rs` → `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file that defines the longest prefix of `path` that is a module.
fn file_of(modules: &BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<PathBuf> {
    (0..=path.len())
        .rev()
        .find_map(|k| modules.get(&path[..k]).cloned())
}

/// The code of a file without comments, string literals and `#[cfg(test)]`
/// items (test modules sit at the ends of files here).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        let line = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        // Drop string literals so that messages naming paths do not count.
        let mut in_str = false;
        let mut prev = ' ';
        for ch in line.chars() {
            if ch == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(ch);
            }
            prev = ch;
        }
        out.push('\n');
    }
    out
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{prefix}{e}")))
        .collect()
}

/// Every module path this file's code names, made absolute.
fn paths_used(code: &str, module: &[String]) -> Vec<Vec<String>> {
    // The module `super` refers to: the parent of this file's module.
    let here: Vec<String> = module.to_vec();
    let parent: Vec<String> = here[..here.len().saturating_sub(1)].to_vec();
    let children: BTreeSet<String> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")
                .and_then(|r| r.strip_suffix(';'))
                .map(str::to_string)
        })
        .collect();
    let mut raw: Vec<String> = Vec::new();
    // `use` statements (possibly over several lines, with brace groups).
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
            raw.extend(expand(&after[..end]));
        }
        rest = &after[end.min(after.len())..];
    }
    // Inline paths such as `crate::store::written_by_negstudy(path)`.
    for start in ["crate::", "super::", "self::"] {
        let mut rest = code;
        while let Some(i) = rest.find(start) {
            let before = rest[..i].chars().last();
            let tail = &rest[i..];
            let len = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                raw.push(tail[..len].to_string());
            }
            rest = &tail[len..];
        }
    }
    raw.into_iter()
        .filter_map(|p| {
            let segs: Vec<String> = p
                .split("::")
                .filter(|s| !s.is_empty())
                .map(|s| s.split(" as ").next().unwrap_or(s).to_string())
                .collect();
            let (first, tail) = segs.split_first()?;
            let mut base = match first.as_str() {
                "crate" => vec![],
                "super" => parent.clone(),
                "self" => here.clone(),
                c if children.contains(c) => {
                    let mut b = here.clone();
                    b.push(c.to_string());
                    b
                }
                _ => return None,
            };
            let mut tail = tail;
            while let Some(("super", t)) = tail.split_first().map(|(a, t)| (a.as_str(), t)) {
                base.pop();
                tail = t;
            }
            if first != "crate" && first != "super" && first != "self" {
                tail = &segs[1..];
            }
            base.extend(tail.iter().filter(|s| *s != "self").cloned());
            Some(base)
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// File → files whose items it uses.
fn import_graph(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.retain(|f| !f.ends_with("main.rs"));
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let module = module_of(src, file);
        let used: BTreeSet<PathBuf> = paths_used(&code, &module)
            .iter()
            .filter_map(|p| file_of(&modules, p))
            .filter(|target| target != file)
            .collect();
        graph.insert(file.clone(), used);
    }
    graph
}

/// A cycle through `start`, if there is one (depth-first search).
fn cycle_from(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>, start: &Path) -> Option<Vec<PathBuf>> {
    fn dfs(
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        start: &Path,
        node: &Path,
        path: &mut Vec<PathBuf>,
        seen: &mut BTreeSet<PathBuf>,
    ) -> bool {
        for next in graph.get(node).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if dfs(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_path_buf()];
    let mut seen = BTreeSet::new();
    dfs(graph, start, start, &mut path, &mut seen).then_some(path)
}

#[test]
fn no_import_cycles_between_source_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = import_graph(&src);
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|f| cycle_from(&graph, f))
        .map(|c| {
            c.iter()
                .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
                .collect::<Vec<_>>()
                .join(" → ")
        })
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

/// The reader itself: a two-file cycle written into a scratch tree is found,
/// and the same tree without the back edge has none.
#[test]
fn the_cycle_reader_finds_a_planted_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("train")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod train;\npub mod store;\n").unwrap();
    std::fs::write(src.join("train/mod.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(
        src.join("train/a.rs"),
        "use super::b::{self, Thing};\npub struct A;\n",
    )
    .unwrap();
    let b_with_cycle = "// crate::store::x in a comment does not count\n\
                        pub fn f() { crate::train::a::A; }\n";
    std::fs::write(src.join("train/b.rs"), b_with_cycle).unwrap();
    std::fs::write(
        src.join("store.rs"),
        "#[cfg(test)]\nmod tests { use crate::train::a::A; }\n",
    )
    .unwrap();
    let graph = import_graph(src);
    assert!(cycle_from(&graph, &src.join("train/a.rs")).is_some());
    assert!(cycle_from(&graph, &src.join("store.rs")).is_none());
    std::fs::write(src.join("train/b.rs"), "pub fn f() {}\n").unwrap();
    let graph = import_graph(src);
    assert!(cycle_from(&graph, &src.join("train/a.rs")).is_none());
}
