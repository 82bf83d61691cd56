//! Configuration errors that name the setting, the file and the line.

use std::fmt;
use std::path::PathBuf;

/// A setting that could not be used; nothing has been changed when this is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file (or a file it names) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML is malformed, has an unknown key, a wrong type or a bad value.
    #[error("{}{}: {message}", path.display(), location(*line, *column))]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong, with the key path.
        message: String,
    },
    /// A setting has a value that cannot be used.
    #[error("{origin}: {message}")]
    Invalid {
        /// Where the setting came from.
        origin: Origin,
        /// What is wrong and what to do.
        message: String,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// Where a setting came from: an environment variable or a key of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable.
    Env(String),
    /// A key of a YAML file, by its dotted path.
    Key {
        /// The file, once known.
        file: Option<PathBuf>,
        /// The key's line, once known.
        line: Option<usize>,
        /// Dotted key path (`target.registry`).
        key: String,
    },
}

impl Origin {
    /// An environment variable.
    pub fn env(name: &str) -> Origin {
        Origin::Env(name.to_string())
    }

    /// A key of the config file (the file is filled in by the loader).
    pub fn key(key: &str) -> Origin {
        Origin::Key {
            file: None,
            line: None,
            key: key.to_string(),
        }
    }

    /// A key of a named file.
    pub fn file_key(file: PathBuf, key: &str) -> Origin {
        Origin::Key {
            file: Some(file),
            line: None,
            key: key.to_string(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Key { file, line, key } => {
                if let Some(file) = file {
                    write!(f, "{}{}: ", file.display(), location(*line, None))?;
                }
                write!(f, "{key}")
            }
        }
    }
}

impl ConfigError {
    /// A bad value for a setting.
    pub fn invalid(origin: Origin, message: impl fmt::Display) -> ConfigError {
        ConfigError::Invalid {
            origin,
            message: message.to_string(),
        }
    }

    /// Fills in the file, and the line found in its text, for errors about its keys.
    pub(crate) fn in_file(self, path: &std::path::Path, text: &str) -> ConfigError {
        match self {
            ConfigError::Invalid {
                origin: Origin::Key {
                    file: None, key, ..
                },
                message,
            } => ConfigError::Invalid {
                origin: Origin::Key {
                    line: line_of_key(text, &key),
                    file: Some(path.to_path_buf()),
                    key,
                },
                message,
            },
            other => other,
        }
    }
}

/// The line of a dotted key in block-style YAML (`registries."a:5000".ca_file`).
///
/// Serde has no spans for values that are checked after parsing; this finds the key by
/// walking indentation, which is how config files are written in practice.
fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let mut parts = split_key(dotted).into_iter();
    let mut want = parts.next()?;
    let mut min_indent = 0;
    let mut found = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with('#') || trimmed.is_empty() || indent < min_indent {
            continue;
        }
        let key = trimmed
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches(['"', '\'']);
        let key_with_port = trimmed
            .strip_prefix('"')
            .and_then(|t| t.split('"').next())
            .unwrap_or(key);
        if key == want || key_with_port == want {
            found = Some(i + 1);
            match parts.next() {
                Some(next) => {
                    want = next;
                    min_indent = indent + 1;
                }
                None => return found,
            }
        }
    }
    found
}

fn split_key(dotted: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = dotted;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            parts.push(&quoted[..end]);
            rest = quoted.get(end + 1..).unwrap_or("").trim_start_matches('.');
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            parts.push(&rest[..end]);
            rest = rest.get(end + 1..).unwrap_or("");
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_by_indentation() {
        let text = "target:\n  registry: x\nregistries:\n  # c\n  \"a:5000\":\n    tls: disabled\n    ca_file: ca.pem\n";
        assert_eq!(line_of_key(text, "target.registry"), Some(2));
        assert_eq!(line_of_key(text, "registries.\"a:5000\".ca_file"), Some(7));
        assert_eq!(line_of_key(text, "nothing.here"), None);
    }
}
