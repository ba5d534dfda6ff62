//! The refresh loop, in the shape of Prometheus's `discovery/refresh`: every [`Source`] is
//! refreshed each cycle, the last good resolution of each of its parts is kept, the parts are
//! merged, and the cycle is timed, counted and published. Each cycle is raced against shutdown.
//!
//! With an events queue, task state changes are applied and published between and during
//! cycles ([`publication`]); the cycle then reconciles.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use stack_common::cloudmap::CloudMap;
use stack_common::shutdown::Shutdown;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Config;
use crate::edge::Edge;
use crate::events::{
    CycleCompleted, InternalEvent, PartGone, PartListed, PartRefreshFailed, SourceListFailed,
};
pub use crate::metrics::CycleResult;
use crate::metrics::Metrics;
use crate::output::{FileSdWriter, SharedState};
use crate::resolve::{Options, Resolution, Skip, Target};
use crate::source::{CloudMapSource, EcsSource, PartRefresh, Source, SourceKind};

pub mod publication;

use publication::{CycleEnd, Publication};
pub use publication::{EventBatch, Update};

/// The outcome of one cycle, for `--once` and `explain`.
#[derive(Debug)]
pub struct CycleReport {
    pub result: CycleResult,
    pub errors: Vec<String>,
    /// Every target served (ECS's, then Cloud Map's), from the last good results.
    pub targets: Arc<Vec<Arc<Target>>>,
    pub skipped: Arc<Vec<Skip>>,
}

/// A source and the last good resolution of each of its parts.
#[derive(Debug)]
struct Slot {
    source: Box<dyn Source>,
    last_good: BTreeMap<String, Resolution>,
    /// The parts of the last listing, so a part gone from it takes its series with it.
    listed: HashSet<String>,
}

/// What refreshing one slot did.
#[derive(Debug, Default)]
struct SlotOutcome {
    enumerated: bool,
    parts: usize,
    refreshed: usize,
    changed: bool,
    /// The ECS parts (clusters) that refreshed, for the events they settle.
    refreshed_clusters: HashSet<String>,
}

impl SlotOutcome {
    fn refresh_of(&mut self, kind: SourceKind, part: String) {
        if kind == SourceKind::Ecs {
            self.refreshed_clusters.insert(part);
        }
    }
}

/// What refreshing every slot did.
#[derive(Debug)]
struct Refreshed {
    started: Instant,
    result: CycleResult,
    changed: bool,
    refreshed_clusters: HashSet<String>,
    errors: Vec<String>,
}

/// One refresh of every slot, in order (ECS, then Cloud Map).
async fn refresh_slots(slots: &mut [Slot], metrics: &Metrics) -> Refreshed {
    let started = Instant::now();
    let mut errors = Vec::new();
    let (mut enumerated, mut parts, mut refreshed, mut changed) = (true, 0, 0, false);
    let mut refreshed_clusters = HashSet::new();
    for slot in slots {
        let outcome = slot.refresh(metrics, &mut errors).await;
        enumerated &= outcome.enumerated;
        parts += outcome.parts;
        refreshed += outcome.refreshed;
        changed |= outcome.changed;
        refreshed_clusters.extend(outcome.refreshed_clusters);
    }
    Refreshed {
        started,
        result: CycleResult::of(enumerated, parts, refreshed),
        changed,
        refreshed_clusters,
        errors,
    }
}

impl Slot {
    async fn refresh(&mut self, metrics: &Metrics, errors: &mut Vec<String>) -> SlotOutcome {
        let kind = self.source.kind();
        let parts = match self.source.refresh().await {
            Ok(parts) => parts,
            Err(error) => {
                SourceListFailed {
                    kind,
                    error: &error,
                }
                .emit(metrics);
                errors.push(error.to_string());
                return SlotOutcome::default();
            }
        };
        let listed: HashSet<String> = parts.iter().map(|p| p.key.clone()).collect();
        for gone in self.listed.difference(&listed) {
            PartGone { kind, part: gone }.emit(metrics);
        }
        let before = self.last_good.len();
        self.last_good.retain(|part, _| listed.contains(part));
        let mut outcome = SlotOutcome {
            enumerated: true,
            parts: parts.len(),
            refreshed: 0,
            changed: self.last_good.len() != before,
            refreshed_clusters: HashSet::new(),
        };
        for part in parts {
            PartListed {
                kind,
                part: &part.key,
            }
            .emit(metrics);
            match part.refresh {
                PartRefresh::Unchanged if self.last_good.contains_key(&part.key) => {
                    outcome.refreshed += 1;
                    outcome.refresh_of(kind, part.key);
                }
                PartRefresh::Unchanged => {
                    // A source that says "unchanged" about a part it never resolved is wrong;
                    // the part keeps nothing rather than something unknown.
                    errors.push(format!(
                        "{}: no resolution for '{}'",
                        kind.as_str(),
                        part.key
                    ));
                }
                PartRefresh::Changed(resolution) => {
                    outcome.changed |= self.last_good.get(&part.key) != Some(&resolution);
                    self.last_good.insert(part.key.clone(), resolution);
                    outcome.refreshed += 1;
                    outcome.refresh_of(kind, part.key);
                }
                PartRefresh::Failed(error) => {
                    PartRefreshFailed {
                        kind,
                        part: &part.key,
                        error: &error,
                    }
                    .emit(metrics);
                    errors.push(error.to_string());
                }
            }
        }
        self.listed = listed;
        outcome
    }
}

#[derive(Debug)]
pub struct Refresher {
    slots: Vec<Slot>,
    publication: Publication,
}

impl Refresher {
    /// `events`: whether task state changes will be applied ([`Refresher::run`]'s queue); only
    /// then is what a cycle corrects counted as drift.
    pub fn new(
        sources: Vec<Box<dyn Source>>,
        writer: Option<FileSdWriter>,
        metrics: Arc<Metrics>,
        state: Arc<SharedState>,
        events: bool,
    ) -> Self {
        Self {
            slots: sources
                .into_iter()
                .map(|source| Slot {
                    source,
                    last_good: BTreeMap::new(),
                    listed: HashSet::new(),
                })
                .collect(),
            publication: Publication::new(writer, metrics, state, events),
        }
    }

    /// The sources the flags ask for: ECS always, Cloud Map when `--cloudmap-namespaces` names
    /// any (then `cloudmap` is its client).
    pub fn from_config(
        edge: Edge,
        cloudmap: Option<CloudMap>,
        config: &Config,
        metrics: Arc<Metrics>,
        state: Arc<SharedState>,
    ) -> Self {
        let mut sources: Vec<Box<dyn Source>> = vec![Box::new(EcsSource::new(
            edge,
            config.clusters.clone(),
            Options::from(config),
        ))];
        if let Some(client) = cloudmap.filter(|_| !config.cloudmap_namespaces.is_empty()) {
            sources.push(Box::new(CloudMapSource::new(
                client,
                config.cloudmap_namespaces.clone(),
                metrics.clone(),
            )));
        }
        let writer = config.output_dir.clone().map(|dir| FileSdWriter {
            dir,
            format: config.output_format,
        });
        let events = config.events_queue_url.is_some() && !config.once;
        Self::new(sources, writer, metrics, state, events)
    }

    /// One discovery cycle: refresh every source, keep the last good result of each part that
    /// fails, and publish (http_sd state and files) when there is something good to publish.
    pub async fn cycle(&mut self, publish: bool) -> CycleReport {
        let refreshed = refresh_slots(&mut self.slots, &self.publication.metrics).await;
        self.cycle_ended(refreshed, publish).await
    }

    async fn cycle_ended(&mut self, refreshed: Refreshed, publish: bool) -> CycleReport {
        let Refreshed {
            started,
            result,
            changed,
            refreshed_clusters,
            errors,
        } = refreshed;
        let publishable = result == CycleResult::Success
            || (result == CycleResult::Partial && self.publication.published_once);
        let end = CycleEnd {
            started,
            changed,
            publishable,
            refreshed: &refreshed_clusters,
            resolutions: self.slots.iter().flat_map(|s| s.last_good.values()),
        };
        let ((targets, skipped), changed) = self.publication.cycle_ended(end, publish).await;
        CycleCompleted {
            result,
            duration: started.elapsed(),
            targets: targets.len(),
            skipped: skipped.len(),
            changed,
        }
        .emit(&self.publication.metrics);
        CycleReport {
            result,
            errors,
            targets,
            skipped,
        }
    }

    /// One cycle, abandoned when shutdown comes first (its AWS calls may be hung): `None` then.
    /// Nothing is half published: publishing happens after the last await of a cycle.
    pub async fn cycle_unless_shutdown(
        &mut self,
        publish: bool,
        shutdown: &Shutdown,
    ) -> Option<CycleReport> {
        tokio::select! {
            report = self.cycle(publish) => Some(report),
            _ = shutdown.wait() => None,
        }
    }

    /// Applies task state changes now, publishing them (between or during cycles).
    pub async fn apply(&mut self, batch: EventBatch) {
        self.publication.apply(batch).await;
    }

    /// Runs cycles every `interval` until shutdown, which also ends a cycle in progress. Task
    /// state changes from `events` are applied as they come, also while a cycle runs.
    pub async fn run(
        mut self,
        interval: Duration,
        shutdown: Shutdown,
        mut events: Option<mpsc::Receiver<EventBatch>>,
    ) {
        let metrics = self.publication.metrics.clone();
        loop {
            let refreshed = {
                let refresh = refresh_slots(&mut self.slots, &metrics);
                tokio::pin!(refresh);
                loop {
                    tokio::select! {
                        refreshed = &mut refresh => break refreshed,
                        batch = next_batch(&mut events) => self.publication.apply(batch).await,
                        _ = shutdown.wait() => return,
                    }
                }
            };
            let report = self.cycle_ended(refreshed, true).await;
            for error in &report.errors {
                tracing::debug!(%error, "cycle error");
            }
            let pause = tokio::time::sleep(interval);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    _ = &mut pause => break,
                    batch = next_batch(&mut events) => self.publication.apply(batch).await,
                    _ = shutdown.wait() => return,
                }
            }
        }
    }
}

/// The next batch of task state changes; pending for good without a queue, or once the
/// listener has stopped (discovery goes on by the cycles).
async fn next_batch(events: &mut Option<mpsc::Receiver<EventBatch>>) -> EventBatch {
    if let Some(receiver) = events {
        if let Some(batch) = receiver.recv().await {
            return batch;
        }
        *events = None;
    }
    std::future::pending().await
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod event_tests;
