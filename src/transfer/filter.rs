//! Which source repositories a transfer takes: `--letters`, `--ignore-pattern` and
//! `--ignore-config`, read as the original `acr_transfer.py` reads them.
//!
//! Globs follow Python's `fnmatch`: `*` matches any run of characters *including* `/`
//! (so `myRepo/*` is every repository under `myRepo/`, however deep), `?` one character,
//! `[seq]` and `[!seq]` a character class, and the whole name must match. A pattern
//! after `re:` is a regular expression in Python's syntax (backreferences such as `\1`,
//! lookaround, `(?P<name>...)`), matched as Python's `re.match` does: anchored at the
//! start of the name, not at its end.
//!
//! Registry repository names are lowercase (the distribution grammar; ACR lowercases
//! what it is given), so the seed's own examples (`myRepo/*`) can only mean `myrepo/*`:
//! letters, globs and regexes are compared without regard to case.
//!
//! ```
//! use acr_sync::transfer::filter::{Letters, Pattern};
//!
//! let glob = Pattern::parse("myRepo/*").unwrap();
//! assert!(glob.matches("myrepo/a/b"));
//! let twice = Pattern::parse(r"re:^myRepo/([^/]+)/\1$").unwrap();
//! assert!(twice.matches("myrepo/foo/foo") && !twice.matches("myrepo/foo/bar"));
//! let letters = Letters::parse("a-c,e").unwrap();
//! assert!(letters.admits("app") && letters.admits("e2e") && !letters.admits("d"));
//! ```

use std::path::{Path, PathBuf};

/// A `--letters`, `--ignore-pattern` or `--ignore-config` value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// `--letters` is not a comma list of letters and ranges.
    #[error("--letters {input:?}: {message} (expected letters and ranges such as a-c,e,g)")]
    Letters {
        /// The value given.
        input: String,
        /// What is wrong with it.
        message: String,
    },
    /// A `re:` pattern does not compile.
    #[error("ignore pattern {pattern:?}: not a valid regular expression: {message}")]
    Regex {
        /// The pattern as given, with its `re:` prefix.
        pattern: String,
        /// The regex compiler's message.
        message: String,
    },
    /// The ignore config file cannot be read.
    #[error("--ignore-config {}: {source}", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The ignore config file is not a JSON array of strings.
    #[error("--ignore-config {}: {message} (expected a JSON array of patterns, such as [\"myRepo/*\", \"re:^tmp-\"])", path.display())]
    ConfigShape {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column for a syntax error.
        message: String,
    },
}

/// Inclusive ranges of first letters (`a-c,e,g`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letters(Vec<(char, char)>);

impl Letters {
    /// Parses `a-c,e,g`; spaces around items are allowed.
    pub fn parse(input: &str) -> Result<Letters, FilterError> {
        let bad = |message: &str| FilterError::Letters {
            input: input.to_string(),
            message: message.to_string(),
        };
        let mut ranges = Vec::new();
        for item in input.split(',').map(str::trim) {
            let chars: Vec<char> = item.chars().collect();
            let range = match chars.as_slice() {
                [c] => (*c, *c),
                [a, '-', b] => (*a, *b),
                [] => return Err(bad("an empty item")),
                _ => return Err(bad(&format!("{item:?} is neither a letter nor a range"))),
            };
            let (a, b) = (range.0.to_ascii_lowercase(), range.1.to_ascii_lowercase());
            if !a.is_ascii_alphanumeric() || !b.is_ascii_alphanumeric() {
                return Err(bad(&format!("{item:?}: only letters and digits")));
            }
            if a > b {
                return Err(bad(&format!("{item:?}: the range runs backwards")));
            }
            ranges.push((a, b));
        }
        Ok(Letters(ranges))
    }

    /// Whether the first character of `repository` is in one of the ranges.
    pub fn admits(&self, repository: &str) -> bool {
        let Some(first) = repository.chars().next() else {
            return false;
        };
        let first = first.to_ascii_lowercase();
        self.0.iter().any(|(a, b)| (*a..=*b).contains(&first))
    }
}

/// One ignore pattern: an fnmatch glob, or a regex after `re:`.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    regex: fancy_regex::Regex,
}

impl Pattern {
    /// Parses one pattern (see the module documentation).
    pub fn parse(text: &str) -> Result<Pattern, FilterError> {
        let source = match text.strip_prefix("re:") {
            // `\A(?:...)`: Python's re.match anchors at the start only; the group keeps
            // the user's alternatives and group numbers intact.
            Some(re) => format!(r"(?i)\A(?:{re})"),
            None => format!(r"(?is)\A(?:{})\z", fnmatch_to_regex(text)),
        };
        let regex = fancy_regex::Regex::new(&source).map_err(|e| FilterError::Regex {
            pattern: text.to_string(),
            message: e.to_string(),
        })?;
        Ok(Pattern {
            text: text.to_string(),
            regex,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `repository` matches. A regex whose backtracking exceeds fancy-regex's
    /// limit counts as no match rather than stopping the run.
    pub fn matches(&self, repository: &str) -> bool {
        self.regex.is_match(repository).unwrap_or(false)
    }
}

/// Translates an fnmatch glob into regex syntax, as Python's `fnmatch.translate` does:
/// `*` -> `.*`, `?` -> `.`, `[...]`/`[!...]` -> a class, an unclosed `[` a literal.
pub fn fnmatch_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                // Consecutive stars mean the same as one.
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => match class_end(&chars, i) {
                Some(end) => {
                    out.push_str(&class_to_regex(&chars[i..end]));
                    i = end + 1;
                }
                None => out.push_str(r"\["),
            },
            c => out.push_str(&regex_syntax_escape(c)),
        }
    }
    out
}

/// The index of the `]` closing a class opened just before `start`; a `]` right after
/// `[` or `[!` belongs to the class, as in Python.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start;
    if chars.get(j) == Some(&'!') {
        j += 1;
    }
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    (j..chars.len()).find(|&k| chars[k] == ']')
}

fn class_to_regex(body: &[char]) -> String {
    let (negated, body) = match body.first() {
        Some('!') => (true, &body[1..]),
        _ => (false, body),
    };
    if body.is_empty() {
        // Unreachable from `class_end` (a `]` right after `[` is part of the class);
        // kept total: an empty class matches nothing, its negation any character.
        return if negated { ".".into() } else { "(?!)".into() };
    }
    let mut class = String::from(if negated { "[^" } else { "[" });
    for &c in body {
        match c {
            // Characters that regex classes treat specially are taken literally; `-`
            // keeps forming ranges as in fnmatch.
            '\\' | '[' | ']' | '^' | '&' | '~' | '|' => {
                class.push('\\');
                class.push(c);
            }
            c => class.push(c),
        }
    }
    class.push(']');
    class
}

fn regex_syntax_escape(c: char) -> String {
    let mut s = [0u8; 4];
    fancy_regex::escape(c.encode_utf8(&mut s)).into_owned()
}

/// The repositories a transfer takes: letters (unless one repository was named) and
/// ignore patterns.
#[derive(Debug, Clone, Default)]
pub struct RepositoryFilter {
    /// First letters admitted; None admits every name.
    pub letters: Option<Letters>,
    /// Names matching any of these are left out.
    pub ignore: Vec<Pattern>,
}

impl RepositoryFilter {
    /// Why `repository` is left out, or None when it is taken.
    pub fn excludes(&self, repository: &str) -> Option<String> {
        if let Some(letters) = &self.letters
            && !letters.admits(repository)
        {
            return Some("not under --letters".to_string());
        }
        self.ignore
            .iter()
            .find(|p| p.matches(repository))
            .map(|p| format!("ignored by pattern {:?}", p.as_str()))
    }
}

/// Splits `--ignore-pattern` values (each may be a comma list) into patterns. A `re:`
/// value is kept whole, since regexes may contain commas (`{1,3}`).
pub fn split_pattern_args<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    values
        .into_iter()
        .flat_map(|v| {
            if v.trim_start().starts_with("re:") {
                vec![v.trim().to_string()]
            } else {
                v.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            }
        })
        .collect()
}

/// Reads an `--ignore-config` file: a JSON array of pattern strings.
pub fn read_ignore_config(path: &Path) -> Result<Vec<String>, FilterError> {
    let bytes = std::fs::read(path).map_err(|source| FilterError::ConfigRead {
        path: path.to_path_buf(),
        source,
    })?;
    let shape = |message: String| FilterError::ConfigShape {
        path: path.to_path_buf(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| shape(e.to_string()))?;
    let items = value
        .as_array()
        .ok_or_else(|| shape("the top level is not an array".to_string()))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| shape(format!("item {i} is not a string")))
        })
        .collect()
}

/// Compiles patterns, naming the first that does not compile.
pub fn compile(patterns: &[String]) -> Result<Vec<Pattern>, FilterError> {
    patterns.iter().map(|p| Pattern::parse(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, name: &str) -> bool {
        Pattern::parse(glob).unwrap().matches(name)
    }

    #[test]
    fn fnmatch_star_crosses_slashes_as_in_python() {
        // fnmatch.fnmatch("myrepo/a/b", "myrepo/*") is True in Python.
        assert!(m("myRepo/*", "myrepo/a/b"));
        assert!(m("myRepo/*", "myrepo/x"));
        assert!(!m("myRepo/*", "myrepo"));
        assert!(!m("myRepo/*", "other/myrepo/x"));
        assert!(m("myRepoWithSubFolders/*/*", "myrepowithsubfolders/a/b"));
        assert!(m("myRepoWithSubFolders/*/*", "myrepowithsubfolders/a/b/c"));
        assert!(!m("myRepoWithSubFolders/*/*", "myrepowithsubfolders/a"));
        assert!(m("*repo/*", "myrepo/app"));
        assert!(m("*repo/*", "team/gitrepo/app"));
        assert!(!m("*repo/*", "repos/app"));
        assert!(m("*", ""));
        assert!(m("**", "a/b"));
    }

    #[test]
    fn fnmatch_question_mark_and_classes() {
        assert!(m("app?", "app1"));
        assert!(!m("app?", "app"));
        assert!(m("app?", "app/"));
        assert!(m("[abc]pp", "bpp"));
        assert!(!m("[abc]pp", "dpp"));
        assert!(m("[!abc]pp", "dpp"));
        assert!(!m("[!abc]pp", "app"));
        assert!(m("v[0-9]", "v7"));
        assert!(m("[]]x", "]x"));
        assert!(m("[!]]x", "ax"));
        assert!(!m("[!]]x", "]x"));
        // An unclosed bracket is a literal, as in Python.
        assert!(m("a[b", "a[b"));
        // Regex metacharacters in a glob are literal.
        assert!(m("a.b+c", "a.b+c"));
        assert!(!m("a.b", "axb"));
        assert!(m("[a^]", "^"));
        assert!(m(r"[\]", r"\"));
    }

    #[test]
    fn fnmatch_translation_matches_pythons_shape() {
        assert_eq!(fnmatch_to_regex("a*b"), "a.*b");
        assert_eq!(fnmatch_to_regex("[!x]"), "[^x]");
    }

    #[test]
    fn regexes_take_python_syntax_and_anchor_like_re_match() {
        let p = Pattern::parse(r"re:^myRepo/([^/]+)/\1$").unwrap();
        assert!(p.matches("myrepo/foo/foo"));
        assert!(!p.matches("myrepo/foo/bar"));
        assert!(!p.matches("myrepo/foo/foo/foo"));
        let named = Pattern::parse(r"re:(?P<a>[a-z]+)-(?P=a)").unwrap();
        assert!(named.matches("ab-ab"));
        // re.match: anchored at the start, not at the end.
        let prefix = Pattern::parse("re:tmp-").unwrap();
        assert!(prefix.matches("tmp-1/x"));
        assert!(!prefix.matches("a/tmp-1"));
        let alternatives = Pattern::parse("re:a|b").unwrap();
        assert!(alternatives.matches("bx") && !alternatives.matches("xb"));
        assert!(matches!(
            Pattern::parse("re:(unclosed"),
            Err(FilterError::Regex { .. })
        ));
    }

    #[test]
    fn letters_take_ranges_and_single_letters() {
        let l = Letters::parse("a-c, e,g").unwrap();
        for yes in ["app", "bar", "cat/x", "e", "Gamma"] {
            assert!(l.admits(yes), "{yes}");
        }
        for no in ["d", "f", "zeta", "", "1x"] {
            assert!(!l.admits(no), "{no}");
        }
        assert!(Letters::parse("0-9").unwrap().admits("7zip"));
        for bad in ["", "a-", "c-a", "ab", "a,,b", "a-c-e", "*"] {
            assert!(Letters::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pattern_args_split_on_commas_except_regexes() {
        let got = split_pattern_args(["a/*, b/*", "re:^x{1,3}$", "c"]);
        assert_eq!(got, ["a/*", "b/*", "re:^x{1,3}$", "c"]);
    }

    #[test]
    fn ignore_config_is_a_json_array_of_strings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ignore.json");
        std::fs::write(&path, r#"["myRepo/*", "re:^myRepo/([^/]+)/\\1$"]"#).unwrap();
        let got = read_ignore_config(&path).unwrap();
        assert_eq!(got, ["myRepo/*", r"re:^myRepo/([^/]+)/\1$"]);
        std::fs::write(&path, r#"{"a": 1}"#).unwrap();
        assert!(read_ignore_config(&path).is_err());
        std::fs::write(&path, r#"["a", 3]"#).unwrap();
        assert!(
            read_ignore_config(&path)
                .unwrap_err()
                .to_string()
                .contains("item 1")
        );
        assert!(read_ignore_config(&dir.path().join("missing.json")).is_err());
    }

    #[test]
    fn filter_says_why_a_repository_is_left_out() {
        let f = RepositoryFilter {
            letters: Some(Letters::parse("m").unwrap()),
            ignore: compile(&["myRepo/*".to_string()]).unwrap(),
        };
        assert_eq!(f.excludes("mine"), None);
        assert!(f.excludes("team/app").unwrap().contains("--letters"));
        assert!(f.excludes("myrepo/x").unwrap().contains("myRepo/*"));
    }
}
