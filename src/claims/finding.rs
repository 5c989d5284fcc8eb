//! A finding of the paper's Section 4 checked on a report bundle's
//! `summary.json`: the sentence that reports ours is a template whose
//! `{path:format}` fields are read from the summary, so no number in it is
//! typed (`{same_class.hard_mean:.3}`, `{consistency.ks.p:p}`).

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The number at a dotted path of a summary, e.g. `same_class.student.t`.
pub fn number(summary: &Value, path: &str) -> Result<f64> {
    let mut v = summary;
    for key in path.split('.') {
        v = v
            .get(key)
            .with_context(|| format!("no field '{key}' on the way to '{path}'"))?;
    }
    v.as_f64()
        .with_context(|| format!("'{path}' is {v}, not a number"))
}

/// One field's value in its format: `.N` (N decimals), `%.N` (as a
/// percentage with N decimals), `p` (a p-value as papers print it).
fn formatted(value: f64, format: &str) -> Result<String> {
    let decimals = |digits: &str| -> Result<usize> {
        digits
            .parse()
            .with_context(|| format!("'{format}' is not a format (.N, %.N or p)"))
    };
    Ok(match format {
        "p" => crate::stats::fmt_p(value),
        f if f.starts_with("%.") => format!("{:.*} %", decimals(&f[2..])?, value * 100.0),
        f if f.starts_with('.') => format!("{:.*}", decimals(&f[1..])?, value),
        _ => bail!("'{format}' is not a format (.N, %.N or p)"),
    })
}

/// The template with every `{path:format}` replaced by the summary's value.
pub fn fill(template: &str, summary: &Value) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .with_context(|| format!("unclosed '{{' in '{template}'"))?
            + open;
        let field = &rest[open + 1..close];
        let (path, format) = field
            .split_once(':')
            .with_context(|| format!("'{{{field}}}' needs a format, e.g. {{{field}:.3}}"))?;
        out.push_str(&formatted(number(summary, path)?, format)?);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_and_formatted() {
        let s: Value =
            serde_json::from_str(r#"{"a": {"b": 0.55416, "p": 3.2e-11}, "f": 0.166765}"#).unwrap();
        assert_eq!(
            fill("{a.b:.3} (p {a.p:p}), {f:%.1}", &s).unwrap(),
            "0.554 (p 3.2e-11), 16.7 %"
        );
        assert!(fill("{a.c:.3}", &s)
            .unwrap_err()
            .to_string()
            .contains("'c'"));
        assert!(fill("{a.b}", &s).is_err());
        assert!(fill("{a.b:x}", &s).is_err());
        assert!(fill("{a:.1}", &s)
            .unwrap_err()
            .to_string()
            .contains("not a number"));
    }
}
