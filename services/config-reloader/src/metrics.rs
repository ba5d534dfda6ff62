//! The reloader's own metrics, registered in one registry that `/metrics` renders.

use prometheus_client::registry::Registry;
use stack_common::build_info;

/// Every metric the reloader exports.
#[derive(Debug, Default)]
pub struct Metrics {}

impl Metrics {
    /// Creates the metrics and registers them under the `config_reloader` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix("config_reloader");
        build_info::register(
            registry,
            "Build of the running reloader (always 1)",
            env!("CARGO_PKG_VERSION"),
        );
        Self::default()
    }
}
