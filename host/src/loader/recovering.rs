//! What the sessions of arms and strategies share, above the backends: a loaded plugin
//! shared by its sessions, the session error naming plugin and arm or strategy, and one
//! recovery mechanism ([`Recovering`]).
//!
//! - Every output is validated against the contract (lengths, finiteness, pool indices)
//!   before anything uses it; a malformed answer is an error, never a silent repair.
//! - The host keeps what it told a session (pool and history; the store stays the source of
//!   truth), so when an instance dies (wasm trap, deadline, memory cap; native panic) the
//!   session is reopened on the next call and the history re-sent in one `tell`.
//! - Strategy state is snapshotted after every update, so a reopened strategy (or a resumed
//!   run) continues where it was.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Plugin, PluginError};

/// A loaded plugin shared by the sessions opened from it.
pub type SharedPlugin = Arc<Mutex<Plugin>>;

/// Wraps a loaded plugin for sharing.
pub fn share(plugin: Plugin) -> SharedPlugin {
    Arc::new(Mutex::new(plugin))
}

/// The shared plugin, locked (a poisoned lock is taken over: the plugin's state lives in
/// its sessions, which recover on their own).
pub fn lock(plugin: &SharedPlugin) -> MutexGuard<'_, Plugin> {
    plugin.lock().unwrap_or_else(|e| e.into_inner())
}

/// A session error, naming the plugin and the arm or strategy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plugin '{plugin}', {what} '{name}': {source}")]
pub struct SessionError {
    /// The plugin's name.
    pub plugin: String,
    /// "arm" or "strategy".
    pub what: &'static str,
    /// The arm (model) or strategy name.
    pub name: String,
    /// What went wrong.
    #[source]
    pub source: PluginError,
}

/// What both kinds of session share: a backend that a poisoning failure drops and the next
/// call reopens (its history or state re-sent). A call that finds its instance replaced by
/// a sibling session's failure ([`PluginError::Stale`]) is retried once on a reopened
/// backend: only the session whose own call failed pays.
pub trait Recovering {
    /// The backend trait object.
    type Backend: ?Sized;
    /// The live backend, if any.
    fn slot(&mut self) -> &mut Option<Box<Self::Backend>>;
    /// A fresh backend, brought up to date.
    fn reopen(&mut self) -> Result<Box<Self::Backend>, SessionError>;
    /// A session error naming this session.
    fn error(&self, source: PluginError) -> SessionError;

    /// Runs `f` on a live backend.
    fn with_backend<T>(
        &mut self,
        mut f: impl FnMut(&mut Self::Backend) -> Result<T, PluginError>,
    ) -> Result<T, SessionError> {
        for attempt in 0..2 {
            if self.slot().is_none() {
                let fresh = self.reopen()?;
                *self.slot() = Some(fresh);
            }
            let backend = self.slot().as_mut().expect("opened above");
            match f(backend.as_mut()) {
                Err(e) if e.is_poisoning() => {
                    *self.slot() = None;
                    if attempt == 0 && matches!(e, PluginError::Stale(_)) {
                        continue;
                    }
                    return Err(self.error(e));
                }
                result => return result.map_err(|e| self.error(e)),
            }
        }
        unreachable!("the second attempt returns")
    }
}
