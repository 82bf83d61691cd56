//! Sprig functions whose results depend on the clock or on randomness (dates, UUIDs,
//! random numbers). The cryptographic ones are in `crypto`.

use chrono::{DateTime, TimeZone, Utc};

use super::exec::Fail;
use super::funcs::to_i64;
use super::value::Value;

/// What a function returns.
pub(super) type R = Result<Value, Fail>;

/// Argument `i` as a string, as Sprig's `toString` reads it (nil is empty).
pub(super) fn s(a: &[Value], i: usize) -> String {
    match a.get(i) {
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Nil) | None => String::new(),
        Some(v) => v.go_string(),
    }
}

/// Functions of this module, or `None` when `name` is not one of them.
pub fn call(name: &str, a: &[Value]) -> Option<R> {
    Some(match name {
        "now" => Ok(Value::Str(go_time(Utc::now()))),
        "date" | "htmlDate" | "dateInZone" | "htmlDateInZone" => {
            let layout = if name.starts_with("html") {
                "2006-01-02".to_string()
            } else {
                s(a, 0)
            };
            let t = a.get(if name.starts_with("html") { 0 } else { 1 });
            Ok(Value::Str(format_go(&to_time(t), &layout)))
        }
        "dateModify" | "mustDateModify" => {
            let t = to_time(a.get(1));
            match super::sprig_more::parse_go_duration(&s(a, 0)) {
                Some(ns) => Ok(Value::Str(go_time(
                    t + chrono::Duration::nanoseconds(ns as i64),
                ))),
                None if name == "dateModify" => Ok(Value::Str(go_time(t))),
                None => Err(Fail::Msg(format!("time: invalid duration {:?}", s(a, 0)))),
            }
        }
        "ago" => {
            let since = Utc::now() - to_time(a.first());
            let secs = (since.num_milliseconds() as f64 / 1000.0).round() as i128;
            Ok(Value::Str(super::sprig_more::go_duration(
                secs * 1_000_000_000,
            )))
        }
        "unixEpoch" => Ok(Value::Str(to_time(a.first()).timestamp().to_string())),
        "toDate" | "mustToDate" => Ok(Value::Str(
            parse_go(&s(a, 0), &s(a, 1))
                .map(go_time)
                .unwrap_or_else(|| go_time(epoch())),
        )),
        "uuidv4" => Ok(Value::Str(uuid())),
        "randInt" => {
            let (lo, hi) = (
                to_i64(a.first().unwrap_or(&Value::Nil)),
                to_i64(a.get(1).unwrap_or(&Value::Nil)),
            );
            Ok(Value::Int(if hi > lo {
                lo + (random() % (hi - lo) as u64) as i64
            } else {
                lo
            }))
        }
        "getHostByName" => Ok(Value::str("")),
        _ => return None,
    })
}

fn epoch() -> DateTime<Utc> {
    Utc.timestamp_opt(0, 0).single().unwrap_or_default()
}

/// Go's `time.Time.String()` (in UTC), which is how a time reaches a template.
fn go_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string()
}

/// A time argument: what `now` printed, RFC 3339, or Unix seconds.
fn to_time(v: Option<&Value>) -> DateTime<Utc> {
    match v {
        Some(Value::Str(s)) => {
            let t = s.trim_end_matches(" UTC");
            DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f %z")
                .or_else(|_| DateTime::parse_from_rfc3339(s))
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_else(|_| epoch())
        }
        Some(v @ (Value::Int(_) | Value::Float(_))) => {
            Utc.timestamp_opt(to_i64(v), 0).single().unwrap_or_default()
        }
        _ => Utc::now(),
    }
}

/// Go layout elements and their chrono equivalents, longest first.
const LAYOUT: &[(&str, &str)] = &[
    ("January", "%B"),
    ("Monday", "%A"),
    ("2006", "%Y"),
    ("Z07:00", "%:z"),
    ("-07:00", "%:z"),
    ("-0700", "%z"),
    (".000000000", "%.9f"),
    (".000000", "%.6f"),
    (".000", "%.3f"),
    (".999999999", "%.f"),
    ("Jan", "%b"),
    ("Mon", "%a"),
    ("MST", "UTC"),
    ("01", "%m"),
    ("02", "%d"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("06", "%y"),
    ("15", "%H"),
    ("_2", "%e"),
    ("PM", "%p"),
    ("pm", "%P"),
    ("1", "%-m"),
    ("2", "%-d"),
    ("3", "%-I"),
    ("4", "%-M"),
    ("5", "%-S"),
];

fn chrono_format(layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    'outer: while let Some(c) = rest.chars().next() {
        for (go, ch) in LAYOUT {
            if let Some(r) = rest.strip_prefix(go) {
                out.push_str(ch);
                rest = r;
                continue 'outer;
            }
        }
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn format_go(t: &DateTime<Utc>, layout: &str) -> String {
    t.format(&chrono_format(layout)).to_string()
}

fn parse_go(layout: &str, value: &str) -> Option<DateTime<Utc>> {
    let f = chrono_format(layout);
    DateTime::parse_from_str(value, &f)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(value, &f)
                .ok()
                .map(|n| n.and_utc())
        })
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(value, &f)
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|n| n.and_utc())
        })
}

/// xorshift seeded from the clock and a counter: only for values no image depends on.
fn random() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut x = Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64
        ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        | 1;
    for _ in 0..4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

fn uuid() -> String {
    let h = format!("{:016x}{:016x}", random(), random());
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_layouts() {
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 15, 6, 7).single().unwrap();
        assert_eq!(
            format_go(&t, "2006-01-02T15:04:05Z07:00"),
            "2026-03-04T15:06:07+00:00"
        );
        assert_eq!(format_go(&t, "20060102"), "20260304");
        assert_eq!(
            format_go(&to_time(Some(&Value::Str(go_time(t)))), "Jan _2 2006"),
            "Mar  4 2026"
        );
        assert_eq!(
            parse_go("2006-01-02", "2024-05-06").map(|d| d.timestamp()),
            Some(1714953600)
        );
    }
}
