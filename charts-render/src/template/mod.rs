//! A Go `text/template` engine with Helm's and Sprig's functions.
//!
//! Templates are parsed into one [`TemplateSet`] (so `define`s are shared between
//! files, later files overriding earlier ones, as Helm's parse order does) and each
//! file is executed with its own dot.

mod arity;
mod bytes;
mod compare;
mod crypto;
mod exec;
mod extra;
mod funcs;
mod gofmt;
mod gojson;
mod goregex;
mod lexer;
mod number;
mod parser;
mod sprig_more;
pub mod value;
pub(crate) mod yaml;
pub(crate) mod yaml11;
mod yaml_resolve;

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

pub use funcs::loose_version;

/// `v` as Go's `encoding/json` marshals it (as Helm's `toRawJson`).
pub fn gojson_marshal(v: &Value) -> String {
    gojson::marshal(v, false, false)
}
pub use value::Value;

/// A template that failed to parse or execute, located as Go reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    /// The file (e.g. `mychart/templates/deploy.yaml`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 0-based byte column (Go's convention).
    pub col: usize,
    /// The template being executed (a file or a `define` name); empty for parse errors.
    pub template: String,
    /// The failing action, as source text; empty for parse errors.
    pub context: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.template.is_empty() {
            write!(f, "template: {}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(
                f,
                "template: {}:{}:{}: executing {:?} at <{}>: {}",
                self.file, self.line, self.col, self.template, self.context, self.message
            )
        }
    }
}

impl std::error::Error for TemplateError {}

/// What `required` and `fail` wrap their message in, as Helm's engine does, so that
/// the message can be found again however deeply `include`/`tpl` nest it.
pub(crate) const ERR_START: &str = "HELM_ERR_START";
/// The end of a [`ERR_START`] message.
pub(crate) const ERR_END: &str = "HELM_ERR_END";

impl TemplateError {
    /// The error as `helm template` words it: parse errors as
    /// `parse error at (file:line): ...` (Helm keeps only the last `: ` part),
    /// `required`/`fail` as `execution error at (file:line:col): message`, other
    /// execution errors as Go prints them.
    pub fn helm_message(&self) -> String {
        let go = self.to_string();
        if self.template.is_empty() {
            let last = go.rsplit(": ").next().unwrap_or(&go);
            return format!("parse error at ({}:{}): {last}", self.file, self.line);
        }
        if let Some(start) = go.find(ERR_START)
            && let Some(end) = go.rfind(ERR_END)
            && end >= start + ERR_START.len()
        {
            let location = format!("{}:{}:{}", self.file, self.line, self.col);
            let message = &go[start + ERR_START.len()..end];
            return format!("execution error at ({location}): {message}");
        }
        go
    }
}

/// One parsed template body: a file or a `define`.
#[derive(Debug)]
pub struct Tmpl {
    name: String,
    file: Rc<str>,
    src: Rc<str>,
    body: parser::List,
}

impl Tmpl {
    fn line_col(&self, pos: usize) -> (usize, usize) {
        let pos = pos.min(self.src.len());
        let before = &self.src[..pos];
        let line = 1 + before.matches('\n').count();
        let col = pos - before.rfind('\n').map_or(0, |i| i + 1);
        (line, col)
    }

    fn error_at(&self, pos: usize, ctx: &str, message: String) -> TemplateError {
        let (line, col) = self.line_col(pos);
        TemplateError {
            file: self.file.to_string(),
            line,
            col,
            template: self.name.clone(),
            context: ctx.to_string(),
            message,
        }
    }
}

/// Parses one file into its body and its `define`d templates.
/// A file's body and the templates it `define`s.
type ParsedFile = (Rc<Tmpl>, Vec<(String, Rc<Tmpl>)>);

fn parse_file(file: &str, src: &str) -> Result<ParsedFile, TemplateError> {
    let src: Rc<str> = src.into();
    let fname: Rc<str> = file.into();
    let located = |pos: usize, message: String| {
        let (line, _) = Tmpl {
            name: String::new(),
            file: fname.clone(),
            src: src.clone(),
            body: vec![],
        }
        .line_col(pos);
        TemplateError {
            file: file.to_string(),
            line,
            col: 0,
            template: String::new(),
            context: String::new(),
            message,
        }
    };
    let items = lexer::lex(&src).map_err(|e| located(e.pos, e.msg))?;
    let parsed = parser::parse(items).map_err(|e| located(e.pos, e.msg))?;
    let mk = |name: String, body| {
        Rc::new(Tmpl {
            name,
            file: fname.clone(),
            src: src.clone(),
            body,
        })
    };
    let defines = parsed
        .defines
        .into_iter()
        .map(|(n, b)| (n.clone(), mk(n, b)))
        .collect();
    Ok((mk(file.to_string(), parsed.body), defines))
}

/// A set of templates that can call each other by name.
#[derive(Default)]
pub struct TemplateSet {
    templates: HashMap<String, Rc<Tmpl>>,
}

impl fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateSet")
            .field("templates", &self.templates.len())
            .finish()
    }
}

impl TemplateSet {
    /// An empty set.
    pub fn new() -> TemplateSet {
        TemplateSet::default()
    }

    /// Parses `src` as the template `name`, adding its `define`s (replacing any of the
    /// same name, so files added later win).
    pub fn add(&mut self, name: &str, src: &str) -> Result<(), TemplateError> {
        let (body, defines) = parse_file(name, src)?;
        self.templates.insert(name.to_string(), body);
        self.templates.extend(defines);
        Ok(())
    }

    fn get(&self, name: &str) -> Option<Rc<Tmpl>> {
        self.templates.get(name).cloned()
    }

    /// Whether a template of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.templates.contains_key(name)
    }

    /// Executes template `name` with `dot` and returns its output.
    pub fn execute(&self, name: &str, dot: Value) -> Result<String, TemplateError> {
        let t = self.get(name).ok_or_else(|| TemplateError {
            file: name.to_string(),
            line: 0,
            col: 0,
            template: String::new(),
            context: String::new(),
            message: format!("no template {name:?}"),
        })?;
        exec::Exec::run(self, t, dot)
    }

    /// Executes template `name` as Helm renders a file: Go's `<no value>` removed.
    pub fn render(&self, name: &str, dot: Value) -> Result<String, TemplateError> {
        self.execute(name, dot)
            .map(|out| out.replace(exec::NO_VALUE, ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, values: &str) -> String {
        let mut set = TemplateSet::new();
        set.add("t", src).unwrap();
        let v = Value::from_yaml(&yaml_serde::from_str(values).unwrap());
        set.execute("t", v).unwrap()
    }

    #[test]
    fn actions_and_trimming() {
        assert_eq!(render("a {{- .x -}} b", "x: 1"), "a1b");
        assert_eq!(render("{{/* c */}}x", "{}"), "x");
        assert_eq!(
            render(
                "{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}",
                "b: true"
            ),
            "B"
        );
        assert_eq!(render("{{ with .m }}{{ .k }}{{ end }}", "m: {k: v}"), "v");
        assert_eq!(
            render(
                "{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}",
                "m: {b: 2, a: 1}"
            ),
            "a=1;b=2;"
        );
        assert_eq!(
            render("{{ range .l }}{{ . }},{{ else }}none{{ end }}", "l: []"),
            "none"
        );
        assert_eq!(
            render(
                "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
                "{}"
            ),
            "2"
        );
        assert_eq!(
            render(
                "{{ define \"n\" }}[{{ . }}]{{ end }}{{ template \"n\" .x }}",
                "x: y"
            ),
            "[y]"
        );
        assert_eq!(render("{{ .big }}", "big: 1000000"), "1e+06");
        assert_eq!(
            render(
                "{{ range $i, $e := .l }}{{ if eq $i 1 }}{{ break }}{{ end }}{{ $e }}{{ end }}",
                "l: [a, b, c]"
            ),
            "a"
        );
    }

    #[test]
    fn endless_recursion_is_an_error() {
        let mut set = TemplateSet::new();
        set.add(
            "t",
            "{{ define \"r\" }}{{ include \"r\" . }}{{ end }}{{ include \"r\" . }}",
        )
        .unwrap();
        let e = set.execute("t", Value::Nil).unwrap_err();
        assert!(e.message.contains("max template depth"), "{e}");
    }

    #[test]
    fn errors_name_file_and_line() {
        let mut set = TemplateSet::new();
        set.add("c/templates/x.yaml", "a\n  {{ .Values.foo.bar }}")
            .unwrap();
        let v = Value::from_yaml(&yaml_serde::from_str("Values: {}").unwrap());
        let e = set.execute("c/templates/x.yaml", v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template: c/templates/x.yaml:2:12: executing \"c/templates/x.yaml\" at <.Values.foo.bar>: nil pointer evaluating interface {}.bar"
        );
    }
}
