//! Sharding a transfer across machines: `--shard I/N`, or `--shards N` with the index
//! from `JOB_COMPLETION_INDEX` (what a Kubernetes Indexed Job sets).
//!
//! A repository belongs to shard `fnv1a64(name) % N`. The hash is of the source
//! repository name only, fixed (FNV-1a, not Rust's per-process random hasher), so a
//! repository stays in its shard as tags and other repositories come and go, and every
//! machine of a run agrees without talking to the others.
//!
//! ```
//! use acr_sync::transfer::shard::Shard;
//!
//! let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
//! let owners = shards.iter().filter(|s| s.owns("team/app")).count();
//! assert_eq!(owners, 1);
//! assert_eq!(Shard::parse("1/4").unwrap(), Shard::new(1, 4).unwrap());
//! ```

use std::fmt;

/// The environment variable a Kubernetes Indexed Job sets to the pod's index.
pub const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

/// A shard setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} {value:?}: {message}")]
pub struct ShardError {
    /// `--shard`, `--shards` or `JOB_COMPLETION_INDEX`.
    pub setting: &'static str,
    /// The value given.
    pub value: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// Shard `index` of `count` (0-based, as `JOB_COMPLETION_INDEX` is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` of `count`; `index` must be below `count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError {
                setting: "--shard",
                value: format!("{index}/{count}"),
                message: "the index must be 0 to N-1 and N at least 1".to_string(),
            });
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N` (`--shard`).
    pub fn parse(value: &str) -> Result<Shard, ShardError> {
        let bad = |message: &str| ShardError {
            setting: "--shard",
            value: value.to_string(),
            message: message.to_string(),
        };
        let (i, n) = value
            .split_once('/')
            .ok_or_else(|| bad("expected I/N, such as 0/4 (the index is 0-based)"))?;
        let i = i.trim().parse().map_err(|_| bad("I is not a number"))?;
        let n = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        Shard::new(i, n).map_err(|e| bad(&e.message))
    }

    /// Shard `JOB_COMPLETION_INDEX` of `count` (`--shards N`); `index` is the
    /// variable's value, None when unset.
    pub fn from_job_index(count: u32, index: Option<&str>) -> Result<Shard, ShardError> {
        let bad = |value: &str, message: &str| ShardError {
            setting: JOB_COMPLETION_INDEX,
            value: value.to_string(),
            message: message.to_string(),
        };
        let value = index.ok_or_else(|| {
            bad(
                "",
                "--shards needs the shard index in JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job); use --shard I/N elsewhere",
            )
        })?;
        let i = value
            .trim()
            .parse()
            .map_err(|_| bad(value, "not a number"))?;
        Shard::new(i, count).map_err(|_| {
            bad(
                value,
                &format!("not below --shards {count} (the index is 0-based)"),
            )
        })
    }

    /// The 0-based index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The number of shards.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether the source repository `name` belongs to this shard.
    pub fn owns(&self, name: &str) -> bool {
        fnv1a64(name.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// 64-bit FNV-1a: fixed, fast, and spreads short similar names well enough.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn every_name_has_exactly_one_shard() {
        for n in 1..6 {
            let shards: Vec<Shard> = (0..n).map(|i| Shard::new(i, n).unwrap()).collect();
            for k in 0..200 {
                let name = format!("team{k}/app");
                assert_eq!(shards.iter().filter(|s| s.owns(&name)).count(), 1);
            }
        }
    }

    #[test]
    fn shard_settings_are_checked() {
        assert_eq!(Shard::parse("0/1").unwrap().to_string(), "0/1");
        for bad in ["1", "4/4", "a/2", "1/0", "-1/2", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Shard::from_job_index(3, Some("2")).unwrap(),
            Shard::new(2, 3).unwrap()
        );
        assert!(Shard::from_job_index(3, Some("3")).is_err());
        assert!(Shard::from_job_index(3, None).is_err());
    }
}
