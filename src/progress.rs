//! The one way long work shows progress: an indicatif bar with negstudy's
//! look, hidden when the command was asked to be quiet.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` units drawn with `template` (indicatif's syntax; the
/// default style if it does not parse), or a hidden one when `quiet`.
pub fn bar(len: u64, template: &str, quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}
