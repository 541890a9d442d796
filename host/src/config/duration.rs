//! Durations as users write them (budgets, timeouts): seconds, or a number with `s`, `m`,
//! `h` or `d`; positive, finite and at most a hundred years.

/// The longest duration accepted anywhere (budgets, timeouts): 100 years.
pub const MAX_DURATION_SECS: f64 = 100.0 * 365.25 * 86_400.0;

/// What is wrong with a duration's text (the caller names the flag).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    /// A unit other than s, m, h, d.
    #[error("'{text}': unknown unit '{unit}' (s, m, h, d)")]
    Unit {
        /// The text.
        text: String,
        /// The unit.
        unit: char,
    },
    /// Not a number.
    #[error("'{0}' is not a number of seconds (or 30m, 2h, 1d)")]
    NotANumber(String),
    /// Zero, negative or not finite.
    #[error("'{0}' must be positive")]
    NotPositive(String),
    /// Beyond [`MAX_DURATION_SECS`].
    #[error("'{0}' is longer than 100 years")]
    TooLong(String),
}

/// Parses a duration: seconds, or a number with `s`, `m`, `h` or `d`; positive, finite and
/// at most [`MAX_DURATION_SECS`].
pub fn parse_duration(text: &str) -> Result<f64, DurationError> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().last() {
        // A plain number of seconds, "inf" and "nan" included (refused below).
        _ if t.parse::<f64>().is_ok() => (t, 's'),
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c),
        _ => (t, 's'),
    };
    let factor = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        unit => {
            return Err(DurationError::Unit {
                text: text.to_string(),
                unit,
            });
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| DurationError::NotANumber(text.to_string()))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(DurationError::NotPositive(text.to_string()));
    }
    let seconds = value * factor;
    // Infinite too: a finite value times a unit can overflow.
    if seconds > MAX_DURATION_SECS {
        return Err(DurationError::TooLong(text.to_string()));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(parse_duration("36000").unwrap(), 36000.0);
        assert_eq!(parse_duration("30m").unwrap(), 1800.0);
        assert_eq!(parse_duration("2h").unwrap(), 7200.0);
        assert_eq!(parse_duration("1d").unwrap(), 86400.0);
        assert!(parse_duration("-5").is_err());
        let unit = parse_duration("5y").unwrap_err().to_string();
        assert!(unit.contains("unknown unit"), "{unit}");
        assert!(parse_duration("abc").is_err());
        // Too long for any timer: an error, never a panic or an infinite budget.
        for long in ["1e20", "1e300d", "1e308d", "inf"] {
            assert!(parse_duration(long).is_err(), "{long}");
        }
        let years = parse_duration("100y").unwrap_err().to_string();
        assert!(years.contains("unknown unit"), "{years}");
    }
}
