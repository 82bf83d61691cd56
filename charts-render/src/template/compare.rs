//! Go `text/template`'s comparison functions (`eq ne lt le gt ge`): values
//! compare only within one basic kind (bool, int, float, complex, string), so
//! `eq 1 1.0` is "incompatible types for comparison", as in Go; `eq` takes several
//! right-hand arguments and is true if any equals the first.

use super::exec::Fail;
use super::gofmt::sprintf;
use super::value::Value;

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Complex,
    Str,
    /// Maps, lists, nil and Helm's objects: Go's `invalidKind`.
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Complex(..) => Kind::Complex,
        Value::Str(_) | Value::Bytes(_) => Kind::Str,
        _ => Kind::Other,
    }
}

const INCOMPATIBLE: &str = "incompatible types for comparison";
const INVALID: &str = "invalid type for comparison";

fn fail<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Msg(msg.into()))
}

/// `%s` of a value, as Go's error messages print it.
fn s(v: &Value) -> String {
    sprintf("%s", std::slice::from_ref(v))
}

fn same_basic(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Complex(a, b), Value::Complex(c, d)) => a == c && b == d,
        (Value::Str(_) | Value::Bytes(_), Value::Str(_) | Value::Bytes(_)) => {
            super::bytes::raw(Some(a)) == super::bytes::raw(Some(b))
        }
        _ => false,
    }
}

/// Two values of no basic kind: nil equals only nil; maps and lists cannot be
/// compared at all.
fn eq_other(a: &Value, b: &Value) -> Result<bool, Fail> {
    let nil = |v: &Value| matches!(v, Value::Nil);
    if nil(a) || nil(b) {
        return Ok(nil(a) && nil(b));
    }
    if a.type_name() != b.type_name() {
        return fail(format!(
            "non-comparable types {}: {}, {}: {}",
            s(a),
            a.type_name(),
            b.type_name(),
            b.go_string()
        ));
    }
    fail(format!("non-comparable type {}: {}", s(b), b.type_name()))
}

/// `eq arg1 arg2...`.
pub fn eq(args: &[Value]) -> Result<bool, Fail> {
    let Some((first, rest)) = args.split_first() else {
        return fail("missing argument for comparison");
    };
    if rest.is_empty() {
        return fail("missing argument for comparison");
    }
    let k1 = kind(first);
    for other in rest {
        let k2 = kind(other);
        let truth = if k1 != k2 {
            if matches!(first, Value::Nil) || matches!(other, Value::Nil) {
                false
            } else {
                return fail(INCOMPATIBLE);
            }
        } else if k1 == Kind::Other {
            eq_other(first, other)?
        } else {
            same_basic(first, other)
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `lt a b`.
pub fn lt(a: &Value, b: &Value) -> Result<bool, Fail> {
    let (k1, k2) = (kind(a), kind(b));
    if k1 == Kind::Other || k2 == Kind::Other {
        return fail(INVALID);
    }
    if k1 != k2 {
        return fail(INCOMPATIBLE);
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(_) | Value::Bytes(_), Value::Str(_) | Value::Bytes(_)) => {
            super::bytes::raw(Some(a)) < super::bytes::raw(Some(b))
        }
        _ => return fail(INVALID),
    })
}

/// Runs one of the comparison functions on its (arity-checked) arguments.
pub fn call(name: &str, a: &[Value]) -> Result<Value, Fail> {
    let truth = match name {
        "eq" => eq(a)?,
        "ne" => !eq(a)?,
        "lt" => lt(&a[0], &a[1])?,
        "le" => lt(&a[0], &a[1])? || eq(a)?,
        "gt" => !(lt(&a[0], &a[1])? || eq(a)?),
        _ => !lt(&a[0], &a[1])?,
    };
    Ok(Value::Bool(truth))
}

/// Go's builtins have fixed parameter lists, checked before the call:
/// `(fixed, variadic)`.
fn builtin_arity(name: &str) -> Option<(usize, bool)> {
    Some(match name {
        "len" | "not" => (1, false),
        "ne" | "lt" | "le" | "gt" | "ge" => (2, false),
        "eq" | "index" | "slice" | "printf" | "call" => (1, true),
        _ => return None,
    })
}

/// The error Go gives when a builtin gets the wrong number of arguments.
pub fn arity_error(name: &str, got: usize) -> Option<String> {
    let (want, variadic) = builtin_arity(name)?;
    if variadic && got < want {
        Some(format!(
            "wrong number of args for {name}: want at least {want} got {got}"
        ))
    } else if !variadic && got != want {
        Some(format!(
            "wrong number of args for {name}: want {want} got {got}"
        ))
    } else {
        None
    }
}

/// Which arguments of Sprig's functions are typed `map[string]interface {}`
/// (`None`: all of them), so Go checks them before the call.
pub fn map_params(name: &str) -> Option<Option<usize>> {
    Some(match name {
        "hasKey" | "get" | "set" | "unset" | "pick" | "omit" | "values" => Some(0),
        "keys" | "merge" | "mergeOverwrite" | "mustMerge" | "mustMergeOverwrite" => None,
        _ => return None,
    })
}
