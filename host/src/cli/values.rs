//! Parsers of flag values: one line naming what is wrong (clap names the flag).

use hpo_host::config::parse_duration;

/// A duration flag's value: seconds, or 30m, 2h, 1d.
pub fn duration(text: &str) -> Result<f64, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

/// A `--store` value: `postgresql://USER@HOST/DB`, `sqlite:PATH` or a file path.
pub fn store(text: &str) -> Result<hpo_host::store::Location, String> {
    hpo_host::store::Location::parse(text)
}

/// A count flag's value: a whole number of at least 1.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{text}' must be a whole number of at least 1")),
    }
}

/// A seed: a whole number from 0 to 2^64 - 1.
pub fn seed(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| format!("'{text}' must be a whole number from 0 to 18446744073709551615"))
}

/// A boolean flag value: true/false, yes/no, on/off, 1/0 (the seed took any non-empty
/// value, even "False", as true).
pub fn boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}
