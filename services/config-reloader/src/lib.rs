//! config-reloader: pulls Prometheus configuration from SSM or S3 into a shared volume.
//!
//! - [`config`]: environment and flags, validated.
//! - [`metrics`]: the reloader's own metrics.

pub mod config;
pub mod metrics;
