//! The functions templates can call: Go's built-ins, Helm's (`include`, `tpl`,
//! `required`, `toYaml`, `lookup`, ...) and the Sprig functions charts use.
//! Sprig's `must*` variants share the plain implementation (errors surface either way).

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use sha2::Digest as _;

use super::exec::{Exec, Fail};
use super::gofmt::{go_quote, sprintf};
use super::value::Value;
use super::yaml::to_yaml;

type R = Result<Value, Fail>;

fn err<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Msg(msg.into()))
}

/// Calls function `name`.
pub fn call(ex: &mut Exec, name: &str, a: Vec<Value>) -> R {
    if let Some(m) = super::arity::check(name, a.len()) {
        return err(m);
    }
    // Sprig's regexMatch ignores a pattern that does not compile (mustRegexMatch fails).
    if name == "regexMatch" && super::goregex::compile(&s(&a, 0)).is_err() {
        return Ok(Value::Bool(false));
    }
    let name = canonical(name);
    if let Some(r) = helm(ex, name, &a) {
        return r;
    }
    if let Some(r) = builtin(name, &a) {
        return r.map_err(|f| wrap(name, f));
    }
    if let Some(r) = strings(name, &a)
        .or_else(|| lists(name, &a))
        .or_else(|| dicts(name, &a))
        .or_else(|| numbers(name, &a))
        .or_else(|| encoding(name, &a))
        .or_else(|| super::crypto::call(name, &a))
        .or_else(|| super::sprig_more::call(name, &a))
        .or_else(|| super::extra::call(name, &a))
    {
        return r.map_err(|f| wrap(name, f));
    }
    err(format!("function {name:?} not defined"))
}

/// `mustFoo` is `foo`, which already fails instead of returning a default.
fn canonical(name: &str) -> &str {
    match name {
        "mustToJson" => "toJson",
        "mustToYaml" => "toYaml",
        "mustFromJson" => "fromJson",
        "mustToPrettyJson" => "toPrettyJson",
        "mustToRawJson" => "toRawJson",
        "mustRegexMatch" => "regexMatch",
        "mustRegexFind" => "regexFind",
        "mustRegexFindAll" => "regexFindAll",
        "mustRegexReplaceAll" => "regexReplaceAll",
        "mustRegexReplaceAllLiteral" => "regexReplaceAllLiteral",
        "mustRegexSplit" => "regexSplit",
        "mustMerge" => "merge",
        "mustMergeOverwrite" => "mergeOverwrite",
        "mustAppend" => "append",
        "mustPush" => "push",
        "mustPrepend" => "prepend",
        "mustFirst" => "first",
        "mustLast" => "last",
        "mustRest" => "rest",
        "mustInitial" => "initial",
        "mustUniq" => "uniq",
        "mustWithout" => "without",
        "mustHas" => "has",
        "mustCompact" => "compact",
        "mustReverse" => "reverse",
        "mustSlice" => "slice",
        "mustDeepCopy" => "deepCopy",
        "push" => "append",
        "mustChunk" => "chunk",
        "biggest" => "max",
        // Sprig's filepath functions are its path functions on Linux.
        "osBase" => "base",
        "osDir" => "dir",
        "osExt" => "ext",
        "osClean" => "clean",
        "osIsAbs" => "isAbs",
        "date_in_zone" => "dateInZone",
        "date_modify" => "dateModify",
        "must_date_modify" => "mustDateModify",
        _ => name,
    }
}

fn wrap(name: &str, f: Fail) -> Fail {
    match f {
        Fail::Msg(m) if !m.starts_with("error calling") => {
            Fail::Msg(format!("error calling {name}: {m}"))
        }
        other => other,
    }
}

/// Sprig's `strval`.
fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        v => v.go_string(),
    }
}

/// A string parameter; nil (a missing value) reads as "".
fn s(a: &[Value], i: usize) -> String {
    match a.get(i) {
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Nil) | None => String::new(),
        Some(v) => v.go_string(),
    }
}

/// `cast.ToInt64`: numbers truncate, strings parse (0 when they do not), bools are 0/1.
pub fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => *b as i64,
        Value::Str(s) => cast_int(s),
        _ => 0,
    }
}

/// `cast.ToInt64` of a string: `strconv.ParseInt(s, 0, 0)` after dropping a
/// trailing `.0`, so `0x10` is 16, `0777` is 511 and `1e3` or `1.5` are 0.
fn cast_int(s: &str) -> i64 {
    let t = match s.split_once('.') {
        Some((int, frac)) if frac.bytes().all(|b| b == b'0') => int,
        _ => s,
    };
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let body = body.replace('_', "");
    let lower = body.to_ascii_lowercase();
    let parsed = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16)
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2)
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8)
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8)
    } else {
        lower.parse::<i64>()
    };
    parsed.map(|v| if neg { -v } else { v }).unwrap_or(0)
}

/// Go's `path.Base`.
fn go_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// goutils.Uncapitalize: the first letter of each space-separated word lowered.
fn uncapitalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && !c.is_whitespace() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        at_start = c.is_whitespace();
    }
    out
}

/// Go's base64 error text.
fn go_base64_error(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        base64::DecodeError::InvalidLength(at) => format!("illegal base64 data at input byte {at}"),
        base64::DecodeError::InvalidPadding => "illegal base64 data at input byte 0".into(),
    }
}

fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => *b as i64 as f64,
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn n(a: &[Value], i: usize) -> i64 {
    a.get(i).map_or(0, to_i64)
}

fn want(name: &str, a: &[Value], k: usize) -> Result<(), Fail> {
    if a.len() < k {
        return err(format!(
            "wrong number of args for {name}: want {k} got {}",
            a.len()
        ));
    }
    Ok(())
}

/// Functions that need the executing template.
fn helm(ex: &mut Exec, name: &str, a: &[Value]) -> Option<R> {
    Some(match name {
        "include" => want(name, a, 1).and_then(|_| {
            let tname = s(a, 0);
            ex.include(&tname, a.get(1).cloned().unwrap_or_default())
                .map(Value::Str)
        }),
        "tpl" => want(name, a, 2)
            .and_then(|_| ex.tpl(&s(a, 0), a[1].clone()).map(Value::Str))
            .map_err(|f| wrap("tpl", f)),
        "required" => want(name, a, 2).and_then(|_| match &a[1] {
            Value::Nil => err(helm_err(name, &s(a, 0))),
            Value::Str(x) if x.is_empty() => err(helm_err(name, &s(a, 0))),
            v => Ok(v.clone()),
        }),
        "fail" => err(helm_err(name, &s(a, 0))),
        "lookup" => Ok(Value::map(BTreeMap::new())),
        _ => return None,
    })
}

/// Go's `text/template` built-ins.
/// `required`'s and `fail`'s message, marked as Helm's engine marks it.
fn helm_err(name: &str, msg: &str) -> String {
    use super::{ERR_END, ERR_START};
    format!("error calling {name}: {ERR_START}{msg}{ERR_END}")
}

fn builtin(name: &str, a: &[Value]) -> Option<R> {
    Some(match name {
        "not" => Ok(Value::Bool(!a.first().is_some_and(Value::truthy))),
        "len" => match a.first() {
            Some(Value::Str(s)) => Ok(Value::Int(s.len() as i64)),
            Some(Value::Bytes(b)) => Ok(Value::Int(b.len() as i64)),
            Some(Value::List(l)) => Ok(Value::Int(l.len() as i64)),
            Some(Value::Map(m)) => Ok(Value::Int(m.borrow().len() as i64)),
            Some(Value::Files(f)) => Ok(Value::Int(f.len() as i64)),
            Some(Value::ApiVersions(v)) => Ok(Value::Int(v.len() as i64)),
            Some(Value::Nil) | None => err("len of nil pointer"),
            Some(v) => err(format!("len of type {}", v.type_name())),
        },
        "index" => index(a),
        "slice" => slice(a),
        "print" => Ok(Value::Str(go_print(a))),
        "println" => Ok(Value::Str(
            a.iter().map(Value::go_string).collect::<Vec<_>>().join(" ") + "\n",
        )),
        "printf" => Ok(Value::Str(sprintf(&s(a, 0), a.get(1..).unwrap_or(&[])))),
        "html" | "js" | "urlquery" => Ok(Value::Str(escape(name, &go_print(a)))),
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => super::compare::call(name, a),
        _ => return None,
    })
}

/// `fmt.Sprint`: spaces only between operands when neither is a string.
fn go_print(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&v.go_string());
    }
    out
}

fn escape(kind: &str, s: &str) -> String {
    match kind {
        "html" => s
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;"),
        "js" => s
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('"', "\\\"")
            .replace('<', "\\u003C")
            .replace('>', "\\u003E"),
        _ => url::form_urlencoded::byte_serialize(s.as_bytes()).collect(),
    }
}

fn index(a: &[Value]) -> R {
    let mut cur = a.first().cloned().unwrap_or_default();
    for k in a.iter().skip(1) {
        cur = match (&cur, k) {
            (Value::Map(m), k) => m.borrow().get(&strval(k)).cloned().unwrap_or_default(),
            (Value::List(_) | Value::Str(_), Value::Float(_) | Value::Str(_) | Value::Bool(_)) => {
                return err(format!(
                    "error calling index: cannot index slice/array with type {}",
                    k.type_name()
                ));
            }
            (Value::List(l), k) => {
                let i = to_i64(k);
                match l.get(i as usize) {
                    Some(v) if i >= 0 => v.clone(),
                    _ => return err(format!("error calling index: index out of range: {i}")),
                }
            }
            // A Go string indexes to its byte.
            (Value::Str(st), k) => {
                let i = to_i64(k);
                match st.as_bytes().get(i as usize) {
                    Some(b) if i >= 0 => Value::Int(i64::from(*b)),
                    _ => return err(format!("error calling index: index out of range: {i}")),
                }
            }
            (Value::Nil, _) => return err("error calling index: index of untyped nil"),
            (v, _) => {
                return err(format!(
                    "error calling index: can't index item of type {}",
                    v.type_name()
                ));
            }
        };
    }
    Ok(cur)
}

fn slice(a: &[Value]) -> R {
    let lo = a.get(1).map_or(0, to_i64).max(0) as usize;
    match a.first() {
        Some(Value::List(l)) => {
            let hi = a
                .get(2)
                .map_or(l.len(), |v| to_i64(v) as usize)
                .min(l.len());
            Ok(Value::list(l[lo.min(hi)..hi].to_vec()))
        }
        Some(v) => err(format!(
            "error calling slice: list should be type of slice or array but {}",
            v.kind()
        )),
        None => err("error calling slice: cannot slice"),
    }
}

/// Equality as charts expect it: numbers compare by value whatever their type.
pub fn equal(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            to_f64(x) == to_f64(y)
        }
        (Value::List(a), Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(p, q)| equal(p, q))
        }
        (Value::Map(a), Value::Map(b)) => {
            let (a, b) = (a.borrow(), b.borrow());
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => false,
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// Words as xstrings splits them for the case conversions: at non-alphanumerics,
/// before an upper-case letter after a lower-case one or a digit, and before the
/// last capital of an acronym (`HTTPServer` is `HTTP` `Server`).
fn words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_uppercase() && !cur.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn regex(p: &str) -> Result<regex::Regex, Fail> {
    // Go's RE2 dialect, rewritten where the regex crate differs.
    super::goregex::compile(p).map_err(|e| Fail::Msg(format!("error parsing regexp: {e}")))
}

/// Go's `${1}`/`$1` expansion differs from Rust's only in that `$1x` means the group `1x`
/// in both; they agree for charts' uses.
fn strings(name: &str, a: &[Value]) -> Option<R> {
    let s0 = || s(a, 0);
    let st = |x: String| Ok(Value::Str(x));
    Some(match name {
        "upper" => st(s0().to_uppercase()),
        "lower" => st(s0().to_lowercase()),
        "title" => st(title(&s0())),
        "untitle" => st(uncapitalize(&s0())),
        "trim" => st(s0().trim().to_string()),
        "trimAll" => st(s(a, 1).trim_matches(|c| s0().contains(c)).to_string()),
        "trimPrefix" => st(s(a, 1)
            .strip_prefix(&s0())
            .map(str::to_string)
            .unwrap_or_else(|| s(a, 1))),
        "trimSuffix" => st(s(a, 1)
            .strip_suffix(&s0())
            .map(str::to_string)
            .unwrap_or_else(|| s(a, 1))),
        "replace" => st(s(a, 2).replace(&s0(), &s(a, 1))),
        "contains" => Ok(Value::Bool(s(a, 1).contains(&s0()))),
        "hasPrefix" => Ok(Value::Bool(s(a, 1).starts_with(&s0()))),
        "hasSuffix" => Ok(Value::Bool(s(a, 1).ends_with(&s0()))),
        "trunc" => st(trunc(n(a, 0), &s(a, 1))),
        "nospace" => st(s0().chars().filter(|c| !c.is_whitespace()).collect()),
        "indent" => st(indent(n(a, 0), &s(a, 1))),
        "nindent" => st(format!("\n{}", indent(n(a, 0), &s(a, 1)))),
        "repeat" => st(s(a, 1).repeat(n(a, 0).max(0) as usize)),
        "substr" => substr(n(a, 0), n(a, 1), &s(a, 2)).map(Value::Str),
        "quote" => st(a
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(|v| go_quote(&strval(v)))
            .collect::<Vec<_>>()
            .join(" ")),
        "squote" => st(a
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(|v| format!("'{}'", strval(v)))
            .collect::<Vec<_>>()
            .join(" ")),
        "cat" => st(a
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(strval)
            .collect::<Vec<_>>()
            .join(" ")),
        "toString" => st(match a.first() {
            Some(v) => strval(v),
            None => String::new(),
        }),
        "abbrev" => st({
            let (w, x) = (n(a, 0) as usize, s(a, 1));
            if x.chars().count() <= w || w < 4 {
                x
            } else {
                x.chars().take(w - 3).collect::<String>() + "..."
            }
        }),
        "camelcase" => st(words(&s0())
            .iter()
            .map(|w| title(&w.to_lowercase()))
            .collect()),
        "snakecase" => st(words(&s0())
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join("_")),
        "kebabcase" => st(words(&s0())
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join("-")),
        "plural" => st(if n(a, 2) == 1 { s0() } else { s(a, 1) }),
        "split" => Ok(Value::map(
            s(a, 1)
                .split(&s0())
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                .collect(),
        )),
        "splitList" => Ok(Value::list(s(a, 1).split(&s0()).map(Value::str).collect())),
        "splitn" => Ok(Value::map(
            s(a, 2)
                .splitn(n(a, 1).max(1) as usize, &s0())
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                .collect(),
        )),
        "join" => st(match a.get(1) {
            Some(Value::List(l)) => l
                .iter()
                .filter(|v| !matches!(v, Value::Nil))
                .map(strval)
                .collect::<Vec<_>>()
                .join(&s0()),
            Some(v) => strval(v),
            None => String::new(),
        }),
        "regexMatch" => regex(&s0()).map(|r| Value::Bool(r.is_match(&s(a, 1)))),
        "regexFind" => {
            regex(&s0()).map(|r| Value::str(r.find(&s(a, 1)).map_or("", |m| m.as_str())))
        }
        "regexFindAll" => regex(&s0()).map(|r| {
            let hay = s(a, 1);
            let lim = n(a, 2);
            let all = r.find_iter(&hay).map(|m| Value::str(m.as_str()));
            Value::list(if lim < 0 {
                all.collect()
            } else {
                all.take(lim as usize).collect()
            })
        }),
        "regexReplaceAll" => {
            regex(&s0()).map(|r| Value::Str(r.replace_all(&s(a, 1), s(a, 2).as_str()).into_owned()))
        }
        "regexReplaceAllLiteral" => regex(&s0()).map(|r| {
            Value::Str(
                r.replace_all(&s(a, 1), regex::NoExpand(&s(a, 2)))
                    .into_owned(),
            )
        }),
        "regexSplit" => regex(&s0()).map(|r| {
            let hay = s(a, 1);
            Value::list(match n(a, 2) {
                0 => Vec::new(),
                k if k < 0 => r.split(&hay).map(Value::str).collect(),
                k => r.splitn(&hay, k as usize).map(Value::str).collect(),
            })
        }),
        "base" => st(go_base(&s0())),
        "dir" => st(s0().rsplit_once('/').map_or(".".into(), |(d, _)| {
            if d.is_empty() {
                "/".into()
            } else {
                d.to_string()
            }
        })),
        "ext" => st(s0()
            .rsplit_once('.')
            .filter(|(_, e)| !e.contains('/'))
            .map_or(String::new(), |(_, e)| format!(".{e}"))),
        _ => return None,
    })
}

fn trunc(n: i64, s: &str) -> String {
    let len = s.len() as i64;
    if n < 0 && -n < len {
        s.get((len + n) as usize..).unwrap_or(s).to_string()
    } else if n >= 0 && n < len {
        s.get(..n as usize).unwrap_or(s).to_string()
    } else {
        s.to_string()
    }
}

/// Sprig's `substr`, which slices as Go does and fails where Go's slicing panics.
fn substr(start: i64, end: i64, s: &str) -> Result<String, Fail> {
    let len = s.len() as i64;
    let (lo, hi) = if start < 0 {
        if end > len || end < 0 {
            return err(format!(
                "runtime error: slice bounds out of range [:{end}] with length {len}"
            ));
        }
        (0, end)
    } else if end < 0 || end > len {
        if start > len {
            return err(format!(
                "runtime error: slice bounds out of range [{start}:{len}]"
            ));
        }
        (start, len)
    } else if start > end {
        return err(format!(
            "runtime error: slice bounds out of range [{start}:{end}]"
        ));
    } else {
        (start, end)
    };
    Ok(String::from_utf8_lossy(&s.as_bytes()[lo as usize..hi as usize]).into_owned())
}

fn as_list(v: Option<&Value>) -> Result<Rc<Vec<Value>>, Fail> {
    match v {
        Some(Value::List(l)) => Ok(l.clone()),
        Some(Value::Nil) | None => Ok(Rc::new(Vec::new())),
        Some(v) => err(format!("cannot find first on type {}", v.type_name())),
    }
}

fn lists(name: &str, a: &[Value]) -> Option<R> {
    let l = || as_list(a.first());
    let lv = |v: Vec<Value>| Ok(Value::list(v));
    Some(match name {
        "list" => lv(a.to_vec()),
        "tuple" => lv(a.to_vec()),
        "first" => l().map(|l| l.first().cloned().unwrap_or_default()),
        "last" => l().map(|l| l.last().cloned().unwrap_or_default()),
        "rest" => l().and_then(|l| lv(l.iter().skip(1).cloned().collect())),
        "initial" => l().and_then(|l| lv(l[..l.len().saturating_sub(1)].to_vec())),
        "append" => l().and_then(|l| lv(l.iter().cloned().chain(a.get(1).cloned()).collect())),
        "prepend" => l().and_then(|l| {
            lv(a.get(1)
                .cloned()
                .into_iter()
                .chain(l.iter().cloned())
                .collect())
        }),
        "concat" => {
            let mut out = Vec::new();
            for x in a {
                out.extend(as_list(Some(x)).map(|l| l.to_vec()).unwrap_or_default());
            }
            lv(out)
        }
        "reverse" => l().and_then(|l| lv(l.iter().rev().cloned().collect())),
        "uniq" => l().and_then(|l| {
            let mut out: Vec<Value> = Vec::new();
            for v in l.iter() {
                if !out.iter().any(|o| equal(o, v)) {
                    out.push(v.clone());
                }
            }
            lv(out)
        }),
        "without" => l().and_then(|l| {
            lv(l.iter()
                .filter(|v| !a[1..].iter().any(|w| equal(v, w)))
                .cloned()
                .collect())
        }),
        "has" => Ok(Value::Bool(
            as_list(a.get(1))
                .map(|l| l.iter().any(|v| equal(v, &a[0])))
                .unwrap_or(false),
        )),
        "compact" => l().and_then(|l| lv(l.iter().filter(|v| v.truthy()).cloned().collect())),
        "sortAlpha" => l().and_then(|l| {
            let mut v: Vec<String> = l.iter().map(strval).collect();
            v.sort();
            lv(v.into_iter().map(Value::Str).collect())
        }),
        "toStrings" => l().and_then(|l| {
            lv(l.iter()
                .filter(|v| !matches!(v, Value::Nil))
                .map(|v| Value::Str(strval(v)))
                .collect())
        }),
        "until" => lv((0..n(a, 0)).map(Value::Int).collect()),
        "untilStep" => {
            let (start, stop, step) = (n(a, 0), n(a, 1), n(a, 2));
            let mut out = Vec::new();
            let mut i = start;
            while step != 0
                && ((step > 0 && i < stop) || (step < 0 && i > stop))
                && out.len() < 1_000_000
            {
                out.push(Value::Int(i));
                i += step;
            }
            lv(out)
        }
        "seq" => Ok(Value::Str(seq(a))),
        _ => return None,
    })
}

fn seq(a: &[Value]) -> String {
    let (start, step, end) = match a.len() {
        1 => (1, 1, n(a, 0)),
        2 => (n(a, 0), if n(a, 0) <= n(a, 1) { 1 } else { -1 }, n(a, 1)),
        _ => (n(a, 0), n(a, 1), n(a, 2)),
    };
    let mut out = Vec::new();
    let mut i = start;
    while step != 0 && ((step > 0 && i <= end) || (step < 0 && i >= end)) && out.len() < 1_000_000 {
        out.push(i.to_string());
        i += step;
    }
    out.join(" ")
}

fn as_map(v: Option<&Value>, fname: &str) -> Result<super::value::Map, Fail> {
    match v {
        Some(Value::Map(m)) => Ok(m.clone()),
        // Go passes a nil (literal or pipeline result) as a nil map, which reads as empty.
        Some(Value::Nil) => Ok(super::value::Map::default()),
        Some(v) => err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {} (in {fname})",
            v.type_name()
        )),
        None => err(format!("wrong number of args for {fname}")),
    }
}

/// Sprig's `merge` (dst wins unless empty) / `mergeOverwrite` (src wins), recursing
/// into maps, as mergo does.
fn merge_into(dst: &super::value::Map, src: &super::value::Map, overwrite: bool) {
    let src = src.borrow().clone();
    for (k, sv) in src {
        let dv = dst.borrow().get(&k).cloned();
        match (dv, &sv) {
            (Some(Value::Map(d)), Value::Map(s)) if !Rc::ptr_eq(&d, s) => {
                merge_into(&d, s, overwrite)
            }
            // mergo without override fills only dst's empty values (0, "", false, nil,
            // empty collections), and never with nil.
            (Some(d), _) if !overwrite && d.truthy() => {}
            (_, Value::Nil) => {}
            _ => {
                dst.borrow_mut().insert(k, sv.deep_copy());
            }
        }
    }
}

fn dicts(name: &str, a: &[Value]) -> Option<R> {
    Some(match name {
        // A key without a value gets "", as Sprig's `dict` does.
        "dict" => Ok(Value::map(
            a.chunks(2)
                .map(|c| (strval(&c[0]), c.get(1).cloned().unwrap_or(Value::str(""))))
                .collect(),
        )),
        "set" => as_map(a.first(), name).map(|m| {
            m.borrow_mut()
                .insert(s(a, 1), a.get(2).cloned().unwrap_or_default());
            Value::Map(m)
        }),
        "unset" => as_map(a.first(), name).map(|m| {
            m.borrow_mut().remove(&s(a, 1));
            Value::Map(m)
        }),
        "hasKey" => as_map(a.first(), name).map(|m| Value::Bool(m.borrow().contains_key(&s(a, 1)))),
        "get" => as_map(a.first(), name)
            .map(|m| m.borrow().get(&s(a, 1)).cloned().unwrap_or(Value::str(""))),
        "keys" => {
            let mut ks = Vec::new();
            for m in a {
                ks.extend(
                    as_map(Some(m), name)
                        .map(|m| m.borrow().keys().cloned().collect::<Vec<_>>())
                        .unwrap_or_default(),
                );
            }
            Ok(Value::list(ks.into_iter().map(Value::Str).collect()))
        }
        "values" => {
            as_map(a.first(), name).map(|m| Value::list(m.borrow().values().cloned().collect()))
        }
        "pick" | "omit" => as_map(a.first(), name).map(|m| {
            let names: Vec<String> = a[1..].iter().map(strval).collect();
            let keep = |k: &String| names.contains(k) == (name == "pick");
            Value::map(
                m.borrow()
                    .iter()
                    .filter(|(k, _)| keep(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }),
        "pluck" => Ok(Value::list(
            a[1..]
                .iter()
                .filter_map(|m| match m {
                    Value::Map(m) => m.borrow().get(&s(a, 0)).cloned(),
                    _ => None,
                })
                .collect(),
        )),
        "dig" => dig(a),
        "merge" | "mergeOverwrite" => as_map(a.first(), name).map(|dst| {
            for src in &a[1..] {
                if let Value::Map(s) = src {
                    merge_into(&dst, s, name == "mergeOverwrite");
                }
            }
            Value::Map(dst)
        }),
        "deepCopy" => Ok(a.first().map(Value::deep_copy).unwrap_or_default()),
        "empty" => Ok(Value::Bool(!a.first().is_some_and(Value::truthy))),
        "default" => Ok(match a.get(1) {
            Some(v) if v.truthy() => v.clone(),
            _ => a.first().cloned().unwrap_or_default(),
        }),
        "coalesce" => Ok(a.iter().find(|v| v.truthy()).cloned().unwrap_or_default()),
        "all" => Ok(Value::Bool(a.iter().all(Value::truthy))),
        "any" => Ok(Value::Bool(a.iter().any(Value::truthy))),
        "ternary" => Ok(if a.get(2).is_some_and(Value::truthy) {
            a[0].clone()
        } else {
            a.get(1).cloned().unwrap_or_default()
        }),
        "kindOf" => Ok(Value::str(a.first().map_or("invalid", Value::kind))),
        "kindIs" => Ok(Value::Bool(
            a.get(1).map_or("invalid", Value::kind) == s(a, 0),
        )),
        "typeOf" => Ok(Value::str(a.first().map_or("<nil>", Value::type_name))),
        "typeIs" | "typeIsLike" => Ok(Value::Bool(
            a.get(1).map_or("<nil>", Value::type_name) == s(a, 0),
        )),
        "deepEqual" => Ok(Value::Bool(a.len() == 2 && equal(&a[0], &a[1]))),
        _ => return None,
    })
}

/// `dig "a" "b" DEFAULT DICT`
fn dig(a: &[Value]) -> R {
    if a.len() < 3 {
        return err("dig needs at least three arguments");
    }
    let (keys, rest) = a.split_at(a.len() - 2);
    let mut cur = rest[1].clone();
    for k in keys {
        cur = match cur.get(&strval(k)) {
            Value::Nil => return Ok(rest[0].clone()),
            v => v,
        };
    }
    Ok(cur)
}

fn int_or_float(a: &[Value], fi: fn(i64, i64) -> Option<i64>) -> R {
    let mut acc = n(a, 0);
    for v in &a[1..] {
        acc = fi(acc, to_i64(v)).ok_or_else(|| Fail::Msg("integer divide by zero".into()))?;
    }
    Ok(Value::Int(acc))
}

fn numbers(name: &str, a: &[Value]) -> Option<R> {
    let f = |x: f64| Ok(Value::Float(x));
    Some(match name {
        "add" => Ok(Value::Int(a.iter().map(to_i64).sum())),
        "add1" => Ok(Value::Int(n(a, 0) + 1)),
        "sub" => int_or_float(a, |x, y| Some(x - y)),
        "mul" => Ok(Value::Int(a.iter().map(to_i64).product())),
        "div" => int_or_float(a, |x, y| x.checked_div(y)),
        "mod" => int_or_float(a, |x, y| x.checked_rem(y)),
        "max" => Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0))),
        "min" => Ok(Value::Int(a.iter().map(to_i64).min().unwrap_or(0))),
        "addf" => f(a.iter().map(to_f64).sum()),
        "subf" => f(a
            .iter()
            .skip(1)
            .fold(a.first().map_or(0.0, to_f64), |x, y| x - to_f64(y))),
        "mulf" => f(a.iter().map(to_f64).product()),
        "divf" => f(a
            .iter()
            .skip(1)
            .fold(a.first().map_or(0.0, to_f64), |x, y| x / to_f64(y))),
        "maxf" => f(a.iter().map(to_f64).fold(f64::MIN, f64::max)),
        "minf" => f(a.iter().map(to_f64).fold(f64::MAX, f64::min)),
        "floor" => f(a.first().map_or(0.0, to_f64).floor()),
        "ceil" => f(a.first().map_or(0.0, to_f64).ceil()),
        "round" => {
            let p = 10f64.powi(n(a, 1) as i32);
            f((a.first().map_or(0.0, to_f64) * p).round() / p)
        }
        "int" | "int64" | "atoi" => Ok(Value::Int(a.first().map_or(0, to_i64))),
        "float64" => f(a.first().map_or(0.0, to_f64)),
        // Sprig reads the text as octal.
        "toDecimal" => Ok(Value::Int(
            i64::from_str_radix(&strval(a.first().unwrap_or(&Value::Nil)), 8).unwrap_or(0),
        )),
        "semverCompare" => semver_compare(&s(a, 0), &s(a, 1)).map(Value::Bool),
        "semver" => semver_value(&s(a, 0)),
        _ => return None,
    })
}

/// Helm's `semverCompare` (Masterminds semver): a leading `v` and missing minor/patch are allowed.
pub fn semver_compare(constraint: &str, version: &str) -> Result<bool, Fail> {
    let v = loose_version(version).ok_or_else(|| {
        Fail::Msg(format!(
            "error calling semverCompare: invalid semantic version {version:?}"
        ))
    })?;
    let req = crate::repo::parse_constraint(constraint)
        .map_err(|e| Fail::Msg(format!("error calling semverCompare: {e}")))?;
    Ok(req.matches_loose(&v))
}

/// Parses `v1.2`, `1.2.3-rc.1+build`, `v1.28.0-gke.1`, filling in missing parts.
pub fn loose_version(v: &str) -> Option<semver::Version> {
    let v = v.trim().trim_start_matches(['v', 'V']);
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let mut parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    while parts.len() < 3 {
        parts.push("0");
    }
    let norm: Vec<String> = parts
        .iter()
        .map(|p| p.parse::<u64>().map(|n| n.to_string()).unwrap_or_default())
        .collect();
    semver::Version::parse(&format!("{}{}", norm.join("."), rest)).ok()
}

fn semver_value(v: &str) -> R {
    let ver =
        loose_version(v).ok_or_else(|| Fail::Msg(format!("invalid semantic version {v:?}")))?;
    let mut m = BTreeMap::new();
    m.insert("Major".to_string(), Value::Int(ver.major as i64));
    m.insert("Minor".to_string(), Value::Int(ver.minor as i64));
    m.insert("Patch".to_string(), Value::Int(ver.patch as i64));
    m.insert("Prerelease".to_string(), Value::Str(ver.pre.to_string()));
    m.insert("Metadata".to_string(), Value::Str(ver.build.to_string()));
    m.insert("Original".to_string(), Value::str(v));
    Ok(Value::map(m))
}

fn json(v: &Value, pretty: bool, raw: bool) -> String {
    super::gojson::marshal(v, pretty, !raw)
}

/// `json.Unmarshal` into a map (or a slice), with Go's messages for the usual errors.
fn from_json_as(text: &str, want_list: bool) -> Result<Value, String> {
    let j: serde_json::Value = serde_json::from_str(text).map_err(|e| go_json_error(text, &e))?;
    let kind = match &j {
        serde_json::Value::Object(_) if !want_list => return Ok(Value::from_json(&j)),
        serde_json::Value::Array(_) if want_list => return Ok(Value::from_json(&j)),
        serde_json::Value::Null => return Ok(Value::from_json(&j)),
        serde_json::Value::Object(_) => "object",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
    };
    let target = if want_list {
        "[]interface {}"
    } else {
        "map[string]interface {}"
    };
    Err(format!(
        "json: cannot unmarshal {kind} into Go value of type {target}"
    ))
}

fn go_json_error(text: &str, e: &serde_json::Error) -> String {
    if e.is_eof() {
        return "unexpected end of JSON input".into();
    }
    // serde's column is 1-based; the offending character is Go's subject.
    let offset: usize = text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum::<usize>()
        + e.column().saturating_sub(1);
    match text.get(offset..).and_then(|t| t.chars().next()) {
        Some(c) => format!("invalid character {c:?} looking for beginning of value"),
        None => e.to_string(),
    }
}

fn from_yaml_value(text: &str, want_list: bool) -> Value {
    // sigs.k8s.io/yaml reads only the first document of a stream.
    match super::yaml11::parse(super::bytes::first_document(text)) {
        Ok(y) => match y {
            Value::Nil if want_list => Value::list(Vec::new()),
            Value::Nil => Value::map(BTreeMap::new()),
            v => v,
        },
        Err(e) if want_list => Value::list(vec![Value::Str(e.to_string())]),
        Err(e) => Value::map([("Error".to_string(), Value::Str(e.to_string()))].into()),
    }
}

fn encoding(name: &str, a: &[Value]) -> Option<R> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let v0 = || a.first().cloned().unwrap_or_default();
    let st = |x: String| Ok(Value::Str(x));
    Some(match name {
        "toYaml" => st(to_yaml(&v0()).trim_end_matches('\n').to_string()),
        "toYamlPretty" => st(super::yaml::to_yaml_with(&v0(), true)
            .trim_end_matches('\n')
            .to_string()),
        "fromYaml" => Ok(from_yaml_value(&s(a, 0), false)),
        "fromYamlArray" => Ok(from_yaml_value(&s(a, 0), true)),
        "toJson" => st(json(&v0(), false, false)),
        "toPrettyJson" => st(json(&v0(), true, false)),
        "toRawJson" => st(json(&v0(), false, true)),
        "fromJson" => Ok(match from_json_as(&s(a, 0), false) {
            Ok(v) => v,
            Err(e) => Value::map([("Error".to_string(), Value::Str(e))].into()),
        }),
        "fromJsonArray" => {
            Ok(from_json_as(&s(a, 0), true).unwrap_or_else(|e| Value::list(vec![Value::Str(e)])))
        }
        "b64enc" => st(b64.encode(super::bytes::raw(a.first()))),
        "b64dec" => st(b64
            .decode(s(a, 0))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| go_base64_error(&e))),
        "sha256sum" => st(hex::encode(sha2::Sha256::digest(super::bytes::raw(
            a.first(),
        )))),
        "sha512sum" => st(hex::encode(sha2::Sha512::digest(super::bytes::raw(
            a.first(),
        )))),
        "sha1sum" => st(hex::encode(sha1(&super::bytes::raw(a.first())))),
        "adler32sum" => st(adler32(&super::bytes::raw(a.first())).to_string()),
        "regexQuoteMeta" => st(super::goregex::quote_meta(&s(a, 0))),
        "urlParse" => url_parse(&s(a, 0)),
        "randAlphaNum" | "randAlpha" | "randNumeric" | "randAscii" => {
            st(pseudo_random(name, n(a, 0)))
        }
        _ => return None,
    })
}

/// Random strings (generated passwords) never name an image, so a cheap generator
/// seeded from the clock is enough.
fn pseudo_random(kind: &str, len: i64) -> String {
    let alphabet: &[u8] = match kind {
        "randAlpha" => b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "randNumeric" => b"0123456789",
        _ => b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    };
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    (0..len.max(0))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize] as char
        })
        .collect()
}

/// `.Files` methods.
pub fn files_method(files: &Rc<BTreeMap<String, Vec<u8>>>, name: &str, a: Vec<Value>) -> R {
    let path = s(&a, 0);
    let text = |p: &str| {
        files
            .get(p)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    match name {
        // A file that is not UTF-8 keeps its bytes, as Go's strings do.
        "Get" | "GetBytes" => Ok(files
            .get(&path)
            .map_or_else(|| Value::str(""), |b| super::bytes::value(b))),
        "Lines" => {
            // Helm drops one trailing newline before splitting.
            let t = text(&path);
            let t = t.strip_suffix('\n').unwrap_or(&t);
            if t.is_empty() && !files.contains_key(&path) {
                return Ok(Value::list(Vec::new()));
            }
            Ok(Value::list(t.split('\n').map(Value::str).collect()))
        }
        "Glob" => {
            let re = glob_regex(&path)?;
            Ok(Value::Files(Rc::new(
                files
                    .iter()
                    .filter(|(k, _)| re.is_match(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )))
        }
        "AsConfig" | "AsSecrets" => {
            let b64 = base64::engine::general_purpose::STANDARD;
            let m = files.iter().map(|(k, v)| {
                let base = k.rsplit('/').next().unwrap_or(k).to_string();
                let body = if name == "AsSecrets" {
                    b64.encode(v)
                } else {
                    String::from_utf8_lossy(v).into_owned()
                };
                (base, Value::Str(body))
            });
            Ok(Value::Str(
                to_yaml(&Value::map(m.collect()))
                    .trim_end_matches('\n')
                    .to_string(),
            ))
        }
        _ => err(format!("can't evaluate field {name} in type chart.Files")),
    }
}

/// gobwas/glob with `/` as separator: `*` stays within a segment, `**` crosses them.
fn glob_regex(pattern: &str) -> Result<regex::Regex, Fail> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str(".*");
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '{' => re.push('('),
            '}' => re.push(')'),
            ',' => re.push('|'),
            '[' | ']' => re.push(c),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex(&re)
}

/// SHA-1 (RFC 3174), for Sprig's `sha1sum`.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, c) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Sprig's `urlParse`: the parts of a URL as a dict.
fn url_parse(s: &str) -> R {
    let u = url::Url::parse(s).map_err(|e| Fail::Msg(format!("unable to parse url: {e}")))?;
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let user = match u.password() {
        Some(p) => format!("{}:{p}", u.username()),
        None => u.username().to_string(),
    };
    let parts = [
        ("scheme", u.scheme().to_string()),
        ("host", format!("{}{port}", u.host_str().unwrap_or(""))),
        ("hostname", u.host_str().unwrap_or("").to_string()),
        ("path", u.path().to_string()),
        ("query", u.query().unwrap_or("").to_string()),
        ("opaque", String::new()),
        ("fragment", u.fragment().unwrap_or("").to_string()),
        ("userinfo", user),
    ];
    Ok(Value::map(
        parts
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::Str(v)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(
            hex::encode(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(adler32(b"Wikipedia"), 300286872);
    }
}
