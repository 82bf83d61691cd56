//! `toYaml` as Helm's (sigs.k8s.io/yaml over go-yaml v2) writes it.
//!
//! sigs.k8s.io/yaml marshals to JSON first and lets go-yaml v2 re-read and write
//! that, so every map key is a string and every number is what JSON made of it.
//! go-yaml's emitter (a port of libyaml) then decides each scalar's style from an
//! analysis of its characters, folds long plain and quoted scalars after column 80,
//! and orders keys with its own "natural" comparison (`a9` before `a10`). This
//! module follows the same rules with the same column bookkeeping, so its bytes
//! (and hence `include ... | sha256sum` checksums) equal Helm's.

use std::cmp::Ordering;

use super::value::Value;
use super::yaml_resolve::resolves_to_string;

/// The column after which go-yaml folds plain and quoted scalars at a space.
const BEST_WIDTH: usize = 80;
/// go-yaml's indentation step.
const BEST_INDENT: i32 = 2;

/// Serialises `v` as a YAML document, ending with a newline.
pub fn to_yaml(v: &Value) -> String {
    to_yaml_with(v, false)
}

/// As [`to_yaml`]; `v3` writes as go-yaml v3 (Helm's `toYamlPretty`) does: lists
/// one step deeper than their key, no folding, floats without the JSON detour.
pub fn to_yaml_with(v: &Value, v3: bool) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
        indent: -1,
        indents: Vec::new(),
        indent_sequences: v3,
        width: if v3 { usize::MAX } else { BEST_WIDTH },
    };
    e.node(v, Ctx::default());
    // Document end: a line break unless the last scalar already ended one.
    e.write_indent_at(0);
    e.out
}

/// Where a node sits, as libyaml's `*_context` flags.
#[derive(Clone, Copy, Default)]
struct Ctx {
    mapping: bool,
    simple_key: bool,
}

struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
    indent: i32,
    indents: Vec<i32>,
    indent_sequences: bool,
    width: usize,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_break(&mut self, c: char) {
        self.out.push(c);
        self.column = 0;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn write_indent(&mut self) {
        self.write_indent_at(self.indent.max(0) as usize);
    }

    fn write_indent_at(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn node(&mut self, v: &Value, ctx: Ctx) {
        match v {
            Value::Map(m) if !m.borrow().is_empty() => {
                let m = m.borrow();
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|a, b| natural_cmp(a.0, b.0));
                self.block_mapping(&entries);
            }
            Value::List(l) if !l.is_empty() => self.block_sequence(l, ctx),
            Value::ApiVersions(l) if !l.is_empty() => {
                let items: Vec<Value> = l.iter().map(Value::str).collect();
                self.block_sequence(&items, ctx)
            }
            Value::Map(_) | Value::Files(_) => self.flow_empty("{", "}"),
            Value::List(_) | Value::ApiVersions(_) => self.flow_empty("[", "]"),
            Value::Str(s) => self.string(s, ctx),
            Value::Bytes(b) => self.string(&String::from_utf8_lossy(b), ctx),
            Value::Float(f) if self.indent_sequences => {
                self.scalar(&super::value::format_float_g(*f), Style::Plain, ctx)
            }
            other => self.scalar(&plain_text(other), Style::Plain, ctx),
        }
    }

    fn flow_empty(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.increase_indent(true, false);
        self.pop_indent();
        self.write_indicator(close, false, false, false);
    }

    fn block_sequence(&mut self, items: &[Value], ctx: Ctx) {
        let indentless = ctx.mapping && !self.indention && !self.indent_sequences;
        self.increase_indent(false, indentless);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.node(item, Ctx::default());
        }
        self.pop_indent();
    }

    fn block_mapping(&mut self, entries: &[(&String, &Value)]) {
        self.increase_indent(false, false);
        let value_ctx = Ctx {
            mapping: true,
            simple_key: false,
        };
        for (k, v) in entries {
            self.write_indent();
            // libyaml writes a key longer than 128 bytes or holding a line break as
            // an explicit `? key` entry.
            let simple = k.len() <= 128 && !k.chars().any(is_break);
            if simple {
                let key_ctx = Ctx {
                    mapping: true,
                    simple_key: true,
                };
                self.string(k, key_ctx);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.string(k, value_ctx);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.node(v, value_ctx);
        }
        self.pop_indent();
    }

    /// A string: go-yaml asks for a literal block when it holds a newline, plain
    /// when it would read back as a string, double quotes otherwise.
    fn string(&mut self, s: &str, ctx: Ctx) {
        let requested = if s.contains('\n') {
            Style::Literal
        } else if resolves_to_string(s) {
            Style::Plain
        } else {
            Style::Double
        };
        self.scalar(s, requested, ctx);
    }

    fn scalar(&mut self, s: &str, requested: Style, ctx: Ctx) {
        let chars: Vec<char> = s.chars().collect();
        let a = analyze(&chars);
        let style = select_style(requested, &a, ctx, chars.is_empty());
        self.increase_indent(true, false);
        let allow_breaks = !ctx.simple_key;
        match style {
            Style::Plain => self.write_plain(&chars, allow_breaks),
            Style::Single => self.write_single(&chars, allow_breaks),
            Style::Double => self.write_double(&chars, allow_breaks),
            Style::Literal => self.write_literal(&chars),
        }
        self.pop_indent();
    }

    fn write_plain(&mut self, v: &[char], allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let mut spaces = false;
        for (i, &c) in v.iter().enumerate() {
            if c == ' ' {
                let next_space = v.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > self.width && !next_space {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single(&mut self, v: &[char], allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in v.iter().enumerate() {
            if c == ' ' {
                let next_space = v.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > self.width
                    && i > 0
                    && i < v.len() - 1
                    && !next_space
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, v: &[char], allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let mut spaces = false;
        for (i, &c) in v.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                self.escape(c);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > self.width && i > 0 && i < v.len() - 1 {
                    self.write_indent();
                    if v.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn escape(&mut self, c: char) {
        let short = match c {
            '\0' => Some('0'),
            '\x07' => Some('a'),
            '\x08' => Some('b'),
            '\t' => Some('t'),
            '\n' => Some('n'),
            '\x0b' => Some('v'),
            '\x0c' => Some('f'),
            '\r' => Some('r'),
            '\x1b' => Some('e'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            '\u{85}' => Some('N'),
            '\u{a0}' => Some('_'),
            '\u{2028}' => Some('L'),
            '\u{2029}' => Some('P'),
            _ => None,
        };
        if let Some(e) = short {
            self.put(e);
            return;
        }
        let v = c as u32;
        let (mark, width) = match v {
            0..=0xff => ('x', 2),
            0x100..=0xffff => ('u', 4),
            _ => ('U', 8),
        };
        self.put(mark);
        for ch in format!("{v:0width$X}").chars() {
            self.put(ch);
        }
    }

    fn write_literal(&mut self, v: &[char]) {
        self.write_indicator("|", true, false, false);
        if v.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let chomp = match v {
            [] => Some('-'),
            [.., last] if !is_break(*last) => Some('-'),
            [_] => Some('+'),
            [.., prev, _] if is_break(*prev) => Some('+'),
            _ => None,
        };
        if let Some(ch) = chomp {
            self.write_indicator(&ch.to_string(), false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in v {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// What libyaml's `yaml_emitter_analyze_scalar` finds out about a scalar.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// libyaml's printable set (over UTF-8 bytes, which leaves out everything beyond
/// the Basic Multilingual Plane).
fn is_printable(c: char) -> bool {
    matches!(c as u32, 0x0a | 0x20..=0x7e | 0xa0..=0xd7ff | 0xe000..=0xfffd) && c != '\u{feff}'
}

fn analyze(v: &[char]) -> Analysis {
    if v.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = v.starts_with(&['-', '-', '-']) || v.starts_with(&['.', '.', '.']);
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_ws = true;
    let last = v.len() - 1;
    for (i, &c) in v.iter().enumerate() {
        let followed_by_ws = i == last || is_blank(v[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= i == last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= i == last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = is_blank(c) || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break || line_breaks {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// libyaml's `yaml_emitter_select_scalar_style` for block context.
fn select_style(requested: Style, a: &Analysis, ctx: Ctx, empty: bool) -> Style {
    let mut style = requested;
    if ctx.simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain_allowed || (empty && ctx.simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || ctx.simple_key) {
        style = Style::Double;
    }
    style
}

/// A non-string scalar as go-yaml prints what JSON made of it.
fn plain_text(v: &Value) -> String {
    match v {
        Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float(*f),
        _ => String::new(),
    }
}

/// A float after the JSON detour: `encoding/json` writes integral values below
/// 1e21 without a fraction, which go-yaml reads back as integers when they fit.
pub fn float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.into()
    } else if f.fract() == 0.0 && f.abs() < 9.2e18 {
        format!("{}", f as i64)
    } else if f.fract() == 0.0 && f > 0.0 && f < 1.8e19 {
        format!("{}", f as u64)
    } else {
        // go-yaml writes floats with strconv's shortest `%g`.
        super::value::format_float_g(f)
    }
}

/// go-yaml v2's key order: runs of digits compare as numbers, letters sort after
/// other characters only where they meet a non-letter.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            // Inside a number that already has a non-zero digit, zeros count.
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let digits = |r: &[char], n: &mut i64| {
            let mut k = i;
            while k < r.len() && r[k].is_ascii_digit() {
                *n = n.wrapping_mul(10).wrapping_add(r[k] as i64 - '0' as i64);
                k += 1;
            }
            k
        };
        let ai = digits(&ar, &mut an);
        let bi = digits(&br, &mut bn);
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(src: &str) -> String {
        to_yaml(&super::super::yaml11::parse(src).unwrap())
    }

    #[test]
    fn go_yaml_v2_shape() {
        assert_eq!(
            y("b: 1\na: [x, {k: v, j: 2}]\nc: {}\n"),
            "a:\n- x\n- j: 2\n  k: v\nb: 1\nc: {}\n"
        );
        assert_eq!(
            y("s: 'true'\nt: '8080'\nu: 'a: b'\nv: ''"),
            "s: \"true\"\nt: \"8080\"\nu: 'a: b'\nv: \"\"\n"
        );
        assert_eq!(y("m: {k: \"l1\\nl2\\n\"}"), "m:\n  k: |\n    l1\n    l2\n");
        assert_eq!(y("- - a\n  - b\n"), "- - a\n  - b\n");
    }

    #[test]
    fn keys_in_natural_order() {
        let mut keys = vec![
            "a10", "a9", "b", "x01", "x1", "x001", "B", "_", "1", "10", "9",
        ];
        keys.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            keys,
            [
                "_", "1", "9", "10", "B", "a9", "a10", "b", "x1", "x01", "x001"
            ]
        );
    }
}
