//! The events listener: long-polls the queue, turns each task state change into an
//! [`Update`] (a RUNNING task resolved through the edge's caches), hands them to the refresher,
//! and deletes the messages once they are applied.
//!
//! A message that is not a task state change, or is of a cluster not scanned, is deleted and
//! counted. A RUNNING task whose resolution fails (an AWS call) is left on the queue: it comes
//! back after the queue's visibility timeout, and the cycle reconciles meanwhile. If the queue
//! can't be read, that is logged and counted, and the listener tries again with backoff while
//! the cycles go on.

use std::sync::Arc;
use std::time::Duration;

use stack_common::shutdown::Shutdown;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::edge::Edge;
use crate::events::{
    EventForOtherCluster, EventQueueFailed, InternalEvent, NotATaskChange, TaskEventUnresolved,
};
use crate::metrics::Metrics;
use crate::model::cluster_name;
use crate::refresher::{EventBatch, Update};
use crate::resolve::{Options, resolve_cluster};

use super::overlay::Change;
use super::parse;
use super::queue::{Message, Queue, QueueError};

/// The least time between two publications of events. Each renders every target, so under a
/// burst of events the next receive waits this long after a batch was published and takes what
/// queued up meanwhile (up to 10 messages) as one batch: at most one publication a second, well
/// inside the 2 s the contract allows. A batch that published nothing (a new task's PENDING)
/// doesn't hold the next one back.
pub const BATCH_SPACING: Duration = Duration::from_secs(1);

/// The first wait after a queue failure; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Listener {
    pub queue: Queue,
    pub edge: Edge,
    /// As configured (`--clusters`); empty means every cluster, named by ARN.
    pub clusters: Vec<String>,
    pub options: Options,
    pub metrics: Arc<Metrics>,
}

/// What one received batch comes to: updates to apply, and the messages to delete once they
/// are applied.
#[derive(Debug, Default)]
pub struct Received {
    pub updates: Vec<Update>,
    pub done: Vec<String>,
}

impl Listener {
    /// The ECS source's part (the cluster as it is named there) of a cluster ARN, if scanned.
    pub fn part_of(&self, cluster_arn: &str) -> Option<String> {
        if self.clusters.is_empty() {
            return Some(cluster_arn.to_string());
        }
        self.clusters
            .iter()
            .find(|c| c.as_str() == cluster_arn || c.as_str() == cluster_name(cluster_arn))
            .cloned()
    }

    /// Parses and resolves one received batch.
    pub async fn updates(&self, messages: Vec<Message>) -> Received {
        let mut received = Received::default();
        for message in messages {
            let event = match parse(&message.body) {
                Ok(event) => event,
                Err(error) => {
                    NotATaskChange { error: &error }.emit(&self.metrics);
                    received.done.push(message.receipt);
                    continue;
                }
            };
            let Some(part) = self.part_of(&event.cluster_arn) else {
                EventForOtherCluster {
                    cluster_arn: &event.cluster_arn,
                }
                .emit(&self.metrics);
                received.done.push(message.receipt);
                continue;
            };
            let task_arn = event.task.arn.clone();
            let change = if event.is_running() {
                match self.edge.event_snapshot(&part, event.task).await {
                    Ok(snapshot) => Change::Running(resolve_cluster(&snapshot, &self.options)),
                    Err(error) => {
                        TaskEventUnresolved {
                            task_arn: &task_arn,
                            error: &error,
                        }
                        .emit(&self.metrics);
                        continue;
                    }
                }
            } else {
                Change::Gone
            };
            received.updates.push(Update {
                task_arn,
                part,
                version: event.version,
                change,
                sent_at: message.sent_at,
            });
            received.done.push(message.receipt);
        }
        received
    }

    /// Reads the queue until shutdown, or until the refresher stops taking batches.
    pub async fn run(self, refresher: mpsc::Sender<EventBatch>, shutdown: Shutdown) {
        let mut retry = FIRST_RETRY;
        let mut next_receive = Instant::now();
        loop {
            let received = tokio::select! {
                received = async {
                    tokio::time::sleep_until(next_receive).await;
                    self.receive_once(&refresher).await
                } => received,
                _ = shutdown.wait() => return,
            };
            match received {
                Ok(Pass::Done { published_at }) => {
                    retry = FIRST_RETRY;
                    next_receive = published_at.map_or(next_receive, |at| at + BATCH_SPACING);
                }
                Ok(Pass::RefresherGone) => return,
                Err(error) => {
                    EventQueueFailed {
                        operation: error.operation,
                        error: &error.message,
                        retry_in: retry,
                    }
                    .emit(&self.metrics);
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => {}
                        _ = shutdown.wait() => return,
                    }
                    retry = (retry * 2).min(MAX_RETRY);
                }
            }
        }
    }

    /// One receive, apply and delete.
    async fn receive_once(&self, refresher: &mpsc::Sender<EventBatch>) -> Result<Pass, QueueError> {
        let messages = self.queue.receive().await?;
        if messages.is_empty() {
            return Ok(Pass::Done { published_at: None });
        }
        let Received { updates, done } = self.updates(messages).await;
        let mut published_at = None;
        if !updates.is_empty() {
            let (applied, was_applied) = oneshot::channel();
            if refresher
                .send(EventBatch { updates, applied })
                .await
                .is_err()
            {
                return Ok(Pass::RefresherGone);
            }
            match was_applied.await {
                Ok(true) => published_at = Some(Instant::now()),
                Ok(false) => {}
                Err(_) => return Ok(Pass::RefresherGone),
            }
        }
        if !done.is_empty() {
            self.queue.delete(&done).await?;
        }
        Ok(Pass::Done { published_at })
    }
}

/// How one pass of the listener ended.
#[derive(Debug, PartialEq, Eq)]
enum Pass {
    /// The messages are handled; `published_at` is when their batch was published, if it
    /// changed anything.
    Done { published_at: Option<Instant> },
    /// The refresher stopped taking batches (shutdown).
    RefresherGone,
}

#[cfg(test)]
mod tests;
