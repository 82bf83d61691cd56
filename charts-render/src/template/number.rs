//! Go number literals as `text/template` reads them: the lexer's `scanNumber`
//! decides where a literal ends, `parse.newNumber` reads it with `strconv`'s
//! rules (base prefixes, legacy octal, underscores, hex floats, imaginary parts,
//! character constants), and `exec`'s `idealConstant` picks the type it becomes.

/// What a number literal evaluates to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// Go's `int`.
    Int(i64),
    /// Go's `float64`: the text has `.`, an exponent, or is a hex float.
    Float(f64),
    /// Go's `complex128`: the literal has an imaginary part.
    Complex(f64, f64),
    /// A literal that fits only an unsigned 64-bit integer: Go fails when it
    /// executes it ("overflows int"), not when it parses it.
    Uint(u64),
}

/// Where a number literal that starts at `b[i]` ends, as Go's lexer scans it.
/// `Err` carries the scanned text for "bad number syntax".
pub fn scan(b: &[u8], i: usize) -> Result<usize, usize> {
    let mut e = scan_one(b, i)?;
    if matches!(b.get(e), Some(b'+' | b'-')) {
        // `1+2i`: a complex constant, no spaces, ending in `i`.
        let end = scan_one(b, e)?;
        if b[end - 1] != b'i' {
            return Err(end);
        }
        e = end;
    }
    Ok(e)
}

fn scan_one(b: &[u8], mut i: usize) -> Result<usize, usize> {
    let accept = |i: &mut usize, set: &[u8]| {
        if b.get(*i).is_some_and(|c| set.contains(c)) {
            *i += 1;
            true
        } else {
            false
        }
    };
    let run = |i: &mut usize, set: &[u8]| while accept(i, set) {};
    accept(&mut i, b"+-");
    let mut digits: &[u8] = b"0123456789_";
    if accept(&mut i, b"0") {
        // A leading 0 alone does not make a float octal.
        if accept(&mut i, b"xX") {
            digits = b"0123456789abcdefABCDEF_";
        } else if accept(&mut i, b"oO") {
            digits = b"01234567_";
        } else if accept(&mut i, b"bB") {
            digits = b"01_";
        }
    }
    run(&mut i, digits);
    if accept(&mut i, b".") {
        run(&mut i, digits);
    }
    if digits.len() == 11 && accept(&mut i, b"eE") {
        accept(&mut i, b"+-");
        run(&mut i, b"0123456789_");
    }
    if digits.len() == 23 && accept(&mut i, b"pP") {
        accept(&mut i, b"+-");
        run(&mut i, b"0123456789_");
    }
    accept(&mut i, b"i");
    match b.get(i) {
        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' || *c >= 0x80 => {
            // Go consumes the offending character into the message.
            let len = utf8_len(*c);
            Err((i + len).min(b.len()))
        }
        _ => Ok(i),
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0.. => 4,
        0xe0.. => 3,
        0xc0.. => 2,
        _ => 1,
    }
}

/// Reads a scanned literal (`parse.newNumber`) and types it (`idealConstant`).
pub fn parse(text: &str) -> Result<Number, String> {
    if text.starts_with('\'') {
        return char_constant(text).map(|c| Number::Int(i64::from(c)));
    }
    if let Some((re, im)) = split_complex(text) {
        let re = parse_float(re).ok_or_else(|| format!("expected integer; found {text}"))?;
        let im = parse_float(im).ok_or_else(|| format!("expected integer; found {text}"))?;
        return Ok(Number::Complex(re, im));
    }
    if let Some(imag) = text.strip_suffix('i')
        && let Some(f) = parse_float(imag)
    {
        return Ok(Number::Complex(0.0, f));
    }
    // Integers first, so `0x1F` is an int even though it holds an `F`.
    if let Some(i) = parse_int(text) {
        return Ok(Number::Int(i));
    }
    if let Some(u) = parse_uint(text) {
        return Ok(Number::Uint(u));
    }
    let looks_float = text.contains(['.', 'e', 'E', 'p', 'P']);
    match parse_float(text) {
        Some(_) if !looks_float => Err(format!("integer overflow: {text:?}")),
        Some(f) => Ok(Number::Float(f)),
        None => Err(format!("illegal number syntax: {text:?}")),
    }
}

/// `1+2i`, `-1.5e3-2i`: the real and imaginary texts.
fn split_complex(text: &str) -> Option<(&str, &str)> {
    let imag_end = text.strip_suffix('i')?;
    let b = imag_end.as_bytes();
    let at = (1..b.len())
        .rev()
        .find(|&k| matches!(b[k], b'+' | b'-') && !matches!(b[k - 1], b'e' | b'E' | b'p' | b'P'))?;
    Some((&imag_end[..at], &imag_end[at..]))
}

/// `strconv.ParseInt(s, 0, 64)`.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint(body)?;
    if neg {
        if u <= 1u64 << 63 {
            Some((u as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// `strconv.ParseUint(s, 0, 64)`: no sign; `0x`, `0o`, `0b` or a legacy `0` octal
/// prefix; underscores only between digits.
fn parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() || !underscore_ok(s) {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(&digits, radix).ok()
}

/// strconv's `underscoreOK`: underscores only between digits, or between a base
/// prefix and a digit.
fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let [b'-' | b'+', rest @ ..] = b {
        b = rest;
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || hex && (c | 0x20).is_ascii_hexdigit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseFloat(s, 64)` for what the lexer can produce: decimal floats and
/// hex floats (`0x1.8p3`, exponent required), with underscores between digits.
pub fn parse_float(s: &str) -> Option<f64> {
    if s.is_empty() || !underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.as_bytes()[0] {
        b'-' => (true, &clean[1..]),
        b'+' => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        hex_float(hex)?
    } else {
        if body.is_empty()
            || !body
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// The digits after `0x` of a hex float: mantissa, optional fraction, `p` exponent.
fn hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = s.split_once(['p', 'P'])?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut digits: Vec<u32> = Vec::new();
    for c in int.chars().chain(frac.chars()) {
        digits.push(c.to_digit(16)?);
    }
    // Exact for up to 13 significant hex digits (52 bits); literals in templates
    // are far shorter, and longer ones still round to the nearest by f64 steps.
    let mut m = 0f64;
    for d in &digits {
        m = m * 16.0 + f64::from(*d);
    }
    let shift = exp - 4 * frac.len() as i32;
    Some(m * 2f64.powi(shift))
}

/// A character constant (`'a'`, `'\n'`, `'\u00e9'`, `'\x41'`, `'\101'`) as its code
/// point, as `strconv.UnquoteChar` reads it.
fn char_constant(text: &str) -> Result<u32, String> {
    let body = &text[1..];
    let mut chars = body.chars();
    let first = chars.next().ok_or("invalid syntax")?;
    let (c, rest) = if first == '\\' {
        unescape(chars.as_str()).ok_or("invalid syntax")?
    } else if first == '\'' {
        return Err("invalid syntax".into());
    } else {
        (first as u32, chars.as_str())
    };
    if rest != "'" {
        return Err(format!("malformed character constant: {text}"));
    }
    Ok(c)
}

/// One escape after a backslash: its code point and the text after it.
fn unescape(s: &str) -> Option<(u32, &str)> {
    let c = s.chars().next()?;
    let after = &s[c.len_utf8()..];
    let simple = match c {
        'a' => Some(7),
        'b' => Some(8),
        'f' => Some(12),
        'n' => Some(10),
        'r' => Some(13),
        't' => Some(9),
        'v' => Some(11),
        '\\' => Some(92),
        '\'' => Some(39),
        _ => None,
    };
    if let Some(v) = simple {
        return Some((v, after));
    }
    let hex = |n: usize| -> Option<(u32, &str)> {
        let h = after.get(..n)?;
        let v = u32::from_str_radix(h, 16).ok()?;
        Some((v, &after[n..]))
    };
    match c {
        'x' => hex(2),
        'u' => hex(4).filter(|(v, _)| char::from_u32(*v).is_some()),
        'U' => hex(8).filter(|(v, _)| char::from_u32(*v).is_some()),
        '0'..='7' => {
            let o = s.get(..3)?;
            let v = u32::from_str_radix(o, 8).ok()?;
            (v <= 255).then_some((v, &s[3..]))
        }
        _ => None,
    }
}

/// Go's `%v` of a complex128: `(1+2i)`.
pub fn format_complex(re: f64, im: f64) -> String {
    let g = super::value::format_float_g;
    let im_s = g(im);
    let sign = if im_s.starts_with(['-', '+']) {
        ""
    } else {
        "+"
    };
    format!("({}{sign}{im_s}i)", g(re))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexed(s: &str) -> Result<&str, &str> {
        scan(s.as_bytes(), 0).map(|e| &s[..e]).map_err(|e| &s[..e])
    }

    #[test]
    fn scanning_stops_where_go_does() {
        assert_eq!(lexed("0x1p60 "), Ok("0x1p60"));
        assert_eq!(lexed("1_000)"), Ok("1_000"));
        assert_eq!(lexed("1+2i}"), Ok("1+2i"));
        assert_eq!(lexed("1e-3|"), Ok("1e-3"));
        assert_eq!(lexed("0x1g"), Err("0x1g"));
        assert_eq!(lexed("1+2"), Err("1+2"));
        // `e` is a hex digit, not an exponent, after 0x.
        assert_eq!(lexed("0x1e+2"), Err("0x1e+2"));
    }

    #[test]
    fn literals_type_as_go_does() {
        use Number::*;
        let cases: &[(&str, Number)] = &[
            ("42", Int(42)),
            ("-7", Int(-7)),
            ("+7", Int(7)),
            ("0x1F", Int(31)),
            ("0X_1f", Int(31)),
            ("0o17", Int(15)),
            ("017", Int(15)),
            ("0b101", Int(5)),
            ("1_000_000", Int(1_000_000)),
            ("1.0", Float(1.0)),
            ("1e3", Float(1000.0)),
            (".5", Float(0.5)),
            ("0x1p4", Float(16.0)),
            ("0x1p60", Float(1152921504606846976.0)),
            ("0x1.8p1", Float(3.0)),
            ("0x.8p0", Float(0.5)),
            ("012.5", Float(12.5)),
            ("1i", Complex(0.0, 1.0)),
            ("1+2i", Complex(1.0, 2.0)),
            ("1.5e1-2i", Complex(15.0, -2.0)),
            ("'a'", Int(97)),
            ("'\\n'", Int(10)),
            ("'\\u00e9'", Int(0xe9)),
            ("'\\x41'", Int(65)),
            ("'\\101'", Int(65)),
            ("'é'", Int(0xe9)),
            ("0xFFFFFFFFFFFFFFFF", Uint(u64::MAX)),
            ("-9223372036854775808", Int(i64::MIN)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).as_ref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_literals_fail_as_go_does() {
        let cases: &[(&str, &str)] = &[
            (
                "99999999999999999999",
                "integer overflow: \"99999999999999999999\"",
            ),
            ("09", "integer overflow: \"09\""),
            ("1__0", "illegal number syntax: \"1__0\""),
            ("_1", "illegal number syntax: \"_1\""),
            ("0x1.8", "illegal number syntax: \"0x1.8\""),
            ("-", "illegal number syntax: \"-\""),
            ("'ab'", "malformed character constant: 'ab'"),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Err(want.to_string()), "{text}");
        }
    }

    #[test]
    fn complex_prints_as_go() {
        assert_eq!(format_complex(1.0, 2.0), "(1+2i)");
        assert_eq!(format_complex(0.0, -1.5), "(0-1.5i)");
    }
}
