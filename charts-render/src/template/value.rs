//! The dynamic values templates compute with, shaped like Go's `interface{}` values
//! that Helm passes around: maps are shared and mutable (`set` changes them in
//! place, as Sprig's does), lists are immutable.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// A map with Go's reference semantics: clones share the same entries.
pub type Map = Rc<RefCell<BTreeMap<String, Value>>>;

/// One template value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Go's nil: a missing key or an explicit `null`.
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer (`--set` numbers, template constants, arithmetic results).
    Int(i64),
    /// A float (every number read from a values file, as Helm's JSON detour makes it).
    Float(f64),
    /// A complex number: only template literals such as `1+2i` make one.
    Complex(f64, f64),
    /// A string.
    Str(String),
    /// A Go string that is not UTF-8 (a binary file from `.Files.Get`).
    Bytes(Rc<Vec<u8>>),
    /// A list.
    List(Rc<Vec<Value>>),
    /// A map, keys kept sorted as Go prints and marshals them.
    Map(Map),
    /// The chart's `.Files` object.
    Files(Rc<BTreeMap<String, Vec<u8>>>),
    /// `.Capabilities.APIVersions`, which has a `Has` method.
    ApiVersions(Rc<Vec<String>>),
}

impl Value {
    /// A new map value holding `entries`.
    pub fn map(entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(RefCell::new(entries)))
    }

    /// A new list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(items))
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// Go's truth: zero values (nil, false, 0, "", empty collections) are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Complex(re, im) => *re != 0.0 || *im != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            // `.Files` is a map in Go: an empty `Files.Glob` result is false.
            Value::Files(f) => !f.is_empty(),
            Value::ApiVersions(_) => true,
        }
    }

    /// The Go kind name, as Sprig's `kindOf` reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int64",
            Value::Float(_) => "float64",
            Value::Complex(..) => "complex128",
            Value::Str(_) | Value::Bytes(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Files(_) | Value::ApiVersions(_) => "struct",
        }
    }

    /// The Go type name, as Sprig's `typeOf` reports it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int64",
            Value::Float(_) => "float64",
            Value::Complex(..) => "complex128",
            Value::Str(_) | Value::Bytes(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Files(_) => "chart.Files",
            Value::ApiVersions(_) => "chartutil.VersionSet",
        }
    }

    /// The string inside, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A map lookup; nil for anything that is not a map or lacks the key.
    pub fn get(&self, key: &str) -> Value {
        match self {
            Value::Map(m) => m.borrow().get(key).cloned().unwrap_or_default(),
            _ => Value::Nil,
        }
    }

    /// Deep copy, so the copy shares no maps with the original.
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::Map(m) => Value::map(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.deep_copy()))
                    .collect(),
            ),
            Value::List(l) => Value::list(l.iter().map(Value::deep_copy).collect()),
            v => v.clone(),
        }
    }

    /// Formats as Go's `fmt.Sprint` does (`%v`).
    pub fn go_string(&self) -> String {
        let mut s = String::new();
        self.write_go(&mut s, true);
        s
    }

    fn write_go(&self, out: &mut String, top: bool) {
        match self {
            Value::Nil if top => out.push_str("<nil>"),
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float_g(*f)),
            Value::Complex(re, im) => out.push_str(&super::number::format_complex(*re, *im)),
            Value::Str(s) => out.push_str(s),
            Value::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out, false);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out, false);
                }
                out.push(']');
            }
            Value::Files(_) => out.push_str("{}"),
            Value::ApiVersions(v) => out.push_str(&format!("{:?}", v)),
        }
    }

    /// Converts from parsed YAML. Numbers become floats, as Helm's values loader
    /// (YAML to JSON to `interface{}`) makes them.
    pub fn from_yaml(y: &yaml_serde::Value) -> Value {
        use yaml_serde::Value as Y;
        match y {
            Y::Null => Value::Nil,
            Y::Bool(b) => Value::Bool(*b),
            Y::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            Y::String(s) => Value::Str(s.clone()),
            Y::Sequence(s) => Value::list(s.iter().map(Value::from_yaml).collect()),
            Y::Mapping(m) => Value::map(
                m.iter()
                    .map(|(k, v)| (yaml_key(k), Value::from_yaml(v)))
                    .collect(),
            ),
            Y::Tagged(t) => Value::from_yaml(&t.value),
        }
    }

    /// Converts from JSON; integral numbers stay floats as in Go's `encoding/json`.
    pub fn from_json(j: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match j {
            J::Null => Value::Nil,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            J::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to JSON, as `encoding/json` would marshal it.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Nil => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => J::from(*f as i64),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            // encoding/json cannot marshal complex numbers; Sprig then prints nothing.
            Value::Complex(..) => J::Null,
            Value::Str(s) => J::String(s.clone()),
            Value::Bytes(b) => J::String(String::from_utf8_lossy(b).into_owned()),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Files(_) => J::Object(Default::default()),
            Value::ApiVersions(v) => J::Array(v.iter().map(|s| J::String(s.clone())).collect()),
        }
    }
}

/// A YAML mapping key as the string Helm's YAML-to-JSON conversion makes of it.
pub fn yaml_key(k: &yaml_serde::Value) -> String {
    match k {
        yaml_serde::Value::String(s) => s.clone(),
        yaml_serde::Value::Bool(b) => b.to_string(),
        yaml_serde::Value::Number(n) => n.to_string(),
        yaml_serde::Value::Null => "null".into(),
        other => yaml_serde::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Go's `%v` for a float64 (`strconv` shortest `%g`): the exponent form is used
/// when the exponent is below -4 or at least 6, which is why Helm prints a values
/// file's `1000000` as `1e+06`.
pub fn format_float_g(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f.is_nan() {
        return "NaN".into();
    }
    if f == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, as Go's shortest mode does.
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let (neg, digits) = mant.strip_prefix('-').map_or((false, mant), |m| (true, m));
        let sign = if exp < 0 { '-' } else { '+' };
        let abs = exp.abs();
        return format!(
            "{}{}e{}{:02}",
            if neg { "-" } else { "" },
            digits,
            sign,
            abs
        );
    }
    format!("{f}")
}
