//! The documentation holds up: README stays a front door, every link in
//! README and the guide reaches a file (and heading) of this repository,
//! nothing points outside it, and every `negstudy` command the docs show
//! parses with today's command line (flags and subcommands exist, values
//! are accepted).

use clap::Parser;
use pulldown_cmark::{Event, Options, Parser as Markdown, Tag, TagEnd};
use std::path::PathBuf;

mod common;
use common::{repo, tracked_files};

/// README, the guide and the other Markdown files people read.
fn documents() -> Vec<PathBuf> {
    let mut v = vec![
        repo("README.md"),
        repo("reports/README.md"),
        repo("analyses/README.md"),
        repo("bench/README.md"),
        repo("assets/README.md"),
    ];
    let mut guide: Vec<PathBuf> = std::fs::read_dir(repo("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    guide.sort();
    v.extend(guide);
    v
}

#[test]
fn readme_is_a_front_door() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines; the guide is docs/"
    );
    assert!(
        readme.contains("](docs/README.md)"),
        "README links the guide"
    );
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-`
/// and `_` removed, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The link targets and heading anchors of a Markdown text.
fn links_and_anchors(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut links, mut anchors) = (Vec::new(), Vec::new());
    let mut heading: Option<String> = None;
    for event in Markdown::new_ext(text, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                links.push(dest_url.to_string())
            }
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => anchors.push(slug(&heading.take().unwrap())),
            _ => {}
        }
    }
    (links, anchors)
}

#[test]
fn every_link_reaches_a_file_and_heading_of_the_repository() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let (links, own_anchors) = links_and_anchors(&text);
        for link in links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", doc.display()));
                continue;
            }
            if !anchor.is_empty() {
                let anchors = if file.is_empty() {
                    own_anchors.clone()
                } else {
                    links_and_anchors(&std::fs::read_to_string(&target).unwrap()).1
                };
                if !anchors.iter().any(|a| a == anchor) {
                    broken.push(format!("{}: {link}: no such heading", doc.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn nothing_points_outside_the_repository() {
    let outside = concat!("..", "/shared");
    let hits: Vec<String> = tracked_files(".")
        .into_iter()
        .filter(|name| std::fs::read_to_string(repo(name)).is_ok_and(|text| text.contains(outside)))
        .collect();
    assert!(hits.is_empty(), "files referring to {outside}: {hits:?}");
}

/// Shell words of a code block: quotes ('…', "…") group, `\` at a line's
/// end continues it, `#` starting a word comments to the line's end, and
/// `&&`, `||`, `|`, `;` and line ends separate commands.
fn shell_commands(block: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word: Option<String> = None;
    let mut chars = block.chars().peekable();
    let end_word = |word: &mut Option<String>, commands: &mut Vec<Vec<String>>| {
        if let Some(w) = word.take() {
            commands.last_mut().unwrap().push(w);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
                end_word(&mut word, &mut commands);
            }
            '\'' | '"' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    w.push(q);
                }
            }
            '#' if word.is_none() => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                end_word(&mut word, &mut commands);
                commands.push(Vec::new());
            }
            '\n' | ';' | '|' | '&' => {
                end_word(&mut word, &mut commands);
                commands.push(Vec::new());
            }
            c if c.is_whitespace() => end_word(&mut word, &mut commands),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    end_word(&mut word, &mut commands);
    commands.retain(|c| !c.is_empty());
    commands
}

/// The arguments after `negstudy` (or `cargo run --release --`), without
/// leading `VAR=value` assignments, shell keywords and redirections.
fn negstudy_args(words: &[String]) -> Option<Vec<String>> {
    let mut w: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .skip_while(|w| w.contains('=') && !w.starts_with('-') || *w == "do" || *w == "time")
        .collect();
    if let Some(i) = w
        .iter()
        .position(|x| x.starts_with('>') || x.starts_with('<'))
    {
        w.truncate(i);
    }
    let rest = match w.as_slice() {
        ["negstudy", rest @ ..] => rest,
        ["cargo", "run", "--release", "--", rest @ ..] => rest,
        _ => return None,
    };
    Some(rest.iter().map(|s| s.to_string()).collect())
}

/// Commands only a feature build has (the default build lacks the device).
fn needs_a_feature(args: &[String]) -> bool {
    args.iter().any(|a| a == "cuda" || a == "ndarray")
}

#[test]
fn every_documented_command_parses() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let mut block: Option<String> = None;
        for event in Markdown::new_ext(&text, Options::empty()) {
            match event {
                Event::Start(Tag::CodeBlock(kind)) => {
                    let is_shell = match kind {
                        pulldown_cmark::CodeBlockKind::Fenced(lang) => {
                            lang.as_ref() == "sh" || lang.as_ref() == "bash"
                        }
                        _ => false,
                    };
                    block = is_shell.then(String::new);
                }
                Event::Text(t) => {
                    if let Some(b) = block.as_mut() {
                        b.push_str(&t);
                    }
                }
                Event::End(TagEnd::CodeBlock) => {
                    for words in shell_commands(&block.take().unwrap_or_default()) {
                        let Some(args) = negstudy_args(&words) else {
                            continue;
                        };
                        if needs_a_feature(&args) {
                            continue;
                        }
                        checked += 1;
                        let argv = std::iter::once("negstudy".to_string()).chain(args.clone());
                        if let Err(e) = negstudy::commands::Cli::try_parse_from(argv) {
                            let first = e.to_string().lines().next().unwrap_or("").to_string();
                            failures.push(format!(
                                "{}: negstudy {}: {first}",
                                doc.display(),
                                args.join(" ")
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert!(checked >= 30, "only {checked} commands found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_shell_reader_splits_as_a_shell_does() {
    let cmds = shell_commands(
        "RAYON_NUM_THREADS=1 negstudy train --keep 'band(95,100) & same_class' \\\n  --epochs 3  # note\nnegstudy a | head && negstudy b > out.tsv\n",
    );
    assert_eq!(cmds.len(), 4, "{cmds:?}");
    assert_eq!(
        negstudy_args(&cmds[0]).unwrap(),
        [
            "train",
            "--keep",
            "band(95,100) & same_class",
            "--epochs",
            "3"
        ]
    );
    assert_eq!(negstudy_args(&cmds[1]).unwrap(), ["a"]);
    assert_eq!(negstudy_args(&cmds[2]), None);
    assert_eq!(negstudy_args(&cmds[3]).unwrap(), ["b"]);
}
