//! The Prometheus text exposition format, version 0.0.4: a writer that
//! emits each metric family as `# HELP`, `# TYPE`, then its samples
//! (`name{label="value",...} value`), escaping label values and help text
//! as the format requires.
//!
//! ```
//! use stripedns::metrics::text::{Kind, TextWriter};
//!
//! let mut w = TextWriter::new();
//! w.family("stripedns_blacklist_drops_total", Kind::Counter, "Queries dropped.");
//! w.sample("stripedns_blacklist_drops_total", &[("pop", "a\"b")], 3);
//! let text = w.finish();
//! assert_eq!(
//!     text.lines().collect::<Vec<_>>(),
//!     [
//!         "# HELP stripedns_blacklist_drops_total Queries dropped.",
//!         "# TYPE stripedns_blacklist_drops_total counter",
//!         r#"stripedns_blacklist_drops_total{pop="a\"b"} 3"#,
//!     ]
//! );
//! ```

use std::fmt::{Display, Write};

/// The `Content-Type` of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only ever goes up (resets with the process that holds it).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    /// The word in the `# TYPE` line.
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Writes one exposition. Callers write every sample of a family right
/// after its [`TextWriter::family`] line, as the format requires.
#[derive(Debug, Default)]
pub struct TextWriter {
    /// The text so far.
    out: String,
}

impl TextWriter {
    /// An empty exposition.
    pub fn new() -> TextWriter {
        TextWriter::default()
    }

    /// Start the family `name`: its help and type lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_help(help, &mut self.out);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
    }

    /// One sample of the current family. Label names must be valid
    /// (`[a-zA-Z_][a-zA-Z0-9_]*`, as the callers' constants are); values
    /// may be any text.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_label_value(v, &mut self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// The exposition.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A label value as the format writes it between quotes: backslash,
/// double quote and line feed escaped as `\\`, `\"` and `\n`.
pub fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Help text as the format writes it: backslash and line feed escaped.
pub fn escape_help(help: &str, out: &mut String) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(v: &str) -> String {
        let mut s = String::new();
        escape_label_value(v, &mut s);
        s
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(label("plain ams-1.x"), "plain ams-1.x");
        assert_eq!(label(r"a\b"), r"a\\b");
        assert_eq!(label("say \"hi\""), r#"say \"hi\""#);
        assert_eq!(label("two\nlines"), r"two\nlines");
        assert_eq!(label("\\\"\n"), r#"\\\"\n"#);
        // Other characters, tabs and non-ASCII included, go through.
        assert_eq!(label("tab\tü"), "tab\tü");
    }

    #[test]
    fn help_escapes_backslash_and_newline_but_not_quotes() {
        let mut s = String::new();
        escape_help("a \"b\" c\\d\ne", &mut s);
        assert_eq!(s, "a \"b\" c\\\\d\\ne");
    }

    #[test]
    fn families_and_samples() {
        let mut w = TextWriter::new();
        w.family("x_total", Kind::Counter, "Things.");
        w.sample("x_total", &[], 0);
        w.sample(
            "x_total",
            &[("a", "1"), ("b", "q\"")],
            18446744073709551615u64,
        );
        w.family("y", Kind::Gauge, "Level.");
        w.sample("y", &[("z", "")], 0.5);
        assert_eq!(
            w.finish(),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total 0\n\
             x_total{a=\"1\",b=\"q\\\"\"} 18446744073709551615\n\
             # HELP y Level.\n# TYPE y gauge\ny{z=\"\"} 0.5\n"
        );
    }
}
