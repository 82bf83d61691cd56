//! Choosing tags: a semver range or include/exclude patterns, newest first; and the
//! code collection rule, `${ref}-latest` and its stable `${ref}-<hash>` siblings.

use std::cmp::Ordering;

use regex::Regex;
use semver::{Version, VersionReq};

/// A tag read as a version: `1.2.3`, `v1.2.3`, `1.2` or `1.2.3-rc.1`.
///
/// Registries' tags are looser than semver; missing minor and patch read as 0 so that
/// `1.25` sorts with `1.25.0`. Anything else is not a version.
pub fn tag_version(tag: &str) -> Option<Version> {
    let text = tag.strip_prefix('v').unwrap_or(tag);
    if let Ok(v) = Version::parse(text) {
        return Some(v);
    }
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (text, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|p| is_number(p)) {
        return None;
    }
    // A bare number is a version only when it is short: `20240101` is a date and
    // `1234567` a commit, and neither must sort as the newest major version.
    let padded = match parts.len() {
        1 if parts[0].len() > 4 => return None,
        1 => format!("{}.0.0", parts[0]),
        _ => format!("{}.{}.0", parts[0], parts[1]),
    };
    let full = match pre {
        Some(pre) => format!("{padded}-{pre}"),
        None => padded,
    };
    Version::parse(&full).ok()
}

fn is_number(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p == "0" || !p.starts_with('0'))
}

/// The newest `newest` tags whose version satisfies `range`, newest first.
pub fn select_semver<'a>(tags: &'a [String], range: &VersionReq, newest: usize) -> Vec<&'a str> {
    let mut matching: Vec<(Version, &str)> = tags
        .iter()
        .filter_map(|t| Some((tag_version(t)?, t.as_str())))
        .filter(|(v, _)| range.matches(v))
        .collect();
    // Same version spelled twice (`v1.2.3` and `1.2.3`): keep the plainer spelling.
    matching.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.len().cmp(&b.1.len())));
    matching.dedup_by(|a, b| a.0 == b.0);
    matching.into_iter().take(newest).map(|(_, t)| t).collect()
}

/// The newest `newest` tags that match an include pattern (any tag when there are none)
/// and no exclude pattern. Versions sort by version, newest first, ahead of other tags,
/// which sort by name, descending.
pub fn select_patterns<'a>(
    tags: &'a [String],
    include: &[Regex],
    exclude: &[Regex],
    newest: usize,
) -> Vec<&'a str> {
    let mut matching: Vec<&str> = tags
        .iter()
        .map(String::as_str)
        .filter(|t| include.is_empty() || include.iter().any(|r| r.is_match(t)))
        .filter(|t| !exclude.iter().any(|r| r.is_match(t)))
        .collect();
    matching.sort_by(|a, b| newest_first(a, b));
    matching.truncate(newest);
    matching
}

fn newest_first(a: &str, b: &str) -> Ordering {
    match (tag_version(a), tag_version(b)) {
        (Some(va), Some(vb)) => vb.cmp(&va),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => b.cmp(a),
    }
}

/// Tags that may name the stable build of `${git_ref}-latest`: `${git_ref}-<hex, 7 or
/// more>` or the catalog form `${git_ref}-<hex>-<hex>`.
///
/// Architecture-prefixed tags (`amd64-main-abc1234`) never match because the rule is
/// anchored at the start with the ref itself; `-latest` never matches since it is not hex.
pub struct SiblingRule {
    pattern: Regex,
}

impl SiblingRule {
    /// The rule for a branch.
    pub fn new(git_ref: &str) -> SiblingRule {
        let escaped = regex::escape(git_ref);
        let pattern = Regex::new(&format!(
            "^{escaped}-(?:[0-9a-f]{{7,}}|[0-9a-f]+-[0-9a-f]+)$"
        ))
        .expect("an escaped ref always forms a valid pattern");
        SiblingRule { pattern }
    }

    /// Whether `tag` is a candidate sibling.
    pub fn matches(&self, tag: &str) -> bool {
        self.pattern.is_match(tag)
    }

    /// The candidates among `tags`, the most recent-looking first.
    ///
    /// Without upload times, registries list tags by name; the ones listed last are tried
    /// first, which for the catalog form (`main-<time hex>-<hash>`) is the newest.
    pub fn candidates<'a>(&self, tags: &'a [String]) -> Vec<&'a str> {
        let mut found: Vec<&str> = tags
            .iter()
            .map(String::as_str)
            .filter(|t| self.matches(t))
            .collect();
        found.reverse();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_loose_versions() {
        assert_eq!(tag_version("1.25"), Some(Version::new(1, 25, 0)));
        assert_eq!(tag_version("v0.150.0"), Some(Version::new(0, 150, 0)));
        assert_eq!(tag_version("7"), Some(Version::new(7, 0, 0)));
        assert!(tag_version("1.2.3-rc.1").unwrap().pre.as_str() == "rc.1");
        for not in [
            "latest",
            "main-abc1234",
            "01.2",
            "1.2.3.4",
            "v",
            "",
            "20240101",
            "1234567",
        ] {
            assert_eq!(tag_version(not), None, "{not}");
        }
    }

    #[test]
    fn semver_picks_the_newest_n_in_range() {
        let t = tags(&[
            "0.149.0",
            "0.150.0",
            "0.151.1",
            "v0.151.1",
            "0.152.0-rc.1",
            "latest",
            "0.151.0",
        ]);
        let range = VersionReq::parse(">=0.150.0").unwrap();
        assert_eq!(select_semver(&t, &range, 1), vec!["0.151.1"]);
        assert_eq!(
            select_semver(&t, &range, 3),
            vec!["0.151.1", "0.151.0", "0.150.0"]
        );
        let none = VersionReq::parse(">=9").unwrap();
        assert!(select_semver(&t, &none, 2).is_empty());
    }

    #[test]
    fn patterns_filter_then_order_versions_first() {
        let t = tags(&[
            "1.2.0-alpine",
            "1.10.0",
            "1.9.0",
            "edge",
            "1.9.0-alpine",
            "nightly",
        ]);
        let include = [Regex::new("^1\\.").unwrap(), Regex::new("^edge$").unwrap()];
        let exclude = [Regex::new("alpine").unwrap()];
        assert_eq!(
            select_patterns(&t, &include, &exclude, 5),
            vec!["1.10.0", "1.9.0", "edge"]
        );
        assert_eq!(
            select_patterns(&t, &[], &exclude, 2),
            vec!["1.10.0", "1.9.0"]
        );
    }

    #[test]
    fn siblings_follow_the_ref_and_skip_decoys() {
        let rule = SiblingRule::new("main");
        for yes in [
            "main-abc1234",
            "main-0123456789abcdef",
            "main-18f0a1b2-abc1234",
        ] {
            assert!(rule.matches(yes), "{yes}");
        }
        for no in [
            "main-latest",
            "amd64-main-abc1234",
            "arm64-main-abc1234",
            "main-abc123",
            "main-ABC1234",
            "mainabc1234",
            "dev-abc1234",
            "main-abc1234-extra-x",
        ] {
            assert!(!rule.matches(no), "{no}");
        }
        // A ref with regex metacharacters is taken literally.
        let dotted = SiblingRule::new("release.1");
        assert!(dotted.matches("release.1-abc1234"));
        assert!(!dotted.matches("releasex1-abc1234"));
    }

    #[test]
    fn candidates_are_tried_last_listed_first() {
        let rule = SiblingRule::new("main");
        let t = tags(&[
            "main-aaaaaaa",
            "main-latest",
            "main-bbbbbbb",
            "amd64-main-bbbbbbb",
        ]);
        assert_eq!(rule.candidates(&t), vec!["main-bbbbbbb", "main-aaaaaaa"]);
    }
}
