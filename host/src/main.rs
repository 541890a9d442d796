//! The `hpo` command line: parses arguments and dispatches to the host library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use hpo_host::bundled;
use hpo_host::home;
use hpo_host::loader::WasmRuntime;
use hpo_host::plugins::{InstallOptions, PluginHost};
use hpo_registry::PluginEntry;

/// hpo: hyperparameter optimization with pluggable, diversified optimizers.
#[derive(Parser)]
#[command(name = "hpo", version, about, long_about = None)]
struct Cli {
    /// The plugin registry file (default: $HPO_HOME/registry.toml, else the user data dir).
    #[arg(long, global = true, value_name = "PATH")]
    registry: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace (RUST_LOG overrides).
    #[arg(short = 'l', long = "log-level", global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage optimizer plugins (arms and strategies).
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Install a plugin artifact (.wasm component or native library), or all in a directory.
    Install {
        /// The artifact or a directory of artifacts.
        path: PathBuf,
        /// Replace an installed plugin of the same name.
        #[arg(long)]
        force: bool,
        /// Accept a native plugin: it runs unsandboxed with your permissions.
        #[arg(long)]
        allow_native: bool,
    },
    /// List installed plugins.
    List,
    /// Show one plugin's registry entry.
    Info {
        /// The plugin's name.
        name: String,
    },
    /// Remove an installed plugin.
    Remove {
        /// The plugin's name.
        name: String,
    },
    /// Check every plugin: checksums, loadability, API compatibility.
    Verify,
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line, whatever the source error's own formatting.
            let message = format!("{e:#}");
            eprintln!(
                "error: {}",
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::from(2)
        }
    }
}

fn open_host(registry: Option<PathBuf>) -> anyhow::Result<PluginHost> {
    let path = home::registry_path(registry).map_err(anyhow::Error::msg)?;
    let mut host = PluginHost::open(path, Arc::new(WasmRuntime::new()))?;
    if let Some(dir) = bundled::executable_dir() {
        let changed = bundled::register_bundled(&mut host, &dir)?;
        if !changed.is_empty() {
            tracing::info!("bundled plugins registered: {}", changed.join(", "));
        }
    }
    Ok(host)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugin(command) => plugin_command(command, cli.registry),
    }
}

fn plugin_command(command: PluginCommand, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut host = open_host(registry)?;
    match command {
        PluginCommand::Install {
            path,
            force,
            allow_native,
        } => {
            let installed = host.install(
                &path,
                InstallOptions {
                    force,
                    allow_native,
                },
            )?;
            for entry in installed {
                println!(
                    "installed {} {} ({}, api {}): {}",
                    entry.name,
                    entry.version,
                    entry.kind,
                    entry.api,
                    provides(&entry)
                );
            }
        }
        PluginCommand::List => print!("{}", list_table(host.registry().plugins())),
        PluginCommand::Info { name } => {
            let entry = host.registry().get(&name)?;
            print!(
                "{}",
                info_text(entry, &host.registry().resolve(&entry.path))
            );
        }
        PluginCommand::Remove { name } => {
            let entry = host.remove(&name)?;
            println!("removed {} {}", entry.name, entry.version);
        }
        PluginCommand::Verify => {
            let reports = host.verify();
            let failed = reports.iter().filter(|r| !r.problems.is_empty()).count();
            for report in &reports {
                if report.problems.is_empty() {
                    println!("ok      {}", report.name);
                } else {
                    println!("FAILED  {}: {}", report.name, report.problems.join("; "));
                }
            }
            println!("{} plugins checked, {failed} failed", reports.len());
            if failed > 0 {
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn provides(entry: &PluginEntry) -> String {
    let mut parts = Vec::new();
    if !entry.arms.is_empty() {
        parts.push(format!("arms {}", entry.arms.join(", ")));
    }
    if !entry.strategies.is_empty() {
        parts.push(format!("strategies {}", entry.strategies.join(", ")));
    }
    if parts.is_empty() {
        "nothing".to_string()
    } else {
        parts.join("; ")
    }
}

fn list_table(entries: &[PluginEntry]) -> String {
    if entries.is_empty() {
        return "no plugins installed\n".to_string();
    }
    let header = ["NAME", "VERSION", "KIND", "API", "ORIGIN", "PROVIDES"];
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                e.name.clone(),
                e.version.clone(),
                e.kind.to_string(),
                e.api.clone(),
                format!("{:?}", e.origin).to_lowercase(),
                provides(e),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn info_text(entry: &PluginEntry, artifact: &std::path::Path) -> String {
    let mut out = format!(
        "name:        {}\nversion:     {}\nkind:        {}\napi:         {}\norigin:      {}\n\
         description: {}\nartifact:    {}\nsha256:      {}\narms:        {}\nstrategies:  {}\n",
        entry.name,
        entry.version,
        entry.kind,
        entry.api,
        format!("{:?}", entry.origin).to_lowercase(),
        entry.description,
        artifact.display(),
        entry.sha256,
        entry.arms.join(", "),
        entry.strategies.join(", "),
    );
    if let Some(limits) = &entry.limits {
        out.push_str(&format!(
            "limits:      timeout_ms={:?} memory_mib={:?} fuel={:?}\n",
            limits.timeout_ms, limits.memory_mib, limits.fuel
        ));
    }
    if let Some(pre) = &entry.precompiled {
        out.push_str(&format!("precompiled: {} ({})\n", pre.path, pre.engine));
    }
    out
}
