//! ecs-discoverer: finds scrapeable containers in Amazon ECS and serves them to Prometheus.
//!
//! Data flows one way: the AWS edge ([`edge`]) produces a snapshot ([`model`]); [`resolve`]
//! turns it into target groups, purely; the sinks ([`output`]) write file_sd files and hold
//! the http_sd state; [`refresher`] runs the cycles and keeps the last good result per cluster.
//! [`app`] serves HTTP, [`explain`] reports why marked containers are not targets.

pub mod app;
pub mod config;
pub mod edge;
pub mod explain;
pub mod label_set;
pub mod metrics;
pub mod model;
pub mod output;
pub mod ratelimit;
pub mod refresher;
pub mod resolve;
