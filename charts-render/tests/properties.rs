//! The template lexer, parser and executor take text from charts downloaded from the
//! network: whatever the template, adding and executing it returns output or an
//! error, never a panic.

use charts_render::template::TemplateSet;
use charts_render::template::value::Value;
use proptest::prelude::*;

/// Template-shaped text: actions made of the language's own words and literals.
fn template_text() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "if",
        "else",
        "end",
        "range",
        "with",
        "define \"t\"",
        "template \"t\" .",
        "block \"b\" .",
        "break",
        "continue",
        ".",
        ".a.b",
        "$",
        "$x := 1",
        "$x",
        "|",
        "(",
        ")",
        "printf \"%v\"",
        "len",
        "index",
        "eq 1 1.0",
        "and",
        "or",
        "not",
        "0x1p4",
        "1_000",
        "'a'",
        "1i",
        "nil",
        "\"s\"",
        "`raw`",
        "toYaml",
        "include \"t\" .",
        "tpl \"{{ . }}\" .",
        "required \"x\"",
        "default 1",
        "-",
        "/*",
        "*/",
        ":=",
        "=",
        ",",
    ]);
    let action = prop::collection::vec(word, 0..6)
        .prop_map(|words| format!("{{{{ {} }}}}", words.join(" ")));
    let text = prop::sample::select(vec!["", "a", "\n", " ", "{{", "}}", "{{-", "-}}"])
        .prop_map(str::to_string);
    prop::collection::vec(prop_oneof![action, text], 0..12).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn templates_never_panic(src in template_text()) {
        let mut set = TemplateSet::new();
        if set.add("t0", &src).is_ok() {
            let _ = set.execute("t0", Value::Nil);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,120}") {
        let mut set = TemplateSet::new();
        if set.add("t0", &src).is_ok() {
            let _ = set.execute("t0", Value::Nil);
        }
    }
}
