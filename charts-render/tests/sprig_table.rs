//! Sprig and Helm functions, each call with the answer helm 3.17.1 prints for it
//! (taken from `helm template` of a scratch chart; they are facts about helm).
//! Random or clock-dependent functions are checked for their shape instead.

use charts_render::template::{TemplateSet, Value};

fn render(src: &str) -> Result<String, String> {
    let mut set = TemplateSet::new();
    set.add("t", src).map_err(|e| e.to_string())?;
    set.execute("t", Value::Nil).map_err(|e| e.to_string())
}

const TABLE: &[(&str, &str)] = &[
    (r#"{{ abbrevboth 5 10 "1234 5678 9123" }}"#, "...5678..."),
    (r#"{{ abbrevboth 0 4 "abcdefg" }}"#, "a..."),
    (r#"{{ add1f 1.5 }} {{ add1f 2 }}"#, "2.5 3"),
    (
        r#"{{ b32enc "hello" }} {{ b32dec "NBSWY3DP" }} {{ b32enc "a" }}"#,
        "NBSWY3DP hello ME======",
    ),
    (r#"{{ biggest 1 5 3 }}"#, "5"),
    (
        r#"{{ chunk 2 (list 1 2 3 4 5) | toJson }} {{ chunk 3 (list) | toJson }}"#,
        "[[1,2],[3,4],[5]] []",
    ),
    (
        r#"{{ clean "a/b/../c//d/" }} {{ clean "" }} {{ clean "/../x" }}"#,
        "a/c/d . /x",
    ),
    (
        r#"{{ duration "95" }} {{ duration "3600" }} {{ duration "90061" }}"#,
        "1m35s 1h0m0s 25h1m1s",
    ),
    (
        r#"{{ durationRound "2h10m5s" }} {{ durationRound "800h" }} {{ durationRound "9000h" }} {{ durationRound "45s" }} {{ durationRound "-3m" }}"#,
        "2h 1mo 1y 45s 3m",
    ),
    (r#"{{ hello }}"#, "Hello!"),
    (r#"{{ initials "First Try  again" }}"#, "FTa"),
    (
        r#"{{ isAbs "/a" }} {{ osIsAbs "a" }} {{ osBase "a/b.txt" }} {{ osDir "a/b.txt" }} {{ osExt "a/b.txt" }} {{ osClean "a//b/./c" }}"#,
        "true false b.txt a .txt a/b/c",
    ),
    (r#"{{ swapcase "Hello World" }}"#, "hELLO wORLD"),
    (r#"{{ trimall "$" "$5.00$" }}"#, "5.00"),
    (
        r#"{{ urlJoin (dict "scheme" "https" "host" "example.com:8080" "path" "/a b" "query" "x=1" "fragment" "f" "userinfo" "u:p") }}"#,
        "https://u:p@example.com:8080/a%20b?x=1#f",
    ),
    (
        r#"{{ wrap 10 "aaa bbb ccc ddd eee fff" | toJson }}"#,
        r#""aaa bbb\nccc ddd\neee fff""#,
    ),
    (
        r#"{{ wrapWith 5 "\t" "Hello World" | toJson }}"#,
        r#""Hello\tWorld""#,
    ),
    (
        r#"{{ toToml (dict "a" 1 "s" "x" "f" 1.5 "b" true "l" (list 1 2) "m" (dict "k" "v" "n" (dict "z" 1)) "e" (dict) "lm" (list (dict "q" 1))) }}"#,
        "a = 1\nb = true\nf = 1.5\nl = [1, 2]\ns = \"x\"\n\n[e]\n\n[[lm]]\n  q = 1\n\n[m]\n  k = \"v\"\n  [m.n]\n    z = 1\n",
    ),
    (
        r#"{{ fromToml "a = 1\nb = 'x'\n[t]\nc = 1.5\nd = [1, 2]\n" | toJson }}"#,
        r#"{"a":1,"b":"x","t":{"c":1.5,"d":[1,2]}}"#,
    ),
    (
        r#"{{ dateModify "1h30m" (toDate "2006-01-02" "2024-05-06") }} {{ date_modify "-24h" (toDate "2006-01-02" "2024-05-06") | date "2006-01-02" }}"#,
        "2024-05-06 01:30:00 +0000 UTC 2024-05-05",
    ),
    (
        r#"{{ dateInZone "2006-01-02 15:04 MST" (toDate "2006-01-02" "2024-05-06") "UTC" }} {{ date_in_zone "15:04" 0 "UTC" }}"#,
        "2024-05-06 00:00 UTC 00:00",
    ),
    (
        r#"{{ toDate "2006-01-02" "2024-05-06" }} {{ toDate "2006-01-02" "2024-05-06" | unixEpoch }} {{ date "Jan 2, 2006" (toDate "2006-01-02" "2024-05-06") }}"#,
        "2024-05-06 00:00:00 +0000 UTC 1714953600 May 6, 2024",
    ),
    (
        r#"{{ htmlDate 0 }} {{ htmlDateInZone (toDate "2006-01-02" "2024-05-06") "UTC" }}"#,
        "1970-01-01 2024-05-06",
    ),
    (
        r#"{{ seq 5 }} {{ seq 2 5 }} {{ seq 5 2 }} {{ seq 0 2 10 }}"#,
        "1 2 3 4 5 2 3 4 5 5 4 3 2 0 2 4 6 8 10",
    ),
    (
        r#"{{ until 3 }} {{ untilStep 0 10 3 }} {{ untilStep 10 0 -4 }}"#,
        "[0 1 2] [0 3 6 9] [10 6 2]",
    ),
    (
        r#"{{ dig "a" "b" "def" (dict "a" (dict "b" 1)) }} {{ dig "a" "x" "def" (dict "a" (dict "b" 1)) }}"#,
        "1 def",
    ),
    (
        r#"{{ (semver "1.2.3-beta.1+b5").Prerelease }} {{ semverCompare ">=1.2" "1.3.0" }} {{ semverCompare "^1.2.0" "v2.0.0" }}"#,
        "beta.1 true false",
    ),
    (
        r#"{{ urlParse "https://u:p@h.com:80/p?q=1#f" | toJson }}"#,
        r#"{"fragment":"f","host":"h.com:80","hostname":"h.com","opaque":"","path":"/p","query":"q=1","scheme":"https","userinfo":"u:p"}"#,
    ),
    (r#"{{ getHostByName "localhost" | quote }}"#, r#""""#),
    (
        r#"{{ derivePassword 1 "long" "password" "user" "example.com" }} {{ derivePassword 3 "pin" "pw" "u" "s" }}"#,
        "ZedaFaxcZaso9* 7979",
    ),
    (
        r#"{{ decryptAES "secretkey" "Gn7hw81R8X8iw6difTQdED69ewlAWFdy3FLjBw4z614=" }}"#,
        "hello helm",
    ),
    (
        r#"{{ htpasswd "us:er" "pass" }}"#,
        "invalid username: us:er",
    ),
    (r#"{{ genPrivateKey "foo" }}"#, "Unknown type foo"),
    (
        r#"{{ toJson (dict "a" "<>&" "n" (list 1000000.0 1e21 0.000001 1.5)) }} {{ toRawJson "<>&" }}"#,
        r#"{"a":"\u003c\u003e\u0026","n":[1000000,1e+21,0.000001,1.5]} "<>&""#,
    ),
    (
        r#"{{ toYaml (list "8.2.1" "0.0.0.0:14250" "1:30" "2024-01-02" "y" "0x1F" "1_000" ".5" "- a" "a #b" "") }}"#,
        "- 8.2.1\n- 0.0.0.0:14250\n- \"1:30\"\n- \"2024-01-02\"\n- \"y\"\n- \"0x1F\"\n- \"1_000\"\n- \".5\"\n- '- a'\n- 'a #b'\n- \"\"",
    ),
    (
        r#"{{ untitle "Hello World" }}|{{ snakecase "HTTPServerName" }}|{{ kebabcase "FirstName LastName" }}"#,
        "hello world|http_server_name|first-name-last-name",
    ),
    (
        r#"{{ regexSplit "z+" "pizza" 1 }}|{{ regexSplit "z+" "pizza" -1 }}"#,
        "[pizza]|[pi a]",
    ),
    (
        r#"{{ toStrings (list 1 2.5 "x" nil true) }}"#,
        "[1 2.5 x true]",
    ),
    (
        r#"{{ int64 "0x10" }}|{{ toDecimal "0777" }}|{{ int "1e3" }}|{{ int "12" }}|{{ int 3.9 }}|{{ atoi "x" }}"#,
        "16|511|0|12|3|0",
    ),
    (
        r#"{{ b64dec "!!" }}|{{ base "/a/b/" }}|{{ base "" }}|{{ substr -1 2 "abc" }}|{{ trunc -3 "abcdef" }}"#,
        "illegal base64 data at input byte 0|b|.|ab|def",
    ),
    (
        r#"{{ toYamlPretty (dict "a" (list 1 (dict "k" "v")) "big" 1000000.0 "s" "y" "long" "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq") }}"#,
        "a:\n  - 1\n  - k: v\nbig: 1e+06\nlong: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq\ns: \"y\"",
    ),
    (
        r#"{{ merge (dict "a" 0 "b" "" "c" false) (dict "a" 1 "b" "y" "c" true "n" nil) | toJson }}"#,
        r#"{"a":1,"b":"y","c":true}"#,
    ),
    (
        r#"{{ mergeOverwrite (dict "a" 1 "b" "x" "d" (list 1) "e" (dict "k" 1)) (dict "a" 0 "b" "" "d" (list) "e" (dict)) | toJson }}"#,
        r#"{"a":0,"b":"","d":[],"e":{"k":1}}"#,
    ),
    (r#"{{ dict "a" 1 "b" | toJson }}"#, r#"{"a":1,"b":""}"#),
    (
        r#"{{ fromJson "[1]" | toJson }}|{{ fromJsonArray "{}" | toJson }}|{{ fromJson "" | toJson }}"#,
        r#"{"Error":"json: cannot unmarshal array into Go value of type map[string]interface {}"}|["json: cannot unmarshal object into Go value of type []interface {}"]|{"Error":"unexpected end of JSON input"}"#,
    ),
];

/// Calls that fail in helm, with the end of helm's message.
const FAILURES: &[(&str, &str)] = &[
    (
        r#"{{ trunc 5 }}"#,
        "wrong number of args for trunc: want 2 got 1",
    ),
    (
        r#"{{ "x" | trunc 5 6 }}"#,
        "wrong number of args for trunc: want 2 got 3",
    ),
    (
        r#"{{ without }}"#,
        "wrong number of args for without: want at least 1 got 0",
    ),
    (
        r#"{{ substr 3 1 "abcdef" }}"#,
        "error calling substr: runtime error: slice bounds out of range [3:1]",
    ),
    (
        r#"{{ slice "abcdef" 1 3 }}"#,
        "error calling slice: list should be type of slice or array but string",
    ),
];

#[test]
fn failures_as_helm_words_them() {
    for (src, want) in FAILURES {
        let e = render(src).unwrap_err();
        assert!(e.ends_with(want), "{src}: {e}");
    }
}

#[test]
fn functions_answer_as_helm_does() {
    let mut failures = Vec::new();
    for (src, want) in TABLE {
        match render(src) {
            Ok(got) if got == *want => {}
            Ok(got) => failures.push(format!("{src}\n  want {want:?}\n  got  {got:?}")),
            Err(e) => failures.push(format!("{src}\n  want {want:?}\n  error {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn random_functions_have_helms_shape() {
    let out = render(
        r#"{{ htpasswd "user" "pass" }}|{{ bcrypt "x" }}|{{ uuidv4 }}|{{ randAlphaNum 12 }}|{{ randBytes 9 }}|{{ encryptAES "k" "hello" | decryptAES "k" }}|{{ shuffle "abc" | len }}"#,
    )
    .unwrap();
    let parts: Vec<&str> = out.split('|').collect();
    assert!(
        parts[0].starts_with("user:$2a$10$") && parts[0].len() == 65,
        "{out}"
    );
    assert!(
        parts[1].starts_with("$2a$10$") && parts[1].len() == 60,
        "{out}"
    );
    assert_eq!(parts[2].len(), 36);
    assert_eq!(parts[2].as_bytes()[14], b'4');
    assert!(parts[3].len() == 12 && parts[3].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(parts[4].len(), 12);
    assert_eq!(parts[5], "hello");
    assert_eq!(parts[6], "3");
}

#[test]
fn helm_removes_env_functions() {
    let e = render("{{ env \"HOME\" }}").unwrap_err();
    assert!(e.contains("\"env\" not defined"), "{e}");
}

/// Sprig 3.3's function table less `env`/`expandenv`, plus Helm 3.17's own.
const HELM_FUNCTIONS: &str = "
abbrev abbrevboth add add1 add1f addf adler32sum ago all any append atoi b32dec b32enc
b64dec b64enc base bcrypt biggest buildCustomCert camelcase cat ceil chunk clean
coalesce compact concat contains date dateInZone dateModify date_in_zone date_modify
decryptAES deepCopy deepEqual default derivePassword dict dig dir div divf duration
durationRound empty encryptAES ext fail first float64 floor fromJson genCA genCAWithKey
genPrivateKey genSelfSignedCert genSelfSignedCertWithKey genSignedCert
genSignedCertWithKey get getHostByName has hasKey hasPrefix hasSuffix hello htmlDate
htmlDateInZone htpasswd indent initial initials int int64 isAbs join kebabcase keys
kindIs kindOf last list lower max maxf merge mergeOverwrite min minf mod mul mulf
mustAppend mustChunk mustCompact mustDateModify mustDeepCopy mustFirst mustFromJson
mustHas mustInitial mustLast mustMerge mustMergeOverwrite mustPrepend mustRegexFind
mustRegexFindAll mustRegexMatch mustRegexReplaceAll mustRegexReplaceAllLiteral
mustRegexSplit mustRest mustReverse mustSlice mustToDate mustToJson mustToPrettyJson
mustToRawJson mustUniq mustWithout must_date_modify nindent nospace now omit osBase
osClean osDir osExt osIsAbs pick pluck plural prepend quote randAlpha randAlphaNum
randAscii randBytes randInt randNumeric regexFind regexFindAll regexMatch regexQuoteMeta
regexReplaceAll regexReplaceAllLiteral regexSplit repeat replace rest reverse round
semver semverCompare seq set sha1sum sha256sum sha512sum shuffle slice snakecase
sortAlpha split splitList splitn squote sub subf substr swapcase ternary title toDate
toDecimal toJson toPrettyJson toRawJson toString toStrings trim trimAll trimPrefix
trimSuffix trimall trunc tuple typeIs typeIsLike typeOf uniq unixEpoch unset until
untilStep untitle upper urlJoin urlParse uuidv4 values without wrap wrapWith toToml
fromToml toYamlPretty fromYamlArray fromJsonArray include tpl required lookup
";

#[test]
fn every_helm_function_is_defined() {
    let missing: Vec<&str> = HELM_FUNCTIONS
        .split_whitespace()
        .filter(|f| render(&format!("{{{{ {f} }}}}")).is_err_and(|e| e.contains("not defined")))
        .collect();
    assert!(missing.is_empty(), "not defined: {missing:?}");
}

#[test]
fn an_empty_files_glob_is_false() {
    use std::collections::BTreeMap;
    use std::rc::Rc;
    assert!(!Value::Files(Rc::new(BTreeMap::new())).truthy());
    let one = BTreeMap::from([("files/a.conf".to_string(), b"x".to_vec())]);
    assert!(Value::Files(Rc::new(one)).truthy());
}
