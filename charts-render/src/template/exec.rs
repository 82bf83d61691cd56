//! Executes parsed templates against a dot value, as Go's `text/template` does.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

use super::parser::{Arg, Branch, BranchKind, Cmd, List, Node, Pipe};
use super::value::{Value, format_float_g};
use super::{TemplateError, TemplateSet, Tmpl, funcs};

/// What Go prints for a missing value.
pub const NO_VALUE: &str = "<no value>";

/// How deep `template`/`include`/`tpl` may nest. Helm allows 1000; frames here are
/// larger than Go's growable stacks allow for on a 2 MiB thread stack, and real charts
/// nest a dozen deep at most, so endless recursion is stopped sooner.
const MAX_DEPTH: usize = 100;

/// A failure while executing: either a bare message that the nearest command will
/// locate, or an error already located deeper down.
#[derive(Debug)]
pub enum Fail {
    /// Not yet located.
    Msg(String),
    /// Located (file, line, template name).
    Located(Box<TemplateError>),
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Msg(s)
    }
}

/// What a body ended with.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// The state of one execution.
pub struct Exec<'s> {
    set: &'s TemplateSet,
    /// Templates defined by `tpl` strings during this execution.
    extra: HashMap<String, Rc<Tmpl>>,
    out: String,
    vars: Vec<(String, Value)>,
    tmpl: Rc<Tmpl>,
    depth: usize,
}

impl<'s> Exec<'s> {
    /// Runs template `t` of `set` with `dot`, returning its output.
    pub fn run(set: &'s TemplateSet, t: Rc<Tmpl>, dot: Value) -> Result<String, TemplateError> {
        let mut ex = Exec {
            set,
            extra: HashMap::new(),
            out: String::new(),
            vars: Vec::new(),
            tmpl: t.clone(),
            depth: 0,
        };
        match ex.call_template(&t, dot) {
            Ok(s) => Ok(s),
            Err(Fail::Located(e)) => Err(*e),
            Err(Fail::Msg(m)) => Err(t.error_at(0, "", m)),
        }
    }

    fn lookup(&self, name: &str) -> Option<Rc<Tmpl>> {
        self.extra.get(name).cloned().or_else(|| self.set.get(name))
    }

    /// Executes `t` with a fresh variable scope and returns what it wrote.
    fn call_template(&mut self, t: &Rc<Tmpl>, dot: Value) -> Result<String, Fail> {
        if self.depth >= MAX_DEPTH {
            return Err(Fail::Msg(format!(
                "exceeded max template depth: {MAX_DEPTH} nested calls"
            )));
        }
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".into(), dot.clone())]);
        let saved_out = std::mem::take(&mut self.out);
        let saved_t = std::mem::replace(&mut self.tmpl, t.clone());
        self.depth += 1;
        let r = self.walk(&dot, &t.body);
        self.depth -= 1;
        self.tmpl = saved_t;
        self.vars = saved_vars;
        let written = std::mem::replace(&mut self.out, saved_out);
        r.map(|_| written)
    }

    /// `include NAME DOT`: runs a named template and returns its output.
    pub fn include(&mut self, name: &str, dot: Value) -> Result<String, Fail> {
        let t = self
            .lookup(name)
            .ok_or_else(|| format!("error calling include: template: no template {name:?} associated with template {:?}", self.tmpl.file))?;
        // Go reports the inner error inside the outer one, located at the caller.
        self.call_template(&t, dot).map_err(|f| match f {
            Fail::Located(e) => Fail::Msg(format!("error calling include: {e}")),
            Fail::Msg(m) => Fail::Msg(format!("error calling include: {m}")),
        })
    }

    /// `tpl TEXT DOT`: parses `text` as a template (named after the caller's file,
    /// as Helm does) and runs it.
    pub fn tpl(&mut self, text: &str, dot: Value) -> Result<String, Fail> {
        // Helm 3.17 parses the text as a template named "gotpl".
        let name = "gotpl";
        // Helm reports the inner error inside its own, located at the caller.
        let wrap = |e: &dyn std::fmt::Display| {
            let quoted = super::gofmt::go_quote(text);
            Fail::Msg(format!(
                "error during tpl function execution for {quoted}: {e}"
            ))
        };
        let (body, defines) = super::parse_file(name, text).map_err(|e| {
            let quoted = super::gofmt::go_quote(text);
            Fail::Msg(format!("cannot parse template {quoted}: {e}"))
        })?;
        for (dname, t) in defines {
            self.extra.insert(dname, t);
        }
        self.call_template(&body, dot)
            .map(|out| out.replace(NO_VALUE, ""))
            .map_err(|f| match f {
                Fail::Located(e) => wrap(&e),
                Fail::Msg(m) => wrap(&m),
            })
    }

    fn locate(&self, pos: usize, ctx: &str, f: Fail) -> Fail {
        match f {
            Fail::Msg(m) => Fail::Located(Box::new(self.tmpl.error_at(pos, ctx, m))),
            located => located,
        }
    }

    fn walk(&mut self, dot: &Value, list: &List) -> Result<Flow, Fail> {
        for node in list {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(dot, p)?;
                    if p.decl.is_empty() {
                        print_value(&mut self.out, &v);
                    }
                }
                Node::Branch(b) => {
                    let mark = self.vars.len();
                    let flow = self.branch(dot, b);
                    self.vars.truncate(mark);
                    match flow? {
                        Flow::Normal => {}
                        other => return Ok(other),
                    }
                }
                Node::Template { name, pipe, pos } => {
                    let arg = match pipe {
                        Some(p) => self.pipe(dot, p)?,
                        None => Value::Nil,
                    };
                    let t = self.lookup(name).ok_or_else(|| {
                        let ctx = match pipe {
                            Some(p) => format!("{{{{template {name:?} {}}}}}", pipe_text(p)),
                            None => format!("{{{{template {name:?}}}}}"),
                        };
                        self.locate(
                            *pos,
                            &ctx,
                            Fail::Msg(format!("template {name:?} not defined")),
                        )
                    })?;
                    let s = self.call_template(&t, arg)?;
                    self.out.push_str(&s);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn branch(&mut self, dot: &Value, b: &Branch) -> Result<Flow, Fail> {
        if b.kind == BranchKind::Range {
            return self.range(dot, b);
        }
        let v = self.pipe(dot, &b.pipe)?;
        if v.truthy() {
            let inner = if b.kind == BranchKind::With {
                v
            } else {
                dot.clone()
            };
            self.walk(&inner, &b.list)
        } else if let Some(e) = &b.else_list {
            self.walk(dot, e)
        } else {
            Ok(Flow::Normal)
        }
    }

    fn range(&mut self, dot: &Value, b: &Branch) -> Result<Flow, Fail> {
        let v = self.pipe_value(dot, &b.pipe)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Map(m) => m
                .borrow()
                .iter()
                .map(|(k, v)| (Value::str(k), v.clone()))
                .collect(),
            // `.Files` is a map of path to bytes; the bytes come as a string here.
            Value::Files(f) => f
                .iter()
                .map(|(k, v)| {
                    (
                        Value::str(k),
                        Value::Str(String::from_utf8_lossy(v).into_owned()),
                    )
                })
                .collect(),
            Value::ApiVersions(v) => v
                .iter()
                .enumerate()
                .map(|(i, a)| (Value::Int(i as i64), Value::str(a)))
                .collect(),
            Value::Nil => Vec::new(),
            // Helm 3.17's Go (before 1.24's text/template) cannot range over an int.
            other => {
                let f = Fail::Msg(format!("range can't iterate over {}", other.go_string()));
                let (pos, ctx) = last_operand(&b.pipe);
                return Err(self.locate(pos, &ctx, f));
            }
        };
        if items.is_empty() {
            return match &b.else_list {
                Some(e) => self.walk(dot, e),
                None => Ok(Flow::Normal),
            };
        }
        let mark = self.vars.len();
        for (k, v) in items {
            self.vars.truncate(mark);
            match b.pipe.decl.as_slice() {
                [one] => self.vars.push((one.clone(), v.clone())),
                [a, c] => {
                    self.vars.push((a.clone(), k));
                    self.vars.push((c.clone(), v.clone()));
                }
                _ => {}
            }
            if let Flow::Break = self.walk(&v, &b.list)? {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    /// Evaluates a pipeline and handles its variable declarations.
    fn pipe(&mut self, dot: &Value, p: &Pipe) -> Result<Value, Fail> {
        let v = self.pipe_value(dot, p)?;
        for name in &p.decl {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => {
                        let f = Fail::Msg(format!("undefined variable: {name}"));
                        let (pos, ctx) = last_operand(p);
                        return Err(self.locate(pos, &ctx, f));
                    }
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    /// Evaluates a pipeline's commands, ignoring declarations.
    fn pipe_value(&mut self, dot: &Value, p: &Pipe) -> Result<Value, Fail> {
        let mut last: Option<Value> = None;
        for c in &p.cmds {
            let v = self
                .cmd(dot, c, last.take())
                .map_err(|f| self.locate(c.pos, &cmd_text(c), f))?;
            last = Some(v);
        }
        Ok(last.unwrap_or_default())
    }

    fn cmd(&mut self, dot: &Value, c: &Cmd, fin: Option<Value>) -> Result<Value, Fail> {
        let rest = &c.args[1..];
        match &c.args[0] {
            Arg::Func(name) => {
                let got = rest.len() + usize::from(fin.is_some());
                if let Some(m) = super::compare::arity_error(name, got) {
                    // Go locates this at the function's name alone.
                    return Err(Fail::Located(Box::new(self.tmpl.error_at(c.pos, name, m))));
                }
                if let Some(which) = super::compare::map_params(name) {
                    return self.call_with_maps(dot, name, rest, fin, which);
                }
                self.call(dot, name, rest, fin)
            }
            a @ Arg::Field(fields, pos) => self
                .chain(dot.clone(), fields, dot, rest, fin)
                .map_err(|f| self.locate(*pos, &arg_text(a), f)),
            a @ Arg::Var(name, fields, pos) => {
                let base = self.var(name)?;
                self.chain(base, fields, dot, rest, fin)
                    .map_err(|f| self.locate(*pos, &arg_text(a), f))
            }
            Arg::Sub(p, fields) => {
                let base = self.pipe(dot, p)?;
                self.chain(base, fields, dot, rest, fin)
            }
            Arg::Nil => Err(Fail::Msg("nil is not a command".into())),
            other => {
                if !rest.is_empty() || fin.is_some() {
                    return Err(Fail::Msg(format!(
                        "can't give argument to non-function {}",
                        arg_text(other)
                    )));
                }
                self.arg(dot, other)
            }
        }
    }

    fn var(&self, name: &str) -> Result<Value, Fail> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| Fail::Msg(format!("undefined variable: {name}")))
    }

    fn arg(&mut self, dot: &Value, a: &Arg) -> Result<Value, Fail> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Nil,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Str(s) => Value::Str(s.to_string()),
            Arg::Number(n, text) => number_value(*n, text)?,
            Arg::Func(name) => self.call(dot, name, &[], None)?,
            a @ Arg::Field(fields, pos) => self
                .chain(dot.clone(), fields, dot, &[], None)
                .map_err(|f| self.locate(*pos, &arg_text(a), f))?,
            a @ Arg::Var(name, fields, pos) => {
                let base = self.var(name)?;
                self.chain(base, fields, dot, &[], None)
                    .map_err(|f| self.locate(*pos, &arg_text(a), f))?
            }
            Arg::Sub(p, fields) => {
                let base = self.pipe(dot, p)?;
                self.chain(base, fields, dot, &[], None)?
            }
        })
    }

    fn args(&mut self, dot: &Value, args: &[Arg], fin: Option<Value>) -> Result<Vec<Value>, Fail> {
        let mut out = Vec::with_capacity(args.len() + 1);
        for a in args {
            out.push(self.arg(dot, a)?);
        }
        out.extend(fin);
        Ok(out)
    }

    /// Walks `.a.b.c` from `recv`; the last field may be a method taking arguments.
    fn chain(
        &mut self,
        mut recv: Value,
        fields: &[String],
        dot: &Value,
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Value, Fail> {
        let Some((last, init)) = fields.split_last() else {
            if !args.is_empty() || fin.is_some() {
                return Err(Fail::Msg("can't give argument to non-function".into()));
            }
            return Ok(recv);
        };
        // A nil that arrives whole (dot, a variable, a parenthesized pipeline) is Go's
        // invalid value, whose fields are simply empty: `(.global).registry` is safe.
        // Only a nil met inside the chain (`.Values.missing.x`) is an error.
        if matches!(recv, Value::Nil) {
            return Ok(Value::Nil);
        }
        let mut from_map = false;
        for f in init {
            recv = field(&recv, f, Vec::new()).map_err(|e| in_interface(e, from_map))?;
            from_map = true;
        }
        let has_args = !args.is_empty() || fin.is_some();
        let argv = self.args(dot, args, fin)?;
        if has_args && !matches!(recv, Value::Files(_) | Value::ApiVersions(_)) {
            return Err(Fail::Msg(format!(
                "{last} is not a method but has arguments"
            )));
        }
        field(&recv, last, argv).map_err(|e| in_interface(e, from_map))
    }

    fn call(
        &mut self,
        dot: &Value,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Value, Fail> {
        match name {
            "and" | "or" => self.and_or(dot, name == "and", args, fin),
            _ => {
                let argv = self.args(dot, args, fin)?;
                funcs::call(self, name, argv)
            }
        }
    }

    /// Calls a function whose `which` arguments are maps, checking them as Go's
    /// `validateType` does: a nil read straight from a field is an `interface {}`
    /// that is no map, while a literal `nil` or a pipeline's nil is a nil map.
    fn call_with_maps(
        &mut self,
        dot: &Value,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
        which: Option<usize>,
    ) -> Result<Value, Fail> {
        let mut argv = Vec::with_capacity(args.len() + 1);
        for (i, a) in args.iter().enumerate() {
            let v = self.arg(dot, a)?;
            if which.is_none_or(|w| w == i) {
                let direct = match a {
                    Arg::Field(..) => true,
                    Arg::Var(_, f, _) | Arg::Sub(_, f) => !f.is_empty(),
                    _ => false,
                };
                let got = match &v {
                    Value::Map(_) => None,
                    Value::Nil if direct => Some("interface {}"),
                    Value::Nil => None,
                    other => Some(other.type_name()),
                };
                if let Some(got) = got {
                    let (pos, ctx) = arg_location(a);
                    let m = format!(
                        "wrong type for value; expected map[string]interface {{}}; got {got}"
                    );
                    return Err(Fail::Located(Box::new(self.tmpl.error_at(pos, &ctx, m))));
                }
            }
            argv.push(v);
        }
        argv.extend(fin);
        funcs::call(self, name, argv)
    }

    /// `and`/`or` stop at the first deciding argument, as Go 1.18+ does.
    fn and_or(
        &mut self,
        dot: &Value,
        is_and: bool,
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Value, Fail> {
        if args.is_empty() && fin.is_none() {
            return Err(Fail::Msg(format!(
                "wrong number of args for {}: want at least 1 got 0",
                if is_and { "and" } else { "or" }
            )));
        }
        let mut v = Value::Nil;
        for a in args {
            v = self.arg(dot, a)?;
            if v.truthy() != is_and {
                return Ok(v);
            }
        }
        Ok(fin.unwrap_or(v))
    }
}

/// A value read out of a map is Go's `interface {}`, which is what Go names when
/// a field of it cannot be evaluated.
fn in_interface(f: Fail, from_map: bool) -> Fail {
    match f {
        Fail::Msg(m) if from_map && m.starts_with("can't evaluate field ") => {
            match m.rsplit_once(" in type ") {
                Some((head, _)) => Fail::Msg(format!("{head} in type interface {{}}")),
                None => Fail::Msg(m),
            }
        }
        other => other,
    }
}

/// Looks up a field (map key) or calls a method of Helm's objects.
fn field(recv: &Value, name: &str, args: Vec<Value>) -> Result<Value, Fail> {
    match recv {
        Value::Map(m) => Ok(m.borrow().get(name).cloned().unwrap_or_default()),
        Value::Files(files) => funcs::files_method(files, name, args),
        Value::ApiVersions(v) if name == "Has" => {
            let want = args.first().and_then(Value::as_str).unwrap_or("");
            Ok(Value::Bool(v.iter().any(|a| a == want)))
        }
        Value::Nil => Err(Fail::Msg(format!(
            "nil pointer evaluating interface {{}}.{name}"
        ))),
        other => Err(Fail::Msg(format!(
            "can't evaluate field {name} in type {}",
            other.type_name()
        ))),
    }
}

/// The value of a number constant, as Go's `idealConstant` types it.
fn number_value(n: super::number::Number, text: &str) -> Result<Value, Fail> {
    use super::number::Number;
    Ok(match n {
        Number::Int(i) => Value::Int(i),
        Number::Float(f) => Value::Float(f),
        Number::Complex(re, im) => Value::Complex(re, im),
        Number::Uint(_) => return Err(Fail::Msg(format!("{text} overflows int"))),
    })
}

/// Prints an action's value as `fmt.Fprint` would. Nil prints as Go's `<no value>`,
/// which Helm removes from each rendered file and `tpl` result (but not from what
/// `include` returns, so `include ... | b64enc` keeps it).
fn print_value(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str(NO_VALUE),
        Value::Str(s) => out.push_str(s),
        Value::Float(f) => out.push_str(&format_float_g(*f)),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        other => out.push_str(&other.go_string()),
    }
}

/// Where Go's execution was last (`s.at`) after evaluating a pipeline: its last
/// command's operand, for errors about the pipeline's value.
fn last_operand(p: &Pipe) -> (usize, String) {
    let Some(c) = p.cmds.last() else {
        return (p.pos, String::new());
    };
    match c.args.as_slice() {
        [a @ (Arg::Field(_, pos) | Arg::Var(_, _, pos))] => (*pos, arg_text(a)),
        [a] => (c.pos, arg_text(a)),
        _ => (c.pos, cmd_text(c)),
    }
}

/// Where Go is (`s.at`) once it has evaluated an argument.
fn arg_location(a: &Arg) -> (usize, String) {
    match a {
        Arg::Field(_, pos) | Arg::Var(_, _, pos) => (*pos, arg_text(a)),
        Arg::Sub(p, _) => last_operand(p),
        other => (0, arg_text(other)),
    }
}

fn pipe_text(p: &Pipe) -> String {
    p.cmds.iter().map(cmd_text).collect::<Vec<_>>().join(" | ")
}

/// The source-like text of a command, for `at <...>` in error messages.
fn cmd_text(c: &Cmd) -> String {
    c.args.iter().map(arg_text).collect::<Vec<_>>().join(" ")
}

fn arg_text(a: &Arg) -> String {
    let fields = |f: &[String]| f.iter().map(|s| format!(".{s}")).collect::<String>();
    match a {
        Arg::Field(f, _) => fields(f),
        Arg::Var(v, f, _) => format!("{v}{}", fields(f)),
        Arg::Func(n) => n.clone(),
        Arg::Dot => ".".into(),
        Arg::Nil => "nil".into(),
        Arg::Bool(b) => b.to_string(),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Number(_, text) => text.to_string(),
        Arg::Sub(p, f) => format!(
            "({}){}",
            p.cmds.iter().map(cmd_text).collect::<Vec<_>>().join(" | "),
            fields(f)
        ),
    }
}
