//! Helpers shared by the end-to-end tests: where the built artifacts are, a private
//! `HPO_HOME` per test, and running the `hpo` binary.
//!
//! The artifacts come from `cargo xtask build` (the README's test command runs it first).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `hpo` binary under test.
pub fn hpo_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hpo"))
}

/// The cargo target directory the binary was built in.
pub fn target_dir() -> PathBuf {
    hpo_bin()
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in <target>/<profile>/")
        .to_path_buf()
}

fn must_exist(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: build the plugins first with `cargo xtask build` \
         (or run the tests with `cargo xtask test`)",
        path.display()
    );
    path
}

/// A wasm plugin built by `cargo xtask build`, e.g. `example_hostile`.
pub fn wasm(name: &str) -> PathBuf {
    must_exist(
        target_dir()
            .join("wasm32-wasip2")
            .join("release")
            .join(format!("{name}.wasm")),
    )
}

/// A native plugin library next to the binary, e.g. `hpo_random`.
pub fn native(name: &str) -> PathBuf {
    let bin = hpo_bin();
    let dir = bin.parent().expect("binary has a directory");
    must_exist(dir.join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )))
}

/// Copies `src` to `dest` with the embedded plugin API version replaced by `version`
/// (same length as the real one), to make an incompatible plugin out of a real one.
pub fn with_api_version(src: &Path, dest: &Path, version: &str) {
    let marker = hpo_plugin_api::API_VERSION_MARKER.as_bytes();
    let replacement = format!("hpo-plugin-api-version={version};");
    assert_eq!(
        replacement.len(),
        marker.len(),
        "version must keep the length"
    );
    let mut bytes = std::fs::read(src).unwrap();
    let mut patched = 0;
    let mut i = 0;
    while i + marker.len() <= bytes.len() {
        if &bytes[i..i + marker.len()] == marker {
            bytes[i..i + marker.len()].copy_from_slice(replacement.as_bytes());
            patched += 1;
            i += marker.len();
        } else {
            i += 1;
        }
    }
    assert!(
        patched > 0,
        "{} carries no API version marker",
        src.display()
    );
    std::fs::write(dest, bytes).unwrap();
}

/// A private `HPO_HOME` for one test.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn registry(&self) -> PathBuf {
        self.path().join("registry.toml")
    }

    /// The registry file's bytes (empty when it does not exist).
    pub fn registry_bytes(&self) -> Vec<u8> {
        std::fs::read(self.registry()).unwrap_or_default()
    }

    /// Runs `hpo` with this home.
    pub fn hpo(&self, args: &[&str]) -> Output {
        Command::new(hpo_bin())
            .args(args)
            .env("HPO_HOME", self.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("hpo runs")
    }
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A running `hpo worker`, stopped when dropped.
pub struct WorkerProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
}

impl WorkerProcess {
    /// Starts `hpo worker ARGS` on a free loopback port, with `credential` (none: the
    /// variable is removed).
    pub fn start(home: &Home, args: &[&str], credential: Option<&str>) -> Self {
        use std::io::BufRead;
        let mut command = std::process::Command::new(hpo_bin());
        command
            .arg("worker")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("HPO_HOME", home.path())
            .env_remove("HPO_WORKER_CREDENTIAL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if let Some(c) = credential {
            command.env("HPO_WORKER_CREDENTIAL", c);
        }
        let mut child = command.spawn().expect("hpo worker starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("worker listening on ")
            .unwrap_or_else(|| panic!("the worker prints its URL first: {line:?}"))
            .to_string();
        WorkerProcess { child, url }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WorkerProcess {
    /// `127.0.0.1:PORT`, for raw connections.
    pub fn address(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }
}

/// `hpo run --json --out OUT ARGS`, which must succeed: its summary.
pub fn run_json(home: &Home, out: &Path, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["run", "--json", "--out", out.to_str().unwrap()];
    full.extend_from_slice(args);
    let result = home.hpo(&full);
    assert!(result.status.success(), "{args:?}: {}", stderr(&result));
    serde_json::from_str(&stdout(&result)).expect("--json prints one JSON object")
}

/// The results file a summary names, parsed.
pub fn results_file(summary: &serde_json::Value) -> serde_json::Value {
    let path = summary["results_file"].as_str().unwrap();
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A one-parameter space (`x` in [0, 1]) for command objectives, written into `dir`.
pub fn x_space(dir: &Path) -> PathBuf {
    let path = dir.join("x.json");
    std::fs::write(
        &path,
        r#"{"hyperparams": {"x": {"type": "float", "value_type": "continuous", "range": [0, 1]}}}"#,
    )
    .unwrap();
    path
}

/// A two-parameter space in the unit square (`x`, `y`) for command objectives.
pub fn xy_space(dir: &Path) -> PathBuf {
    let path = dir.join("xy.json");
    std::fs::write(
        &path,
        r#"{"hyperparams": {
            "x": {"type": "float", "value_type": "continuous", "range": [0, 1]},
            "y": {"type": "float", "value_type": "continuous", "range": [0, 1]}}}"#,
    )
    .unwrap();
    path
}

/// A JSON array of numbers (null, a failed trial's value, as NaN).
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

/// `hpo plugin install --force PATH` into `home` (replacing a bundled plugin of that
/// name), which must succeed.
pub fn install(home: &Home, artifact: &Path) {
    let out = home.hpo(&["plugin", "install", "--force", artifact.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `hpo results plot 1 --kind KIND` of the store in `out`, which must succeed: the SVG.
pub fn plot(home: &Home, out: &Path, kind: &str) -> String {
    let path = out.join(format!("{kind}.svg"));
    let (o, p) = (out.to_str().unwrap(), path.to_str().unwrap());
    let result = home.hpo(&[
        "results", "--out", o, "plot", "1", "--kind", kind, "--output", p,
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    std::fs::read_to_string(&path).unwrap()
}

/// A running `hpo serve`, killed when dropped.
pub struct Service {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT` (or https).
    pub url: String,
}

impl Service {
    /// Starts `hpo serve --out OUT ARGS` on a free loopback port.
    pub fn start(home: &Home, out: &Path, args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(hpo_bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--out",
                out.to_str().unwrap(),
            ])
            .args(args)
            .env("HPO_HOME", home.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("hpo serve starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("serving on ")
            .unwrap_or_else(|| panic!("the service prints its URL first: {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Service { child, url }
    }

    /// `METHOD path` with `token` and `body`: the status and the JSON answer.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let mut request = http_request(method, &url);
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let request = request
            .body(body.map(|b| b.to_string()).unwrap_or_default())
            .unwrap();
        let mut answer = agent.run(request).expect("the service answers");
        let status = answer.status().as_u16();
        let text = answer.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// A request builder with the JSON content type.
pub fn http_request(method: &str, url: &str) -> ureq::http::request::Builder {
    ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Content-Type", "application/json")
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An external program a test needs: `$ENV` when set, else `default` on the PATH; the test
/// fails saying `how` to get it when it does not run.
pub fn external_tool(env: &str, default: &str, how: &str) -> PathBuf {
    let program = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    let runs = Command::new(&program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "{} does not run: {how}, or set {env}",
        program.display()
    );
    program
}

/// `hpo serve token create --out OUT`, which must succeed: the secret.
pub fn serve_token(home: &Home, out: &Path) -> String {
    let result = home.hpo(&["serve", "token", "create", "--out", out.to_str().unwrap()]);
    assert!(result.status.success(), "{}", stderr(&result));
    stdout(&result).trim().to_string()
}
