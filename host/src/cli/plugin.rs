//! `hpo plugin install | list | info | remove | verify`: the registry of installed plugins,
//! printed as tables and lines.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hpo_host::authoring::{self, Lang, NewPlugin, Role};
use hpo_host::conformance::{self, KitOptions, Outcome, Report};
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
        /// Run the conformance kit first (without its sanity runs) and install only if
        /// every required check passes.
        #[arg(long)]
        check: bool,
    },
    /// Run the conformance kit on an artifact (PATH) or an installed plugin (NAME): each
    /// check passes or fails with its reason; exit code 1 when a required check fails.
    Test {
        /// A `.wasm` component or native library, or the name of an installed plugin.
        target: String,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Skip the sanity runs against random search (the slowest checks).
        #[arg(long)]
        no_sanity: bool,
        /// Accept a native artifact: it runs unsandboxed with your permissions.
        #[arg(long)]
        allow_native: bool,
        /// The latency budget of `tell` + `propose` at the largest history, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        budget_ms: u64,
        /// History sizes of the latency report, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
        latency_sizes: Vec<usize>,
    },
    /// Write a ready plugin project: a Rust crate or a Python project with a working
    /// example, its README and the plugin contract vendored in.
    New {
        /// The plugin's name (lowercase letters, digits and '-').
        name: String,
        /// What the plugin provides.
        #[arg(long, value_enum, default_value_t = Role::Arm)]
        role: Role,
        /// The language of the project.
        #[arg(long, value_enum, default_value_t = Lang::Rust)]
        lang: Lang,
        /// Where to write it (default: ./NAME); must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
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
    if let PluginCommand::New {
        name,
        role,
        lang,
        dir,
    } = command
    {
        return new_project(name, role, lang, dir);
    }
    let mut host = super::open_host(registry)?;
    match command {
        PluginCommand::Install {
            path,
            force,
            allow_native,
            check,
        } => {
            if check {
                let options = KitOptions {
                    sanity: false,
                    ..KitOptions::default()
                };
                let report = conformance::test_artifact(&path, allow_native, &options)?;
                print!("{}", report_text(&report));
                if !report.passed {
                    eprintln!(
                        "error: {}: not installed, required checks failed",
                        path.display()
                    );
                    return Ok(ExitCode::from(1));
                }
            }
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
        PluginCommand::Test {
            target,
            json,
            no_sanity,
            allow_native,
            budget_ms,
            mut latency_sizes,
        } => {
            latency_sizes.sort_unstable();
            let options = KitOptions {
                sanity: !no_sanity,
                latency_budget: std::time::Duration::from_millis(budget_ms),
                latency_sizes,
                ..KitOptions::default()
            };
            let path = Path::new(&target);
            let report = if path.exists() {
                conformance::test_artifact(path, allow_native, &options)?
            } else {
                conformance::test_plugin(&host, &target, &options)?
            };
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report_text(&report));
            }
            if !report.passed {
                return Ok(ExitCode::from(1));
            }
        }
        PluginCommand::New { .. } => unreachable!("handled above"),
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
    if !entry.stoppers.is_empty() {
        parts.push(format!("stoppers {}", entry.stoppers.join(", ")));
    }
    if !entry.schedulers.is_empty() {
        parts.push(format!("schedulers {}", entry.schedulers.join(", ")));
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
         description: {}\nartifact:    {}\nsha256:      {}\narms:        {}\nstrategies:  {}\nstoppers:    {}\n\
         schedulers:  {}\n",
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
        entry.stoppers.join(", "),
        entry.schedulers.join(", "),
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

/// `hpo plugin new`: writes the project and says what to do next.
fn new_project(
    name: String,
    role: Role,
    lang: Lang,
    dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
    let new = NewPlugin {
        name,
        role,
        lang,
        dir: dir.clone(),
    };
    let files = authoring::create(&new)?;
    println!("wrote {} files in {}", files.len(), dir.display());
    let build = match lang {
        Lang::Rust => "cargo build --release --target wasm32-wasip2",
        Lang::Python => "./build.sh",
    };
    println!(
        "next: cd {} && {build}; then see README.md to test and install it",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The kit's report as a table: one line per check, then the counts.
fn report_text(report: &Report) -> String {
    let mut out = format!(
        "conformance of {} {} ({}, api {})\n",
        report.plugin, report.version, report.kind, report.api
    );
    let width = report
        .checks
        .iter()
        .map(|c| c.subject.len())
        .max()
        .unwrap_or(0);
    for c in &report.checks {
        out.push_str(&format!(
            "  {:<4}  {:<width$}  {}: {}\n",
            c.outcome.label(),
            c.subject,
            c.check,
            c.detail
        ));
    }
    out.push_str(&format!(
        "{} checks: {} passed, {} failed, {} warnings, {} skipped; {}\n",
        report.checks.len(),
        report.count(Outcome::Pass),
        report.count(Outcome::Fail),
        report.count(Outcome::Warn),
        report.count(Outcome::Skip),
        if report.passed {
            "conforms"
        } else {
            "does NOT conform"
        }
    ));
    out
}
