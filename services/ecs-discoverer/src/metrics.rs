//! The discoverer's own metrics, registered in one registry that `/metrics` renders.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use stack_common::build_info;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub service: String,
    pub operation: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    pub cluster: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkipLabels {
    pub reason: String,
    pub convention: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache: String,
}

/// Every metric the discoverer exports (prefix `ecs_sd_`).
#[derive(Debug)]
pub struct Metrics {
    pub api_calls: Family<OperationLabels, Counter>,
    pub api_throttled: Family<OperationLabels, Counter>,
    pub cycles: Family<ResultLabels, Counter>,
    pub cycle_duration: Histogram,
    pub cluster_failures: Family<ClusterLabels, Counter>,
    pub targets: Family<ClusterLabels, Gauge>,
    pub skipped: Family<SkipLabels, Gauge>,
    pub cache_hits: Family<CacheLabels, Counter>,
    pub cache_misses: Family<CacheLabels, Counter>,
    pub file_writes: Family<ResultLabels, Counter>,
    pub last_success: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub cloudmap_failures: Counter,
    pub cloudmap_targets: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            api_calls: Family::default(),
            api_throttled: Family::default(),
            cycles: Family::default(),
            cycle_duration: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
            cluster_failures: Family::default(),
            targets: Family::default(),
            skipped: Family::default(),
            cache_hits: Family::default(),
            cache_misses: Family::default(),
            file_writes: Family::default(),
            last_success: Gauge::default(),
            cloudmap_failures: Counter::default(),
            cloudmap_targets: Gauge::default(),
        }
    }
}

impl Metrics {
    /// Creates the metrics and registers them under the `ecs_sd` prefix. Every outcome exists
    /// at 0 from the start, so dashboards and alerts see zeros rather than no data.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        for result in ["success", "partial", "failure"] {
            m.cycles
                .get_or_create(&ResultLabels {
                    result: result.to_string(),
                })
                .inc_by(0);
        }
        for result in ["written", "unchanged", "error"] {
            m.file_writes
                .get_or_create(&ResultLabels {
                    result: result.to_string(),
                })
                .inc_by(0);
        }
        let r = registry.sub_registry_with_prefix("ecs_sd");
        build_info::register(
            r,
            "Build of the running discoverer (always 1)",
            env!("CARGO_PKG_VERSION"),
        );
        r.register(
            "aws_api_calls",
            "AWS API calls made (each attempt), by service and operation",
            m.api_calls.clone(),
        );
        r.register(
            "aws_api_throttled",
            "AWS API calls answered with a throttling error",
            m.api_throttled.clone(),
        );
        r.register("cycles", "Discovery cycles by result (success, partial: some clusters kept their last good targets, failure)", m.cycles.clone());
        r.register(
            "cycle_duration_seconds",
            "Duration of a discovery cycle",
            m.cycle_duration.clone(),
        );
        r.register(
            "cluster_refresh_failures",
            "Cluster refreshes that failed; the cluster kept its last good targets",
            m.cluster_failures.clone(),
        );
        r.register("targets", "Targets served, by cluster", m.targets.clone());
        r.register(
            "skipped_targets",
            "Marked containers (or endpoints) that are not targets in the last cycle, by reason",
            m.skipped.clone(),
        );
        r.register(
            "cache_hits",
            "Lookups answered from a cache, by cache",
            m.cache_hits.clone(),
        );
        r.register(
            "cache_misses",
            "Lookups that needed an AWS call, by cache",
            m.cache_misses.clone(),
        );
        r.register(
            "file_sd_writes",
            "file_sd file writes by result (written, unchanged, error)",
            m.file_writes.clone(),
        );
        r.register(
            "last_success_timestamp_seconds",
            "Unix time of the last successful cycle",
            m.last_success.clone(),
        );
        r.register(
            "cloudmap_refresh_failures",
            "Cloud Map refreshes that failed; the last good Cloud Map targets were kept",
            m.cloudmap_failures.clone(),
        );
        r.register(
            "cloudmap_targets",
            "Targets served from Cloud Map namespaces (--cloudmap-namespaces)",
            m.cloudmap_targets.clone(),
        );
        m
    }

    pub fn cache(&self, cache: &str, hits: usize, misses: usize) {
        let labels = CacheLabels {
            cache: cache.to_string(),
        };
        self.cache_hits.get_or_create(&labels).inc_by(hits as u64);
        self.cache_misses
            .get_or_create(&labels)
            .inc_by(misses as u64);
    }
}
