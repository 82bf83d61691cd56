//! Text from the network made fit for a message: credentials blanked, length capped.
//!
//! Registries, proxies and token endpoints answer errors with pages that may quote the
//! request, `Authorization` header included; a Pushgateway may answer megabytes. Every
//! remote text that goes into an error or a log passes through [`remote_text`] (or
//! [`redact`] and [`cap`]), here and in the other crates of the workspace.
//!
//! What counts as credential-shaped: `Authorization`/`Proxy-Authorization` values,
//! `Basic`/`Bearer` credentials, the password of a URL's user info, `password=`,
//! `access_token=`, `refresh_token=` (and similar) fields in queries, forms and JSON, and
//! JWT-shaped strings (`eyJ...` in three dot-separated base64url parts).

use std::sync::LazyLock;

use regex::Regex;

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The default cap of remote text in a message, in bytes.
pub const DEFAULT_CAP: usize = 512;

struct Rule {
    pattern: Regex,
    replacement: &'static str,
}

/// `Basic`/`Bearer` followed by something that looks like a credential rather than a
/// word ("basic authentication"): it holds a digit or a base64/JWT symbol.
static SCHEME_CREDENTIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(basic|bearer)(\s+)([A-Za-z0-9._~+/=-]{8,})").expect("valid pattern")
});

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |pattern: &str, replacement: &'static str| Rule {
        pattern: Regex::new(pattern).expect("redaction patterns are valid"),
        replacement,
    };
    vec![
        // A whole header value, whatever its scheme, up to the end of the line or a
        // quote (a header quoted inside JSON or HTML).
        rule(
            r#"(?i)\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)[^\r\n"'<]+"#,
            "${1}[redacted]",
        ),
        // user:password@ in a URL.
        rule(
            r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@]*):[^\s/@]*@",
            "${1}:[redacted]@",
        ),
        // Secret-named fields: query strings, forms, JSON, YAML.
        rule(
            r#"(?i)\b((?:password|passwd|pwd|access_token|refresh_token|id_token|identitytoken|token|client_secret|secret|api_key|apikey)["']?\s*[:=]\s*["']?)[^\s&"',;}<]+"#,
            "${1}[redacted]",
        ),
        // The events receiver's shared secret travels as `?code=`.
        rule(r#"([?&]code=)[^\s&"'<]+"#, "${1}[redacted]"),
        // JWTs (header.payload.signature, base64url, the header starting `{"`).
        rule(
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            "[redacted JWT]",
        ),
    ]
});

/// `text` with every credential-shaped part replaced by `[redacted]`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for rule in RULES.iter() {
        if rule.pattern.is_match(&out) {
            out = rule
                .pattern
                .replace_all(&out, rule.replacement)
                .into_owned();
        }
    }
    SCHEME_CREDENTIAL
        .replace_all(&out, |c: &regex::Captures<'_>| {
            let value = &c[3];
            if value
                .bytes()
                .any(|b| b.is_ascii_digit() || b"+/=._-~".contains(&b))
            {
                format!("{}{}{REDACTED}", &c[1], &c[2])
            } else {
                c[0].to_string()
            }
        })
        .into_owned()
}

/// `text` cut to at most `max` bytes (at a char boundary), with `... (N bytes more)`
/// telling how much was left out.
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes more)", &text[..end], text.len() - end)
}

/// Remote bytes as one line fit for a message: decoded lossily, redacted (while line
/// ends still bound a header's value), whitespace runs collapsed, then capped at `max`
/// bytes. Redaction comes before the cut so that a cut never leaves half a secret showing.
pub fn remote_text(bytes: &[u8], max: usize) -> String {
    let text = redact(&String::from_utf8_lossy(bytes));
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    cap(&one_line, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLWJ5dGVz";

    #[test]
    fn blanks_every_kind_of_credential() {
        let cases = [
            (
                "GET /v2/ HTTP/1.1\r\nAuthorization: Basic dXNlcjpodW50ZXIy\r\nHost: x",
                "dXNlcjpodW50ZXIy",
            ),
            ("authorization: Token abc-def-secret", "abc-def-secret"),
            (
                r#"{"headers":{"Authorization":"Bearer tok-123456"}}"#,
                "tok-123456",
            ),
            ("got bearer abcdefgh1234 from cache", "abcdefgh1234"),
            ("curl -H 'x: Basic YWxhZGRpbjpvcGVu=' x", "YWxhZGRpbjpvcGVu"),
            ("POST /hook?code=ev3nt-s3cret HTTP/1.1", "ev3nt-s3cret"),
            (
                "proxy https://bob:hunter2@proxy.example:3128/ failed",
                "hunter2",
            ),
            (
                "grant_type=refresh_token&refresh_token=r3fr3sh&service=x",
                "r3fr3sh",
            ),
            ("?access_token=AT-999&scope=pull", "AT-999"),
            (r#"{"password": "p@ss w0rd"}"#, "p@ss"),
            ("password=s3cret", "s3cret"),
            (&format!("token {JWT} rejected"), "c2lnbmF0dXJlLWJ5dGVz"),
            (&format!("<pre>{JWT}</pre>"), "eyJzdWIiOiJib2IifQ"),
        ];
        for (text, secret) in cases {
            let out = redact(text);
            assert!(!out.contains(secret), "{text:?} -> {out:?}");
            assert!(out.contains("[redacted"), "{out}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "manifest unknown: tag v1.2 not found",
            "HTTP 503 Service Unavailable: back-end busy",
            "repository:team/app:pull,push",
            "basic auth is required",
            "Basic authentication failed; Bearer realm=\"https://auth/token\"",
            r#"{"errors":[{"code":"DENIED","message":"denied"}]}"#,
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn caps_at_a_char_boundary_and_says_how_much_is_left() {
        assert_eq!(cap("short", 10), "short");
        assert_eq!(cap("abcdef", 4), "abcd... (2 bytes more)");
        // "é" is two bytes: a cut in its middle steps back before it.
        assert_eq!(cap("aéb", 2), "a... (3 bytes more)");
        let big = "x".repeat(5 * 1024 * 1024);
        let out = remote_text(big.as_bytes(), DEFAULT_CAP);
        assert!(out.len() < DEFAULT_CAP + 40, "{}", out.len());
        assert!(out.ends_with("(5242368 bytes more)"), "{out}");
    }

    #[test]
    fn a_header_is_redacted_to_its_line_end_only() {
        let page = "<pre>Authorization: Basic dXNlcjpwdw==\r\nHost: reg.example\r\n</pre>";
        assert_eq!(
            remote_text(page.as_bytes(), 200),
            "<pre>Authorization: [redacted] Host: reg.example </pre>"
        );
    }

    #[test]
    fn remote_text_redacts_before_it_cuts() {
        let page = format!("{}Authorization: Basic dXNlcjpodW50ZXIy", "a ".repeat(10));
        let out = remote_text(page.as_bytes(), 40);
        assert!(!out.contains("dXNl"), "{out}");
        assert!(remote_text(b"\xff\xfe bad utf8 \n\n  lines", 100).contains("bad utf8 lines"));
    }
}
