//! go-yaml v2's implicit typing of a plain scalar (its `resolve`), which decides
//! whether `toYaml` may leave a string unquoted: only strings that would read back
//! as strings stay plain. YAML 1.1 rules: `y`, `on`, `~`, `0x1F`, `1_000`, `.5`,
//! `2024-1-2` and base-60 `1:30` are not strings.

/// Whether go-yaml would write `s` plain (it reads back as a string).
pub fn resolves_to_string(s: &str) -> bool {
    !(is_reserved_word(s) || is_number(s) || is_timestamp(s) || is_base60_float(s))
}

fn is_reserved_word(s: &str) -> bool {
    matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "y"
            | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | ".nan"
            | ".NaN"
            | ".NAN"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
            | "<<"
    )
}

/// Numbers as `resolve` finds them: from a leading `.` Go's `ParseFloat`; from a
/// digit or sign, with underscores removed, `ParseInt`/`ParseUint` with base
/// prefixes, then the YAML float pattern, then `0b` binary.
fn is_number(s: &str) -> bool {
    match s.as_bytes().first() {
        Some(b'.') => go_parse_float(s),
        Some(b'0'..=b'9' | b'+' | b'-') => {
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            go_parse_int(&plain) || yaml_style_float(&plain) || binary(&plain)
        }
        _ => false,
    }
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint` succeeding (range aside: a too large
/// decimal is still a YAML float).
fn go_parse_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix) = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(o) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (o, 8)
    } else if let Some(b) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (b, 2)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    !digits.is_empty() && u128::from_str_radix(digits, radix).is_ok_and(|v| v <= u64::MAX as u128)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let digits = |b: &[u8], i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let mut i = 0;
    if b.first() == Some(&b'.') {
        i = 1;
        if digits(b, &mut i) == 0 {
            return false;
        }
    } else {
        if digits(b, &mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(b, &mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(b, &mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn binary(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    body.strip_prefix("0b")
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c == b'0' || c == b'1'))
}

/// Go's `strconv.ParseFloat` for text starting with `.`: decimal digits with an
/// optional exponent, underscores only between digits (Go allows them only with a
/// base prefix, so none here).
fn go_parse_float(s: &str) -> bool {
    yaml_style_float(s)
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    if !b.first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let mut i = 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let g = &b[start..i];
        let ok = match g {
            [d] => d.is_ascii_digit(),
            [a, _] => (b'0'..=b'5').contains(a),
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml's timestamps: four digits and `-`, then one of Go's layouts
/// `2006-1-2T15:4:5.999999999Z07:00` (or lower-case `t`), `2006-1-2 15:4:5.999999999`
/// or `2006-1-2`, parsed with Go's `time.Parse` (one or two digits per field,
/// fields in range).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let year: u32 = s[..4].parse().unwrap_or(0);
    let mut i = 5;
    let Some(month) = num(b, &mut i, 1, 12) else {
        return false;
    };
    if b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = num(b, &mut i, 1, 31) else {
        return false;
    };
    if day > days_in(month, year) {
        return false;
    }
    match b.get(i) {
        None => true,
        Some(&sep @ (b'T' | b't' | b' ')) => {
            i += 1;
            time_of_day(b, &mut i) && zone(b, i, sep != b' ')
        }
        _ => false,
    }
}

fn time_of_day(b: &[u8], i: &mut usize) -> bool {
    if num(b, i, 0, 23).is_none() || b.get(*i) != Some(&b':') {
        return false;
    }
    *i += 1;
    if num(b, i, 0, 59).is_none() || b.get(*i) != Some(&b':') {
        return false;
    }
    *i += 1;
    if num(b, i, 0, 59).is_none() {
        return false;
    }
    if matches!(b.get(*i), Some(b'.' | b',')) && b.get(*i + 1).is_some_and(u8::is_ascii_digit) {
        *i += 1;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
    }
    true
}

fn zone(b: &[u8], i: usize, required: bool) -> bool {
    let rest = &b[i..];
    if !required {
        return rest.is_empty();
    }
    match rest {
        [b'Z'] => true,
        [s, h1, h2, b':', m1, m2] if (*s == b'+' || *s == b'-') => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (*h1 - b'0') * 10 + (*h2 - b'0') <= 24
                && (*m1 - b'0') * 10 + (*m2 - b'0') <= 60
        }
        _ => false,
    }
}

/// One or two digits in `lo..=hi`, as Go's `getnum` reads a non-padded field.
fn num(b: &[u8], i: &mut usize, lo: u32, hi: u32) -> Option<u32> {
    let d1 = *b.get(*i)?;
    if !d1.is_ascii_digit() {
        return None;
    }
    let mut v = u32::from(d1 - b'0');
    *i += 1;
    if let Some(d2) = b.get(*i).filter(|c| c.is_ascii_digit()) {
        v = v * 10 + u32::from(d2 - b'0');
        *i += 1;
    }
    (lo..=hi).contains(&v).then_some(v)
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_1_1_typing() {
        for plain in [
            "8.2.1",
            "0.0.0.0:14250",
            "a#b",
            "tRUE",
            "0x",
            "1.2.3-rc1",
            "2024-13-01",
            "v1",
            "0x1p4",
            "1:60",
        ] {
            assert!(resolves_to_string(plain), "{plain}");
        }
        for typed in [
            "1:30",
            "2024-01-02",
            "2024-1-2T3:4:5Z",
            "2024-1-2 3:4:5",
            "1e3",
            "0x1F",
            "1_000",
            ".5",
            "y",
            "~",
            "08",
            "0o17",
            "+1",
            "",
            "True",
            "-0b101",
            "1.",
            "18446744073709551616",
        ] {
            assert!(!resolves_to_string(typed), "{typed}");
        }
    }
}
