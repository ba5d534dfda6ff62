//! The reloader's own metrics (prefix `config_reloader_`), registered in one registry that
//! `/metrics` renders.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use stack_common::build_info;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FetchLabels {
    /// `ssm`, `s3` or `cloudmap`.
    pub source: String,
    /// `success`, `not_modified` or `error`.
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConfigLabels {
    pub sha256: String,
}

/// Every metric the reloader exports.
#[derive(Debug, Default)]
pub struct Metrics {
    pub fetches: Family<FetchLabels, Counter>,
    pub file_writes: Family<ResultLabels, Counter>,
    pub reloads: Family<ResultLabels, Counter>,
    pub passes: Family<ResultLabels, Counter>,
    pub last_success: Gauge<f64, AtomicU64>,
    pub config_info: Family<ConfigLabels, Gauge>,
    pub rollbacks: Counter,
}

impl Metrics {
    /// Creates the metrics and registers them under the `config_reloader` prefix. Every outcome
    /// exists at 0 from the start, so dashboards and alerts see zeros rather than no data.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let results = |family: &Family<ResultLabels, Counter>, results: &[&str]| {
            for result in results {
                family
                    .get_or_create(&ResultLabels {
                        result: result.to_string(),
                    })
                    .inc_by(0);
            }
        };
        results(&m.reloads, &["success", "failure"]);
        results(&m.passes, &["success", "failure"]);
        results(
            &m.file_writes,
            &["written", "unchanged", "invalid", "refused", "error"],
        );
        let r = registry.sub_registry_with_prefix("config_reloader");
        build_info::register(
            r,
            "Build of the running reloader (always 1)",
            env!("CARGO_PKG_VERSION"),
        );
        r.register(
            "fetches",
            "Source reads by source (ssm, s3, cloudmap) and result (success, not_modified, error)",
            m.fetches.clone(),
        );
        r.register(
            "file_writes",
            "Local files by outcome: written, unchanged (skipped), invalid (bad YAML, old file kept), refused (bad name), error",
            m.file_writes.clone(),
        );
        r.register(
            "reloads",
            "Prometheus reload POSTs by result (success, failure)",
            m.reloads.clone(),
        );
        r.register(
            "rollbacks",
            "Main configs Prometheus refused on reload: the last accepted file was put back and the refused one kept as <CONFIG_FILE_NAME>.rejected",
            m.rollbacks.clone(),
        );
        r.register(
            "passes",
            "Refresh passes by result (success: every source read and every file valid; failure)",
            m.passes.clone(),
        );
        r.register(
            "last_success_timestamp_seconds",
            "Unix time of the last fully successful pass",
            m.last_success.clone(),
        );
        r.register(
            "config_info",
            "The main config in force locally: its SHA-256 as a label (always 1)",
            m.config_info.clone(),
        );
        m
    }

    /// Creates the fetch counters of `source` at 0.
    pub fn init_fetches(&self, source: &str) {
        for result in ["success", "not_modified", "error"] {
            self.fetches
                .get_or_create(&FetchLabels {
                    source: source.to_string(),
                    result: result.to_string(),
                })
                .inc_by(0);
        }
    }

    pub fn fetch(&self, source: &str, result: &str) {
        self.fetches
            .get_or_create(&FetchLabels {
                source: source.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    pub fn file_write(&self, result: &str) {
        self.file_writes
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    pub fn reload(&self, result: &str) {
        self.reloads
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    /// Records the main config now in force.
    pub fn set_config_hash(&self, sha256: String) {
        self.config_info.clear();
        self.config_info
            .get_or_create(&ConfigLabels { sha256 })
            .set(1);
    }
}
