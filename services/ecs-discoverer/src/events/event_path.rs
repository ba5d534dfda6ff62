//! The internal events of event-driven discovery: what became of each message of the events
//! queue, the queue's failures, publication delay and the drift a reconciling cycle found.

use std::time::Duration;

use crate::metrics::{
    Drift, DriftLabels, Metrics, QueueLabels, QueueOperation, TaskEventLabels, TaskEventOutcome,
};

use super::InternalEvent;

fn count(metrics: &Metrics, outcome: TaskEventOutcome, by: u64) {
    metrics
        .task_events
        .get_or_create(&TaskEventLabels { outcome })
        .inc_by(by);
}

/// A task state change was applied, or found stale or a duplicate.
#[derive(Debug)]
pub struct TaskEventApplied<'a> {
    pub outcome: TaskEventOutcome,
    pub task_arn: &'a str,
    pub version: i64,
}

impl InternalEvent for TaskEventApplied<'_> {
    fn emit(self, metrics: &Metrics) {
        count(metrics, self.outcome, 1);
        tracing::debug!(
            outcome = self.outcome.as_str(),
            task = self.task_arn,
            version = self.version,
            "task state change"
        );
    }
}

/// A message that is not an ECS task state change; deleted, so it isn't read again.
#[derive(Debug)]
pub struct NotATaskChange<'a> {
    pub error: &'a crate::task_events::EventError,
}

impl InternalEvent for NotATaskChange<'_> {
    fn emit(self, metrics: &Metrics) {
        count(metrics, TaskEventOutcome::NotATaskChange, 1);
        tracing::warn!(error = %self.error, "events queue: message deleted, it is not an ECS task state change; check the EventBridge rule's pattern");
    }
}

/// A task state change of a cluster this discoverer doesn't scan; deleted.
#[derive(Debug)]
pub struct EventForOtherCluster<'a> {
    pub cluster_arn: &'a str,
}

impl InternalEvent for EventForOtherCluster<'_> {
    fn emit(self, metrics: &Metrics) {
        count(metrics, TaskEventOutcome::OtherCluster, 1);
        tracing::debug!(
            cluster = self.cluster_arn,
            "task state change of a cluster not scanned"
        );
    }
}

/// A RUNNING task couldn't be resolved (an AWS call failed). Its message stays on the queue
/// and comes back after the queue's visibility timeout; the cycle reconciles meanwhile.
#[derive(Debug)]
pub struct TaskEventUnresolved<'a> {
    pub task_arn: &'a str,
    pub error: &'a crate::edge::EdgeError,
}

impl InternalEvent for TaskEventUnresolved<'_> {
    fn emit(self, metrics: &Metrics) {
        count(metrics, TaskEventOutcome::Unresolved, 1);
        tracing::warn!(task = self.task_arn, error = %self.error, "task state change not applied; it comes back from the queue");
    }
}

/// The events queue couldn't be read or its messages deleted.
#[derive(Debug)]
pub struct EventQueueFailed<'a> {
    pub operation: QueueOperation,
    pub error: &'a str,
    pub retry_in: Duration,
}

impl InternalEvent for EventQueueFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .event_queue_failures
            .get_or_create(&QueueLabels {
                operation: self.operation,
            })
            .inc();
        tracing::warn!(
            operation = self.operation.as_str(),
            error = self.error,
            retry_in_s = self.retry_in.as_secs(),
            "events queue failed; discovery goes on through the full cycle"
        );
    }
}

/// Task state changes were published; `delays` from each message reaching the queue.
#[derive(Debug)]
pub struct EventsPublished<'a> {
    pub delays: &'a [Duration],
}

impl InternalEvent for EventsPublished<'_> {
    fn emit(self, metrics: &Metrics) {
        for delay in self.delays {
            metrics.event_publish_delay.observe(delay.as_secs_f64());
        }
    }
}

/// A reconciling cycle found tasks whose targets the events had missed.
#[derive(Debug)]
pub struct DriftFound {
    pub added: usize,
    pub removed: usize,
}

impl InternalEvent for DriftFound {
    fn emit(self, metrics: &Metrics) {
        for (change, by) in [(Drift::Added, self.added), (Drift::Removed, self.removed)] {
            metrics
                .drift
                .get_or_create(&DriftLabels { change })
                .inc_by(by as u64);
        }
        if self.added + self.removed > 0 {
            tracing::info!(
                added = self.added,
                removed = self.removed,
                "the cycle corrected what the events missed"
            );
        }
    }
}
