//! `hpo worker`: serves an objective as the seed's training node.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hpo_host::objectives;
use hpo_host::service::worker::{self, Worker};
use hpo_host::space::Space;

use super::values::{at_least_one, duration};

/// `hpo worker`: a training node.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct WorkerArgs {
    /// What the worker evaluates: cmd:PROGRAM ARGS, surrogate:NAME or fn:NAME.
    #[arg(long)]
    objective: String,
    /// Search space of a cmd: objective (hp_conf schema).
    #[arg(long, value_name = "FILE")]
    space: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:6000")]
    listen: String,
    /// Per-trial timeout of a cmd: objective: seconds, or 30m, 2h.
    #[arg(long = "trial-timeout", default_value = "1h", value_parser = duration)]
    trial_timeout: f64,
    /// Directory of surrogate tables.
    #[arg(long, default_value = "data")]
    table_dir: PathBuf,
    /// Jobs run at once (each slot with its own copy of the objective; a training command
    /// learns its slot as $HPO_WORKER and {worker}).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    slots: usize,
    /// Serve without a credential on an address beyond the loopback (anyone who can reach
    /// it may run jobs).
    #[arg(long)]
    insecure: bool,
    // The credential clients must send comes from $HPO_WORKER_CREDENTIAL (not a flag: a
    // flag shows in the process list).
}

/// Binds, prints the address (scripts read the URL from that line) and serves until killed.
pub fn command(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let space = args.space.as_deref().map(Space::from_file).transpose()?;
    let credential = std::env::var("HPO_WORKER_CREDENTIAL")
        .ok()
        .filter(|c| !c.is_empty());
    worker::check_exposure(&args.listen, credential.is_some(), args.insecure)?;
    let objective = objectives::resolve(
        &args.objective,
        Some(&args.table_dir),
        space,
        Duration::from_secs_f64(args.trial_timeout),
    )?;
    let worker = Worker::bind(&args.listen, objective, args.slots, credential.as_deref())?;
    let address = worker
        .address()
        .map_or_else(|| args.listen.clone(), |a| a.to_string());
    println!("worker listening on http://{address}/");
    std::io::stdout().flush()?;
    worker.serve()?;
    Ok(ExitCode::SUCCESS)
}
