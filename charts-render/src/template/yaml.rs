//! `toYaml` as Helm's (sigs.k8s.io/yaml over go-yaml v2) writes it: keys sorted,
//! two-space indentation, sequences not indented under their key, multi-line
//! strings as literal blocks, and strings quoted when they would read back as
//! something else.

use super::value::Value;

/// Serialises `v` as a YAML document, ending with a newline.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    if is_block(v) {
        block(&mut out, v, 0, false);
    } else {
        out.push_str(&scalar(v, 0));
        out.push('\n');
    }
    out
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Map(m) => !m.borrow().is_empty(),
        Value::List(l) => !l.is_empty(),
        _ => false,
    }
}

fn pad(out: &mut String, n: usize, skip: bool) {
    if !skip {
        out.extend(std::iter::repeat_n(' ', n));
    }
}

/// Writes a non-empty map or list at indentation `ind`; `inline` means the first
/// line continues a `- ` already written.
fn block(out: &mut String, v: &Value, ind: usize, inline: bool) {
    let mut first = inline;
    match v {
        Value::Map(m) => {
            for (k, val) in m.borrow().iter() {
                pad(out, ind, first);
                first = false;
                out.push_str(&string_scalar(k, ind));
                out.push(':');
                child(out, val, ind, ind + 2);
            }
        }
        Value::List(l) => {
            for item in l.iter() {
                pad(out, ind, first);
                first = false;
                out.push('-');
                match item {
                    v if is_block(v) => {
                        out.push(' ');
                        block(out, v, ind + 2, true);
                    }
                    v => {
                        out.push(' ');
                        out.push_str(&scalar(v, ind));
                        out.push('\n');
                    }
                }
            }
        }
        _ => {}
    }
}

/// A map value: lists stay at the key's indentation, maps go one level deeper.
fn child(out: &mut String, v: &Value, key_ind: usize, map_ind: usize) {
    match v {
        Value::Map(_) if is_block(v) => {
            out.push('\n');
            block(out, v, map_ind, false);
        }
        Value::List(_) if is_block(v) => {
            out.push('\n');
            block(out, v, key_ind, false);
        }
        v => {
            out.push(' ');
            out.push_str(&scalar(v, key_ind));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value, ind: usize) -> String {
    match v {
        Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float(*f),
        Value::Complex(..) => "null".into(),
        Value::Str(s) => string_scalar(s, ind),
        Value::Bytes(b) => string_scalar(&String::from_utf8_lossy(b), ind),
        Value::Map(_) => "{}".into(),
        Value::List(_) => "[]".into(),
        Value::Files(_) => "{}".into(),
        Value::ApiVersions(v) => format!("[{}]", v.join(", ")),
    }
}

/// Floats as JSON then YAML leave them: integral ones as integers.
pub fn float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+.inf".into()
        } else {
            "-.inf".into()
        }
    } else {
        // go-yaml writes floats with strconv's shortest `%g`.
        super::value::format_float_g(f)
    }
}

fn string_scalar(s: &str, ind: usize) -> String {
    if s.contains('\n') && literal_ok(s) {
        return literal(s, ind);
    }
    // go-yaml v2: double quotes for what would read back as another type, single
    // quotes for what plain style cannot hold.
    if resolves_non_string(s) || s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return super::gofmt::go_quote(s);
    }
    if plain_unsafe(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_string()
}

fn literal_ok(s: &str) -> bool {
    !s.starts_with([' ', '\t', '\n'])
        && !s
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}')
        && s.lines().all(|l| !l.ends_with([' ', '\t']))
}

fn literal(s: &str, ind: usize) -> String {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let chomp = match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    };
    let mut out = String::from(chomp);
    for line in s
        .split('\n')
        .take(body.split('\n').count() + trailing.saturating_sub(1))
    {
        out.push('\n');
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', ind + 2));
            out.push_str(line);
        }
    }
    out
}

const YAML11_WORDS: &[&str] = &[
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~",
];

fn resolves_non_string(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    s.is_empty()
        || YAML11_WORDS.contains(&lower.as_str())
        || [".inf", "+.inf", "-.inf", ".nan"].contains(&lower.as_str())
        || looks_numeric(s)
}

fn plain_unsafe(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    let indicator = "-?:,[]{}#&*!|>'\"%@`".contains(first);
    let dash_ok =
        (first == '-' || first == '?' || first == ':') && s.len() > 1 && !s[1..].starts_with(' ');
    s != s.trim()
        || (indicator && !dash_ok)
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
}

/// Anything a YAML 1.1 reader might take for a number or a date.
fn looks_numeric(s: &str) -> bool {
    let body = s.trim_start_matches(['+', '-']);
    let first = body.chars().next();
    (first.is_some_and(|c| c.is_ascii_digit()) || (first == Some('.') && body.len() > 1))
        && body
            .chars()
            .all(|c| c.is_ascii_hexdigit() || "xXoO_.:+-eE".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(src: &str) -> String {
        to_yaml(&Value::from_yaml(&yaml_serde::from_str(src).unwrap()))
    }

    #[test]
    fn go_yaml_v2_shape() {
        assert_eq!(
            y("b: 1\na: [x, {k: v, j: 2}]\nc: {}\n"),
            "a:\n- x\n- j: 2\n  k: v\nb: 1\nc: {}\n"
        );
        assert_eq!(
            y("s: 'true'\nt: '8080'\nu: 'a: b'\nv: ''"),
            "s: \"true\"\nt: \"8080\"\nu: 'a: b'\nv: \"\"\n"
        );
        assert_eq!(y("m: {k: \"l1\\nl2\\n\"}"), "m:\n  k: |\n    l1\n    l2\n");
        assert_eq!(y("- - a\n  - b\n"), "- - a\n  - b\n");
    }
}
