//! `hpo serve`: the ask/tell service, and its tokens.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use hpo_host::service::tuner::Tuner;
use hpo_host::service::tuner::api::Server;
use hpo_host::store::{Location, STORE_FILE, Store};

use super::values::duration;

/// `hpo serve`: experiments driven over HTTP.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:7000")]
    listen: String,
    /// The service's directory: its store, tokens and experiments' inputs.
    #[arg(long, default_value = "results", global = true)]
    out: PathBuf,
    /// The experiment store, when not the SQLite file in --out: postgresql://USER@HOST/DB
    /// (several services may serve it) or sqlite:PATH. Tokens are kept there too.
    #[arg(long, value_name = "URL", global = true, value_parser = super::values::store)]
    store: Option<Location>,
    /// How long a trial handed out stays with its client without a tell, report or
    /// heartbeat before it is handed out again: seconds, or 30m, 2h.
    #[arg(long = "trial-lease", default_value = "1h", value_parser = duration)]
    trial_lease: f64,
    /// Serve without a token on an address beyond the loopback (anyone who can reach it
    /// may drive experiments).
    #[arg(long)]
    insecure: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long = "tls-cert", value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long = "tls-key", value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(subcommand)]
    token: Option<TokenCommand>,
}

/// `hpo serve token ...`: the bearer tokens clients send.
#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Manage tokens (kept in the store as digests; a secret is shown once).
    #[command(subcommand)]
    Token(TokenAction),
}

#[derive(clap::Subcommand)]
enum TokenAction {
    /// Make a token and print its secret (once).
    Create {
        /// What it is for.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id (from `list`).
        id: i64,
    },
}

/// Serves, or manages tokens.
pub fn command(args: ServeArgs, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let location = args
        .store
        .clone()
        .unwrap_or_else(|| Location::Sqlite(args.out.join(STORE_FILE)));
    if let Some(TokenCommand::Token(action)) = args.token {
        return token(&args.out, &location, action);
    }
    let host = super::open_host(registry)?;
    std::fs::create_dir_all(&args.out)?;
    let lease = Duration::from_secs_f64(args.trial_lease);
    let shared = args.store.is_some();
    let tuner = Tuner::with_replicas(host, &args.out, location.clone(), lease, shared)?;
    let tuner = std::sync::Arc::new(tuner);
    let tls = args.tls_cert.as_deref().zip(args.tls_key.as_deref());
    let server = Server::bind(&args.listen, tuner, &location, args.insecure, tls)?;
    let address = server
        .address()
        .map_or_else(|| args.listen.clone(), |a| a.to_string());
    println!("serving on {}://{address}/", server.scheme());
    std::io::stdout().flush()?;
    server.serve()?;
    Ok(ExitCode::SUCCESS)
}

fn token(out: &Path, location: &Location, action: TokenAction) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out)?;
    let store = Store::connect(location)?;
    match action {
        TokenAction::Create { label } => {
            let (id, secret) = store.create_token(&label).map_err(anyhow::Error::msg)?;
            eprintln!("token {id} created; its secret is shown once:");
            println!("{secret}");
        }
        TokenAction::List => {
            for t in store.tokens()? {
                let state = if t.revoked { "revoked" } else { "active" };
                println!("{}\t{}\t{}\t{}", t.id, state, t.created, t.label);
            }
        }
        TokenAction::Revoke { id } => {
            if !store.revoke_token(id)? {
                anyhow::bail!("no token {id} in {}", location.label());
            }
            eprintln!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `hpo dashboard`: the dashboard alone, read-only, over a store.
#[derive(clap::Args)]
pub struct DashboardArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:7001")]
    listen: String,
    /// The results directory whose store to show.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// The experiment store, when not the SQLite file in --out: postgresql://USER@HOST/DB
    /// or sqlite:PATH.
    #[arg(long, value_name = "URL", value_parser = super::values::store)]
    store: Option<Location>,
    /// Serve without a token on an address beyond the loopback.
    #[arg(long)]
    insecure: bool,
}

/// Serves the dashboard of every experiment in a store, read-only: the experiments of
/// `hpo run` as well as served ones, refreshed as the store changes. Tokens made with `hpo
/// serve token create` are required as for `hpo serve`.
pub fn dashboard(args: DashboardArgs, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let location = args
        .store
        .clone()
        .unwrap_or_else(|| Location::Sqlite(args.out.join(STORE_FILE)));
    if location.is_missing_file() {
        anyhow::bail!(
            "{}: no experiment store here (pass --out DIR where `hpo run` wrote its results, \
             or --store URL)",
            location.label()
        );
    }
    let host = super::open_host(registry)?;
    let tuner = Tuner::read_only(host, &args.out, location.clone())?;
    let server = Server::bind(&args.listen, tuner, &location, args.insecure, None)?;
    let address = server
        .address()
        .map_or_else(|| args.listen.clone(), |a| a.to_string());
    println!("serving on http://{address}/");
    std::io::stdout().flush()?;
    server.serve()?;
    Ok(ExitCode::SUCCESS)
}
