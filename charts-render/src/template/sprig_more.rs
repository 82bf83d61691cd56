//! The rest of Sprig 3's table and Helm's TOML functions: string helpers from
//! Masterminds/goutils (`wrap`, `abbrevboth`, `initials`, `swapcase`), base32,
//! path functions, Go durations (`duration`, `durationRound`, `dateModify`, `ago`),
//! `urlJoin`, `chunk`, and `toToml`/`fromToml` laid out as BurntSushi/toml does.

use std::collections::BTreeMap;

use super::exec::Fail;
use super::funcs::to_i64;
use super::value::Value;

use super::extra::{R, s};

/// Functions of this module, or `None` when `name` is not one of them.
pub fn call(name: &str, a: &[Value]) -> Option<R> {
    let n = |i: usize| a.get(i).map_or(0, to_i64);
    let st = |x: String| Ok(Value::Str(x));
    Some(match name {
        "hello" => st("Hello!".into()),
        "abbrevboth" => st(abbrevboth(n(0), n(1), &s(a, 2))),
        "initials" => st(s(a, 0)
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .collect()),
        "swapcase" => st(swapcase(&s(a, 0))),
        "shuffle" => st(shuffle(&s(a, 0))),
        "wrap" => st(wrap_custom(&s(a, 1), n(0), "", false)),
        "wrapWith" => st(wrap_custom(&s(a, 2), n(0), &s(a, 1), true)),
        "trimall" => st(s(a, 1).trim_matches(|c| s(a, 0).contains(c)).to_string()),
        "b32enc" => st(base32_encode(s(a, 0).as_bytes())),
        "b32dec" => st(base32_decode(&s(a, 0))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| e)),
        "add1f" => Ok(Value::Float(a.first().map_or(0.0, to_f64) + 1.0)),
        "clean" => st(clean_path(&s(a, 0))),
        "isAbs" => Ok(Value::Bool(s(a, 0).starts_with('/'))),
        "chunk" => chunk(n(0), a.get(1)),
        "duration" => st(go_duration(match a.first() {
            Some(Value::Str(x)) => x.parse::<i64>().unwrap_or(0) as i128 * 1_000_000_000,
            Some(Value::Int(i)) => *i as i128 * 1_000_000_000,
            _ => 0,
        })),
        "durationRound" => st(duration_round(match a.first() {
            Some(Value::Str(x)) => parse_go_duration(x).unwrap_or(0),
            Some(Value::Int(i)) => *i as i128,
            _ => 0,
        })),
        "urlJoin" => st(url_join(a.first().unwrap_or(&Value::Nil))),
        "toToml" => st(to_toml(a.first().unwrap_or(&Value::Nil))),
        "fromToml" => Ok(from_toml(&s(a, 0))),
        _ => return None,
    })
}

fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// goutils.AbbreviateFull behind Sprig's guard.
fn abbrevboth(left: i64, right: i64, s: &str) -> String {
    if right < 4 || (left > 0 && right < 7) {
        return s.to_string();
    }
    abbreviate_full(s, left.max(0) as usize, right as usize)
}

fn abbreviate_full(s: &str, offset: usize, max: usize) -> String {
    let len = s.len();
    if s.is_empty() || len <= max {
        return s.to_string();
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    let cut = |a: usize, b: usize| s.get(a..b).unwrap_or_default().to_string();
    if offset <= 4 {
        return cut(0, max - 3) + "...";
    }
    if max < 7 {
        return String::new();
    }
    if offset + max - 3 < len {
        return format!(
            "...{}",
            abbreviate_full(s.get(offset..).unwrap_or_default(), 0, max - 3)
        );
    }
    format!("...{}", cut(len - (max - 3), len))
}

fn swapcase(s: &str) -> String {
    s.chars()
        .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
            if c.is_uppercase() {
                Box::new(c.to_lowercase())
            } else if c.is_lowercase() {
                Box::new(c.to_uppercase())
            } else {
                Box::new(std::iter::once(c))
            }
        })
        .collect()
}

fn shuffle(s: &str) -> String {
    use rand::seq::SliceRandom as _;
    let mut chars: Vec<char> = s.chars().collect();
    chars.shuffle(&mut rand::rng());
    chars.into_iter().collect()
}

/// goutils.WrapCustom (Apache Commons' WordUtils.wrap), on bytes as Go's does.
fn wrap_custom(s: &str, width: i64, newline: &str, long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1) as usize;
    let b = s.as_bytes();
    let len = b.len();
    let mut out: Vec<u8> = Vec::new();
    let mut offset = 0;
    while len - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(len);
        match b[offset..end].iter().rposition(|&c| c == b' ') {
            Some(i) => {
                out.extend_from_slice(&b[offset..offset + i]);
                out.extend_from_slice(newline.as_bytes());
                offset += i + 1;
            }
            None if long_words => {
                out.extend_from_slice(&b[offset..offset + width]);
                out.extend_from_slice(newline.as_bytes());
                offset += width;
            }
            None => {
                let end = width + offset;
                match b[end..].iter().position(|&c| c == b' ') {
                    None => {
                        out.extend_from_slice(&b[offset..]);
                        offset = len;
                    }
                    Some(i) => {
                        out.extend_from_slice(&b[offset..end + i]);
                        out.extend_from_slice(newline.as_bytes());
                        offset = end + i + 1;
                    }
                }
            }
        }
    }
    out.extend_from_slice(&b[offset..]);
    String::from_utf8_lossy(&out).into_owned()
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base32_decode(text: &str) -> Result<Vec<u8>, String> {
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'\n' && *c != b'\r')
        .collect();
    let mut out = Vec::new();
    for (ci, chunk) in clean.chunks(8).enumerate() {
        if chunk.len() != 8 {
            return Err(format!(
                "illegal base32 data at input byte {}",
                ci * 8 + chunk.len()
            ));
        }
        let mut bits = 0u64;
        let mut n = 0;
        for (i, &c) in chunk.iter().enumerate() {
            if c == b'=' {
                break;
            }
            let v = B32
                .iter()
                .position(|&x| x == c)
                .ok_or_else(|| format!("illegal base32 data at input byte {}", ci * 8 + i))?;
            bits |= (v as u64) << (35 - i * 5);
            n = i + 1;
        }
        let bytes = match n {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            0 => 0,
            _ => return Err(format!("illegal base32 data at input byte {}", ci * 8 + n)),
        };
        out.extend_from_slice(&bits.to_be_bytes()[3..3 + bytes]);
    }
    Ok(out)
}

/// Go's `path.Clean`.
fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

fn chunk(size: i64, list: Option<&Value>) -> R {
    let items = match list {
        Some(Value::List(l)) => l.to_vec(),
        Some(Value::Nil) | None => Vec::new(),
        Some(v) => {
            return Err(Fail::Msg(format!("Cannot chunk type {}", v.type_name())));
        }
    };
    if size <= 0 {
        return Ok(Value::list(Vec::new()));
    }
    Ok(Value::list(
        items
            .chunks(size as usize)
            .map(|c| Value::list(c.to_vec()))
            .collect(),
    ))
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += num * unit;
    }
    let t = total.round() as i128;
    Some(if neg { -t } else { t })
}

/// Go's `time.Duration.String`.
pub fn go_duration(ns: i128) -> String {
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u < 1_000_000_000 {
        let (unit, div) = match u {
            0 => return "0s".into(),
            1..=999 => ("ns", 1u128),
            1_000..=999_999 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", frac(u, div));
    }
    let h = u / 3_600_000_000_000;
    let m = (u / 60_000_000_000) % 60;
    let secs = u % 60_000_000_000;
    let mut out = String::from(sign);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", frac(secs, 1_000_000_000)));
    out
}

/// `v / div` with the fraction's trailing zeros dropped.
fn frac(v: u128, div: u128) -> String {
    let whole = v / div;
    let rem = v % div;
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{rem:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

fn duration_round(ns: i128) -> String {
    let u = ns.unsigned_abs();
    let hour = 3_600_000_000_000u128;
    let steps = [
        (hour * 24 * 365, "y"),
        (hour * 24 * 30, "mo"),
        (hour * 24, "d"),
        (hour, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
    ];
    for (size, unit) in steps {
        if u > size {
            return format!("{}{unit}", u / size);
        }
    }
    "0s".into()
}

fn escape_url(s: &str, keep: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sprig's `urlJoin`: Go's `url.URL.String()` of the parts.
fn url_join(d: &Value) -> String {
    let part = |k: &str| d.get(k).as_str().unwrap_or_default().to_string();
    let (scheme, host, path) = (part("scheme"), part("host"), part("path"));
    let (query, opaque, fragment, userinfo) = (
        part("query"),
        part("opaque"),
        part("fragment"),
        part("userinfo"),
    );
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || !userinfo.is_empty() {
            if !host.is_empty() || !path.is_empty() || !userinfo.is_empty() {
                out.push_str("//");
            }
            if !userinfo.is_empty() {
                let (user, pass) = match userinfo.split_once(':') {
                    Some((u, p)) => (u.to_string(), Some(p.to_string())),
                    None => (userinfo.clone(), None),
                };
                out.push_str(&escape_url(&user, "$&+,;="));
                if let Some(p) = pass {
                    out.push(':');
                    out.push_str(&escape_url(&p, "$&+,;="));
                }
                out.push('@');
            }
            out.push_str(&escape_url(&host, ":[]!$&'()*+,;="));
        }
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&escape_url(&path, "$&+,/:;=@"));
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&escape_url(&fragment, "$&+,/:;=@!()*?"));
    }
    out
}

// ---- TOML -------------------------------------------------------------------------

/// Helm's `toToml` (BurntSushi/toml's encoder): plain keys first, then tables, both
/// sorted; nested tables indented two spaces a level; errors as their text.
fn to_toml(v: &Value) -> String {
    let Value::Map(m) = v else {
        return "toml: top-level values must be Go maps or structs".into();
    };
    let mut out = String::new();
    toml_table(&mut out, &[], &m.borrow());
    out
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_))
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::List(l) if !l.is_empty() && l.iter().all(is_table))
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        toml_string(k)
    }
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_value(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => "nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
        Value::Float(f) => {
            let t = format!("{f}");
            if t.contains('.') { t } else { format!("{t}.0") }
        }
        Value::List(l) => format!(
            "[{}]",
            l.iter()
                .filter(|x| !matches!(x, Value::Nil))
                .map(toml_value)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Map(m) => format!(
            "{{{}}}",
            m.borrow()
                .iter()
                .filter(|(_, x)| !matches!(x, Value::Nil))
                .map(|(k, x)| format!("{} = {}", toml_key(k), toml_value(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => toml_string(&other.go_string()),
    }
}

fn toml_table(out: &mut String, path: &[String], m: &BTreeMap<String, Value>) {
    let indent = "  ".repeat(path.len());
    for (k, v) in m {
        if matches!(v, Value::Nil) || is_table(v) || is_table_array(v) {
            continue;
        }
        out.push_str(&format!("{indent}{} = {}\n", toml_key(k), toml_value(v)));
    }
    for (k, v) in m {
        let mut sub = path.to_vec();
        sub.push(toml_key(k));
        let header_indent = "  ".repeat(path.len());
        match v {
            Value::Map(t) => {
                if path.is_empty() && !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!("{header_indent}[{}]\n", sub.join(".")));
                toml_table(out, &sub, &t.borrow());
            }
            Value::List(l) if is_table_array(v) => {
                for item in l.iter() {
                    if let Value::Map(t) = item {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        out.push_str(&format!("{header_indent}[[{}]]\n", sub.join(".")));
                        toml_table(out, &sub, &t.borrow());
                    }
                }
            }
            _ => {}
        }
    }
}

fn from_toml(text: &str) -> Value {
    match text.parse::<toml::Table>() {
        Ok(t) => toml_to_value(&toml::Value::Table(t)),
        Err(e) => Value::map(
            [(
                "Error".to_string(),
                Value::Str(format!("toml: {}", e.message())),
            )]
            .into(),
        ),
    }
}

fn toml_to_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::str(s.as_str()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::Str(d.to_string()),
        toml::Value::Array(a) => Value::list(a.iter().map(toml_to_value).collect()),
        toml::Value::Table(t) => Value::map(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_value(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go() {
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(95_000_000_000), "1m35s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(-180_000_000_000), "-3m0s");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("-1.5h"), Some(-5_400_000_000_000));
        assert_eq!(parse_go_duration("x"), None);
    }

    #[test]
    fn base32_round_trip() {
        assert_eq!(base32_encode(b"hello"), "NBSWY3DP");
        assert_eq!(base32_encode(b"a"), "ME======");
        assert_eq!(base32_decode("ME======").unwrap(), b"a");
    }
}
