//! config-reloader: pulls Prometheus configuration from SSM or S3 into a shared volume.
//!
//! - [`config`]: environment and flags, validated.
//! - [`source`]: SSM and S3 reads (conditional on S3), values never logged.
//! - [`names`]: local file names, never outside the config directory.
//! - [`sync`]: one refresh pass: read, check, write what changed, Cloud Map targets.
//! - [`yaml_check`]: the YAML check, on parser events rather than a tree.
//! - [`reload`]: the Prometheus reload POST, retried with backoff.
//! - [`metrics`]: the reloader's own metrics.

pub mod config;
pub mod metrics;
pub mod names;
pub mod reload;
pub mod source;
pub mod sync;
pub mod yaml_check;
