//! Prometheus text exposition: what the worker's and the server's `/metrics` are written with.

use std::fmt::Write;

/// `value` escaped for a label value: backslash, double quote and line feed.
pub fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: its HELP and TYPE lines once, then each sample as `name<suffix> value`
/// (the suffix holds labels, or `_bucket{...}`, `_sum`, `_count` for histograms).
pub fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, String)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (suffix, value) in samples {
        let _ = writeln!(out, "{name}{suffix} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_what_would_end_them() {
        assert_eq!(label_value("fax"), "fax");
        assert_eq!(
            label_value("a\"b\\c\nd"),
            "a\\\"b\\\\c\\nd",
            "quote, backslash and line feed escaped"
        );
    }
}
