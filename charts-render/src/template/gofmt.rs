//! Go's `fmt.Sprintf` for the verbs charts use (`%s %d %v %q %f %g %e %x %X %o %b %t %c %%`),
//! including Go's `%!d(float64=3)` complaints, which Helm output really contains.

use super::value::Value;

struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Formats `args` according to `format`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut used = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec {
            minus: false,
            plus: false,
            zero: false,
            space: false,
            sharp: false,
            width: None,
            prec: None,
        };
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = number(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(number(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = it.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        used += 1;
        if verb == 'v' {
            // `%+v` asks for struct field names, not signs.
            spec.plus = false;
        }
        match verb_text(verb, arg, &spec) {
            Text::Plain(b) => pad(&mut out, "", &b, &spec),
            Text::Signed(neg, b) => pad(&mut out, &sign(neg, &spec), &b, &spec),
            Text::Padded(b) => out.push_str(&b),
        }
    }
    if used < args.len() {
        let extra: Vec<String> = args[used..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.go_string()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn number(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0) * 10 + d as usize);
        chars.next();
    }
    n
}

/// Pads to the width; zero padding goes between the sign and the digits, as in Go.
fn pad(out: &mut String, sign: &str, body: &str, spec: &Spec) {
    let len = sign.chars().count() + body.chars().count();
    let w = spec.width.unwrap_or(0);
    if len >= w {
        out.push_str(sign);
        out.push_str(body);
    } else if spec.minus {
        out.push_str(sign);
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', w - len));
    } else if spec.zero {
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', w - len));
        out.push_str(body);
    } else {
        out.extend(std::iter::repeat_n(' ', w - len));
        out.push_str(sign);
        out.push_str(body);
    }
}

fn bad(verb: char, v: &Value) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", v.type_name(), v.go_string()),
    }
}

/// A formatted operand: numbers keep their sign apart for `+`, ` ` and `0`.
enum Text {
    Plain(String),
    Signed(bool, String),
    /// A list or map, whose elements were padded one by one.
    Padded(String),
}

fn verb_text(verb: char, v: &Value, spec: &Spec) -> Text {
    use Text::{Padded, Plain, Signed};
    if let Value::Bytes(b) = v {
        return verb_text(verb, &Value::str(String::from_utf8_lossy(b)), spec);
    }
    match (verb, v) {
        ('v', _) if spec.sharp => Plain(go_syntax(v, true)),
        ('T', _) => Plain(v.type_name().to_string()),
        ('v' | 'd', Value::Int(i)) => Signed(*i < 0, i.unsigned_abs().to_string()),
        ('v', Value::Float(f)) => float_text('g', *f, spec.prec),
        ('v', Value::Str(_)) => verb_text('s', v, spec),
        // Go applies the verb to each element, key and value.
        (_, Value::List(l)) => {
            let parts: Vec<String> = l.iter().map(|e| flat(verb, e, spec)).collect();
            Padded(format!("[{}]", parts.join(" ")))
        }
        (_, Value::Map(m)) => {
            let parts: Vec<String> = m
                .borrow()
                .iter()
                .map(|(k, v)| {
                    let key = flat(verb, &Value::str(k), spec);
                    format!("{key}:{}", flat(verb, v, spec))
                })
                .collect();
            Padded(format!("map[{}]", parts.join(" ")))
        }
        ('v', _) => Plain(v.go_string()),
        ('s', Value::Str(s)) => Plain(match spec.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        }),
        ('q', Value::Str(s)) => Plain(go_quote(s)),
        ('q', Value::Int(i)) => Plain(quote_rune(*i)),
        ('x' | 'X' | 'o' | 'b', Value::Int(i)) => {
            let u = i.unsigned_abs();
            let body = match verb {
                'x' => format!("{u:x}"),
                'X' => format!("{u:X}"),
                'o' => format!("{u:o}"),
                _ => format!("{u:b}"),
            };
            Signed(*i < 0, body)
        }
        ('c', Value::Int(i)) => Plain(
            u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}')
                .to_string(),
        ),
        ('U', Value::Int(i)) => Plain(format!("U+{:04X}", i)),
        ('x', Value::Str(s)) => Plain(hex::encode(s.as_bytes())),
        ('X', Value::Str(s)) => Plain(hex::encode_upper(s.as_bytes())),
        ('t', Value::Bool(b)) => Plain(b.to_string()),
        ('e' | 'E' | 'f' | 'F' | 'g' | 'G' | 'x' | 'X', Value::Float(f)) => {
            float_text(verb, *f, spec.prec)
        }
        _ => Plain(bad(verb, v)),
    }
}

/// An element inside a list or map, padded on its own as Go does.
fn flat(verb: char, v: &Value, spec: &Spec) -> String {
    let mut out = String::new();
    match verb_text(verb, v, spec) {
        Text::Plain(s) => pad(&mut out, "", &s, spec),
        Text::Signed(neg, s) => pad(&mut out, &sign(neg, spec), &s, spec),
        Text::Padded(s) => out.push_str(&s),
    }
    out
}

fn sign(neg: bool, spec: &Spec) -> String {
    if neg {
        "-".into()
    } else if spec.plus {
        "+".into()
    } else if spec.space {
        " ".into()
    } else {
        String::new()
    }
}

/// `strconv.QuoteRune`.
fn quote_rune(i: i64) -> String {
    let c = u32::try_from(i)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}');
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        c => {
            let q = go_quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// Go's `%#v`: strings quoted, maps and lists with their types.
fn go_syntax(v: &Value, top: bool) -> String {
    match v {
        Value::Str(s) => go_quote(s),
        Value::Nil if top => "<nil>".into(),
        Value::Nil => "interface {}(nil)".into(),
        Value::List(l) => {
            let parts: Vec<String> = l.iter().map(|e| go_syntax(e, false)).collect();
            format!("[]interface {{}}{{{}}}", parts.join(", "))
        }
        Value::Map(m) => {
            let parts: Vec<String> = m
                .borrow()
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_syntax(v, false)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
        other => other.go_string(),
    }
}

/// The decimal digits of `|f|` (no trailing zeros) and the decimal point position:
/// `|f| = 0.d1d2... * 10^dp`. Rounded to `sig` significant digits if given,
/// else the shortest digits that read back as `f`.
fn decimal_digits(f: f64, sig: Option<usize>) -> (String, i32) {
    if f == 0.0 {
        return ("0".into(), 1);
    }
    let e = match sig {
        Some(p) => format!("{:.*e}", p.max(1) - 1, f.abs()),
        None => format!("{:e}", f.abs()),
    };
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    (digits.to_string(), exp + 1)
}

/// `strconv.FormatFloat` for the verbs `e E f F g G x X`, sign kept apart.
fn float_text(verb: char, f: f64, prec: Option<usize>) -> Text {
    let neg = f.is_sign_negative() && !f.is_nan();
    if f.is_infinite() {
        return Text::Signed(neg, "Inf".into());
    }
    if f.is_nan() {
        return Text::Plain("NaN".into());
    }
    let a = f.abs();
    let body = match verb {
        'e' | 'E' => exp_form(a, prec.unwrap_or(6), verb == 'E'),
        'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), a),
        'x' | 'X' => hex_float(a, verb == 'X'),
        _ => g_form(a, prec, verb == 'G'),
    };
    Text::Signed(neg, body)
}

fn exp_form(a: f64, prec: usize, upper: bool) -> String {
    let s = format!("{a:.prec$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    let out = format!("{m}e{sign}{:02}", e.abs());
    if upper { out.to_uppercase() } else { out }
}

/// `%g`: shortest digits (or `prec` significant ones), exponent form when the
/// exponent is below -4 or at least the precision (6 for the shortest form).
fn g_form(a: f64, prec: Option<usize>, upper: bool) -> String {
    let (digits, dp) = decimal_digits(a, prec.map(|p| p.max(1)));
    let nd = digits.len() as i32;
    let mut p = prec.map_or(nd, |p| p.max(1) as i32);
    let mut eprec = p;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        if p > nd {
            p = nd;
        }
        return exp_form(a, (p - 1).max(0) as usize, upper);
    }
    if p > dp {
        p = nd;
    }
    format!("{:.*}", (p - dp).max(0) as usize, a)
}

/// `%x` of a float: `0x1.8p+01`.
fn hex_float(a: f64, upper: bool) -> String {
    let out = if a == 0.0 {
        "0x0p+00".to_string()
    } else {
        let bits = a.to_bits();
        let raw_exp = ((bits >> 52) & 0x7ff) as i32;
        let mut mant = bits & ((1u64 << 52) - 1);
        let mut exp = raw_exp - 1023;
        if raw_exp == 0 {
            // Subnormal: normalize so the leading digit is 1.
            let shift = mant.leading_zeros() - 11;
            mant = (mant << shift) & ((1u64 << 52) - 1);
            exp = -1022 - shift as i32;
        }
        let frac = format!("{mant:013x}");
        let frac = frac.trim_end_matches('0');
        let dot = if frac.is_empty() { "" } else { "." };
        let sign = if exp < 0 { '-' } else { '+' };
        format!("0x1{dot}{frac}p{sign}{:02}", exp.abs())
    };
    if upper { out.to_uppercase() } else { out }
}

/// `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
