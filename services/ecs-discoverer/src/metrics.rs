//! The discoverer's own metrics, registered in one registry that `/metrics` renders.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
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

/// How a cycle went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CycleResult {
    /// Every cluster refreshed.
    Success,
    /// Some sources failed and kept their last good targets; at least one refreshed.
    Partial,
    /// Nothing refreshed: ListClusters failed, or every cluster (and Cloud Map) did.
    Failure,
}

impl CycleResult {
    pub const ALL: [CycleResult; 3] = [Self::Success, Self::Partial, Self::Failure];

    /// The contract (spec, Failure behaviour): `failure` when no source refreshed, `partial`
    /// when some did, `success` only when all did. A source that can't tell its parts (a
    /// failed ListClusters) fails the cycle: no cluster can be said to have refreshed. A cycle
    /// with nothing to refresh (no cluster listed, no Cloud Map) succeeded.
    pub fn of(enumerated: bool, parts: usize, refreshed: usize) -> Self {
        if !enumerated || (parts > 0 && refreshed == 0) {
            CycleResult::Failure
        } else if refreshed < parts {
            CycleResult::Partial
        } else {
            CycleResult::Success
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CycleResult::Success => "success",
            CycleResult::Partial => "partial",
            CycleResult::Failure => "failure",
        }
    }
}

/// What became of one file_sd file in a publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileWriteResult {
    Written,
    Unchanged,
    Error,
}

impl FileWriteResult {
    pub const ALL: [FileWriteResult; 3] = [Self::Written, Self::Unchanged, Self::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            FileWriteResult::Written => "written",
            FileWriteResult::Unchanged => "unchanged",
            FileWriteResult::Error => "error",
        }
    }
}

/// The discoverer's caches, as `ecs_sd_cache_hits_total{cache}` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cache {
    Cluster,
    Task,
    TaskDefinition,
    ContainerInstance,
    Service,
}

impl Cache {
    pub fn as_str(self) -> &'static str {
        match self {
            Cache::Cluster => "cluster",
            Cache::Task => "task",
            Cache::TaskDefinition => "task_definition",
            Cache::ContainerInstance => "container_instance",
            Cache::Service => "service",
        }
    }
}

/// What became of one message of the events queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskEventOutcome {
    /// A task state change made the task targets.
    Running,
    /// A task state change removed the task's targets.
    Gone,
    /// Older than what was applied or seen: nothing changed.
    Stale,
    /// The version already applied or seen: nothing changed.
    Duplicate,
    /// Not an ECS task state change (deleted all the same).
    NotATaskChange,
    /// A task of a cluster this discoverer doesn't scan.
    OtherCluster,
    /// The task couldn't be resolved (an AWS call failed): left on the queue to come back.
    Unresolved,
}

impl TaskEventOutcome {
    pub const ALL: [TaskEventOutcome; 7] = [
        Self::Running,
        Self::Gone,
        Self::Stale,
        Self::Duplicate,
        Self::NotATaskChange,
        Self::OtherCluster,
        Self::Unresolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskEventOutcome::Running => "running",
            TaskEventOutcome::Gone => "gone",
            TaskEventOutcome::Stale => "stale",
            TaskEventOutcome::Duplicate => "duplicate",
            TaskEventOutcome::NotATaskChange => "not_a_task_change",
            TaskEventOutcome::OtherCluster => "other_cluster",
            TaskEventOutcome::Unresolved => "unresolved",
        }
    }
}

/// The events queue's operations, for its failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueOperation {
    ReceiveMessage,
    DeleteMessageBatch,
}

impl QueueOperation {
    pub const ALL: [QueueOperation; 2] = [Self::ReceiveMessage, Self::DeleteMessageBatch];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueOperation::ReceiveMessage => "ReceiveMessage",
            QueueOperation::DeleteMessageBatch => "DeleteMessageBatch",
        }
    }
}

/// Which way a reconciling cycle corrected what the events had published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Drift {
    /// A RUNNING task the events had not made targets.
    Added,
    /// A task the events had kept that is no longer RUNNING.
    Removed,
}

impl Drift {
    pub const ALL: [Drift; 2] = [Self::Added, Self::Removed];

    pub fn as_str(self) -> &'static str {
        match self {
            Drift::Added => "added",
            Drift::Removed => "removed",
        }
    }
}

/// Label values are these enums' names, so a typo can't start a new series.
macro_rules! label_value_as_str {
    ($($kind:ty),*) => {$(
        impl EncodeLabelValue for $kind {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                EncodeLabelValue::encode(&self.as_str(), encoder)
            }
        }
    )*};
}
label_value_as_str!(
    CycleResult,
    FileWriteResult,
    Cache,
    TaskEventOutcome,
    QueueOperation,
    Drift,
    crate::resolve::Convention
);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskEventLabels {
    pub outcome: TaskEventOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub operation: QueueOperation,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    pub change: Drift,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CycleLabels {
    pub result: CycleResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FileWriteLabels {
    pub result: FileWriteResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    pub cluster: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct SkipLabels {
    /// A [`crate::resolve::SkipReason`]'s code.
    pub reason: &'static str,
    pub convention: crate::resolve::Convention,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache: Cache,
}

/// Every metric the discoverer exports (prefix `ecs_sd_`).
#[derive(Debug)]
pub struct Metrics {
    pub api_calls: Family<OperationLabels, Counter>,
    pub api_throttled: Family<OperationLabels, Counter>,
    pub cycles: Family<CycleLabels, Counter>,
    pub cycle_duration: Histogram,
    pub cluster_failures: Family<ClusterLabels, Counter>,
    pub targets: Family<ClusterLabels, Gauge>,
    pub skipped: Family<SkipLabels, Gauge>,
    pub cache_hits: Family<CacheLabels, Counter>,
    pub cache_misses: Family<CacheLabels, Counter>,
    pub file_writes: Family<FileWriteLabels, Counter>,
    pub last_success: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// `--interval`: how old the last success may grow between two cycles (the stale alert
    /// reads it, so a reconcile of minutes doesn't look stuck).
    pub cycle_interval: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub cloudmap_failures: Counter,
    pub cloudmap_targets: Gauge,
    pub task_events: Family<TaskEventLabels, Counter>,
    pub event_queue_failures: Family<QueueLabels, Counter>,
    pub event_publish_delay: Histogram,
    pub drift: Family<DriftLabels, Counter>,
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
            cycle_interval: Gauge::default(),
            cloudmap_failures: Counter::default(),
            cloudmap_targets: Gauge::default(),
            task_events: Family::default(),
            event_queue_failures: Family::default(),
            event_publish_delay: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]),
            drift: Family::default(),
        }
    }
}

impl Metrics {
    /// Creates the metrics and registers them under the `ecs_sd` prefix. Every outcome exists
    /// at 0 from the start, so dashboards and alerts see zeros rather than no data.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        for result in CycleResult::ALL {
            m.cycles.get_or_create(&CycleLabels { result }).inc_by(0);
        }
        for result in FileWriteResult::ALL {
            m.file_writes
                .get_or_create(&FileWriteLabels { result })
                .inc_by(0);
        }
        for outcome in TaskEventOutcome::ALL {
            m.task_events
                .get_or_create(&TaskEventLabels { outcome })
                .inc_by(0);
        }
        for operation in QueueOperation::ALL {
            m.event_queue_failures
                .get_or_create(&QueueLabels { operation })
                .inc_by(0);
        }
        for change in Drift::ALL {
            m.drift.get_or_create(&DriftLabels { change }).inc_by(0);
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
            "cycle_interval_seconds",
            "Configured time between cycles (--interval)",
            m.cycle_interval.clone(),
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
        r.register(
            "task_events",
            "Messages of the events queue (--events-queue-url) by outcome",
            m.task_events.clone(),
        );
        r.register(
            "event_queue_failures",
            "Events queue calls that failed; discovery went on through the full cycle",
            m.event_queue_failures.clone(),
        );
        r.register(
            "event_publish_delay_seconds",
            "From a task state change reaching the queue to its publication (http_sd and file_sd)",
            m.event_publish_delay.clone(),
        );
        r.register(
            "events_drift",
            "Tasks a reconciling cycle found the events had missed, by change (added, removed)",
            m.drift.clone(),
        );
        m
    }
}
