//! Every committed bundle's `index.html` is its `index.md` rendered today,
//! and the demo's page works in a real browser: headless Chromium loads it
//! with no network, every figure decodes (natural width > 0) and every
//! table has the rows its Markdown has.

use std::path::PathBuf;
use std::process::Command;

mod common;
use common::{repo, tracked_files};

/// The committed bundles: folders of reports/ whose manifest.json git
/// tracks (a sweep in progress writes untracked interim bundles there).
fn committed_bundles() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = tracked_files("reports/*/manifest.json")
        .iter()
        .map(|l| repo(l).parent().unwrap().to_path_buf())
        .collect();
    v.sort();
    v
}

#[test]
fn committed_pages_are_their_index_md_rendered_today() {
    let bundles = committed_bundles();
    assert!(bundles.len() >= 5, "{bundles:?}");
    for b in bundles {
        let md = std::fs::read_to_string(b.join("index.md")).unwrap();
        let committed = std::fs::read_to_string(b.join("index.html"))
            .unwrap_or_else(|e| panic!("{}: index.html: {e}", b.display()));
        let fresh = negstudy::report::html::render(&b, &md).unwrap();
        assert!(
            fresh == committed,
            "{}/index.html is stale: run `negstudy report {}`",
            b.display(),
            b.display()
        );
    }
}

/// Body-row counts of the Markdown's pipe tables, in order: each block of
/// consecutive `|` lines is a header, a separator and its rows.
fn markdown_table_rows(md: &str) -> Vec<usize> {
    let mut counts = Vec::new();
    let mut run = 0;
    for line in md.lines().chain(std::iter::once("")) {
        if line.trim_start().starts_with('|') {
            run += 1;
        } else if run > 0 {
            counts.push(run - 2);
            run = 0;
        }
    }
    counts
}

/// Chromium, or why not: Debian's package is `chromium`.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

/// Appended to a copy of the page (the page itself has no script): after
/// `load`, writes what the browser made of it into the DOM.
const PROBE: &str = r#"<script>
window.addEventListener('load', () => {
  const out = {
    images: [...document.images].map(i => i.complete ? i.naturalWidth : 0),
    tables: [...document.querySelectorAll('table')].map(t => t.querySelectorAll('tbody tr').length),
  };
  const pre = document.createElement('pre');
  pre.id = 'negstudy-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"#;

#[test]
fn the_demo_page_renders_in_a_real_browser() {
    let Some(browser) = chromium() else {
        if std::env::var_os("NEGSTUDY_SKIP_BROWSER").is_some() {
            eprintln!("SKIPPED (NEGSTUDY_SKIP_BROWSER set): no Chromium on PATH");
            return;
        }
        panic!(
            "no Chromium on PATH: install Debian's `chromium` (CI does), or set \
             NEGSTUDY_SKIP_BROWSER=1 where it cannot be installed"
        );
    };
    let bundle = repo("reports/demo");
    let md = std::fs::read_to_string(bundle.join("index.md")).unwrap();
    let page = std::fs::read_to_string(bundle.join("index.html")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let probed = dir.path().join("probed.html");
    std::fs::write(&probed, page.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("file://{}", probed.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let probe = dom
        .split_once("<pre id=\"negstudy-probe\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(json, _)| json.replace("&quot;", "\""))
        .unwrap_or_else(|| {
            panic!(
                "{}: no probe in the rendered DOM (status {}): {}",
                browser.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let probe: serde_json::Value = serde_json::from_str(&probe).unwrap();
    let widths: Vec<u64> = probe["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap())
        .collect();
    assert_eq!(
        widths.len(),
        md.matches("![").count(),
        "figures: {widths:?}"
    );
    assert!(
        widths.iter().all(|&w| w > 0),
        "a figure did not load: {widths:?}"
    );
    // The Markdown's tables, then the manifest's (at least its commit row).
    let rows: Vec<u64> = probe["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    let expected = markdown_table_rows(&md);
    assert!(!expected.is_empty());
    assert_eq!(rows.len(), expected.len() + 1, "{rows:?} vs {expected:?}");
    for (i, (&got, &want)) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(got as usize, want, "table {i}: {rows:?} vs {expected:?}");
    }
    assert!(rows[expected.len()] > 5, "manifest table: {rows:?}");
}
