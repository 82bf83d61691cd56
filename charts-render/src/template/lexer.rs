//! Splits template source into text and actions, applying `{{-`/`-}}` trimming and
//! dropping comments, and tokenizes the inside of each action.

/// One piece of a template: literal text or the tokens of one `{{ ... }}` action.
#[derive(Debug, Clone)]
pub enum Item {
    /// Text copied to the output as is.
    Text(String),
    /// An action's tokens; `pos` is the byte offset of its `{{`.
    Action {
        /// The tokens between the delimiters.
        toks: Vec<Tok>,
        /// Byte offset of the action in the source.
        pos: usize,
    },
}

/// A token inside an action.
#[derive(Debug, Clone, PartialEq)]
pub struct Tok {
    /// What it is.
    pub kind: TokKind,
    /// Byte offset in the source, for error messages.
    pub pos: usize,
    /// Whether whitespace came before it (separates `.a .b` from `.a.b`).
    pub spaced: bool,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum TokKind {
    /// `.Name`
    Field(String),
    /// `.` alone
    Dot,
    /// `$name` or `$`
    Var(String),
    /// A function name or keyword.
    Ident(String),
    /// A quoted or raw string, unescaped.
    Str(String),
    /// A number literal as written.
    Num(String),
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// `|`
    Pipe,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
}

/// A lexing error at a byte offset.
#[derive(Debug, Clone)]
pub struct LexError {
    /// Byte offset.
    pub pos: usize,
    /// What went wrong.
    pub msg: String,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits `src` into items.
pub fn lex(src: &str) -> Result<Vec<Item>, LexError> {
    let b = src.as_bytes();
    let mut items = Vec::new();
    let mut i = 0;
    let mut trim_next = false;
    while i < b.len() {
        let Some(off) = src[i..].find("{{") else {
            push_text(&mut items, &src[i..], trim_next, false);
            break;
        };
        let start = i + off;
        let left_trim =
            b.get(start + 2) == Some(&b'-') && b.get(start + 3).is_some_and(|c| is_space(*c));
        push_text(&mut items, &src[i..start], trim_next, left_trim);
        let mut j = start + 2 + if left_trim { 2 } else { 0 };
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        if src[j..].starts_with("/*") {
            let end = src[j..].find("*/").ok_or(LexError {
                pos: start,
                msg: "unclosed comment".into(),
            })? + j
                + 2;
            let (close, rt) = close_delim(src, end).ok_or(LexError {
                pos: start,
                msg: "comment ends before closing delimiter".into(),
            })?;
            trim_next = rt;
            i = close;
            continue;
        }
        let (toks, close, rt) = lex_action(src, j, start)?;
        items.push(Item::Action { toks, pos: start });
        trim_next = rt;
        i = close;
    }
    Ok(items)
}

/// Finds `}}` or ` -}}` right at `at` (after optional spaces); returns the offset after it.
fn close_delim(src: &str, at: usize) -> Option<(usize, bool)> {
    let b = src.as_bytes();
    let mut k = at;
    while k < b.len() && is_space(b[k]) {
        k += 1;
    }
    if src[k..].starts_with("-}}") && k > at {
        return Some((k + 3, true));
    }
    if src[k..].starts_with("}}") {
        return Some((k + 2, false));
    }
    None
}

fn push_text(items: &mut Vec<Item>, text: &str, trim_left: bool, trim_right: bool) {
    let mut t = text;
    if trim_left {
        t = t.trim_start_matches([' ', '\t', '\r', '\n']);
    }
    if trim_right {
        t = t.trim_end_matches([' ', '\t', '\r', '\n']);
    }
    if !t.is_empty() {
        items.push(Item::Text(t.to_string()));
    }
}

fn lex_action(src: &str, mut i: usize, start: usize) -> Result<(Vec<Tok>, usize, bool), LexError> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let mut spaced = true;
    loop {
        if i >= b.len() {
            return Err(LexError {
                pos: start,
                msg: "unclosed action".into(),
            });
        }
        let c = b[i];
        if is_space(c) {
            if let Some((end, rt)) = close_delim(src, i).filter(|(_, rt)| *rt) {
                return Ok((toks, end, rt));
            }
            spaced = true;
            i += 1;
            continue;
        }
        if src[i..].starts_with("}}") {
            return Ok((toks, i + 2, false));
        }
        let (kind, next) = lex_token(src, i)?;
        toks.push(Tok {
            kind,
            pos: i,
            spaced,
        });
        spaced = false;
        i = next;
    }
}

fn ident_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
        i += 1;
    }
    i
}

fn lex_token(src: &str, i: usize) -> Result<(TokKind, usize), LexError> {
    let b = src.as_bytes();
    let c = b[i];
    let err = |msg: &str| LexError {
        pos: i,
        msg: msg.to_string(),
    };
    Ok(match c {
        b'.' if b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => lex_number(src, i)?,
        b'.' => {
            let e = ident_end(b, i + 1);
            if e == i + 1 {
                (TokKind::Dot, i + 1)
            } else {
                (TokKind::Field(src[i + 1..e].to_string()), e)
            }
        }
        b'$' => {
            let e = ident_end(b, i + 1);
            (TokKind::Var(src[i..e].to_string()), e)
        }
        b':' if b.get(i + 1) == Some(&b'=') => (TokKind::Declare, i + 2),
        b'=' => (TokKind::Assign, i + 1),
        b'|' => (TokKind::Pipe, i + 1),
        b'(' => (TokKind::LParen, i + 1),
        b')' => (TokKind::RParen, i + 1),
        b',' => (TokKind::Comma, i + 1),
        b'"' => lex_quoted(src, i)?,
        b'`' => {
            let e = src[i + 1..]
                .find('`')
                .ok_or_else(|| err("unterminated raw quoted string"))?
                + i
                + 1;
            (TokKind::Str(src[i + 1..e].to_string()), e + 1)
        }
        b'\'' => {
            let (s, e) = lex_char(src, i)?;
            (TokKind::Num(s), e)
        }
        b'-' | b'+' | b'0'..=b'9' => lex_number(src, i)?,
        _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
            let e = ident_end(b, i);
            (TokKind::Ident(src[i..e].to_string()), e)
        }
        _ => return Err(err(&format!("unexpected {:?} in command", c as char))),
    })
}

fn lex_number(src: &str, i: usize) -> Result<(TokKind, usize), LexError> {
    match super::number::scan(src.as_bytes(), i) {
        Ok(e) => Ok((TokKind::Num(src[i..e].to_string()), e)),
        Err(e) => Err(LexError {
            pos: i,
            msg: format!("bad number syntax: {:?}", &src[i..e]),
        }),
    }
}

/// A character constant, kept as written (`'a'`); the parser reads its value.
fn lex_char(src: &str, i: usize) -> Result<(String, usize), LexError> {
    let b = src.as_bytes();
    let unterminated = LexError {
        pos: i,
        msg: "unterminated character constant".into(),
    };
    let mut k = i + 1;
    loop {
        match b.get(k) {
            None | Some(b'\n') => return Err(unterminated),
            Some(b'\\') if matches!(b.get(k + 1), None | Some(b'\n')) => return Err(unterminated),
            Some(b'\\') => k += 2,
            Some(b'\'') => return Ok((src[i..=k].to_string(), k + 1)),
            Some(_) => k += 1,
        }
    }
}

fn lex_quoted(src: &str, i: usize) -> Result<(TokKind, usize), LexError> {
    let mut out = String::new();
    let mut chars = src[i + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => return Ok((TokKind::Str(out), i + 1 + k + 1)),
            '\n' => break,
            '\\' => {
                let (_, e) = chars.next().ok_or(LexError {
                    pos: i,
                    msg: "unterminated quoted string".into(),
                })?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    'x' => {
                        let h: String = (0..2).filter_map(|_| chars.next().map(|x| x.1)).collect();
                        out.push(u8::from_str_radix(&h, 16).map(char::from).unwrap_or('?'));
                    }
                    'u' | 'U' => {
                        let n = if e == 'u' { 4 } else { 8 };
                        let h: String = (0..n).filter_map(|_| chars.next().map(|x| x.1)).collect();
                        out.push(
                            u32::from_str_radix(&h, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .unwrap_or('?'),
                        );
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    Err(LexError {
        pos: i,
        msg: "unterminated quoted string".into(),
    })
}
