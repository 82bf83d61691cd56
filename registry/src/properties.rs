//! Property tests of every parser of what comes from the network or from users: image
//! references, `WWW-Authenticate`, `Link`, manifests and indexes, error bodies and the
//! redaction of remote text. Each must never panic, whatever it is given, must keep
//! what it is given within bounds, and must read back what a well-formed writer wrote.
//!
//! They run with `cargo test -p acr-sync-registry` (256 cases each, proptest's default;
//! `PROPTEST_CASES=N` for more).

use proptest::prelude::*;

use crate::auth::parse_challenges;
use crate::error::parse_error_body;
use crate::manifest::{MANIFEST_SIZE_LIMIT, Manifest, Platform, detect_media_type};
use crate::redact::{DEFAULT_CAP, redact, remote_text};
use crate::reference::Reference;
use crate::tags::next_link;

/// A path component as docker allows it: lower-case alphanumerics, separated by `.`,
/// `_`, `__` or dashes.
fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}((\\.|_|__|-{1,3})[a-z0-9]{1,8}){0,2}"
}

fn repository() -> impl Strategy<Value = String> {
    prop::collection::vec(component(), 1..4).prop_map(|parts| parts.join("/"))
}

fn registry_host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,10}\\.(io|com|example)",
        "[a-z]{1,10}\\.[a-z]{2,8}:[1-9][0-9]{1,4}",
        Just("localhost:5000".to_string()),
        Just("127.0.0.1:5000".to_string()),
    ]
}

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}"
}

/// A header value: printable text, quotes, backslashes, separators.
fn header_text() -> impl Strategy<Value = String> {
    "[ -~]{0,200}"
}

/// A value a server would quote: anything printable, escaped on the way out.
fn quoted(value: &str) -> String {
    let mut out = String::from('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

proptest! {
    #[test]
    fn references_never_panic_and_stay_within_docker_limits(input in "\\PC{0,300}") {
        if let Ok(r) = Reference::parse(&input) {
            prop_assert!(r.repository().len() <= 255);
            prop_assert!(r.tag().is_none_or(|t| t.len() <= 128));
        }
    }

    #[test]
    fn well_formed_references_read_back_as_written(
        host in registry_host(),
        repo in repository(),
        tag in tag(),
    ) {
        let text = format!("{host}/{repo}:{tag}");
        let r = Reference::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.registry(), host.as_str());
        prop_assert_eq!(r.repository(), repo.as_str());
        prop_assert_eq!(r.tag(), Some(tag.as_str()));
        let again = Reference::parse(&r.to_string()).unwrap();
        prop_assert_eq!(again, r);
    }

    #[test]
    fn challenges_never_panic(input in header_text()) {
        let challenges = parse_challenges(&input);
        prop_assert!(challenges.len() <= input.len());
    }

    #[test]
    fn a_bearer_challenge_reads_back_its_quoted_parameters(
        realm in "[ -~]{0,60}",
        service in "[ -~]{0,60}",
        scope in "[ -~]{0,60}",
        before in prop::option::of("(Basic|Negotiate) [A-Za-z0-9+/=]{0,20}"),
    ) {
        let bearer = format!(
            "Bearer realm={},service={},scope={}",
            quoted(&realm), quoted(&service), quoted(&scope)
        );
        let header = match &before {
            Some(other) => format!("{other}, {bearer}"),
            None => bearer,
        };
        let challenges = parse_challenges(&header);
        let got = challenges.iter().find(|c| c.scheme == "bearer");
        prop_assert!(got.is_some(), "{:?} -> {:?}", header, challenges);
        let got = got.unwrap();
        prop_assert_eq!(&got.params["realm"], &realm);
        prop_assert_eq!(&got.params["service"], &service);
        prop_assert_eq!(&got.params["scope"], &scope);
    }

    #[test]
    fn link_headers_never_panic(values in prop::collection::vec(header_text(), 0..4)) {
        let _ = next_link(values.iter().map(String::as_str));
    }

    #[test]
    fn the_next_link_is_found_in_any_header_and_form(
        target in "/v2/[a-z/]{1,20}/tags/list\\?(n=[0-9]{1,3}&last=[a-z0-9._-]{1,10})?",
        brackets in any::<bool>(),
        others in prop::collection::vec("<[a-z/]{1,10}>; rel=\"(prev|first|last)\"", 0..3),
        split in any::<bool>(),
    ) {
        let next = if brackets {
            format!("<{target}>; rel=\"next\"")
        } else {
            format!("{target}; rel=next")
        };
        let mut links = others.clone();
        links.push(next);
        let found = if split {
            next_link(links.iter().map(String::as_str))
        } else {
            let joined = links.join(", ");
            next_link([joined.as_str()])
        };
        prop_assert_eq!(found.as_deref(), Some(target.as_str()));
    }

    #[test]
    fn manifests_of_any_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        index in any::<bool>(),
    ) {
        check_manifest_parsers(&bytes, index);
    }

    #[test]
    fn manifest_shaped_json_never_panics(json in manifest_json()) {
        check_manifest_parsers(json.as_bytes(), true);
        check_manifest_parsers(json.as_bytes(), false);
    }

    #[test]
    fn error_bodies_never_panic_and_stay_short(body in prop::collection::vec(any::<u8>(), 0..4096)) {
        if let Some((code, message)) = parse_error_body(&body) {
            prop_assert!(code.len() <= 64 + 32 && message.len() <= 300 + 32);
        }
    }

    #[test]
    fn remote_text_is_capped_and_never_shows_a_password(
        filler in "[ -~\\n]{0,2000}",
        secret in "[A-Za-z0-9]{12,24}",
        field in prop_oneof![
            Just("password="), Just("access_token="), Just("refresh_token="),
            Just("Authorization: Basic "), Just("\"password\": \""),
        ],
    ) {
        let page = format!("{filler} {field}{secret} {filler}");
        let out = remote_text(page.as_bytes(), DEFAULT_CAP);
        prop_assert!(out.len() <= DEFAULT_CAP + 32, "{} bytes", out.len());
        prop_assert!(!redact(&page).contains(&secret), "{}", redact(&page));
        prop_assert!(!out.contains(&secret));
    }
}

/// A JSON document shaped like a manifest or an index, with fields of the wrong types
/// and values here and there.
fn manifest_json() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("null".to_string()),
        Just("1".to_string()),
        Just("\"x\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        "\"sha256:[0-9a-f]{0,64}\"",
        "\"[a-z/.+-]{0,40}\"",
        "-?[0-9]{1,20}",
    ];
    let descriptor = (value.clone(), value.clone(), value.clone(), value.clone()).prop_map(
        |(m, d, s, p)| {
            format!(r#"{{"mediaType":{m},"digest":{d},"size":{s},"platform":{{"architecture":{p},"os":"linux"}}}}"#)
        },
    );
    (
        value.clone(),
        prop::collection::vec(descriptor.clone(), 0..4),
        descriptor,
        value,
    )
        .prop_map(|(schema, list, config, media)| {
            let list = list.join(",");
            format!(
                r#"{{"schemaVersion":{schema},"mediaType":{media},"config":{config},"layers":[{list}],"manifests":[{list}]}}"#
            )
        })
}

fn check_manifest_parsers(bytes: &[u8], index: bool) {
    let media_type = detect_media_type(None, bytes);
    let media_type = if index {
        "application/vnd.oci.image.index.v1+json".to_string()
    } else {
        media_type
    };
    let m = Manifest::new(bytes::Bytes::copy_from_slice(bytes), media_type);
    let _ = m.image();
    let _ = m.index();
    let _ = m.config();
    let _ = m.blobs();
    let _ = m.children();
    let _ = m.select_platform(&Platform::linux("amd64"));
}

#[test]
fn a_manifest_over_the_size_limit_is_refused_without_being_parsed() {
    // Valid JSON far over the limit: refused for its size, not by a full parse.
    let mut big = br#"{"schemaVersion":2,"layers":["#.to_vec();
    while big.len() <= MANIFEST_SIZE_LIMIT {
        big.extend_from_slice(br#"{"mediaType":"a","digest":"sha256:00","size":1},"#);
    }
    big.extend_from_slice(br#"{}]}"#);
    let m = Manifest::new(
        bytes::Bytes::from(big),
        "application/vnd.oci.image.manifest.v1+json",
    );
    let e = m.blobs().unwrap_err();
    assert!(e.to_string().contains("over the limit"), "{e}");
    assert_eq!(MANIFEST_SIZE_LIMIT, 4 * 1024 * 1024);
}
