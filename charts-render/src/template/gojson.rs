//! JSON as Go's `encoding/json` writes it (Helm's `toJson`, Sprig's `toPrettyJson`
//! and `toRawJson`): keys in byte order, floats in Go's shortest form (`1e+21`,
//! `1e-7`, integral values without a fraction), `<`, `>`, `&` escaped unless raw,
//! U+2028/U+2029 always escaped.

use std::fmt::Write as _;

use super::value::Value;

/// Marshals `v`; `indent` gives `MarshalIndent(v, "", "  ")`, `html` escapes `<>&`.
pub fn marshal(v: &Value, indent: bool, html: bool) -> String {
    let mut w = Writer {
        out: String::new(),
        indent,
        html,
    };
    w.value(v, 0);
    w.out
}

struct Writer {
    out: String,
    indent: bool,
    html: bool,
}

impl Writer {
    fn newline(&mut self, depth: usize) {
        if self.indent {
            self.out.push('\n');
            for _ in 0..depth {
                self.out.push_str("  ");
            }
        }
    }

    fn value(&mut self, v: &Value, depth: usize) {
        match v {
            Value::Nil => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(self.out, "{i}");
            }
            Value::Float(f) => self.out.push_str(&float(*f)),
            Value::Str(s) => self.string(s),
            // encoding/json writes invalid UTF-8 in a string as U+FFFD.
            Value::Bytes(b) => self.string(&String::from_utf8_lossy(b)),
            // encoding/json refuses complex numbers; Helm's toJson then prints nothing.
            Value::Complex(..) => self.out.push_str("null"),
            Value::List(l) => self.list(l.iter(), l.len(), depth),
            Value::ApiVersions(l) => {
                let items: Vec<Value> = l.iter().map(Value::str).collect();
                self.list(items.iter(), items.len(), depth)
            }
            Value::Map(m) => {
                let m = m.borrow();
                if m.is_empty() {
                    self.out.push_str("{}");
                    return;
                }
                self.out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.newline(depth + 1);
                    self.string(k);
                    self.out.push(':');
                    if self.indent {
                        self.out.push(' ');
                    }
                    self.value(v, depth + 1);
                }
                self.newline(depth);
                self.out.push('}');
            }
            Value::Files(_) => self.out.push_str("{}"),
        }
    }

    fn list<'a>(&mut self, items: impl Iterator<Item = &'a Value>, len: usize, depth: usize) {
        if len == 0 {
            self.out.push_str("[]");
            return;
        }
        self.out.push('[');
        for (i, v) in items.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.newline(depth + 1);
            self.value(v, depth + 1);
        }
        self.newline(depth);
        self.out.push(']');
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                '\x08' => self.out.push_str("\\b"),
                '\x0c' => self.out.push_str("\\f"),
                '<' | '>' | '&' if self.html => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                    let _ = write!(self.out, "\\u{:04x}", c as u32);
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }
}

/// Go's `encoding/json` float: `%f` shortest between 1e-6 and 1e21, else `%e`
/// shortest with a negative exponent's leading zero dropped.
pub fn float(f: f64) -> String {
    if !f.is_finite() {
        // encoding/json refuses these; Helm's toJson then prints nothing.
        return String::new();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{f:e}");
        let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        if exp < 0 {
            format!("{mant}e-{}", -exp)
        } else {
            format!("{mant}e+{exp:02}")
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_go_marshals() {
        let v = super::super::yaml11::parse(
            "a: \"<>&\\u2028\\b\\f\\x01 é\"\nnum: [1000000, 1e21, 0.000001, 1.5, 1e-7, 123456789012, null, true]\ne: {}\nl: []",
        )
        .unwrap();
        assert_eq!(
            marshal(&v, false, true),
            r#"{"a":"\u003c\u003e\u0026\u2028\b\f\u0001 é","e":{},"l":[],"num":[1000000,1e+21,0.000001,1.5,1e-7,123456789012,null,true]}"#
        );
        assert_eq!(
            marshal(&v.get("a"), false, false),
            r#""<>&\u2028\b\f\u0001 é""#
        );
        let m = super::super::yaml11::parse("a: '<'\ne: {}\nm: {x: [1, 2]}").unwrap();
        assert_eq!(
            marshal(&m, true, true),
            "{\n  \"a\": \"\\u003c\",\n  \"e\": {},\n  \"m\": {\n    \"x\": [\n      1,\n      2\n    ]\n  }\n}"
        );
    }
}
