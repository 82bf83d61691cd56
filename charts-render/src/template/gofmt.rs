//! Go's `fmt.Sprintf` for the verbs charts use (`%s %d %v %q %f %g %e %x %X %o %b %t %c %%`),
//! including Go's `%!d(float64=3)` complaints, which Helm output really contains.

use super::value::{Value, format_float_g};

struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
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
            width: None,
            prec: None,
        };
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' | '#' => {}
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
        let body = verb_text(verb, arg, &spec);
        pad(&mut out, &body, &spec);
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

fn pad(out: &mut String, body: &str, spec: &Spec) {
    let len = body.chars().count();
    let w = spec.width.unwrap_or(0);
    if len >= w {
        out.push_str(body);
    } else if spec.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', w - len));
    } else if spec.zero && body.starts_with('-') {
        out.push('-');
        out.extend(std::iter::repeat_n('0', w - len));
        out.push_str(&body[1..]);
    } else {
        let fill = if spec.zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(fill, w - len));
        out.push_str(body);
    }
}

fn bad(verb: char, v: &Value) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", v.type_name(), v.go_string()),
    }
}

fn verb_text(verb: char, v: &Value, spec: &Spec) -> String {
    match (verb, v) {
        ('v', _) => v.go_string(),
        ('T', _) => v.type_name().to_string(),
        ('s', Value::Str(s)) => match spec.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        ('s' | 'q', Value::List(l)) => {
            let parts: Vec<String> = l.iter().map(|e| verb_text(verb, e, spec)).collect();
            format!("[{}]", parts.join(" "))
        }
        ('q', Value::Str(s)) => go_quote(s),
        ('d', Value::Int(i)) => sign(*i >= 0, spec) + &i.to_string(),
        ('x', Value::Int(i)) => format!("{i:x}"),
        ('X', Value::Int(i)) => format!("{i:X}"),
        ('o', Value::Int(i)) => format!("{i:o}"),
        ('b', Value::Int(i)) => format!("{i:b}"),
        ('c', Value::Int(i)) => char::from_u32(*i as u32)
            .map(String::from)
            .unwrap_or_default(),
        ('x', Value::Str(s)) => hex::encode(s.as_bytes()),
        ('X', Value::Str(s)) => hex::encode_upper(s.as_bytes()),
        ('t', Value::Bool(b)) => b.to_string(),
        ('f' | 'F', Value::Float(f)) => {
            sign(*f >= 0.0, spec) + &format!("{:.*}", spec.prec.unwrap_or(6), f)
        }
        ('e', Value::Float(f)) => go_exp(*f, spec.prec.unwrap_or(6)),
        ('g', Value::Float(f)) => format_float_g(*f),
        _ => bad(verb, v),
    }
}

fn sign(non_neg: bool, spec: &Spec) -> String {
    if spec.plus && non_neg {
        "+".into()
    } else {
        String::new()
    }
}

fn go_exp(f: f64, prec: usize) -> String {
    let s = format!("{f:.prec$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
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
