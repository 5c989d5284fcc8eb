//! `index.html`: the bundle's `index.md` rendered as one self-contained page
//! a person opens in any browser, on a laptop or a phone.
//!
//! One source of text, two renderings: the page is made from the bundle's
//! own `index.md` (through pulldown-cmark, the CommonMark parser rustdoc
//! uses), so the Markdown and the HTML can never say different things. The
//! figures are embedded as `data:` URIs (the page works when mailed alone
//! and needs no network), tables scroll sideways on a narrow screen instead
//! of squeezing, the manifest is summarised in a `<details>` block, and
//! every CSV and JSON file of the bundle is linked. No JavaScript.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// The page's file name inside a bundle.
pub const FILE: &str = "index.html";

/// Arrays longer than this are summarised by their length in the manifest
/// table (the demo's manifest lists its 1 000 query rows).
const MANIFEST_ARRAY_SHOWN: usize = 8;

/// Rewrites a finished bundle's `index.html` from its `index.md`, the
/// figures it names and its `manifest.json`, atomically. Only a folder
/// negstudy made (its manifest says so) is touched.
pub fn rewrite(bundle: &Path) -> Result<()> {
    let kind = crate::atomic::Kind::Bundle;
    if !crate::atomic::is_ours(bundle, kind) {
        bail!(
            "{}: not a negstudy report bundle (no manifest.json naming a negstudy version); nothing written",
            crate::input_file::shown(bundle)
        );
    }
    let md_path = bundle.join("index.md");
    let markdown = std::fs::read_to_string(&md_path)
        .with_context(|| format!("reading {}", crate::input_file::shown(&md_path)))?;
    let page = render(bundle, &markdown)?;
    crate::atomic::write_bytes(
        &bundle.join(FILE),
        crate::atomic::Kind::OwnedFile,
        page.as_bytes(),
    )
}

/// The page for `markdown`, whose relative image links are files in `dir`.
pub fn render(dir: &Path, markdown: &str) -> Result<String> {
    let mut body = String::new();
    let mut title = None;
    let mut in_heading = false;
    let mut events = Vec::new();
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { .. }) if title.is_none() => {
                in_heading = true;
                title = Some(String::new());
                events.push(event);
            }
            Event::End(TagEnd::Heading(_)) => {
                in_heading = false;
                events.push(event);
            }
            Event::Text(ref t) | Event::Code(ref t) if in_heading => {
                if let Some(s) = title.as_mut() {
                    s.push_str(t);
                }
                events.push(event);
            }
            // Each figure links to its PNG, to open it full size.
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                events.push(Event::InlineHtml(
                    format!("<a href=\"{}\">", href(&dest_url)).into(),
                ));
                events.push(Event::Start(Tag::Image {
                    link_type,
                    dest_url: embedded(dir, &dest_url)?.into(),
                    title,
                    id,
                }));
            }
            Event::End(TagEnd::Image) => {
                events.push(event);
                events.push(Event::InlineHtml(CowStr::from("</a>")));
            }
            Event::Start(Tag::Table(_)) => {
                events.push(Event::Html(CowStr::from("<div class=\"scroll\">")));
                events.push(event);
            }
            Event::End(TagEnd::Table) => {
                events.push(event);
                events.push(Event::Html(CowStr::from("</div>\n")));
            }
            other => events.push(other),
        }
    }
    pulldown_cmark::html::push_html(&mut body, events.into_iter());
    let title = title.unwrap_or_else(|| "negstudy report".into());
    let mut page = String::new();
    write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"negstudy {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        escape(&title)
    )?;
    page.push_str(&body);
    page.push_str(&files_section(dir)?);
    page.push_str(&manifest_section(dir)?);
    page.push_str("</main>\n</body>\n</html>\n");
    Ok(page)
}

/// The `data:` URI of a bundle's figure; a link that is already absolute
/// (a URL) is kept. A figure `index.md` names but the bundle lacks is an
/// error: the page would silently show a broken image.
fn embedded(dir: &Path, link: &str) -> Result<String> {
    if link.contains("://") || link.starts_with("data:") {
        return Ok(link.to_string());
    }
    if link.contains("..") || link.starts_with('/') {
        bail!("{}: figure link {link:?} leaves the bundle", dir.display());
    }
    let path = dir.join(link);
    let mime = match path.extension().and_then(|e| e.to_str()) {
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => bail!(
            "{}: figure {link:?} is not a PNG, SVG or JPEG",
            dir.display()
        ),
    };
    let bytes = std::fs::read(&path)
        .with_context(|| format!("{}: index.md shows {link}, which is missing", dir.display()))?;
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Links to every data file (CSV, JSON) of the bundle, sorted by name.
fn files_section(dir: &Path) -> Result<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && (n.ends_with(".csv") || n.ends_with(".json")))
        .collect();
    names.sort();
    if names.is_empty() {
        return Ok(String::new());
    }
    let mut s = String::from("<h2>Data files</h2>\n<ul class=\"files\">\n");
    for n in &names {
        writeln!(s, "<li><a href=\"{}\">{}</a></li>", href(n), escape(n))?;
    }
    s.push_str("</ul>\n");
    Ok(s)
}

/// The manifest as a two-column table of its leaves (`provenance.commit`,
/// `parameters.seed`, …), folded away in a `<details>` block.
fn manifest_section(dir: &Path) -> Result<String> {
    let path = dir.join("manifest.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(String::new());
    };
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut rows = Vec::new();
    leaves("", &value, &mut rows);
    let mut s = String::from(
        "<details>\n<summary>What made this bundle (<code>manifest.json</code>)</summary>\n\
         <div class=\"scroll\"><table>\n<thead><tr><th>field</th><th>value</th></tr></thead>\n<tbody>\n",
    );
    for (k, v) in rows {
        writeln!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            escape(&k),
            escape(&v)
        )?;
    }
    s.push_str("</tbody>\n</table></div>\n</details>\n");
    Ok(s)
}

/// Flattens `value` into (dotted path, text) rows; long arrays of scalars
/// become "N values".
fn leaves(prefix: &str, value: &Value, rows: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(&key(k), v, rows);
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            let text = if items.len() > MANIFEST_ARRAY_SHOWN {
                format!("{} values", items.len())
            } else {
                items.iter().map(scalar).collect::<Vec<_>>().join(", ")
            };
            rows.push((prefix.to_string(), text));
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(&key(&i.to_string()), v, rows);
            }
        }
        v => rows.push((prefix.to_string(), scalar(v))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Text for HTML element content and double-quoted attributes, escaped
/// as pulldown-cmark escapes the page's own text.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Writing into a String cannot fail.
    let _ = pulldown_cmark_escape::escape_html(&mut out, s);
    out
}

/// A relative link for an `href`, escaped as pulldown-cmark escapes the
/// page's own links.
fn href(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let _ = pulldown_cmark_escape::escape_href(&mut out, s);
    out
}

/// Readable on a phone (the body is the screen's width, figures shrink,
/// table cells keep a number on one line and the table scrolls sideways) and on a laptop (a measure of ~70 characters).
const STYLE: &str = "\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#fff}\
main{max-width:62rem;margin:0 auto;padding:1rem}\
h1{font-size:1.6rem;line-height:1.25}h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #ddd}\
p,li,blockquote{max-width:46rem}\
img{max-width:100%;height:auto;display:block;margin:1rem 0}\
.scroll{overflow-x:auto;margin:1rem 0}\
table{border-collapse:collapse;font-size:.9rem;font-variant-numeric:tabular-nums}\
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}\
thead th{background:#f2f2f2}\
code{font-size:.9em;background:#f4f4f4;padding:0 .2em;border-radius:3px}\
blockquote{margin:1rem 0;padding:.25rem 1rem;border-left:4px solid #c8a400;background:#fffbe6}\
details{margin:2rem 0}summary{cursor:pointer;font-weight:600}\
@media (max-width:600px){main{padding:.6rem}body{font-size:15px}th,td{padding:.2rem .35rem;white-space:nowrap}}\
@media (prefers-color-scheme:dark){body{background:#121212;color:#e6e6e6}thead th{background:#262626}\
code{background:#262626}th,td{border-color:#444}blockquote{background:#2a2500}img{background:#fff}a{color:#8ab4f8}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_embedded_and_tables_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.png"), b"\x89PNG fake").unwrap();
        std::fs::write(dir.path().join("results.csv"), "a\n1\n").unwrap();
        std::fs::write(
            dir.path().join("manifest.json"),
            r#"{"provenance":{"commit":"abc"},"rows":[1,2,3,4,5,6,7,8,9]}"#,
        )
        .unwrap();
        let md = "# T & co\n\n![fig](f.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let page = render(dir.path(), md).unwrap();
        assert!(page.contains("<title>T &amp; co</title>"), "{page}");
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG fake");
        assert!(page.contains(&format!(
            "<a href=\"f.png\"><img src=\"data:image/png;base64,{b64}\""
        )));
        assert!(page.contains("<div class=\"scroll\"><table>"));
        assert!(page.contains("<td>1</td>"));
        assert!(page.contains("<a href=\"results.csv\">results.csv</a>"));
        assert!(page.contains("<code>provenance.commit</code></td><td>abc</td>"));
        assert!(page.contains("<td>9 values</td>"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn a_missing_figure_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = render(dir.path(), "![fig](gone.png)\n").unwrap_err();
        assert!(format!("{err:#}").contains("gone.png"), "{err:#}");
        let err = render(dir.path(), "![fig](../up.png)\n").unwrap_err();
        assert!(format!("{err:#}").contains("leaves the bundle"), "{err:#}");
    }
}
