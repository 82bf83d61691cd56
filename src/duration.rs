//! Durations as people write them on command lines: `90s`, `15m`, `1h`, `1h30m`.

use std::time::Duration;

/// The longest duration accepted: ten years.
pub const MAX: Duration = Duration::from_secs(10 * 365 * 86400);

/// A duration that could not be read; keeps the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {0:?}: use a number with a unit, e.g. 30s, 15m, 1h or 1h30m (at most 10 years)"
)]
pub struct DurationError(String);

/// Parses `1h30m`, `15m`, `90s`, `500ms` or `2d`; a bare number is seconds.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    let trimmed = text.trim();
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Some(Duration::from_secs(seconds))
            .filter(|d| *d <= MAX)
            .ok_or_else(err);
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let number: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let seconds = |per: u64| number.checked_mul(per).map(Duration::from_secs);
        let unit = match &rest[..unit_len] {
            "ms" => Some(Duration::from_millis(number)),
            "s" => seconds(1),
            "m" => seconds(60),
            "h" => seconds(3600),
            "d" => seconds(86400),
            _ => return Err(err()),
        };
        // A value past what a timer can hold is a typo, not a wish to wait for ever.
        total = unit
            .and_then(|u| total.checked_add(u))
            .filter(|t| *t <= MAX)
            .ok_or_else(err)?;
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
        for bad in [
            "",
            "h",
            "1x",
            "0s",
            "1.5h",
            "-1s",
            "99999999999999999d",
            "18446744073709551615h",
            "99999999999999999999",
            "3651d",
            "18446744073709551615s1s",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
