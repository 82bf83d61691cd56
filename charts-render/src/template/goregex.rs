//! Go's regular expressions (RE2 syntax, package `regexp`) rewritten for the
//! `regex` crate where the two dialects differ:
//!
//! - `\w \d \s \b` and their negations are ASCII-only in Go, Unicode in Rust;
//! - in a class, `-` next to a class escape (`[\w-.]`) is a literal in Go and an
//!   error in Rust;
//! - `\Q...\E` quotes a literal in Go; Rust has no such syntax;
//! - `\<`, `\>` are escaped punctuation in Go but word boundaries in Rust;
//! - Go's `regexp.QuoteMeta` escapes fewer characters than `regex::escape`.

/// Rewrites a Go regular expression into the `regex` crate's syntax.
pub fn translate(go: &str) -> String {
    let chars: Vec<char> = go.chars().collect();
    let mut out = String::with_capacity(go.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    // In a class: whether the last item was a class escape such as `\w`, and
    // whether the class has just opened (where `]` and `-` are literals).
    let mut after_class_escape = false;
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let e = chars[i + 1];
            if e == 'Q' {
                let rest: String = chars[i + 2..].iter().collect();
                let (lit, next) = match rest.find("\\E") {
                    Some(end) => (&rest[..end], i + 2 + rest[..end].chars().count() + 2),
                    None => (rest.as_str(), chars.len()),
                };
                for ch in lit.chars() {
                    push_literal(&mut out, ch, in_class);
                }
                i = next;
                continue;
            }
            let class = class_escape(e, in_class);
            if let Some(text) = class {
                out.push_str(text);
                after_class_escape = in_class;
            } else {
                match e {
                    'b' if !in_class => out.push_str("(?-u:\\b)"),
                    'B' if !in_class => out.push_str("(?-u:\\B)"),
                    '<' | '>' => out.push(e),
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
                after_class_escape = false;
            }
            class_start = false;
            i += 2;
            continue;
        }
        if in_class {
            match c {
                ']' if !class_start => in_class = false,
                '-' if after_class_escape
                    || chars.get(i + 1) == Some(&'\\')
                        && chars.get(i + 2).is_some_and(|e| "wWdDsS".contains(*e)) =>
                {
                    out.push_str("\\-");
                    after_class_escape = false;
                    class_start = false;
                    i += 1;
                    continue;
                }
                '[' if chars.get(i + 1) == Some(&':') => {
                    // `[:alpha:]` inside a class: copy it whole.
                    let rest: String = chars[i..].iter().collect();
                    if let Some(end) = rest.find(":]") {
                        out.push_str(&rest[..end + 2]);
                        i += rest[..end + 2].chars().count();
                        after_class_escape = false;
                        class_start = false;
                        continue;
                    }
                    out.push_str("\\[");
                    i += 1;
                    continue;
                }
                // A literal `[`, `&&`, `--` or `~~` inside a class means a nested class or
                // a set operation to Rust; Go reads them literally.
                '[' => {
                    out.push_str("\\[");
                    i += 1;
                    class_start = false;
                    continue;
                }
                '&' | '~' if chars.get(i + 1) == Some(&c) => {
                    out.push('\\');
                    out.push(c);
                    i += 1;
                    class_start = false;
                    continue;
                }
                _ => {}
            }
            out.push(c);
            after_class_escape = false;
            if !(class_start && c == '^') {
                class_start = false;
            }
            i += 1;
            continue;
        }
        if c == '[' {
            in_class = true;
            class_start = true;
            after_class_escape = false;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Go's ASCII-only class escapes, written for inside or outside a class.
fn class_escape(e: char, in_class: bool) -> Option<&'static str> {
    Some(match (e, in_class) {
        ('w', false) => "[0-9A-Za-z_]",
        ('w', true) => "0-9A-Za-z_",
        ('W', false) => "[^0-9A-Za-z_]",
        ('W', true) => "[^0-9A-Za-z_]",
        ('d', false) => "[0-9]",
        ('d', true) => "0-9",
        ('D', _) => "[^0-9]",
        ('s', false) => "[\\t\\n\\x0C\\r ]",
        ('s', true) => "\\t\\n\\x0C\\r ",
        ('S', _) => "[^\\t\\n\\x0C\\r ]",
        _ => return None,
    })
}

fn push_literal(out: &mut String, ch: char, in_class: bool) {
    let special = if in_class {
        "\\]^-[&~"
    } else {
        "\\.+*?()|[]{}^$#&-~"
    };
    if special.contains(ch) {
        out.push('\\');
    }
    out.push(ch);
}

/// Go's `regexp.QuoteMeta`.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if "\\.+*?()|[]{}^$".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Compiles a Go regular expression.
pub fn compile(go: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&translate(go))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(re: &str, s: &str) -> bool {
        compile(re)
            .unwrap_or_else(|e| panic!("{re}: {e}"))
            .is_match(s)
    }

    #[test]
    fn go_syntax_rust_rejects_is_translated() {
        assert!(matches(r"^[\w-\.]+$", "my-master.1"));
        assert!(!matches(r"^[\w-\.]+$", "my master"));
        assert!(matches(r"^[.-\w]+$", "a-b.c"));
        assert!(matches(r"^\Qa.b*\E$", "a.b*"));
        assert!(!matches(r"^\Qa.b*\E$", "aXbb"));
        assert!(matches(r"\<x\>", "<x>"));
        assert!(matches(r"^[a[]+$", "a[a"));
        assert!(matches(r"^[a&&b]+$", "a&b"));
        assert!(matches(r"^[[:alpha:]-]+$", "ab-c"));
    }

    #[test]
    fn class_escapes_are_ascii_as_in_go() {
        assert!(!matches(r"^\w+$", "héllo"));
        assert!(matches(r"^\W$", "é"));
        assert!(!matches(r"^\d$", "٣"));
        assert!(matches(r"^[^\d]$", "٣"));
        assert!(!matches(r"^\s$", "\u{a0}"));
        assert!(matches(r"x\b", "x é"));
        assert!(matches(r"(?P<n>a)(?<m>b)", "ab"));
        assert!(matches(r"^[^\w]$", "-"));
        assert!(matches(r"^[\S]+$", "ab"));
    }

    #[test]
    fn quote_meta_escapes_what_go_escapes() {
        assert_eq!(quote_meta("a.b-c#d~e&f[g]"), r"a\.b-c#d~e&f\[g\]");
    }
}
