//! Chart repositories: `index.yaml`, choosing a chart version (newest, or newest
//! matching a Masterminds-style constraint as Helm does), and semver constraints.

use std::cmp::Ordering;

use semver::Version;

use crate::template::value::yaml_key;

/// One comparison of a constraint, after expanding `~`, `^`, `x` and partial versions.
#[derive(Debug, Clone)]
struct Cmp {
    op: Ordering,
    /// `true`: also accept equality (`>=`, `<=`); `op == Equal` with `or_eq == false` means `!=`.
    or_eq: bool,
    ver: Version,
    /// Whether the written version had a prerelease part (which lets prereleases match).
    allows_pre: bool,
}

/// A semver constraint as Helm (Masterminds/semver) reads it: `>=1.2 <2`, `~1.2`,
/// `^1.2.3`, `1.2.x`, `*`, `a || b`, `1.2 - 1.4`, comma or space separated.
#[derive(Debug, Clone)]
pub struct Constraint {
    alternatives: Vec<Vec<Cmp>>,
    text: String,
}

/// A constraint that could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("improper constraint: {0}")]
pub struct ConstraintError(pub String);

/// Parses a constraint.
pub fn parse_constraint(text: &str) -> Result<Constraint, ConstraintError> {
    let mut alternatives = Vec::new();
    for alt in text.split("||") {
        let toks = tokens(alt);
        let mut group = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            if toks.get(i + 1).map(String::as_str) == Some("-") && i + 2 < toks.len() {
                group.extend(expand(">=", &toks[i], text)?);
                group.extend(expand("<=", &toks[i + 2], text)?);
                i += 3;
                continue;
            }
            let (op, ver) = split_op(&toks[i]);
            group.extend(expand(op, ver, text)?);
            i += 1;
        }
        alternatives.push(group);
    }
    Ok(Constraint {
        alternatives,
        text: text.to_string(),
    })
}

/// Splits on commas and spaces, joining a bare operator to the version after it.
fn tokens(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in s.split([',', ' ', '\t']).filter(|t| !t.is_empty()) {
        match out.last_mut() {
            Some(prev) if prev.chars().all(|c| "<>=!~^".contains(c)) && prev != "-" => {
                prev.push_str(t)
            }
            _ => out.push(t.to_string()),
        }
    }
    out
}

fn split_op(t: &str) -> (&str, &str) {
    let i = t.find(|c: char| !"<>=!~^".contains(c)).unwrap_or(t.len());
    (&t[..i], &t[i..])
}

/// A version with wildcards: how many leading parts were given as numbers.
fn partial(v: &str, text: &str) -> Result<(Version, usize), ConstraintError> {
    let v = v.trim_start_matches(['v', 'V']);
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let mut nums = Vec::new();
    for p in core.split('.') {
        if matches!(p, "x" | "X" | "*") {
            break;
        }
        nums.push(
            p.parse::<u64>()
                .map_err(|_| ConstraintError(text.to_string()))?,
        );
    }
    let given = nums.len();
    if given > 3 {
        return Err(ConstraintError(text.to_string()));
    }
    nums.resize(3, 0);
    let ver = Version::parse(&format!("{}.{}.{}{}", nums[0], nums[1], nums[2], rest))
        .map_err(|_| ConstraintError(text.to_string()))?;
    Ok((ver, given))
}

/// The version just above the given parts (`1.2` -> `1.3.0`).
fn bump(v: &Version, given: usize) -> Version {
    match given {
        0 => Version::new(u64::MAX, 0, 0),
        1 => Version::new(v.major + 1, 0, 0),
        2 => Version::new(v.major, v.minor + 1, 0),
        _ => Version::new(v.major, v.minor, v.patch + 1),
    }
}

fn cmp(op: Ordering, or_eq: bool, ver: Version, allows_pre: bool) -> Cmp {
    Cmp {
        op,
        or_eq,
        ver,
        allows_pre,
    }
}

fn expand(op: &str, ver: &str, text: &str) -> Result<Vec<Cmp>, ConstraintError> {
    let (v, given) = partial(ver, text)?;
    let pre = !v.pre.is_empty();
    let range = |lo: Version, hi: Version| {
        vec![
            cmp(Ordering::Greater, true, lo, pre),
            cmp(Ordering::Less, false, hi, pre),
        ]
    };
    Ok(match op {
        "" | "=" | "==" if given == 3 => vec![cmp(Ordering::Equal, true, v, pre)],
        "" | "=" | "==" => range(v.clone(), bump(&v, given)),
        "!=" => vec![cmp(Ordering::Equal, false, v, pre)],
        ">" => vec![cmp(Ordering::Greater, false, v, pre)],
        ">=" | "=>" => vec![cmp(Ordering::Greater, true, v, pre)],
        "<" => vec![cmp(Ordering::Less, false, v, pre)],
        "<=" | "=<" if given == 3 => vec![cmp(Ordering::Less, true, v, pre)],
        "<=" | "=<" => vec![cmp(Ordering::Less, false, bump(&v, given), pre)],
        "~" | "~>" => range(v.clone(), bump(&v, given.clamp(1, 2))),
        "^" => {
            let hi = match (v.major, v.minor, given) {
                (0, 0, 3) => bump(&v, 3),
                (0, _, g) if g >= 2 => bump(&v, 2),
                _ => bump(&v, 1),
            };
            range(v, hi)
        }
        _ => return Err(ConstraintError(text.to_string())),
    })
}

/// Orders versions by precedence (build metadata ignored).
pub(crate) fn precedence(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| match (a.pre.is_empty(), b.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => a.pre.cmp(&b.pre),
        })
}

impl Cmp {
    fn matches(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && !self.allows_pre {
            return false;
        }
        let o = precedence(v, &self.ver);
        match (self.op, self.or_eq) {
            (Ordering::Equal, true) => o == Ordering::Equal,
            (Ordering::Equal, false) => o != Ordering::Equal,
            (op, or_eq) => o == op || (or_eq && o == Ordering::Equal),
        }
    }
}

impl Constraint {
    /// Whether `v` satisfies the constraint (prereleases only when the constraint names one).
    pub fn matches_loose(&self, v: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|g| g.iter().all(|c| c.matches(v)))
    }

    /// The text it was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One chart version listed in a repository's `index.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    /// Chart name.
    pub name: String,
    /// Chart version, as written.
    pub version: String,
    /// Download URLs (absolute or relative to the repository).
    pub urls: Vec<String>,
    /// `sha256` of the archive, when the index gives it.
    pub digest: Option<String>,
}

/// A repository `index.yaml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Not YAML of the expected shape.
    #[error("invalid index.yaml: {0}")]
    Parse(String),
    /// The chart is not in the index.
    #[error("chart {0:?} not found in repository index")]
    NoChart(String),
    /// No version matches.
    #[error("no chart version of {name:?} matches {wanted:?}")]
    NoVersion {
        /// Chart name.
        name: String,
        /// The version or constraint asked for.
        wanted: String,
    },
    /// The version constraint is malformed.
    #[error(transparent)]
    Constraint(#[from] ConstraintError),
}

/// Reads the entries of chart `name` from an `index.yaml` document.
pub fn index_entries(index_yaml: &str, name: &str) -> Result<Vec<IndexEntry>, IndexError> {
    let doc: yaml_serde::Value =
        yaml_serde::from_str(index_yaml).map_err(|e| IndexError::Parse(e.to_string()))?;
    let entries = doc
        .get("entries")
        .and_then(|e| e.get(name))
        .and_then(|e| e.as_sequence())
        .ok_or_else(|| IndexError::NoChart(name.to_string()))?;
    let text = |v: &yaml_serde::Value, k: &str| {
        v.get(k)
            .map(yaml_key)
            .filter(|s| !s.is_empty() && s != "null")
    };
    Ok(entries
        .iter()
        .map(|e| IndexEntry {
            name: name.to_string(),
            version: text(e, "version").unwrap_or_default(),
            urls: e
                .get("urls")
                .and_then(|u| u.as_sequence())
                .map(|u| {
                    u.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            digest: text(e, "digest"),
        })
        .collect())
}

/// Chooses a version as `helm pull --version` does: an exact version if listed,
/// otherwise the newest matching the constraint (empty: newest non-prerelease).
pub fn choose<'a>(entries: &'a [IndexEntry], wanted: &str) -> Result<&'a IndexEntry, IndexError> {
    let wanted = wanted.trim();
    if let Some(e) = entries
        .iter()
        .find(|e| !wanted.is_empty() && e.version == wanted)
    {
        return Ok(e);
    }
    let c = parse_constraint(if wanted.is_empty() { "*" } else { wanted })?;
    entries
        .iter()
        .filter_map(|e| crate::template::loose_version(&e.version).map(|v| (v, e)))
        .filter(|(v, _)| c.matches_loose(v))
        .max_by(|(a, _), (b, _)| precedence(a, b))
        .map(|(_, e)| e)
        .ok_or_else(|| IndexError::NoVersion {
            name: entries.first().map(|e| e.name.clone()).unwrap_or_default(),
            wanted: wanted.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        parse_constraint(c)
            .unwrap()
            .matches_loose(&crate::template::loose_version(v).unwrap())
    }

    #[test]
    fn constraints_as_masterminds() {
        assert!(ok(">=1.21-0", "v1.32.0"));
        assert!(ok(">=1.21-0", "v1.28.3-gke.100"));
        assert!(!ok(">=1.21", "v1.28.3-gke.100"));
        assert!(ok(">= 1.2, < 2", "1.9.9"));
        assert!(!ok(">=1.2 <2", "2.0.0"));
        assert!(ok("~1.2", "1.2.9") && !ok("~1.2", "1.3.0"));
        assert!(ok("^0.2.3", "0.2.9") && !ok("^0.2.3", "0.3.0"));
        assert!(ok("1.2.x", "1.2.7") && ok("*", "9.9.9") && !ok("*", "1.0.0-rc1"));
        assert!(ok("<1 || >=3", "3.1.0") && !ok("<1 || >=3", "2.0.0"));
        assert!(ok("1.0 - 1.4", "1.4.0"));
    }

    #[test]
    fn chooses_newest_matching() {
        let idx = "apiVersion: v1\nentries:\n  app:\n  - version: 1.2.0\n    urls: [app-1.2.0.tgz]\n  - version: 1.10.0\n    urls: [app-1.10.0.tgz]\n  - version: 2.0.0-rc.1\n    urls: [x]\n";
        let e = index_entries(idx, "app").unwrap();
        assert_eq!(choose(&e, "").unwrap().version, "1.10.0");
        assert_eq!(choose(&e, "~1.2").unwrap().version, "1.2.0");
        assert_eq!(choose(&e, "2.0.0-rc.1").unwrap().version, "2.0.0-rc.1");
        assert!(choose(&e, ">=3").is_err());
    }
}
