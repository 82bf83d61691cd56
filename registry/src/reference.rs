//! Image references, parsed and normalised exactly as docker does.
//!
//! `nginx` becomes `docker.io/library/nginx:latest`; `ghcr.io/org/app@sha256:...`
//! keeps its digest; `localhost:5000/app` keeps its port. The grammar is that of
//! `github.com/distribution/reference`: lower-case path components joined by `.`, `_`,
//! `__` or dashes, an optional domain (anything before the first `/` that has a `.` or a
//! `:`, or is `localhost`), a tag of up to 128 word characters and an optional digest.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// The registry name docker uses for Docker Hub in references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A fully qualified image reference: registry, repository, and a tag and/or a digest.
///
/// The registry is always present (defaulting to `docker.io`); when the input named
/// neither a tag nor a digest, the tag is `latest`, as docker assumes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference; keeps the input so messages quote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {kind}")]
pub struct ReferenceError {
    input: String,
    kind: ReferenceErrorKind,
}

impl ReferenceError {
    /// The text the user wrote.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    pub fn kind(&self) -> &ReferenceErrorKind {
        &self.kind
    }
}

/// The ways a reference can be malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceErrorKind {
    /// Nothing was given.
    #[error("the reference is empty")]
    Empty,
    /// The repository path has upper-case letters; docker refuses them.
    #[error("repository name must be lowercase")]
    UpperCase,
    /// A path component breaks the grammar (empty, bad separator, bad character).
    #[error(
        "invalid repository path component {0:?} (use a-z, 0-9 and single ., _, __ or - between them)"
    )]
    InvalidComponent(String),
    /// The registry host part is not a valid `host[:port]`.
    #[error("invalid registry host {0:?}")]
    InvalidRegistry(String),
    /// The tag is empty, too long or has a character outside `[A-Za-z0-9_.-]`.
    #[error("invalid tag {0:?} (up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)")]
    InvalidTag(String),
    /// The digest after `@` is not a valid digest.
    #[error("invalid digest {0:?} (expected sha256:<64 hex digits>)")]
    InvalidDigest(String),
    /// The repository path (the name without its registry) is longer than 255 characters.
    #[error("the repository path is longer than 255 characters")]
    NameTooLong,
    /// A bare 64-hex-digit name, which docker reserves for image IDs.
    #[error("a 64-character hex string is an image ID, not a repository name")]
    LooksLikeImageId,
}

impl Reference {
    /// Parses and normalises `input` as docker does.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        parse(input).map_err(|kind| ReferenceError {
            input: input.to_string(),
            kind,
        })
    }

    /// Builds a reference from parts that have already been validated elsewhere
    /// (a tag list entry, a configured repository); validates them again.
    pub fn from_parts(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&Digest>,
    ) -> Result<Reference, ReferenceError> {
        let mut text = format!("{registry}/{repository}");
        if let Some(tag) = tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = digest {
            text.push('@');
            text.push_str(&digest.to_string());
        }
        Reference::parse(&text)
    }

    /// The registry as written in references (`docker.io`, `ghcr.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The `host[:port]` that serves the registry API for this reference
    /// (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }

    /// The repository path (`library/nginx`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The last path segment of the repository (`nginx` for `library/nginx`).
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag or digest to put in a `/manifests/<x>` URL.
    pub fn manifest_selector(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        Reference::from_parts(&self.registry, &self.repository, Some(tag), None)
    }

    /// The same repository pinned to `digest`, keeping the tag for display.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn repository_url(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// The host that serves the API of a registry named in references.
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API_HOST
    } else {
        registry
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Reference, D::Error> {
        let text = String::deserialize(d)?;
        Reference::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn parse(input: &str) -> Result<Reference, ReferenceErrorKind> {
    if input.is_empty() {
        return Err(ReferenceErrorKind::Empty);
    }
    let (rest, digest) = match input.split_once('@') {
        Some((rest, digest)) => {
            let parsed = digest
                .parse::<Digest>()
                .map_err(|_| ReferenceErrorKind::InvalidDigest(digest.to_string()))?;
            (rest, Some(parsed))
        }
        None => (input, None),
    };
    // A tag is what follows the last ':' when no '/' comes after it (else it is a port).
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        validate_tag(tag)?;
    }
    let (registry, repository) = split_registry(name)?;
    validate_repository(&repository)?;
    // Docker's rule since distribution/reference v0.6: the path alone, without the
    // domain, is limited (`example.com/` + 255 characters is a valid name).
    if repository.len() > MAX_NAME_LEN {
        return Err(ReferenceErrorKind::NameTooLong);
    }
    let tag = match (tag, &digest) {
        (None, None) => Some("latest".to_string()),
        (tag, _) => tag.map(str::to_string),
    };
    Ok(Reference {
        registry,
        repository,
        tag,
        digest,
    })
}

/// Splits off the registry the way docker's `splitDockerDomain` does.
fn split_registry(name: &str) -> Result<(String, String), ReferenceErrorKind> {
    let (registry, remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            validate_registry(first)?;
            (first.to_string(), rest.to_string())
        }
        _ => {
            if is_image_id(name) {
                return Err(ReferenceErrorKind::LooksLikeImageId);
            }
            (DOCKER_HUB.to_string(), name.to_string())
        }
    };
    let registry = if registry == DOCKER_HUB_LEGACY {
        DOCKER_HUB.to_string()
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !remainder.contains('/') {
        format!("library/{remainder}")
    } else {
        remainder
    };
    Ok((registry, repository))
}

fn is_image_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn validate_registry(host: &str) -> Result<(), ReferenceErrorKind> {
    let bad = || ReferenceErrorKind::InvalidRegistry(host.to_string());
    let (hostname, port) = if let Some(inner) = host.strip_prefix('[') {
        // An IPv6 literal: [::1]:5000
        let (addr, after) = inner.split_once(']').ok_or_else(bad)?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        match after {
            "" => return Ok(()),
            _ => ("", after.strip_prefix(':').ok_or_else(bad)?),
        }
    } else {
        match host.split_once(':') {
            Some((h, p)) => (h, p),
            None => (host, ""),
        }
    };
    if host.contains(':') && !host.starts_with('[') && port.is_empty() {
        return Err(bad());
    }
    if !port.is_empty() && (port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    if !host.starts_with('[') {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !hostname.split('.').all(label_ok) {
            return Err(bad());
        }
    }
    Ok(())
}

fn validate_repository(repository: &str) -> Result<(), ReferenceErrorKind> {
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceErrorKind::UpperCase);
    }
    for component in repository.split('/') {
        if !is_valid_component(component) {
            return Err(ReferenceErrorKind::InvalidComponent(component.to_string()));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn validate_tag(tag: &str) -> Result<(), ReferenceErrorKind> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ReferenceErrorKind::InvalidTag(tag.to_string()))
    }
}

/// Whether `tag` is a valid tag on its own (for tags read from registries or config).
pub fn is_valid_tag(tag: &str) -> bool {
    validate_tag(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalises_like_docker() {
        let cases: &[(&str, &str)] = &[
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            ("library/nginx", "docker.io/library/nginx:latest"),
            (
                "otel/opentelemetry-collector:0.150.0",
                "docker.io/otel/opentelemetry-collector:0.150.0",
            ),
            ("docker.io/nginx", "docker.io/library/nginx:latest"),
            ("index.docker.io/nginx", "docker.io/library/nginx:latest"),
            ("index.docker.io/a/b:c", "docker.io/a/b:c"),
            (
                "ghcr.io/runwhen-contrib/runwhen-local:0.9",
                "ghcr.io/runwhen-contrib/runwhen-local:0.9",
            ),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app:v1", "localhost:5000/app:v1"),
            ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest"),
            ("[::1]:5000/app", "[::1]:5000/app:latest"),
            (
                "us-west1-docker.pkg.dev/runwhen-nonprod-beta/public-images/runwhen-contrib-rw-cli-codecollection:main-latest",
                "us-west1-docker.pkg.dev/runwhen-nonprod-beta/public-images/runwhen-contrib-rw-cli-codecollection:main-latest",
            ),
            (
                "a.b_c__d-e--f:T_a.g-1",
                "docker.io/library/a.b_c__d-e--f:T_a.g-1",
            ),
            (
                "Registry.Example.com/app",
                "Registry.Example.com/app:latest",
            ),
        ];
        for (input, want) in cases {
            let got = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.to_string(), *want, "input {input}");
        }
    }

    #[test]
    fn keeps_digests_and_tags() {
        let r = Reference::parse(&format!("nginx@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.manifest_selector(), D);
        assert_eq!(r.to_string(), format!("docker.io/library/nginx@{D}"));

        let r = Reference::parse(&format!("ghcr.io/a/b:v1@{D}")).unwrap();
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.manifest_selector(), D);
    }

    #[test]
    fn parts_and_hosts() {
        let r = Reference::parse("nginx").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.repository(), "library/nginx");
        assert_eq!(r.name(), "nginx");
        let r = Reference::parse("localhost:5000/team/app:1").unwrap();
        assert_eq!(r.api_host(), "localhost:5000");
        assert_eq!(r.name(), "app");
        assert_eq!(
            r.with_tag("2").unwrap().to_string(),
            "localhost:5000/team/app:2"
        );
    }

    #[test]
    fn rejects_malformed_input_quoting_it() {
        use ReferenceErrorKind as K;
        type Case<'a> = (&'a str, fn(&K) -> bool);
        let cases: &[Case] = &[
            ("", |k| matches!(k, K::Empty)),
            ("Nginx", |k| matches!(k, K::UpperCase)),
            ("docker.io/Library/nginx", |k| matches!(k, K::UpperCase)),
            ("nginx:", |k| matches!(k, K::InvalidTag(_))),
            ("nginx:-bad", |k| matches!(k, K::InvalidTag(_))),
            ("nginx:a/b", |k| matches!(k, K::InvalidRegistry(_))),
            ("nginx@sha256:abc", |k| matches!(k, K::InvalidDigest(_))),
            ("nginx@md5:abc", |k| matches!(k, K::InvalidDigest(_))),
            ("a//b", |k| matches!(k, K::InvalidComponent(_))),
            ("a/b/", |k| matches!(k, K::InvalidComponent(_))),
            ("-a/b", |k| matches!(k, K::InvalidComponent(_))),
            ("a/b..c", |k| matches!(k, K::InvalidComponent(_))),
            ("a/b___c", |k| matches!(k, K::InvalidComponent(_))),
            ("host:port/app", |k| matches!(k, K::InvalidRegistry(_))),
            ("ex_ample.com/app", |k| matches!(k, K::InvalidRegistry(_))),
            ("[::1/app", |k| matches!(k, K::InvalidRegistry(_))),
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                |k| matches!(k, K::LooksLikeImageId),
            ),
        ];
        for (input, expected) in cases {
            let err = Reference::parse(input).expect_err(input);
            assert!(expected(err.kind()), "{input}: got {:?}", err.kind());
            assert_eq!(err.input(), *input);
            assert!(err.to_string().contains(&format!("{input:?}")), "{err}");
        }
        // As docker: the path alone counts.
        let longest = format!("example.com/{}", "a".repeat(255));
        assert_eq!(Reference::parse(&longest).unwrap().repository().len(), 255);
        let long = format!("example.com/{}", "a".repeat(256));
        assert!(matches!(
            Reference::parse(&long).unwrap_err().kind(),
            K::NameTooLong
        ));
        let long_tag = format!("app:{}", "t".repeat(129));
        assert!(matches!(
            Reference::parse(&long_tag).unwrap_err().kind(),
            K::InvalidTag(_)
        ));
    }

    #[test]
    fn serde_round_trip() {
        let r: Reference = serde_json::from_str("\"busybox\"").unwrap();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"docker.io/library/busybox:latest\""
        );
        assert!(serde_json::from_str::<Reference>("\"BusyBox\"").is_err());
    }
}
