//! Shared pieces of the ECS monitoring services.
//!
//! - [`target_group`]: the Prometheus file_sd / http_sd model and its serialisation.
//! - [`build_info`]: the `build_info` metric both services export.
//! - [`cloudmap`]: Cloud Map namespaces as file_sd groups (reloader and discoverer).
//! - [`atomic_file`]: write-if-changed with temp file and rename, so readers never see half a file.
//! - [`labels`]: Prometheus label-name sanitising.
//! - [`http`]: the `/health` + `/metrics` router and a server with graceful shutdown.
//! - [`telemetry`]: tracing set-up (human or JSON logs).
//! - [`shutdown`]: SIGTERM/SIGINT as a future every task can wait on.
//! - [`aws`]: SDK configuration from the standard chain, with optional role assumption.
//! - [`listen`]: the `ADDR|off` listen option both services take.
//! - [`printable`]: outside names with control characters escaped, for logs and messages.

pub mod atomic_file;
pub mod aws;
pub mod build_info;
pub mod cloudmap;
pub mod http;
pub mod labels;
pub mod listen;
pub mod printable;
pub mod shutdown;
pub mod target_group;
pub mod telemetry;
