//! The template engine against Go's `text/template` semantics, table-driven. Every
//! expected output or error below is what Go (helm 3.17.1's build) gives for the
//! same template and data; they were checked against the helm oracle. Not modelled:
//! Go tells `int` (template literals, `len`) from `int64` (`--set`, Sprig math);
//! here every integer is an `int64`, so `%T`/`typeOf` of a literal differ.

use charts_render::template::{TemplateSet, Value};

const DATA: &str = "f: 1\ns: x\nm: {a: 1, b: 2}\nl: [1, 2, 3]\nn: ~\ntrue_: true\n";

/// (template, expected output, or `Err(text the error must contain)`).
const CASES: &[(&str, Result<&str, &str>)] = &[
    // Number literals.
    ("{{ mulf 2 0x1p4 }}", Ok("32")),
    (
        "{{ 0x1F }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 0X_ff }}",
        Ok("31 15 15 5 255"),
    ),
    (
        "{{ 1_000_000 }} {{ 1e3 }} {{ .5 }} {{ 1.e2 }} {{ 012.5 }}",
        Ok("1000000 1000 0.5 100 12.5"),
    ),
    (
        "{{ 1e6 }} {{ 0x1p-2 }} {{ -0x10 }} {{ +7 }}",
        Ok("1e+06 0.25 -16 7"),
    ),
    (
        "{{ 1i }} {{ 1.5i }} {{ 0i }} {{ 2+3i }} {{ -1-1i }}",
        Ok("(0+1i) (0+1.5i) (0+0i) (2+3i) (-1-1i)"),
    ),
    (
        "{{ 'a' }} {{ '\\n' }} {{ '\\u00e9' }} {{ '\\x41' }} {{ '\\101' }}",
        Ok("97 10 233 65 65"),
    ),
    (
        "{{ printf \"%T %T %T\" 1.0 1e3 1i }}",
        Ok("float64 float64 complex128"),
    ),
    ("{{ 0x1g }}", Err("bad number syntax: \"0x1g\"")),
    ("{{ 1+2 }}", Err("bad number syntax: \"1+2\"")),
    (
        "{{ 99999999999999999999 }}",
        Err("integer overflow: \"99999999999999999999\""),
    ),
    ("{{ 09 }}", Err("integer overflow: \"09\"")),
    ("{{ 1__0 }}", Err("illegal number syntax: \"1__0\"")),
    ("{{ 0x1.8 }}", Err("illegal number syntax: \"0x1.8\"")),
    ("{{ 'ab' }}", Err("malformed character constant: 'ab'")),
    ("{{ 'a }}", Err("unterminated character constant")),
    (
        "{{ 0xFFFFFFFFFFFFFFFF }}",
        Err("at <0xFFFFFFFFFFFFFFFF>: 0xFFFFFFFFFFFFFFFF overflows int"),
    ),
    // Comparisons: one basic kind at a time.
    (
        "{{ eq 1 1.0 }}",
        Err("at <eq 1 1.0>: error calling eq: incompatible types for comparison"),
    ),
    (
        "{{ eq .f 1 }}",
        Err("error calling eq: incompatible types for comparison"),
    ),
    (
        "{{ eq .f 1.0 }} {{ eq 1 2 1 }} {{ eq \"a\" \"b\" \"a\" }}",
        Ok("true true true"),
    ),
    ("{{ eq \"a\" \"a\" 1 }}", Ok("true")),
    (
        "{{ eq \"a\" \"b\" 1 }}",
        Err("error calling eq: incompatible types for comparison"),
    ),
    (
        "{{ eq nil \"a\" }} {{ eq .n .n }} {{ eq .m nil }} {{ eq 1i 1i }}",
        Ok("false true false true"),
    ),
    (
        "{{ eq .m .m }}",
        Err(
            "error calling eq: non-comparable type map[a:%!s(float64=1) b:%!s(float64=2)]: map[string]interface {}",
        ),
    ),
    (
        "{{ eq .l .m }}",
        Err(
            "non-comparable types [%!s(float64=1) %!s(float64=2) %!s(float64=3)]: []interface {}, map[string]interface {}: map[a:1 b:2]",
        ),
    ),
    ("{{ eq true 1 }}", Err("incompatible types for comparison")),
    (
        "{{ eq 1 }}",
        Err("error calling eq: missing argument for comparison"),
    ),
    (
        "{{ ne 1 1.0 }}",
        Err("error calling ne: incompatible types for comparison"),
    ),
    (
        "{{ lt 1 2 }} {{ lt \"a\" \"b\" }} {{ le 2 2 }} {{ gt 3 2 }} {{ ge 1.5 2.5 }}",
        Ok("true true true true false"),
    ),
    (
        "{{ lt 1 2.0 }}",
        Err("error calling lt: incompatible types for comparison"),
    ),
    (
        "{{ lt true false }}",
        Err("error calling lt: invalid type for comparison"),
    ),
    (
        "{{ lt .n 1 }}",
        Err("error calling lt: invalid type for comparison"),
    ),
    (
        "{{ lt 1 }}",
        Err("at <lt>: wrong number of args for lt: want 2 got 1"),
    ),
    (
        "{{ not }}",
        Err("wrong number of args for not: want 1 got 0"),
    ),
    // printf verbs and Go's formatting of maps and slices.
    (
        "{{ .m }} {{ .l }} {{ list 1 \"a\" nil (dict \"k\" (list 2)) }}",
        Ok("map[a:1 b:2] [1 2 3] [1 a <nil> map[k:[2]]]"),
    ),
    (
        "{{ printf \"%v|%v|%v\" .m .l .n }}",
        Ok("map[a:1 b:2]|[1 2 3]|<nil>"),
    ),
    (
        "{{ printf \"%d|%d|%s|%s\" 42 .f true .l }}",
        Ok("42|%!d(float64=1)|%!s(bool=true)|[%!s(float64=1) %!s(float64=2) %!s(float64=3)]"),
    ),
    ("{{ printf \"%q|%q\" \"a\\\"b\" 65 }}", Ok("\"a\\\"b\"|'A'")),
    (
        "{{ printf \"%x|%X|%o|%b|%x|%x\" 255 255 8 5 -255 \"hi\" }}",
        Ok("ff|FF|10|101|-ff|6869"),
    ),
    (
        "{{ printf \"%e|%f|%g|%E|%G\" 1234.5678 1234.5678 1234.5678 1e21 1e-7 }}",
        Ok("1.234568e+03|1234.567800|1234.5678|1.000000E+21|1E-07"),
    ),
    (
        "{{ printf \"%t|%T|%T|%T|%T\" true \"s\" .m .l .n }}",
        Ok("true|string|map[string]interface {}|[]interface {}|<nil>"),
    ),
    (
        "{{ printf \"%5.2f|%-5s|%+d|%08.3f|%5d|%05d|%+08d\" 3.14159 \"ab\" 5 -3.14159 42 -42 42 }}",
        Ok(" 3.14|ab   |+5|-003.142|   42|-0042|+0000042"),
    ),
    (
        "{{ printf \"%#v|%#v|%#v\" \"s\" .m (list 1 \"a\" nil) }}",
        Ok(
            "\"s\"|map[string]interface {}{\"a\":1, \"b\":2}|[]interface {}{1, \"a\", interface {}(nil)}",
        ),
    ),
    (
        "{{ printf \"%.3g|%.2g|%g|%6.3v|%.2s\" 3.14159 100.0 1234567.0 3.14159 \"trunc\" }}",
        Ok("3.14|1e+02|1.234567e+06|  3.14|tr"),
    ),
    (
        "{{ printf \"%x|%X|%c|%U\" 3.5 1.5 65 233 }}",
        Ok("0x1.cp+01|0X1.8P+00|A|U+00E9"),
    ),
    (
        "{{ printf \"%8v|%-5d|\" .l (list 1 2) }}",
        Ok("[       1        2        3]|[1     2    ]|"),
    ),
    (
        "{{ printf \"%d %d\" 1 }}|{{ printf \"%d\" 1 \"b\" }}|{{ printf \"%z\" \"a\" }}",
        Ok("1 %!d(MISSING)|1%!(EXTRA string=b)|%!z(string=a)"),
    ),
    // range, with, else with, break, continue.
    (
        "{{ with .n }}x{{ else with .s }}[{{ . }}]{{ else }}none{{ end }}",
        Ok("[x]"),
    ),
    (
        "{{ with .n }}x{{ else with .n }}y{{ else }}none{{ end }}",
        Ok("none"),
    ),
    (
        "{{ with .n }}x{{ else if .s }}y{{ end }}",
        Err("unexpected <if> in input"),
    ),
    (
        "{{ if .n }}x{{ else with .s }}y{{ end }}",
        Err("unexpected <with> in input"),
    ),
    (
        "{{ range $i, $e := .l }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $e }}{{ end }}",
        Ok("13"),
    ),
    (
        "{{ range .l }}{{ if eq . 2.0 }}{{ break }}{{ end }}{{ . }}{{ end }}",
        Ok("1"),
    ),
    (
        "{{ range $k, $v := .m }}{{ $k }}={{ $v }},{{ else }}empty{{ end }}",
        Ok("a=1,b=2,"),
    ),
    ("{{ range (list) }}x{{ else }}none{{ end }}", Ok("none")),
    (
        "{{ range 3 }}{{ . }}{{ end }}",
        Err("at <3>: range can't iterate over 3"),
    ),
    (
        "{{ range .s }}{{ . }}{{ end }}",
        Err("at <.s>: range can't iterate over x"),
    ),
    ("{{ break }}", Err("{{break}} outside {{range}}")),
    (
        "{{ if true }}{{ continue }}{{ end }}",
        Err("{{continue}} outside {{range}}"),
    ),
    (
        "{{ range .l }}{{ break 1 }}{{ end }}",
        Err("unexpected \"1\" in {{break}}"),
    ),
    // Variables and scope.
    (
        "{{ $x := 1 }}{{ with $x := 2 }}{{ $x }}{{ end }}{{ $x }}",
        Ok("21"),
    ),
    (
        "{{ $x := 1 }}{{ range .l }}{{ $x = . }}{{ end }}{{ $x }}",
        Ok("3"),
    ),
    (
        "{{ if $z := 1 }}{{ $z }}{{ else }}{{ $z }}{{ end }}",
        Ok("1"),
    ),
    (
        "{{ range $x := .l }}{{ end }}{{ $x }}",
        Err("undefined variable \"$x\""),
    ),
    ("{{ $y = 1 }}", Err("at <1>: undefined variable: $y")),
    (
        "{{ define \"d\" }}{{ $q }}{{ end }}",
        Err("undefined variable \"$q\""),
    ),
    // index: maps, slices, strings (a byte).
    (
        "{{ index \"abc\" 1 }} {{ index .m \"a\" }} {{ index (list (list 1 2)) 0 1 }}",
        Ok("98 1 2"),
    ),
    (
        "{{ index .l 5 }}",
        Err("error calling index: index out of range: 5"),
    ),
    (
        "{{ index .l 1.0 }}",
        Err("error calling index: cannot index slice/array with type float64"),
    ),
    // Template calls.
    (
        "{{ define \"x\" }}({{ . }}){{ end }}{{ template \"x\" 5 }}{{ block \"b\" 6 }}[{{ . }}]{{ end }}",
        Ok("(5)[6]"),
    ),
    (
        "{{ template \"nope\" .s }}",
        Err("t:1:12: executing \"t\" at <{{template \"nope\" .s}}>: template \"nope\" not defined"),
    ),
    // Whitespace trimming and comments.
    ("x {{- 1 -}} y {{- /* c */ -}} z", Ok("x1yz")),
    ("x {{- 3 }}  {{2 -}}  y", Ok("x3  2y")),
    (
        "{{ \"a\" | 1 }}",
        Err("non executable command in pipeline stage 2"),
    ),
    ("{{ nil }}", Err("nil is not a command")),
    (
        "{{ .f.x }}",
        Err("can't evaluate field x in type interface {}"),
    ),
    (
        "{{ .m.a.b }}",
        Err("can't evaluate field b in type interface {}"),
    ),
    (
        "{{ and 1 0 }} {{ or 0 \"\" \"z\" }} {{ and 1 2 }} {{ not 0 }}",
        Ok("0 z 2 true"),
    ),
];

#[test]
fn the_engine_follows_go_text_template() {
    let data = Value::from_yaml(&yaml_serde::from_str(DATA).unwrap());
    let mut failures = Vec::new();
    for (src, want) in CASES {
        let mut set = TemplateSet::new();
        let got = set
            .add("t", src)
            .and_then(|_| set.execute("t", data.clone()))
            .map_err(|e| e.to_string());
        let ok = match (&got, want) {
            (Ok(g), Ok(w)) => g == w,
            (Err(g), Err(w)) => g.contains(w),
            _ => false,
        };
        if !ok {
            failures.push(format!("{src}\n   want {want:?}\n    got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Go:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
