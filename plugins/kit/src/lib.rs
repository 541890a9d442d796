//! Numerics shared by the first-party arms, so that no plugin carries its own copy:
//!
//! - [`normal`]: the standard normal density and distribution function;
//! - [`acquisition`]: EI, PI and UCB for minimization, with their zero-variance limits;
//! - [`transform`]: the output transforms LE (log error) and HLE (hybrid log error);
//! - [`checks`]: the input checks of every model arm (options, pool, observations, requests);
//! - [`design`]: the initial design and random points;
//! - [`log_scale`]: SMAC's log-scaled cost encoding (an output warping for RF and GP);
//! - [`local_search`]: derivative-free refinement of an acquisition off the pool;
//! - [`time_penalty`]: the time-penalized ranking of candidates (the seed's `-tp`) and its
//!   time model;
//! - [`liar`]: what a pending point is taken to have observed (parallel runs);
//! - [`encoding`]: snapping an encoded point onto the space's grid (one-hot groups,
//!   integers, preordered options).

pub mod acquisition;
pub mod checks;
pub mod design;
pub mod encoding;
pub mod liar;
pub mod local_search;
pub mod log_scale;
pub mod normal;
pub mod time_penalty;
pub mod transform;
