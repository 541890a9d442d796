//! The hpo host library: everything `hpo` does, behind the command line (`main.rs` and
//! `cli/` parse arguments, print and pick exit codes; nothing here prints).
//!
//! The folders read like the domain (docs/ARCHITECTURE.md has the map and each folder's
//! invariant):
//! - [`experiment`]: plans, the run loop over trials, `hpo run`'s repeated runs.
//! - [`arms`] and [`strategies`]: the sessions a run drives, arm health, credit.
//! - [`objectives`]: what evaluates a configuration (tables, test functions, commands,
//!   remote workers).
//! - [`space`]: search spaces, their encoding, candidate pools.
//! - [`config`]: run configurations and durations.
//! - [`store`]: the experiment store, the results file, the store read back.
//! - [`loader`]: native and wasm plugins behind one set of traits.
//! - [`registry`]: the installed plugins (install, verify, load by name, bundled).
//! - [`service`]: the training-node server (`hpo worker`).
//! - [`bench`]: success rate and regret over grids of runs.
//! - [`trial`]: a trial's record, shared by the run loop and the store.

pub mod arms;
pub mod authoring;
pub mod bench;
pub mod config;
pub mod conformance;
pub mod experiment;
pub mod loader;
pub mod objectives;
pub mod registry;
pub mod schedulers;
pub mod service;
pub mod space;
pub mod stoppers;
pub mod store;
pub mod strategies;
pub mod trial;
