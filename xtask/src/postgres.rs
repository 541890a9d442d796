//! A throw-away PostgreSQL server for the tests of the shared store: Debian's `initdb` and
//! `pg_ctl` make a cluster in a temporary directory (one the `postgres` user can reach when
//! run as root, which a home directory may not be), listening on a free loopback port
//! (trust authentication, no durability: it lives for one test run), and stop it after.
//! `$HPO_TEST_POSTGRES` set by the user is used instead.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable the tests read the server's URL from.
pub const URL_ENV: &str = "HPO_TEST_POSTGRES";

/// A server started for the tests (stopped when dropped), or the user's.
pub struct TestServer {
    /// `postgresql://hpo@127.0.0.1:PORT/postgres`: a superuser who may create databases.
    pub url: String,
    /// The cluster's directory and its `pg_ctl`, when this process started it.
    cluster: Option<(PathBuf, PathBuf)>,
}

impl TestServer {
    /// `$HPO_TEST_POSTGRES`, else a new cluster in the temporary directory.
    pub fn start() -> Result<Self, String> {
        if let Ok(url) = std::env::var(URL_ENV) {
            return Ok(TestServer { url, cluster: None });
        }
        let bin = server_binaries().ok_or(
            "PostgreSQL's server is not installed (Debian: apt-get install postgresql), and \
             HPO_TEST_POSTGRES names no server: the shared-store tests need one",
        )?;
        let dir = std::env::temp_dir().join(format!("hpo-postgres-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let as_root = is_root();
        if as_root {
            // initdb refuses root: the cluster belongs to Debian's postgres user.
            super::run(Command::new("chown").args(["postgres", &dir.to_string_lossy()]))?;
        }
        let data = dir.join("data");
        let port = free_port()?;
        let as_owner = |program: &Path| {
            let mut command = if as_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            };
            command.current_dir(&dir);
            command
        };
        super::run(
            as_owner(&bin.join("initdb"))
                .args(["-A", "trust", "-U", "hpo", "--no-sync", "-D"])
                .arg(&data),
        )?;
        let options = format!(
            "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        );
        let pg_ctl = bin.join("pg_ctl");
        super::run(
            as_owner(&pg_ctl)
                .args(["-w", "-l"])
                .arg(dir.join("server.log"))
                .args(["-o", &options, "-D"])
                .arg(&data)
                .arg("start"),
        )?;
        Ok(TestServer {
            url: format!("postgresql://hpo@127.0.0.1:{port}/postgres"),
            cluster: Some((data, pg_ctl)),
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some((data, pg_ctl)) = &self.cluster {
            let mut stop = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(pg_ctl);
                c
            } else {
                Command::new(pg_ctl)
            };
            let _ = stop
                .args(["-m", "immediate", "-D"])
                .arg(data)
                .arg("stop")
                .status();
            if let Some(dir) = data.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// The directory of `initdb` and `pg_ctl`: on the PATH, else Debian's newest
/// `/usr/lib/postgresql/VERSION/bin`.
fn server_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file()));
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A loopback port free right now.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}
