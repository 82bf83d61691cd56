//! Values: reading values files, `--set`/`--set-string` expressions, and coalescing
//! in Helm's order (chart defaults < subchart defaults under their key < `-f` files
//! < `--set`), including how `global` flows from parent to subcharts.

use std::collections::BTreeMap;

use crate::template::Value;

/// A `--set` expression that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("failed parsing --set data {expr:?}: {message}")]
pub struct SetError {
    /// The expression as given.
    pub expr: String,
    /// What is wrong with it.
    pub message: String,
}

/// A new empty map value.
pub(crate) fn empty_map() -> Value {
    Value::map(BTreeMap::new())
}

/// Parses a values document; an empty document is an empty map.
pub fn parse_values(text: &str) -> Result<Value, String> {
    match crate::template::yaml11::parse(text).map_err(|e| e.to_string())? {
        Value::Nil => Ok(empty_map()),
        v @ Value::Map(_) => Ok(v),
        other => Err(format!("values must be a map, not {}", other.kind())),
    }
}

/// Deep-merges `src` into `dst`, `src` winning (how Helm merges `-f` files in order).
pub(crate) fn merge_maps(dst: &Value, src: &Value) {
    let (Value::Map(d), Value::Map(s)) = (dst, src) else {
        return;
    };
    for (k, sv) in s.borrow().iter() {
        let dv = d.borrow().get(k).cloned();
        match (dv, sv) {
            (Some(dv @ Value::Map(_)), Value::Map(_)) => merge_maps(&dv, sv),
            _ => {
                d.borrow_mut().insert(k.clone(), sv.deep_copy());
            }
        }
    }
}

/// One step of a `--set` key path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Applies one `--set` (or, with `as_string`, `--set-string`) argument, which may
/// hold several comma-separated assignments.
pub fn apply_set(target: &Value, expr: &str, as_string: bool) -> Result<(), SetError> {
    let bad = |m: &str| SetError {
        expr: expr.to_string(),
        message: m.to_string(),
    };
    for pair in split_unescaped(expr, ',', true) {
        if pair.is_empty() {
            continue;
        }
        let (key, val) =
            split_key_value(&pair).ok_or_else(|| bad(&format!("key {pair:?} has no value")))?;
        let path = key_path(&key).map_err(|m| bad(&m))?;
        let value = if val.starts_with('{') && val.ends_with('}') {
            let inner = &val[1..val.len() - 1];
            Value::list(
                split_unescaped(inner, ',', false)
                    .iter()
                    .map(|v| typed(&unescape(v), as_string))
                    .collect(),
            )
        } else {
            typed(&unescape(&val), as_string)
        };
        set_path(target, &path, value).map_err(|m| bad(&m))?;
    }
    Ok(())
}

/// Splits on `sep` not escaped by `\` (and, with `braces`, not inside `{...}`); keeps escapes.
fn split_unescaped(s: &str, sep: char, braces: bool) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let cur = out.last_mut().expect("never empty");
        match c {
            '\\' => {
                cur.push(c);
                cur.extend(chars.next());
            }
            '{' if braces => {
                depth += 1;
                cur.push(c);
            }
            '}' if braces => {
                depth -= 1;
                cur.push(c);
            }
            c if c == sep && depth == 0 => out.push(String::new()),
            c => cur.push(c),
        }
    }
    out
}

fn split_key_value(pair: &str) -> Option<(String, String)> {
    let mut escaped = false;
    for (i, c) in pair.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '=' if !escaped => return Some((pair[..i].to_string(), pair[i + 1..].to_string())),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// `a.b\.c[0].d` -> Key(a) Key(b.c) Index(0) Key(d)
fn key_path(key: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut cur = String::new();
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            '.' => {
                if !cur.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut cur)));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut cur)));
                }
                let idx: String = chars.by_ref().take_while(|c| *c != ']').collect();
                let i = idx
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("invalid index {idx:?}"))?;
                if i > 65536 {
                    return Err(format!(
                        "index of {i} is greater than maximum supported index 65536"
                    ));
                }
                steps.push(Step::Index(i));
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        steps.push(Step::Key(cur));
    }
    if steps.is_empty() {
        return Err("key is empty".into());
    }
    Ok(steps)
}

/// strvals' typing: `true`/`false`, `null`, and integers without a leading zero.
fn typed(s: &str, as_string: bool) -> Value {
    if as_string {
        return Value::str(s);
    }
    match s {
        _ if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        _ if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        _ if s.eq_ignore_ascii_case("null") => Value::Nil,
        "0" => Value::Int(0),
        _ if !s.starts_with('0') => s
            .parse::<i64>()
            .map(Value::Int)
            .unwrap_or_else(|_| Value::str(s)),
        _ => Value::str(s),
    }
}

fn set_path(target: &Value, path: &[Step], value: Value) -> Result<(), String> {
    let Value::Map(m) = target else {
        return Err("cannot set a key on a non-map".into());
    };
    let Step::Key(k) = &path[0] else {
        return Err("a path cannot start with an index".into());
    };
    if path.len() == 1 {
        m.borrow_mut().insert(k.clone(), value);
        return Ok(());
    }
    let existing = m.borrow().get(k).cloned().unwrap_or_default();
    let updated = set_in(existing, &path[1..], value)?;
    m.borrow_mut().insert(k.clone(), updated);
    Ok(())
}

/// Sets `value` at `path` inside `node`, creating maps and lists on the way.
fn set_in(node: Value, path: &[Step], value: Value) -> Result<Value, String> {
    let Some((step, rest)) = path.split_first() else {
        return Ok(value);
    };
    match step {
        Step::Key(_) => {
            let node = if matches!(node, Value::Map(_)) {
                node
            } else {
                empty_map()
            };
            set_path(&node, path, value)?;
            Ok(node)
        }
        Step::Index(i) => {
            let mut items = match node {
                Value::List(l) => l.as_ref().clone(),
                _ => Vec::new(),
            };
            if items.len() <= *i {
                items.resize(i + 1, Value::Nil);
            }
            let child = std::mem::take(&mut items[*i]);
            items[*i] = set_in(child, rest, value)?;
            Ok(Value::list(items))
        }
    }
}

/// Coalesces chart defaults into `user` (user values win; a user `null` deletes a
/// default), as `chartutil.coalesceValues` does for one chart. Under the keys of
/// subcharts (`merge_keys`) nulls are kept, so that the subchart's own pass deletes
/// its default too, as Helm does.
pub(crate) fn coalesce_defaults(user: &Value, defaults: &Value, merge_keys: &[&str]) {
    let (Value::Map(u), Value::Map(d)) = (user, defaults) else {
        return;
    };
    for (k, dv) in d.borrow().iter() {
        let uv = u.borrow().get(k).cloned();
        match uv {
            None => {
                u.borrow_mut().insert(k.clone(), dv.deep_copy());
            }
            Some(Value::Nil) => {
                u.borrow_mut().remove(k);
            }
            Some(uv @ Value::Map(_)) if matches!(dv, Value::Map(_)) => {
                merge_tables(&uv, dv, !merge_keys.contains(&k.as_str()))
            }
            Some(_) => {}
        }
    }
}

/// `coalesceTables`: fills `dst` from `src` where `dst` lacks keys; `null` in `dst` deletes.
pub(crate) fn coalesce_tables(dst: &Value, src: &Value) {
    merge_tables(dst, src, true);
}

/// `coalesceTablesFullKey`; `delete_nulls` is false in Helm's merge mode.
fn merge_tables(dst: &Value, src: &Value, delete_nulls: bool) {
    let (Value::Map(d), Value::Map(s)) = (dst, src) else {
        return;
    };
    if std::rc::Rc::ptr_eq(d, s) {
        return;
    }
    for (k, sv) in s.borrow().iter() {
        let dv = d.borrow().get(k).cloned();
        match dv {
            None => {
                d.borrow_mut().insert(k.clone(), sv.deep_copy());
            }
            Some(Value::Nil) if delete_nulls => {
                d.borrow_mut().remove(k);
            }
            Some(dv @ Value::Map(_)) if matches!(sv, Value::Map(_)) => {
                merge_tables(&dv, sv, delete_nulls)
            }
            Some(_) => {}
        }
    }
}

/// Copies the parent's `global` into a subchart's values, the parent winning.
pub(crate) fn coalesce_globals(sub: &Value, parent: &Value) {
    let Value::Map(sm) = sub else { return };
    // Helm gives every subchart a `global` table, empty when the parent has none.
    let pg = match parent.get("global") {
        Value::Map(pg) => pg,
        Value::Nil => Default::default(),
        _ => return,
    };
    let sg = match sm.borrow().get("global") {
        Some(g @ Value::Map(_)) => g.clone(),
        _ => empty_map(),
    };
    for (k, pv) in pg.borrow().iter() {
        let dv = sg.get(k);
        let merged = match (pv, &dv) {
            (Value::Map(_), Value::Map(_)) => {
                let top = pv.deep_copy();
                coalesce_tables(&top, &dv);
                top
            }
            _ => pv.deep_copy(),
        };
        if let Value::Map(g) = &sg {
            g.borrow_mut().insert(k.clone(), merged);
        }
    }
    sm.borrow_mut().insert("global".into(), sg);
}

/// Looks up a dotted path (`a.b.c`) in a values map.
pub(crate) fn lookup_path(values: &Value, path: &str) -> Value {
    path.split('.')
        .filter(|p| !p.is_empty())
        .fold(values.clone(), |v, k| v.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(exprs: &[&str]) -> String {
        let v = empty_map();
        for e in exprs {
            apply_set(&v, e, false).unwrap();
        }
        v.to_json().to_string()
    }

    #[test]
    fn set_expressions() {
        assert_eq!(set(&["a.b=1,c=true"]), r#"{"a":{"b":1},"c":true}"#);
        assert_eq!(set(&["a.b[1].c=x"]), r#"{"a":{"b":[null,{"c":"x"}]}}"#);
        assert_eq!(
            set(&["l={x,y}", "k=a\\,b", "z=007"]),
            r#"{"k":"a,b","l":["x","y"],"z":"007"}"#
        );
        assert_eq!(set(&["a\\.b=c"]), r#"{"a.b":"c"}"#);
        let v = empty_map();
        apply_set(&v, "n=1", true).unwrap();
        assert_eq!(v.to_json().to_string(), r#"{"n":"1"}"#);
        assert!(apply_set(&empty_map(), "novalue", false).is_err());
    }

    #[test]
    fn coalesce_order() {
        let user = parse_values("a: {x: 1}\nd: null\nglobal: {g: user}").unwrap();
        let defaults = parse_values("a: {x: 0, z: 2}\nd: 5\ne: 6").unwrap();
        coalesce_defaults(&user, &defaults, &[]);
        assert_eq!(
            user.to_json().to_string(),
            r#"{"a":{"x":1,"z":2},"e":6,"global":{"g":"user"}}"#
        );
        let sub = parse_values("global: {g: sub, h: 1}").unwrap();
        coalesce_globals(&sub, &user);
        assert_eq!(
            sub.get("global").to_json().to_string(),
            r#"{"g":"user","h":1}"#
        );
    }
}
