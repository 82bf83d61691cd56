//! Where one-shot mode sends its metrics besides stdout: a textfile for node_exporter's
//! textfile collector, and a Pushgateway.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use acr_sync::metrics::CONTENT_TYPE;

/// A push that takes longer than this has failed: the run must not hang on a Pushgateway.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes the exposition to `path` atomically, readable by all, so node_exporter (which
/// usually runs as another user) never reads half a file.
pub fn write_textfile(path: &Path, exposition: &str) -> Result<(), String> {
    if path.extension().and_then(|e| e.to_str()) != Some("prom") {
        eprintln!(
            "acr-sync-sli: warning: node_exporter's textfile collector reads only *.prom files, and {} is not one",
            path.display()
        );
    }
    acr_sync::report::write_bytes_atomically(path, exposition.as_bytes())
        .map_err(|e| format!("{e} (--textfile)"))
}

/// A Pushgateway group: `<url>/metrics/job/<job>`.
#[derive(Debug, Clone)]
pub struct PushTarget {
    url: url::Url,
}

impl PushTarget {
    /// The group of `job` on the Pushgateway at `base`; refuses what is not an http(s) URL.
    pub fn new(base: &str, job: &str) -> Result<PushTarget, String> {
        let invalid = |why: &str| {
            format!("--pushgateway {base:?}: {why} (expected e.g. http://pushgateway:9091)")
        };
        let mut url = url::Url::parse(base).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(invalid("not an http or https URL"));
        }
        if job.is_empty() {
            return Err("--push-job: the job name is empty".to_string());
        }
        let (key, value) = job_segment(job);
        url.path_segments_mut()
            .map_err(|()| invalid("not a base URL"))?
            .pop_if_empty()
            .extend(["metrics", key.as_str(), value.as_str()]);
        Ok(PushTarget { url })
    }

    /// Replaces the group's metrics with `exposition` (PUT: series that are no longer
    /// pushed go, unlike POST).
    pub async fn push(&self, exposition: String) -> Result<(), String> {
        let failed = |why: String| format!("cannot push the metrics to {}: {why}", self.url);
        let client = reqwest::Client::builder()
            .timeout(PUSH_TIMEOUT)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let response = client
            .put(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(exposition)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(failed(format!("{status}: {}", body.trim())))
    }
}

/// `job/<name>`, or `job@base64/<encoded>` for a name a URL path segment cannot carry
/// as is (the Pushgateway's own convention, for `/` in particular).
fn job_segment(job: &str) -> (String, String) {
    let plain = job
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if plain {
        ("job".to_string(), job.to_string())
    } else {
        ("job@base64".to_string(), URL_SAFE_NO_PAD.encode(job))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_textfile_is_readable_by_node_exporter_whoever_runs_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acr_sync.prom");
        write_textfile(&path, "acr_sync_images_outdated 1\n").unwrap();
        write_textfile(&path, "acr_sync_images_outdated 0\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "acr_sync_images_outdated 0\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        assert!(
            write_textfile(&dir.path().join("missing/x.prom"), "")
                .unwrap_err()
                .contains("--textfile")
        );
    }

    #[test]
    fn the_group_url_carries_the_job() {
        let t = PushTarget::new("http://127.0.0.1:9091", "acr_sync_sli").unwrap();
        assert_eq!(
            t.url.as_str(),
            "http://127.0.0.1:9091/metrics/job/acr_sync_sli"
        );
        let t = PushTarget::new("https://pg.example/prefix/", "team/sli").unwrap();
        assert_eq!(
            t.url.as_str(),
            "https://pg.example/prefix/metrics/job@base64/dGVhbS9zbGk"
        );
        assert!(PushTarget::new("pushgateway:9091", "j").is_err());
        assert!(PushTarget::new("ftp://x", "j").is_err());
        assert!(PushTarget::new("http://x", "").is_err());
    }
}
