//! The `<prefix>_build_info{version="..."} 1` metric every service exports.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

/// Registers `build_info` (always 1, labelled with `version`) in `registry`, which the caller
/// has already scoped to its prefix. Pass `env!("CARGO_PKG_VERSION")` of the binary's crate.
pub fn register(registry: &mut Registry, help: &str, version: &str) {
    let family: Family<BuildLabels, Gauge> = Family::default();
    family
        .get_or_create(&BuildLabels {
            version: version.to_string(),
        })
        .set(1);
    registry.register("build_info", help, family);
}
