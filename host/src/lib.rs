//! The hpo host library: plugin loading, the registry commands, experiments.
//!
//! - [`loader`]: loads native and wasm plugins behind one set of traits.
//! - [`sessions`]: arm and strategy sessions with output validation and recovery.
//! - [`plugins`]: install, remove, verify, load by name.
//! - [`bundled`]: first-party plugins next to the executable, registered automatically.
//! - [`home`]: where the registry lives.
//! - [`atomic_file`]: crash-safe file writes.
//! - [`space`]: search spaces (`hp_conf`) and their encoding for models.
//! - [`objectives`]: surrogate tables and test functions.
//! - [`pool`]: candidate pools (scrambled Sobol).
//! - [`run_config`]: run configurations (`run_conf`).
//! - [`experiment`]: the run loop.
//! - [`results`]: the seed-compatible results file.
//! - [`results_cmd`]: `hpo results list | show | export` over the store.
//! - [`runner`]: `hpo run`: plan, repeated runs, results, summary.
//! - [`benchmark`]: `hpo bench`: the seed's evaluation protocol (success rate over time).
//! - [`regret`]: `hpo regret`: median simple regret of arms on test functions.
//! - [`store`]: the SQLite experiment store behind `--resume`.
//! - [`strict_json`]: duplicate keys in input documents are errors.
//! - [`trial`]: a trial's record, shared by the run loop and the store.
//!
//! The `hpo` binary (`main.rs`) only parses arguments and dispatches here; library code
//! never prints.

pub mod atomic_file;
pub mod benchmark;
pub mod bundled;
pub mod experiment;
pub mod home;
pub mod loader;
pub mod objectives;
pub mod plugins;
pub mod pool;
pub mod regret;
pub mod results;
pub mod results_cmd;
pub mod run_config;
pub mod runner;
pub mod sessions;
pub mod space;
pub mod store;
pub mod strict_json;
pub mod trial;
pub mod worker;
