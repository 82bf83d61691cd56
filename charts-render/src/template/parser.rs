//! Builds the syntax tree of a template from lexed items, the way Go's
//! `text/template/parse` does: control structures nest until their `{{end}}`,
//! and `{{define}}`/`{{block}}` bodies are lifted out as named templates.

use std::rc::Rc;

use super::lexer::{Item, Tok, TokKind};

/// A sequence of nodes.
pub type List = Vec<Node>;

/// One node of a template body.
#[derive(Debug, Clone)]
pub enum Node {
    /// Literal text.
    Text(Rc<str>),
    /// `{{pipeline}}`: prints the value unless the pipeline declares variables.
    Action(Pipe),
    /// `{{if}}`, `{{with}}` or `{{range}}` with its bodies.
    Branch(Box<Branch>),
    /// `{{template "name" pipeline}}`.
    Template {
        /// The called template's name.
        name: String,
        /// The argument that becomes its dot.
        pipe: Option<Pipe>,
        /// Byte offset.
        pos: usize,
    },
    /// `{{break}}`
    Break,
    /// `{{continue}}`
    Continue,
}

/// Which control structure a [`Branch`] is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BranchKind {
    /// `if`
    If,
    /// `with`
    With,
    /// `range`
    Range,
}

/// A control structure: its pipeline, body and optional else body.
#[derive(Debug, Clone)]
pub struct Branch {
    /// Which structure.
    pub kind: BranchKind,
    /// The controlling pipeline.
    pub pipe: Pipe,
    /// Body run when true / per element.
    pub list: List,
    /// Body run otherwise.
    pub else_list: Option<List>,
}

/// A pipeline, possibly declaring or assigning variables.
#[derive(Debug, Clone)]
pub struct Pipe {
    /// Variables declared (`:=`) or assigned (`=`).
    pub decl: Vec<String>,
    /// Whether `=` (assignment) rather than `:=`.
    pub assign: bool,
    /// The commands, joined by `|`.
    pub cmds: Vec<Cmd>,
    /// Byte offset.
    pub pos: usize,
}

/// One command of a pipeline: an operand followed by arguments.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// The operands; the first decides what the command does.
    pub args: Vec<Arg>,
    /// Byte offset.
    pub pos: usize,
}

/// An operand.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.A.B`: fields of dot, and where Go locates the chain (its second field).
    Field(Vec<String>, usize),
    /// `$x.A.B`
    Var(String, Vec<String>, usize),
    /// A function name.
    Func(String),
    /// `.`
    Dot,
    /// `nil`
    Nil,
    /// `true`/`false`
    Bool(bool),
    /// A string constant.
    Str(Rc<str>),
    /// A number constant and its text as written (Go's errors quote the text).
    Number(super::number::Number, Rc<str>),
    /// `(pipeline).A.B`
    Sub(Box<Pipe>, Vec<String>),
}

/// A parse error at a byte offset.
#[derive(Debug, Clone)]
pub struct ParseError {
    /// Byte offset.
    pub pos: usize,
    /// What went wrong.
    pub msg: String,
}

fn perr<T>(pos: usize, msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        pos,
        msg: msg.into(),
    })
}

/// The result of parsing one file: its body and the templates it defines.
pub struct Parsed {
    /// The top-level body.
    pub body: List,
    /// `(name, body)` for every `define` and `block`.
    pub defines: Vec<(String, List)>,
}

/// Parses lexed items.
pub fn parse(items: Vec<Item>) -> Result<Parsed, ParseError> {
    let mut p = Parser {
        items,
        i: 0,
        defines: Vec::new(),
        pending_else: Vec::new(),
        vars: vec!["$".into()],
        range_depth: 0,
        nesting: 0,
    };
    let (body, end) = p.list()?;
    if let Some((word, pos)) = end {
        return perr(pos, format!("unexpected {{{{{word}}}}}"));
    }
    Ok(Parsed {
        body,
        defines: p.defines,
    })
}

struct Parser {
    items: Vec<Item>,
    i: usize,
    defines: Vec<(String, List)>,
    /// The tokens after `else` in the `{{else ...}}` that ended the last list.
    pending_else: Vec<Tok>,
    /// Variables in scope, as Go's parser tracks them to reject undefined ones.
    vars: Vec<String>,
    /// How many `{{range}}` bodies enclose the current node.
    range_depth: usize,
    /// How many control structures enclose it (`define` is top-level only).
    nesting: usize,
}

/// How a list ended: the keyword (`end` / `else`), its offset, and for `else` the rest of its tokens.
type Ending = Option<(String, usize)>;

impl Parser {
    /// Parses nodes until `{{end}}`/`{{else ...}}` (returned) or the end of input.
    fn list(&mut self) -> Result<(List, Ending), ParseError> {
        let mut out = Vec::new();
        while self.i < self.items.len() {
            let item = self.items[self.i].clone();
            self.i += 1;
            match item {
                Item::Text(t) => out.push(Node::Text(t.into())),
                Item::Action { toks, pos } => {
                    if let Some(end) = self.action(toks, pos, &mut out)? {
                        return Ok((out, Some(end)));
                    }
                }
            }
        }
        Ok((out, None))
    }

    fn action(&mut self, toks: Vec<Tok>, pos: usize, out: &mut List) -> Result<Ending, ParseError> {
        let keyword = match toks.first().map(|t| &t.kind) {
            Some(TokKind::Ident(w)) => w.as_str(),
            None => return perr(pos, "missing value for command"),
            _ => "",
        };
        match keyword {
            "end" => return Ok(Some(("end".into(), pos))),
            "else" => {
                // `else if`/`else with` are kept as tokens for the caller.
                self.pending_else = toks[1..].to_vec();
                return Ok(Some(("else".into(), pos)));
            }
            "if" => out.push(self.branch(BranchKind::If, &toks[1..], pos)?),
            "with" => out.push(self.branch(BranchKind::With, &toks[1..], pos)?),
            "range" => out.push(self.branch(BranchKind::Range, &toks[1..], pos)?),
            "break" | "continue" => {
                if self.range_depth == 0 {
                    return perr(pos, format!("{{{{{keyword}}}}} outside {{{{range}}}}"));
                }
                if let Some(t) = toks.get(1) {
                    return perr(
                        t.pos,
                        format!("unexpected {} in {{{{{keyword}}}}}", describe(t)),
                    );
                }
                out.push(if keyword == "break" {
                    Node::Break
                } else {
                    Node::Continue
                });
            }
            "define" if self.nesting > 0 => {
                return perr(pos, "unexpected <define> in command");
            }
            "define" => {
                let name = template_name(&toks, pos)?;
                let body = self.fresh_scope(|p| p.body_until_end(pos))?;
                self.defines.push((name, body));
            }
            "template" | "block" => {
                let name = template_name(&toks, pos)?;
                let pipe = if toks.len() > 2 {
                    Some(pipeline(&toks[2..], pos, &mut self.vars)?)
                } else {
                    None
                };
                if keyword == "block" {
                    let body = self.fresh_scope(|p| p.body_until_end(pos))?;
                    self.defines.push((name.clone(), body));
                }
                // Go locates a template call at its name.
                let pos = toks.get(1).map_or(pos, |t| t.pos);
                out.push(Node::Template { name, pipe, pos });
            }
            _ => out.push(Node::Action(pipeline(&toks, pos, &mut self.vars)?)),
        }
        Ok(None)
    }

    /// A `define`/`block` body sees only `$` and no enclosing `range`.
    fn fresh_scope<T>(&mut self, f: impl FnOnce(&mut Parser) -> T) -> T {
        let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let depth = std::mem::take(&mut self.range_depth);
        let r = f(self);
        self.vars = vars;
        self.range_depth = depth;
        r
    }

    fn body_until_end(&mut self, pos: usize) -> Result<List, ParseError> {
        let (body, end) = self.list()?;
        match end {
            Some((w, _)) if w == "end" => Ok(body),
            Some((w, p)) => perr(p, format!("unexpected {{{{{w}}}}} in define")),
            None => perr(pos, "unexpected EOF"),
        }
    }

    fn branch(&mut self, kind: BranchKind, toks: &[Tok], pos: usize) -> Result<Node, ParseError> {
        // Variables declared in the pipeline or the bodies end with the structure.
        let mark = self.vars.len();
        let r = self.branch_in_scope(kind, toks, pos);
        self.vars.truncate(mark);
        r
    }

    fn branch_in_scope(
        &mut self,
        kind: BranchKind,
        toks: &[Tok],
        pos: usize,
    ) -> Result<Node, ParseError> {
        let pipe = pipeline(toks, pos, &mut self.vars)?;
        let in_range = usize::from(kind == BranchKind::Range);
        self.range_depth += in_range;
        self.nesting += 1;
        let body = self.list();
        self.nesting -= 1;
        self.range_depth -= in_range;
        let (list, end) = body?;
        let else_list = match end {
            Some((w, _)) if w == "end" => None,
            Some((_, epos)) => Some(self.else_body(kind, epos)?),
            None => return perr(pos, "unexpected EOF"),
        };
        Ok(Node::Branch(Box::new(Branch {
            kind,
            pipe,
            list,
            else_list,
        })))
    }

    /// After `{{else}}`: either a plain else body up to `{{end}}`, or `else if`/`else with`,
    /// which nests a branch that shares the outer `{{end}}`.
    fn else_body(&mut self, kind: BranchKind, epos: usize) -> Result<List, ParseError> {
        let rest = std::mem::take(&mut self.pending_else);
        if rest.is_empty() {
            let (list, end) = self.list()?;
            return match end {
                Some((w, _)) if w == "end" => Ok(list),
                Some((w, p)) => perr(p, format!("unexpected {{{{{w}}}}}")),
                None => perr(epos, "unexpected EOF"),
            };
        }
        let nested = match &rest[0].kind {
            TokKind::Ident(w) if w == "if" && kind == BranchKind::If => BranchKind::If,
            TokKind::Ident(w) if w == "with" && kind == BranchKind::With => BranchKind::With,
            TokKind::Ident(w) if w == "if" || w == "with" => {
                return perr(epos, format!("unexpected <{w}> in input"));
            }
            _ => return perr(epos, format!("unexpected {} in else", describe(&rest[0]))),
        };
        Ok(vec![self.branch(nested, &rest[1..], epos)?])
    }
}

fn template_name(toks: &[Tok], pos: usize) -> Result<String, ParseError> {
    match toks.get(1).map(|t| &t.kind) {
        Some(TokKind::Str(s)) => Ok(s.clone()),
        _ => perr(pos, "template name must be a string constant"),
    }
}

/// A token as Go's parse errors name it: keywords in angle brackets, the rest quoted.
fn describe(t: &Tok) -> String {
    const KEYWORDS: &[&str] = &[
        "block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template",
        "with",
    ];
    match &t.kind {
        TokKind::Ident(w) if KEYWORDS.contains(&w.as_str()) => format!("<{w}>"),
        TokKind::Ident(w) | TokKind::Num(w) => format!("{w:?}"),
        TokKind::Field(f) => format!("{:?}", format!(".{f}")),
        TokKind::Var(v) => format!("{v:?}"),
        TokKind::Str(s) => format!("{:?}", format!("{s:?}")),
        other => format!("{other:?}"),
    }
}

/// Parses a pipeline from an action's tokens; `vars` is the scope, which its
/// declarations extend.
pub fn pipeline(toks: &[Tok], pos: usize, vars: &mut Vec<String>) -> Result<Pipe, ParseError> {
    let mut c = Cursor { toks, i: 0, vars };
    let p = c.pipe(pos)?;
    if let Some(t) = c.peek() {
        return perr(t.pos, format!("unexpected {:?} in operand", t.kind));
    }
    Ok(p)
}

struct Cursor<'a> {
    toks: &'a [Tok],
    i: usize,
    vars: &'a mut Vec<String>,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn pipe(&mut self, pos: usize) -> Result<Pipe, ParseError> {
        let (decl, assign) = self.decl();
        // Assigning to an undeclared variable fails only when executed, as in Go.
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        let mut cmds = Vec::new();
        loop {
            let cpos = self.peek().map_or(pos, |t| t.pos);
            let cmd = self.cmd(cpos)?;
            cmds.push(cmd);
            match self.peek().map(|t| &t.kind) {
                Some(TokKind::Pipe) => self.i += 1,
                _ => break,
            }
        }
        // Go's checkPipeline: only the first command may be a constant.
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool(_) | Arg::Dot | Arg::Nil | Arg::Number(..) | Arg::Str(_)
            ) {
                return perr(
                    pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(Pipe {
            decl,
            assign,
            cmds,
            pos,
        })
    }

    /// `$a :=`, `$a, $b :=` or `$a =` at the start of a pipeline.
    fn decl(&mut self) -> (Vec<String>, bool) {
        let t = self.toks;
        let var = |k: usize| match t.get(k).map(|t| &t.kind) {
            Some(TokKind::Var(v)) => Some(v.clone()),
            _ => None,
        };
        let op = |k: usize| t.get(k).map(|t| t.kind.clone());
        let Some(v1) = var(self.i) else {
            return (vec![], false);
        };
        match op(self.i + 1) {
            Some(TokKind::Declare) => {
                self.i += 2;
                (vec![v1], false)
            }
            Some(TokKind::Assign) => {
                self.i += 2;
                (vec![v1], true)
            }
            Some(TokKind::Comma) => match (var(self.i + 2), op(self.i + 3)) {
                (Some(v2), Some(TokKind::Declare)) => {
                    self.i += 4;
                    (vec![v1, v2], false)
                }
                (Some(v2), Some(TokKind::Assign)) => {
                    self.i += 4;
                    (vec![v1, v2], true)
                }
                _ => (vec![], false),
            },
            _ => (vec![], false),
        }
    }

    fn cmd(&mut self, pos: usize) -> Result<Cmd, ParseError> {
        let mut args = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t.kind, TokKind::Pipe | TokKind::RParen) {
                break;
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            return perr(pos, "missing value for command");
        }
        Ok(Cmd { args, pos })
    }

    /// A term followed by any fields written directly after it (`$x.a`, `(f).b`).
    fn operand(&mut self) -> Result<Arg, ParseError> {
        let t = self.toks[self.i].clone();
        self.i += 1;
        let arg = match t.kind {
            TokKind::Field(f) => {
                let pos = self.peek_chain_pos().unwrap_or(t.pos);
                Arg::Field(self.chain(vec![f]), pos)
            }
            TokKind::Var(v) => {
                if !self.vars.contains(&v) {
                    return perr(t.pos, format!("undefined variable {v:?}"));
                }
                let pos = self.peek_chain_pos().unwrap_or(t.pos);
                Arg::Var(v, self.chain(vec![]), pos)
            }
            TokKind::Dot => Arg::Dot,
            TokKind::Str(s) => Arg::Str(s.into()),
            TokKind::Num(n) => number(&n, t.pos)?,
            TokKind::Ident(w) => match w.as_str() {
                "nil" => Arg::Nil,
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                _ => Arg::Func(w),
            },
            TokKind::LParen => {
                let inner = self.pipe(t.pos)?;
                match self.peek().map(|t| &t.kind) {
                    Some(TokKind::RParen) => self.i += 1,
                    _ => return perr(t.pos, "unclosed left paren"),
                }
                Arg::Sub(Box::new(inner), self.chain(vec![]))
            }
            other => return perr(t.pos, format!("unexpected {other:?} in operand")),
        };
        Ok(arg)
    }

    /// Where a field written directly after the current term starts, if one is.
    fn peek_chain_pos(&self) -> Option<usize> {
        match self.peek() {
            Some(Tok {
                kind: TokKind::Field(_),
                spaced: false,
                pos,
            }) => Some(*pos),
            _ => None,
        }
    }

    fn chain(&mut self, mut fields: Vec<String>) -> Vec<String> {
        while let Some(Tok {
            kind: TokKind::Field(f),
            spaced: false,
            ..
        }) = self.peek()
        {
            fields.push(f.clone());
            self.i += 1;
        }
        fields
    }
}

fn number(n: &str, pos: usize) -> Result<Arg, ParseError> {
    match super::number::parse(n) {
        Ok(num) => Ok(Arg::Number(num, n.into())),
        Err(msg) => perr(pos, msg),
    }
}
