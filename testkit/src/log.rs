//! The registry's access log (combined log format), parsed.

use std::sync::OnceLock;

use regex::Regex;

/// One request line from the registry's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// HTTP method, e.g. `PUT`.
    pub method: String,
    /// Request target as logged: path and query, e.g. `/v2/a/b/blobs/uploads/?mount=...`.
    pub path: String,
    /// Response status.
    pub status: u16,
}

impl LoggedRequest {
    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }

    /// True when the method is `method` (case-insensitive) and the path contains `needle`.
    pub fn matches(&self, method: &str, needle: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path.contains(needle)
    }

    /// A blob upload start (`POST .../blobs/uploads/` without `mount=`).
    pub fn is_upload_start(&self) -> bool {
        self.method == "POST" && self.path.contains("/blobs/uploads/") && !self.is_mount()
    }

    /// A cross-repository mount attempt (`POST .../blobs/uploads/?mount=...`).
    pub fn is_mount(&self) -> bool {
        self.method == "POST"
            && self.path.contains("/blobs/uploads/")
            && self.path.contains("mount=")
    }
}

fn line_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#""([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) "#).expect("access log regex")
    })
}

/// Parses the request lines of a combined-format access log, in order; other lines are skipped.
///
/// A line looks like `127.0.0.1 - - [24/Nov/2026:08:30:40 +0000] "PUT /v2/a/b/manifests/t HTTP/1.1"
/// 201 0 "" "agent"`.
pub fn parse_access_log(text: &str) -> Vec<LoggedRequest> {
    text.lines()
        .filter_map(|line| {
            let caps = line_regex().captures(line)?;
            Some(LoggedRequest {
                method: caps[1].to_string(),
                path: caps[2].to_string(),
                status: caps[3].parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_combined_lines_and_skips_others() {
        let text = concat!(
            "time=\"2026-11-24T08:30:40Z\" level=info msg=\"response completed\" http.request.method=GET\n",
            "127.0.0.1 - - [24/Nov/2026:08:30:40 +0000] \"GET /v2/ HTTP/1.1\" 200 2 \"\" \"curl/8\"\n",
            "127.0.0.1 - - [24/Nov/2026:08:30:41 +0000] \"POST /v2/a/b/blobs/uploads/?mount=sha256:00&from=c/d HTTP/1.1\" 201 0 \"\" \"x\"\n",
        );
        let reqs = parse_access_log(text);
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].method, "GET");
        assert_eq!(reqs[0].path, "/v2/");
        assert_eq!(reqs[0].status, 200);
        assert!(reqs[1].is_mount());
        assert!(!reqs[1].is_upload_start());
        assert_eq!(reqs[1].path_only(), "/v2/a/b/blobs/uploads/");
    }
}
