//! Services over HTTP: the training node (`hpo worker`, [`worker`]) that `hpo run -w URL`
//! ([`client`], an objective whose evaluations run there) delegates evaluations to, over
//! one typed protocol ([`protocol`]).
//!
//! Invariant: a server exposed beyond the loopback authenticates every request before
//! reading its body, and bounds headers, bodies, time and connections.

pub mod client;
pub mod http;
pub mod protocol;
pub mod tuner;
pub mod worker;
