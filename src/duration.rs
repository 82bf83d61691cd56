//! Durations as people write them on command lines: `90s`, `15m`, `1h`, `1h30m`.

use std::time::Duration;

/// A duration that could not be read; keeps the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: use a number with a unit, e.g. 30s, 15m, 1h or 1h30m")]
pub struct DurationError(String);

/// Parses `1h30m`, `15m`, `90s`, `500ms` or `2d`; a bare number is seconds.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    let trimmed = text.trim();
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let number: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number * 60),
            "h" => Duration::from_secs(number * 3600),
            "d" => Duration::from_secs(number * 86400),
            _ => return Err(err()),
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    if total.is_zero() {
        Err(err())
    } else {
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_forms() {
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "h", "1x", "0s", "1.5h", "-1s"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
