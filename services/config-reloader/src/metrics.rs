//! The reloader's own metrics, registered in one registry that `/metrics` renders.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

/// Every metric the reloader exports.
#[derive(Debug, Default)]
pub struct Metrics {
    pub build_info: Family<BuildLabels, Gauge>,
}

impl Metrics {
    /// Creates the metrics and registers them under the `config_reloader` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let registry = registry.sub_registry_with_prefix("config_reloader");
        registry.register(
            "build_info",
            "Build of the running reloader (always 1)",
            metrics.build_info.clone(),
        );
        metrics
            .build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        metrics
    }
}
