//! What is published: the last good results of the cycles (the base), overlaid with the task
//! state changes applied since ([`Overlay`]), rendered to http_sd and the file_sd files.
//!
//! Cycles and events both end here. A cycle replaces the base and settles the events its
//! snapshot saw; an event changes the overlay and is published at once, even while a cycle is
//! in flight (the cycle refreshes the sources; only its end touches the base).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::events::{
    DriftFound, EventsPublished, FileSdMissing, FileSdWrite, FileSdWriteTaskFailed, InternalEvent,
    NotATarget, TargetsPublished, TaskEventApplied,
};
use crate::label_set::Text;
use crate::metrics::{Metrics, TaskEventOutcome};
use crate::output::{FileSdWriter, SharedState};
use crate::resolve::{Origin, Resolution, Skip, Target, combine};
use crate::task_events::overlay::{Applied, Change, EventKey, Overlay};

/// A task state change, resolved, ready to apply.
#[derive(Debug)]
pub struct Update {
    pub task_arn: String,
    /// The cluster as the ECS source names it (its part).
    pub part: String,
    pub version: i64,
    /// RUNNING with what the task resolved to, or gone.
    pub change: Change<Resolution>,
    /// When the message reached the queue (SQS `SentTimestamp`).
    pub sent_at: Option<SystemTime>,
}

/// Task state changes to apply, and who waits for them to be applied (to delete their
/// messages); the answer says whether the batch changed what is published.
#[derive(Debug)]
pub struct EventBatch {
    pub updates: Vec<Update>,
    pub applied: tokio::sync::oneshot::Sender<bool>,
}

/// The combination of every source's last good results, before events.
#[derive(Debug, Default)]
struct Base {
    /// Every target, not yet combined (deduplicated and sorted).
    targets: Vec<Arc<Target>>,
    skipped: Vec<Skip>,
    /// The RUNNING tasks the cycles saw, with their version (the ARNs shared with the
    /// resolutions).
    running: HashMap<Text, Option<i64>>,
}

/// All targets and skips of a publication, deduplicated.
pub type Combined = (Arc<Vec<Arc<Target>>>, Arc<Vec<Skip>>);

#[derive(Debug)]
pub struct Publication {
    pub metrics: Arc<Metrics>,
    state: Arc<SharedState>,
    writer: Option<FileSdWriter>,
    /// Set after the first fully successful cycle; before it nothing partial is published.
    pub published_once: bool,
    /// Skip causes already logged, so each is logged once while it lasts.
    logged_skips: HashSet<String>,
    base: Option<Base>,
    overlay: Overlay<Resolution>,
    /// Whether events are read: only then is what a cycle corrects counted as drift.
    events: bool,
    /// The publication as of the last change. A cycle that changes nothing reuses it and
    /// publishes nothing: no render, no file read or write.
    combined: Option<Combined>,
    /// A publish left a file unwritten: publish again even if nothing changes.
    publish_pending: bool,
}

/// What a cycle brings to the publication.
#[derive(Debug)]
pub struct CycleEnd<'a, I> {
    pub started: Instant,
    /// Whether any part's last good result changed.
    pub changed: bool,
    /// Whether the cycle may be published (success, or partial after a first success).
    pub publishable: bool,
    /// The parts (ECS clusters) that refreshed.
    pub refreshed: &'a HashSet<String>,
    /// Every part's last good resolution.
    pub resolutions: I,
}

impl Publication {
    pub fn new(
        writer: Option<FileSdWriter>,
        metrics: Arc<Metrics>,
        state: Arc<SharedState>,
        events: bool,
    ) -> Self {
        Self {
            metrics,
            state,
            writer,
            published_once: false,
            logged_skips: HashSet::new(),
            base: None,
            overlay: Overlay::default(),
            events,
            combined: None,
            publish_pending: false,
        }
    }

    /// A cycle ended: its results become the base, the events its snapshot saw are settled,
    /// and what changed is published. Returns the publication and whether it changed.
    pub async fn cycle_ended<'r>(
        &mut self,
        end: CycleEnd<'_, impl Iterator<Item = &'r Resolution>>,
        publish: bool,
    ) -> (Combined, bool) {
        // A file_sd file deleted under us (a cleanup, a volume re-mount) is written again,
        // even when nothing changed: one stat per file and cycle, no render.
        if self.published_once && self.any_file_missing().await {
            FileSdMissing.emit(&self.metrics);
            self.publish_pending = true;
        }
        let before = (self.events && self.base.is_some()).then(|| self.running_view());
        let mut changed = end.changed || self.base.is_none();
        if changed {
            let mut base = Base::default();
            for resolution in end.resolutions {
                base.targets.extend(resolution.targets.iter().cloned());
                base.skipped.extend(resolution.skipped.iter().cloned());
                base.running.extend(
                    resolution
                        .running_tasks
                        .iter()
                        .map(|(arn, version)| (arn.clone(), *version)),
                );
            }
            self.base = Some(base);
        }
        let settled = self.overlay.settle(
            end.started,
            |part| end.refreshed.contains(part),
            Instant::now(),
        );
        changed |= !settled.is_empty();
        if let Some(before) = before.filter(|_| changed) {
            let after = self.running_view();
            DriftFound {
                added: after.difference(&before).count(),
                removed: before.difference(&after).count(),
            }
            .emit(&self.metrics);
        }
        let combined = match (&self.combined, changed) {
            (Some(combined), false) => combined.clone(),
            _ => {
                changed = true;
                self.compose()
            }
        };
        if publish && end.publishable && (changed || !self.published_once || self.publish_pending) {
            self.publish(&combined).await;
        }
        if publish && changed {
            self.log_new_skips(&combined.1);
        }
        (combined, changed)
    }

    /// Applies task state changes, publishes them if anything changed (once a cycle has
    /// published: before that, http_sd answers 503 and nothing partial is written), then tells
    /// the listener they are applied, and whether that changed what is published.
    pub async fn apply(&mut self, batch: EventBatch) {
        let changed = self.apply_updates(batch.updates).await;
        // The listener may be gone (shutdown); nothing waits for the answer then.
        let _ = batch.applied.send(changed);
    }

    async fn apply_updates(&mut self, updates: Vec<Update>) -> bool {
        let now = Instant::now();
        let mut changed = false;
        let mut delays = Vec::new();
        for update in updates {
            let seen = self
                .base
                .as_ref()
                .and_then(|b| b.running.get(update.task_arn.as_str()).copied().flatten());
            let published = self.is_published(&update.task_arn);
            let key = EventKey {
                task_arn: &update.task_arn,
                part: &update.part,
                version: update.version,
            };
            let outcome = match self.overlay.apply(key, update.change, seen, now) {
                Applied::Running => TaskEventOutcome::Running,
                Applied::Gone => TaskEventOutcome::Gone,
                Applied::Stale => TaskEventOutcome::Stale,
                Applied::Duplicate => TaskEventOutcome::Duplicate,
            };
            TaskEventApplied {
                outcome,
                task_arn: &update.task_arn,
                version: update.version,
            }
            .emit(&self.metrics);
            // A task leaving a state that had no targets (PENDING of a new task, say) changes
            // nothing published.
            let visible = outcome == TaskEventOutcome::Running
                || (outcome == TaskEventOutcome::Gone && published);
            if visible {
                changed = true;
                delays.extend(update.sent_at.map(|sent| {
                    SystemTime::now()
                        .duration_since(sent)
                        .unwrap_or(Duration::ZERO)
                }));
            }
        }
        if !changed || self.base.is_none() {
            return false;
        }
        let combined = self.compose();
        if !self.published_once {
            return false;
        }
        self.publish(&combined).await;
        self.log_new_skips(&combined.1);
        EventsPublished { delays: &delays }.emit(&self.metrics);
        true
    }

    /// Whether `task_arn` is published RUNNING: by the events, else by the cycles.
    fn is_published(&self, task_arn: &str) -> bool {
        match self.overlay.get(task_arn) {
            Some(entry) => !entry.change.is_gone(),
            None => self
                .base
                .as_ref()
                .is_some_and(|b| b.running.contains_key(task_arn)),
        }
    }

    /// The RUNNING tasks published: the base's, as the events changed them.
    fn running_view(&self) -> HashSet<Text> {
        let base = self.base.iter().flat_map(|b| b.running.keys().cloned());
        base.chain(self.overlay.entries().map(|(arn, _)| Text::from(arn)))
            .filter(|arn| self.is_published(arn))
            .collect()
    }

    /// The base, with each task the events changed replaced by what they say of it.
    fn compose(&mut self) -> Combined {
        let base = self.base.get_or_insert_with(Base::default);
        let combined: Combined = if self.overlay.is_empty() {
            (
                Arc::new(combine(base.targets.iter().cloned())),
                Arc::new(base.skipped.clone()),
            )
        } else {
            let overlay = &self.overlay;
            let replaced = |task_arn: &str| overlay.get(task_arn).is_some();
            let events = || {
                overlay.entries().filter_map(|(_, e)| match &e.change {
                    Change::Running(resolution) => Some(resolution),
                    Change::Gone => None,
                })
            };
            let targets = base
                .targets
                .iter()
                .filter(|t| {
                    t.origin != Origin::Ecs
                        || !replaced(t.labels.get("__meta_ecs_task_arn").unwrap_or_default())
                })
                .cloned()
                .chain(events().flat_map(|r| r.targets.iter().cloned()));
            let skipped = base
                .skipped
                .iter()
                .filter(|s| !replaced(&s.task_arn))
                .cloned()
                .chain(events().flat_map(|r| r.skipped.iter().cloned()))
                .collect();
            (Arc::new(combine(targets)), Arc::new(skipped))
        };
        TargetsPublished {
            targets: &combined.0,
            skipped: &combined.1,
        }
        .emit(&self.metrics);
        self.combined = Some(combined.clone());
        combined
    }

    /// Logs each skip cause once, while it lasts (a cause that goes away and comes back is
    /// logged again).
    fn log_new_skips(&mut self, skipped: &[Skip]) {
        let current: HashSet<String> = skipped
            .iter()
            .map(|s| {
                format!(
                    "cluster={} task={} container={}: {}",
                    s.cluster, s.task_arn, s.container, s.reason
                )
            })
            .collect();
        for cause in current.difference(&self.logged_skips) {
            NotATarget { cause }.emit(&self.metrics);
        }
        self.logged_skips = current;
    }

    /// Whether a file_sd file is gone. On a blocking thread, like every file operation here: a
    /// slow volume (EFS, a full disk) must not stall the runtime that serves http_sd.
    async fn any_file_missing(&self) -> bool {
        let Some(writer) = self.writer.clone() else {
            return false;
        };
        tokio::task::spawn_blocking(move || writer.any_missing())
            .await
            .unwrap_or(true)
    }

    async fn publish(&mut self, (targets, skipped): &Combined) {
        self.published_once = true;
        self.publish_pending = false;
        self.state.publish(targets.clone(), skipped.clone());
        let Some(writer) = self.writer.clone() else {
            return;
        };
        let targets = Arc::clone(targets);
        match tokio::task::spawn_blocking(move || writer.write(&targets)).await {
            Ok(outcomes) => {
                for (path, outcome) in &outcomes {
                    FileSdWrite { path, outcome }.emit(&self.metrics);
                    self.publish_pending |= outcome.is_err();
                }
            }
            Err(error) => {
                FileSdWriteTaskFailed { error: &error }.emit(&self.metrics);
                self.publish_pending = true;
            }
        }
    }
}
