//! Reading YAML the way Helm does (go-yaml v2, a YAML 1.1 reader): unquoted `y`,
//! `yes`, `on`, `off`, `no`, `n` are booleans, `0755` is octal and `1_000` an integer.
//!
//! `yaml_serde` reads YAML 1.2 and does not say whether a string was quoted, but it
//! lends plain scalars straight out of the input: a lent string whose preceding byte
//! is not a quote was written unquoted, and gets the YAML 1.1 reading.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::value::Value;

/// Parses one YAML document into a template value with Helm's YAML 1.1 typing;
/// numbers become floats, as Helm's YAML-to-JSON detour makes them.
pub fn parse(text: &str) -> Result<Value, yaml_serde::Error> {
    Seed { src: text }.deserialize(yaml_serde::Deserializer::from_str(text))
}

#[derive(Clone, Copy)]
struct Seed<'s> {
    src: &'s str,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Seed<'_> {
    /// Whether `s` lies in the source right after something other than a quote.
    fn was_plain(&self, s: &str) -> bool {
        let base = self.src.as_ptr() as usize;
        let p = s.as_ptr() as usize;
        if p < base || p > base + self.src.len() {
            return false;
        }
        let off = p - base;
        off == 0 || !matches!(self.src.as_bytes()[off - 1], b'"' | b'\'')
    }
}

/// YAML 1.1 scalars that YAML 1.2 reads as strings.
fn yaml11(s: &str) -> Option<Value> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Some(Value::Bool(true)),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Some(Value::Bool(false)),
        _ => {}
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let sign = if neg { -1.0 } else { 1.0 };
    let digits = body.replace('_', "");
    let int = if let Some(b) = digits.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|c| (b'0'..=b'7').contains(&c))
    {
        i64::from_str_radix(&digits[1..], 8).ok()
    } else if body.contains('_') && digits.bytes().all(|c| c.is_ascii_digit()) && !digits.is_empty()
    {
        digits.parse().ok()
    } else if body.contains(':')
        && !body.starts_with('0')
        && body
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
    {
        body.split(':')
            .try_fold(0i64, |acc, p| p.parse::<i64>().ok().map(|n| acc * 60 + n))
    } else {
        None
    };
    int.map(|i| Value::Float(sign * i as f64))
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Float(i as f64))
    }
    fn visit_u64<E>(self, i: u64) -> Result<Value, E> {
        Ok(Value::Float(i as f64))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value, E> {
        if self.was_plain(s) {
            if let Some(v) = yaml11(s) {
                return Ok(v);
            }
        }
        Ok(Value::str(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::str(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::list(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = BTreeMap::new();
        let mut merges = Vec::new();
        while let Some(k) = map.next_key_seed(self)? {
            let v = map.next_value_seed(self)?;
            match key_string(&k).as_str() {
                "<<" => merges.push(v),
                key => {
                    m.insert(key.to_string(), v);
                }
            }
        }
        // YAML 1.1 merge keys (`<<: *base`, `<<: [*a, *b]`): explicit keys win,
        // then earlier sources.
        for source in merges {
            let maps = match source {
                Value::List(l) => l.to_vec(),
                other => vec![other],
            };
            for src in maps {
                if let Value::Map(sm) = src {
                    for (k, v) in sm.borrow().iter() {
                        m.entry(k.clone()).or_insert_with(|| v.deep_copy());
                    }
                }
            }
        }
        Ok(Value::map(m))
    }
}

/// A non-string key as Helm's YAML-to-JSON conversion spells it.
fn key_string(k: &Value) -> String {
    match k {
        Value::Str(s) => s.clone(),
        Value::Nil => "null".into(),
        Value::Float(f) => super::yaml::float(*f),
        other => other.go_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yaml_1_1_like_helm() {
        let v = parse("a: y\nb: 'y'\nc: \"on\"\nd: off\ne: 0755\nf: '0755'\ng: 1_000\nh: [x, n]\ni: 1:30\nj: plain text\n").unwrap();
        let j = v.to_json().to_string();
        assert_eq!(
            j,
            r#"{"a":true,"b":"y","c":"on","d":false,"e":493,"f":"0755","g":1000,"h":["x",false],"i":90,"j":"plain text"}"#
        );
    }

    #[test]
    fn merge_keys() {
        let v = parse("base: &b {p: 1, q: 2}\nuse:\n  <<: *b\n  q: 3\n").unwrap();
        assert_eq!(v.get("use").to_json().to_string(), r#"{"p":1,"q":3}"#);
    }
}
