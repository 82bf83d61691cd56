//! The one error type of this crate: which registry and repository, and what went wrong.

use std::fmt;
use std::time::Duration;

use crate::digest::Digest;

/// An error talking to a registry. It names the registry and repository so that a
/// message read alone in a log says where the problem is.
#[derive(Debug, Clone)]
pub struct Error {
    registry: Option<String>,
    repository: Option<String>,
    kind: ErrorKind,
    attempts: u32,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The registry could not be reached (DNS, connection refused, TLS, reset).
    Unreachable {
        /// The underlying error, without URLs that could carry secrets.
        detail: String,
    },
    /// The registry's host name does not resolve (NXDOMAIN): a typo or a name that
    /// does not exist, which waiting does not cure.
    UnknownHost {
        /// The resolver's answer.
        detail: String,
    },
    /// The registry's TLS certificate failed verification (unknown issuer, wrong name,
    /// expired): not retried.
    TlsVerification {
        /// What the TLS library said.
        detail: String,
    },
    /// The request did not finish in time.
    Timeout,
    /// A blob arrived slower than the configured minimum transfer rate.
    TooSlow {
        /// The blob.
        digest: Digest,
        /// Bytes received in the last window.
        received: u64,
        /// The window's length, seconds.
        window_secs: u32,
        /// The minimum, in bytes per second.
        min_rate: u32,
    },
    /// HTTP 401: no credentials were given, or the ones given were rejected.
    Unauthorized {
        /// Whether credentials were sent (else the registry wants some).
        with_credentials: bool,
        /// The registry's own explanation, if any.
        message: Option<String>,
    },
    /// HTTP 403: the credentials are valid but lack permission.
    Forbidden {
        /// The registry's own explanation, if any.
        message: Option<String>,
    },
    /// HTTP 404: the manifest, blob or repository does not exist.
    NotFound {
        /// What was asked for (`manifest latest`, `blob sha256:...`).
        what: String,
    },
    /// HTTP 429 until the retry budget ran out.
    RateLimited {
        /// What the registry asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// Any other unexpected HTTP status.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The first OCI error code in the body (`DENIED`, `MANIFEST_INVALID`...).
        code: Option<String>,
        /// The messages of the OCI error body.
        message: Option<String>,
    },
    /// A chunked upload broke off after the registry had been sent part of it (an error
    /// status for a chunk, or 416 Range Not Satisfiable): the registry's upload offset
    /// is unknown, so the blob must be uploaded again from its start in a new session.
    /// Worth retrying that way.
    UploadRestart {
        /// The HTTP status that ended the upload.
        status: u16,
        /// The registry's own explanation, if any.
        message: Option<String>,
    },
    /// The token endpoint (the realm of a `Bearer` challenge) answered an error other
    /// than 401/403/429.
    TokenEndpoint {
        /// The realm's host (and port).
        host: String,
        /// The HTTP status code.
        status: u16,
        /// The OCI error code and messages, or the start of the body.
        message: Option<String>,
    },
    /// Content did not hash to the digest it should have.
    DigestMismatch {
        /// The digest that was promised or asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// The registry answered something this client cannot use.
    InvalidResponse(String),
    /// Credentials could not be read (docker config, credential helper).
    Credentials(String),
    /// The client configuration is invalid (bad CA PEM...).
    Config(String),
}

impl Error {
    /// An error about `registry` (and `repository`, when known).
    pub fn new(registry: &str, repository: Option<&str>, kind: ErrorKind) -> Error {
        Error {
            registry: Some(registry.to_string()).filter(|r| !r.is_empty()),
            repository: repository.map(str::to_string).filter(|r| !r.is_empty()),
            kind,
            attempts: 1,
        }
    }

    /// An error not tied to one registry (configuration, parsing of given bytes).
    pub fn without_registry(kind: ErrorKind) -> Error {
        Error {
            registry: None,
            repository: None,
            kind,
            attempts: 1,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The registry the error is about.
    pub fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }

    /// The repository the error is about.
    pub fn repository(&self) -> Option<&str> {
        self.repository.as_deref()
    }

    /// How many attempts were made before giving up.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether trying again from the start may succeed: the registry could not be
    /// reached (but its name resolves and its certificate is good), a request timed out
    /// or a blob came too slowly, or an upload must restart in a new session.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Unreachable { .. }
                | ErrorKind::Timeout
                | ErrorKind::UploadRestart { .. }
                | ErrorKind::TooSlow { .. }
        )
    }

    /// Whether the error is a 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, ErrorKind::NotFound { .. })
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Error {
        self.attempts = attempts;
        self
    }

    /// For a request of a chunked upload: an error status that may have left the
    /// registry's upload offset unknown (416, or a status that is otherwise retried)
    /// becomes [`ErrorKind::UploadRestart`]; `all_retryable` says whether retryable
    /// statuses count (a chunk), or only 416 (the closing PUT, which was retried).
    pub(crate) fn into_upload_restart(mut self, all_retryable: bool) -> Error {
        let restart = |status: u16| {
            status == 416 || (all_retryable && crate::retry::is_retryable_status(status))
        };
        self.kind = match std::mem::replace(&mut self.kind, ErrorKind::Timeout) {
            ErrorKind::Status {
                status,
                code,
                message,
            } if restart(status) => ErrorKind::UploadRestart {
                status,
                message: match (code, message) {
                    (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                    (c, m) => c.or(m),
                },
            },
            ErrorKind::RateLimited { .. } if all_retryable => ErrorKind::UploadRestart {
                status: 429,
                message: None,
            },
            other => other,
        };
        self
    }

    pub(crate) fn with_context(mut self, registry: &str, repository: Option<&str>) -> Error {
        if self.registry.is_none() {
            self.registry = Some(registry.to_string());
        }
        if self.repository.is_none() {
            self.repository = repository.map(str::to_string);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.registry, &self.repository) {
            (Some(reg), Some(repo)) => write!(f, "registry {reg}, repository {repo}: ")?,
            (Some(reg), None) => write!(f, "registry {reg}: ")?,
            (None, Some(repo)) => write!(f, "repository {repo}: ")?,
            (None, None) => {}
        }
        write!(f, "{}", self.kind)?;
        if self.attempts > 1 {
            write!(f, " (gave up after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

fn paren(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(" ({m})"),
        _ => String::new(),
    }
}

/// The reason phrase of a status (`Not Found`), empty when unknown.
fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Unreachable { detail } => write!(f, "cannot reach the registry: {detail}"),
            ErrorKind::UnknownHost { detail } => write!(
                f,
                "cannot reach the registry: its name does not resolve ({detail}); check the host name in the image reference or the config"
            ),
            ErrorKind::TlsVerification { detail } => write!(
                f,
                "cannot reach the registry: its TLS certificate failed verification ({detail}); give its CA with `registries.\"<host>\".ca_file`"
            ),
            ErrorKind::Timeout => f.write_str("the request timed out"),
            ErrorKind::TooSlow {
                digest,
                received,
                window_secs,
                min_rate,
            } => write!(
                f,
                "blob {digest} arrived too slowly: {received} bytes in the last {window_secs}s, below the minimum transfer rate of {min_rate} bytes/s (network.min_transfer_rate); abandoned"
            ),
            ErrorKind::Unauthorized {
                with_credentials: true,
                message,
            } => write!(
                f,
                "HTTP 401 Unauthorized{}: the registry rejected the credentials; check the username and password or token",
                paren(message)
            ),
            ErrorKind::Unauthorized {
                with_credentials: false,
                message,
            } => write!(
                f,
                "HTTP 401 Unauthorized{}: the registry requires credentials (or the repository does not exist); give them in the config (`registries.\"<host>\".username` with `password_env`), with `docker login`, or for docker.io with USE_DOCKER_AUTH and DOCKER_USERNAME/DOCKER_TOKEN",
                paren(message)
            ),
            ErrorKind::Forbidden { message } => write!(
                f,
                "HTTP 403 Forbidden{}: the credentials are valid but lack permission; grant pull/push on the repository",
                paren(message)
            ),
            ErrorKind::NotFound { what } => write!(f, "HTTP 404 Not Found: {what}"),
            ErrorKind::RateLimited { retry_after } => {
                f.write_str("HTTP 429 Too Many Requests: rate limited")?;
                if let Some(d) = retry_after {
                    write!(f, "; the registry asked to retry after {}s", d.as_secs())?;
                }
                Ok(())
            }
            ErrorKind::Status {
                status,
                code,
                message,
            } => {
                write!(f, "HTTP {status} {}", reason(*status))?;
                match (code, message) {
                    (Some(c), Some(m)) => write!(f, " ({c}: {m})"),
                    (Some(c), None) => write!(f, " ({c})"),
                    (None, Some(m)) => write!(f, " ({m})"),
                    (None, None) => Ok(()),
                }
            }
            ErrorKind::UploadRestart { status, message } => write!(
                f,
                "HTTP {status} {}{} in the middle of a chunked upload: the upload must restart from the start in a new session",
                reason(*status),
                paren(message)
            ),
            ErrorKind::TokenEndpoint {
                host,
                status,
                message,
            } => write!(
                f,
                "the token endpoint {host} answered HTTP {status} {}{}",
                reason(*status),
                paren(message)
            ),
            ErrorKind::DigestMismatch { expected, actual } => write!(
                f,
                "content digest mismatch: expected {expected}, got {actual}"
            ),
            ErrorKind::InvalidResponse(m) => write!(f, "invalid response: {m}"),
            ErrorKind::Credentials(m) => write!(f, "cannot read credentials: {m}"),
            ErrorKind::Config(m) => write!(f, "invalid configuration: {m}"),
        }
    }
}

/// The `code` and joined messages of an OCI error body
/// `{"errors":[{"code":"...","message":"..."}]}`; None when the body is not one.
pub(crate) fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    let first = body.errors.first()?;
    let messages: Vec<&str> = body
        .errors
        .iter()
        .map(|e| e.message.as_str())
        .filter(|m| !m.is_empty())
        .collect();
    Some((
        truncate(&first.code, 64),
        truncate(&messages.join("; "), 300),
    ))
}

/// Server text made one readable line for a message: redacted and capped (see
/// [`crate::redact`]).
pub(crate) fn truncate(text: &str, max: usize) -> String {
    crate::redact::remote_text(text.as_bytes(), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_message_names_place_and_fix() {
        let (code, message) =
            parse_error_body(br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#)
                .unwrap();
        let e = Error::new(
            "127.0.0.1:5000",
            Some("a/b"),
            ErrorKind::Forbidden {
                message: Some(format!("{code}: {message}")),
            },
        );
        assert_eq!(
            e.to_string(),
            "registry 127.0.0.1:5000, repository a/b: HTTP 403 Forbidden (DENIED: requested access to the resource is denied): the credentials are valid but lack permission; grant pull/push on the repository"
        );
    }

    #[test]
    fn unauthorized_differs_with_and_without_credentials() {
        let with = ErrorKind::Unauthorized {
            with_credentials: true,
            message: None,
        };
        let without = ErrorKind::Unauthorized {
            with_credentials: false,
            message: None,
        };
        assert!(with.to_string().contains("rejected the credentials"));
        assert!(without.to_string().contains("requires credentials"));
    }

    #[test]
    fn status_and_attempts() {
        let e = Error::new(
            "ghcr.io",
            Some("o/r"),
            ErrorKind::Status {
                status: 503,
                code: None,
                message: Some("busy".into()),
            },
        )
        .with_attempts(4);
        assert_eq!(
            e.to_string(),
            "registry ghcr.io, repository o/r: HTTP 503 Service Unavailable (busy) (gave up after 4 attempts)"
        );
    }

    #[test]
    fn error_body_parsing_tolerates_junk() {
        assert!(parse_error_body(b"<html>").is_none());
        assert!(parse_error_body(br#"{"errors":[]}"#).is_none());
        let (c, m) = parse_error_body(
            br#"{"errors":[{"code":"A","message":"x"},{"code":"B","message":"y"}]}"#,
        )
        .unwrap();
        assert_eq!((c.as_str(), m.as_str()), ("A", "x; y"));
    }
}
