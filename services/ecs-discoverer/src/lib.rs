//! ecs-discoverer: finds scrapeable containers in Amazon ECS and serves them to Prometheus.
//!
//! Data flows one way: the AWS edge ([`edge`]) produces a snapshot ([`model`]); [`resolve`]
//! turns it into targets, purely. ECS and Cloud Map are each a [`source`]; [`refresher`] is the
//! one loop that refreshes them, keeps the last good result of each part (a cluster, the Cloud
//! Map namespaces) and publishes through the sinks ([`output`]): file_sd files and the http_sd
//! state. What happens is told through typed [`events`], each logging and counting itself.
//! [`app`] serves HTTP, [`explain`] reports why marked containers are not targets.

pub mod app;
pub mod config;
pub mod edge;
pub mod events;
pub mod explain;
pub mod label_set;
pub mod metrics;
pub mod model;
pub mod output;
pub mod ratelimit;
pub mod refresher;
pub mod resolve;
pub mod source;
pub mod task_events;
