//! How much of a chart is read into memory, whatever its archive or server claims: a
//! `.tgz` of zeros must be refused with a clear error, not expand into gigabytes.
//!
//! Helm 3.17 allows 100 MiB per chart and 5 MiB per file; the per-file limit is the
//! same here, the chart's whole is smaller because every file is held in memory at
//! once (no public chart we measured is over 10 MiB expanded).

use std::io::Read;

/// The expanded size of one chart, all its files together.
pub const MAX_CHART_BYTES: u64 = 64 * 1024 * 1024;
/// The expanded size of one file of a chart.
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;
/// Files (and archive entries) in one chart.
pub const MAX_FILES: usize = 10_000;
/// A chart archive downloaded over HTTP.
pub const MAX_DOWNLOAD_BYTES: usize = 64 * 1024 * 1024;
/// A repository's `index.yaml` (large public repositories list thousands of versions).
pub const MAX_INDEX_BYTES: usize = 100 * 1024 * 1024;

/// A reader that fails once more than `limit` bytes came through it: wrapped around a
/// decompressor, it bounds the work and memory of everything read behind it.
pub(crate) struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Bounded<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Bounded<R> {
        Bounded { inner, left: limit }
    }
}

/// The message of the error [`Bounded`] ends with.
pub(crate) const EXPANDS_PAST: &str = "expands past the limit";

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => Err(std::io::Error::other(EXPANDS_PAST)),
        }
    }
}

/// `n` bytes as people read them.
pub(crate) fn mib(n: u64) -> String {
    format!("{} MiB", n / (1024 * 1024))
}
