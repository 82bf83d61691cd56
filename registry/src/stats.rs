//! Per-registry request counters, kept as plain data for whoever exports metrics.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What one registry host has seen during this client's life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryStats {
    /// The registry as named in references (`docker.io`, `ghcr.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Request counts keyed by (method, status code); a request that got no response
    /// (connection failure, timeout) counts under code `"error"`.
    pub requests: BTreeMap<(String, String), u64>,
    /// The last `ratelimit-remaining` value seen (Docker Hub's `N;w=21600` keeps `N`).
    pub ratelimit_remaining: Option<u64>,
}

/// Thread-safe counters, one entry per registry.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    inner: Mutex<BTreeMap<String, RegistryStats>>,
}

impl Stats {
    /// Counts one request; `code` is None when no response came.
    pub(crate) fn record(&self, registry: &str, method: &str, code: Option<u16>) {
        let code = code.map_or_else(|| "error".to_string(), |c| c.to_string());
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map
            .entry(registry.to_string())
            .or_insert_with(|| RegistryStats {
                registry: registry.to_string(),
                ..RegistryStats::default()
            });
        *entry
            .requests
            .entry((method.to_string(), code))
            .or_insert(0) += 1;
    }

    /// Keeps the last `ratelimit-remaining` header value.
    pub(crate) fn record_ratelimit(&self, registry: &str, header: &str) {
        let Some(remaining) = parse_ratelimit(header) else {
            return;
        };
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(registry.to_string())
            .or_insert_with(|| RegistryStats {
                registry: registry.to_string(),
                ..RegistryStats::default()
            })
            .ratelimit_remaining = Some(remaining);
    }

    pub(crate) fn snapshot(&self) -> Vec<RegistryStats> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }
}

/// `100;w=21600` → 100.
fn parse_ratelimit(header: &str) -> Option<u64> {
    header.split(';').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_code() {
        let s = Stats::default();
        s.record("docker.io", "GET", Some(200));
        s.record("docker.io", "GET", Some(200));
        s.record("docker.io", "HEAD", None);
        s.record_ratelimit("docker.io", "97;w=21600");
        s.record_ratelimit("docker.io", "garbage");
        let snap = s.snapshot();
        assert_eq!(snap.len(), 1);
        let d = &snap[0];
        assert_eq!(d.requests[&("GET".into(), "200".into())], 2);
        assert_eq!(d.requests[&("HEAD".into(), "error".into())], 1);
        assert_eq!(d.ratelimit_remaining, Some(97));
    }
}
