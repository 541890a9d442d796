//! The hpo host library: plugin loading and the registry commands (experiments come next).
//!
//! - [`loader`]: loads native and wasm plugins behind one set of traits.
//! - [`sessions`]: arm and strategy sessions with output validation and recovery.
//! - [`plugins`]: install, remove, verify, load by name.
//! - [`bundled`]: first-party plugins next to the executable, registered automatically.
//! - [`home`]: where the registry lives.
//!
//! The `hpo` binary (`main.rs`) only parses arguments and dispatches here; library code
//! never prints.

pub mod bundled;
pub mod home;
pub mod loader;
pub mod plugins;
pub mod sessions;
