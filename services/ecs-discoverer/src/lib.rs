//! ecs-discoverer: finds scrapeable containers in Amazon ECS and serves them to Prometheus.
//!
//! - [`config`]: flags and environment, validated.
//! - [`metrics`]: the discoverer's own metrics.

pub mod config;
pub mod metrics;
