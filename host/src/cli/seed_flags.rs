//! The seed's command line: multi-letter short flags (`-eg`, `-et`, `-rc`, `-hc`, `-tp`,
//! `-etr`) and
//! `-x=value`, rewritten into what clap parses.

/// The seed's multi-letter short flags and their long forms.
const LONG: [(&str, &str); 6] = [
    ("-eg", "--goal"),
    ("-et", "--time"),
    ("-rc", "--run-conf-dir"),
    ("-hc", "--hp-conf-dir"),
    ("-tp", "--time-penalty"),
    ("-etr", "--early-stop"),
];

/// Rewrites the seed's multi-letter short flags and `-x=value` into what clap parses.
pub fn translate(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    for arg in args {
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with('-') && !f.starts_with("--") => {
                (f.to_string(), Some(v.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let flag = LONG
            .iter()
            .find(|(short, _)| *short == flag)
            .map(|(_, long)| long.to_string())
            .unwrap_or(flag);
        out.push(flag);
        out.extend(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&str]) -> Vec<String> {
        translate(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn seed_spellings_become_long_flags() {
        assert_eq!(
            words(&["hpo", "run", "-m=GP", "-eg=0.98", "-et", "2h", "--goal=1"]),
            [
                "hpo", "run", "-m", "GP", "--goal", "0.98", "--time", "2h", "--goal=1"
            ]
        );
        assert_eq!(
            words(&["-hc", "dir", "-tp=ET_PS"]),
            ["--hp-conf-dir", "dir", "--time-penalty", "ET_PS"]
        );
    }
}
