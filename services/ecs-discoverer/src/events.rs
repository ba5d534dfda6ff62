//! The discoverer's internal events, in the shape of vector's: each is one typed value that
//! logs and counts itself, so a log line and its series can't drift apart and no label value is
//! spelled twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stack_common::atomic_file::{WriteError, WriteOutcome};

use crate::metrics::{
    Cache, CacheLabels, ClusterLabels, CycleLabels, CycleResult, FileWriteLabels, FileWriteResult,
    Metrics, OperationLabels, SkipLabels,
};
use crate::model::cluster_name;
use crate::resolve::{Origin, Skip, Target};
use crate::source::{SourceError, SourceKind};

mod event_path;
pub use event_path::{
    DriftFound, EventForOtherCluster, EventQueueFailed, EventsPublished, NotATaskChange,
    TaskEventApplied, TaskEventUnresolved,
};

/// Something that happened, told once: to the log and to the metrics.
pub trait InternalEvent {
    fn emit(self, metrics: &Metrics);
}

/// One discovery cycle ended.
#[derive(Debug)]
pub struct CycleCompleted {
    pub result: CycleResult,
    pub duration: Duration,
    pub targets: usize,
    pub skipped: usize,
    pub changed: bool,
}

impl InternalEvent for CycleCompleted {
    fn emit(self, metrics: &Metrics) {
        metrics
            .cycles
            .get_or_create(&CycleLabels {
                result: self.result,
            })
            .inc();
        metrics.cycle_duration.observe(self.duration.as_secs_f64());
        // Only a cycle in which everything refreshed is a success: the staleness alert on this
        // timestamp must fire while any source is stuck.
        if self.result == CycleResult::Success {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default();
            metrics.last_success.set(now);
        }
        tracing::info!(
            result = self.result.as_str(),
            targets = self.targets,
            skipped = self.skipped,
            changed = self.changed,
            duration_ms = self.duration.as_millis() as u64,
            "discovery cycle"
        );
    }
}

/// A source couldn't tell its parts (ListClusters failed): every part keeps its last good.
#[derive(Debug)]
pub struct SourceListFailed<'a> {
    pub kind: SourceKind,
    pub error: &'a SourceError,
}

impl InternalEvent for SourceListFailed<'_> {
    fn emit(self, _metrics: &Metrics) {
        // Counted by the cycle it fails (`cycles_total{result="failure"}`).
        tracing::warn!(source = self.kind.as_str(), error = %self.error, "listing failed; every part keeps its last good targets");
    }
}

/// One part of a source (a cluster, the Cloud Map namespaces) failed to refresh.
#[derive(Debug)]
pub struct PartRefreshFailed<'a> {
    pub kind: SourceKind,
    pub part: &'a str,
    pub error: &'a SourceError,
}

impl InternalEvent for PartRefreshFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        match self.kind {
            SourceKind::Ecs => {
                tracing::warn!(error = %self.error, "cluster refresh failed; keeping its last good targets");
                metrics
                    .cluster_failures
                    .get_or_create(&cluster_labels(self.part))
                    .inc();
            }
            SourceKind::CloudMap => {
                tracing::warn!(error = %self.error, "Cloud Map refresh failed; keeping its last good targets");
                metrics.cloudmap_failures.inc();
            }
        }
    }
}

fn cluster_labels(part: &str) -> ClusterLabels {
    ClusterLabels {
        cluster: cluster_name(part).to_string(),
    }
}

/// A source listed this part: its failure series exists from now on, at 0 until it fails.
#[derive(Debug)]
pub struct PartListed<'a> {
    pub kind: SourceKind,
    pub part: &'a str,
}

impl InternalEvent for PartListed<'_> {
    fn emit(self, metrics: &Metrics) {
        if self.kind == SourceKind::Ecs {
            metrics
                .cluster_failures
                .get_or_create(&cluster_labels(self.part))
                .inc_by(0);
        }
    }
}

/// A part is no longer listed (a cluster deleted): its series go with it.
#[derive(Debug)]
pub struct PartGone<'a> {
    pub kind: SourceKind,
    pub part: &'a str,
}

impl InternalEvent for PartGone<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(
            source = self.kind.as_str(),
            part = self.part,
            "no longer listed; its targets are dropped"
        );
        if self.kind == SourceKind::Ecs {
            metrics.cluster_failures.remove(&cluster_labels(self.part));
        }
    }
}

/// The targets and skips of a publication, by cluster, reason and source.
#[derive(Debug)]
pub struct TargetsPublished<'a> {
    pub targets: &'a [std::sync::Arc<Target>],
    pub skipped: &'a [Skip],
}

impl InternalEvent for TargetsPublished<'_> {
    fn emit(self, metrics: &Metrics) {
        let mut by_cluster: BTreeMap<&str, i64> = BTreeMap::new();
        let mut cloudmap = 0;
        for target in self.targets {
            match target.origin {
                Origin::Ecs => {
                    let cluster = target.labels.get("ecs_cluster").unwrap_or_default();
                    *by_cluster.entry(cluster).or_default() += 1;
                }
                Origin::CloudMap => cloudmap += 1,
            }
        }
        metrics.targets.clear();
        for (cluster, count) in by_cluster {
            metrics
                .targets
                .get_or_create(&ClusterLabels {
                    cluster: cluster.to_string(),
                })
                .set(count);
        }
        metrics.cloudmap_targets.set(cloudmap);
        let mut by_reason: BTreeMap<SkipLabels, i64> = BTreeMap::new();
        for skip in self.skipped {
            *by_reason
                .entry(SkipLabels {
                    reason: skip.reason.code(),
                    convention: skip.convention,
                })
                .or_default() += 1;
        }
        metrics.skipped.clear();
        for (labels, count) in by_reason {
            metrics.skipped.get_or_create(&labels).set(count);
        }
    }
}

/// A marked container (or endpoint) newly not a target; logged once while the cause lasts.
#[derive(Debug)]
pub struct NotATarget<'a> {
    pub cause: &'a str,
}

impl InternalEvent for NotATarget<'_> {
    fn emit(self, _metrics: &Metrics) {
        // Counted by `skipped_targets`, which TargetsPublished sets.
        tracing::warn!("not a target: {}", self.cause);
    }
}

/// A file_sd file was written, found unchanged, or could not be written.
#[derive(Debug)]
pub struct FileSdWrite<'a> {
    pub path: &'a Path,
    pub outcome: &'a Result<WriteOutcome, WriteError>,
}

impl InternalEvent for FileSdWrite<'_> {
    fn emit(self, metrics: &Metrics) {
        let result = match self.outcome {
            Ok(WriteOutcome::Written) => FileWriteResult::Written,
            Ok(WriteOutcome::Unchanged) => FileWriteResult::Unchanged,
            Err(error) => {
                tracing::error!(%error, path = %self.path.display(), "file_sd write failed; the old file stays");
                FileWriteResult::Error
            }
        };
        metrics
            .file_writes
            .get_or_create(&FileWriteLabels { result })
            .inc();
    }
}

/// The blocking task that writes the files died (a panic); the old files stay.
#[derive(Debug)]
pub struct FileSdWriteTaskFailed<'a> {
    pub error: &'a tokio::task::JoinError,
}

impl InternalEvent for FileSdWriteTaskFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::error!(error = %self.error, "file_sd write task failed; the old files stay");
        metrics
            .file_writes
            .get_or_create(&FileWriteLabels {
                result: FileWriteResult::Error,
            })
            .inc();
    }
}

/// A file_sd file is gone (a cleanup, a volume re-mounted): the files are written again.
#[derive(Debug)]
pub struct FileSdMissing;

impl InternalEvent for FileSdMissing {
    fn emit(self, _metrics: &Metrics) {
        // Counted by the writes that follow (`file_sd_writes_total{result="written"}`).
        tracing::warn!("a file_sd file is missing; writing the files again");
    }
}

/// A Cloud Map instance that is no target (no address, a bad port attribute...).
#[derive(Debug)]
pub struct CloudMapInstanceSkipped<'a> {
    pub reason: &'a str,
}

impl InternalEvent for CloudMapInstanceSkipped<'_> {
    fn emit(self, _metrics: &Metrics) {
        tracing::warn!("{}", self.reason);
    }
}

/// Lookups in one of the caches: how many were answered from it and how many needed a call.
#[derive(Debug)]
pub struct CacheLookups {
    pub cache: Cache,
    pub hits: usize,
    pub misses: usize,
}

impl InternalEvent for CacheLookups {
    fn emit(self, metrics: &Metrics) {
        let labels = CacheLabels { cache: self.cache };
        metrics
            .cache_hits
            .get_or_create(&labels)
            .inc_by(self.hits as u64);
        metrics
            .cache_misses
            .get_or_create(&labels)
            .inc_by(self.misses as u64);
    }
}

/// One attempt of an AWS call, and whether it was throttled.
#[derive(Debug)]
pub struct ApiCallAttempted<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub throttled: bool,
}

impl InternalEvent for ApiCallAttempted<'_> {
    fn emit(self, metrics: &Metrics) {
        let labels = OperationLabels {
            service: self.service.to_string(),
            operation: self.operation.to_string(),
        };
        metrics.api_calls.get_or_create(&labels).inc();
        // Exists at 0 from the first call on, so rate() and alerts see "no throttling".
        let throttled = metrics.api_throttled.get_or_create(&labels);
        if self.throttled {
            tracing::debug!(
                service = self.service,
                operation = self.operation,
                "throttled"
            );
            throttled.inc();
        } else {
            throttled.inc_by(0);
        }
    }
}
