//! `hpo plugin install | list | info | remove | verify`: the registry of installed plugins,
//! printed as tables and lines.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hpo_host::registry::InstallOptions;
use hpo_registry::PluginEntry;

/// What to do with plugins.
#[derive(clap::Subcommand)]
pub enum PluginCommand {
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

/// Carries out one plugin command.
pub fn command(command: PluginCommand, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut host = super::open_host(registry)?;
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

fn info_text(entry: &PluginEntry, artifact: &Path) -> String {
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
