//! The command line: arguments (clap), the seed's flag spellings, printing, progress. The
//! only code that reads argv, prints or picks exit codes; each subcommand parses its flags
//! into a request of the host library and prints what comes back.

pub mod bench;
pub mod plugin;
pub mod progress;
pub mod regret;
pub mod results;
pub mod run;
pub mod seed_flags;
pub mod serve;
pub mod values;
pub mod worker;

use std::path::PathBuf;

use hpo_host::registry::PluginHost;

/// The plugin host over the registry at `registry` (else the default place), with the
/// first-party plugins next to the executable registered.
pub fn open_host(registry: Option<PathBuf>) -> anyhow::Result<PluginHost> {
    let (host, changed) = PluginHost::open_with_bundled(registry)?;
    if !changed.is_empty() {
        tracing::info!("bundled plugins registered: {}", changed.join(", "));
    }
    Ok(host)
}

/// Logs to stderr at `level` (`RUST_LOG` overrides; the seed's `log` is `info`), in colour
/// only on a terminal.
pub fn init_logging(level: &str) {
    use std::io::IsTerminal;
    let level = if level == "log" { "info" } else { level };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// An error as one line: every cause once (a cause an outer message already quotes is not
/// repeated), white space folded.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain().map(|c| c.to_string()) {
        if !message.contains(&cause) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&cause);
        }
    }
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Help and version go to stdout as clap prints them (exit 0); a usage error is its first
/// line, which names the flag and what is wrong (exit 2).
pub fn usage_error(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return std::process::ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error");
    eprintln!("{}", line.trim_end());
    std::process::ExitCode::from(2)
}
