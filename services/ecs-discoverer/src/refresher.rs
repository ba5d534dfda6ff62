//! The refresh loop, in the shape of Prometheus's `discovery/refresh`: every [`Source`] is
//! refreshed each cycle, the last good resolution of each of its parts is kept, the parts are
//! merged, and the cycle is timed, counted and published. Each cycle is raced against shutdown.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stack_common::cloudmap::CloudMap;
use stack_common::shutdown::Shutdown;

use crate::config::Config;
use crate::edge::Edge;
use crate::events::{
    CycleCompleted, FileSdMissing, FileSdWrite, FileSdWriteTaskFailed, InternalEvent, NotATarget,
    PartGone, PartListed, PartRefreshFailed, SourceListFailed, TargetsPublished,
};
pub use crate::metrics::CycleResult;
use crate::metrics::Metrics;
use crate::output::{FileSdWriter, SharedState};
use crate::resolve::{Options, Resolution, Skip, Target, combine};
use crate::source::{CloudMapSource, EcsSource, PartRefresh, Source};

/// The outcome of one cycle, for `--once` and `explain`.
#[derive(Debug)]
pub struct CycleReport {
    pub result: CycleResult,
    pub errors: Vec<String>,
    /// Every target served (ECS's, then Cloud Map's), from the last good results.
    pub targets: Arc<Vec<Arc<Target>>>,
    pub skipped: Arc<Vec<Skip>>,
}

/// All targets and skips of the last good results, deduplicated.
type Combined = (Arc<Vec<Arc<Target>>>, Arc<Vec<Skip>>);

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
                    self.last_good.insert(part.key, resolution);
                    outcome.refreshed += 1;
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
    metrics: Arc<Metrics>,
    state: Arc<SharedState>,
    writer: Option<FileSdWriter>,
    /// Set after the first fully successful cycle; before it nothing partial is published.
    published_once: bool,
    /// Skip causes already logged, so each is logged once while it lasts.
    logged_skips: HashSet<String>,
    /// The combination of the last good results as of the last change. A cycle that changes
    /// nothing reuses it and publishes nothing: no render, no file read or write.
    combined: Option<Combined>,
    /// A publish left a file unwritten: publish again even if nothing changes.
    publish_pending: bool,
}

impl Refresher {
    pub fn new(
        sources: Vec<Box<dyn Source>>,
        writer: Option<FileSdWriter>,
        metrics: Arc<Metrics>,
        state: Arc<SharedState>,
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
            metrics,
            state,
            writer,
            published_once: false,
            logged_skips: HashSet::new(),
            combined: None,
            publish_pending: false,
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
        let options = Options {
            fallback_metrics_path: config.fallback_metrics_path.clone(),
            filter_label: config.filter_label.clone(),
            service_selector: config.service_selector.clone(),
            extra_labels: config.extra_labels.clone(),
        };
        let mut sources: Vec<Box<dyn Source>> = vec![Box::new(EcsSource::new(
            edge,
            config.clusters.clone(),
            options,
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
        Self::new(sources, writer, metrics, state)
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

    /// One discovery cycle: refresh every source, keep the last good result of each part that
    /// fails, and publish (http_sd state and files) when there is something good to publish.
    pub async fn cycle(&mut self, publish: bool) -> CycleReport {
        let started = Instant::now();
        let mut errors = Vec::new();
        let (mut enumerated, mut parts, mut refreshed, mut changed) = (true, 0, 0, false);
        for slot in &mut self.slots {
            let outcome = slot.refresh(&self.metrics, &mut errors).await;
            enumerated &= outcome.enumerated;
            parts += outcome.parts;
            refreshed += outcome.refreshed;
            changed |= outcome.changed;
        }
        let result = CycleResult::of(enumerated, parts, refreshed);
        // A file_sd file deleted under us (a cleanup, a volume re-mount) is written again,
        // even when nothing changed: one stat per file and cycle, no render.
        if self.published_once && self.any_file_missing().await {
            FileSdMissing.emit(&self.metrics);
            self.publish_pending = true;
        }

        let (targets, skipped) = match (&self.combined, changed) {
            (Some((targets, skipped)), false) => (targets.clone(), skipped.clone()),
            _ => {
                let resolutions = || self.slots.iter().flat_map(|s| s.last_good.values());
                let targets = Arc::new(combine(
                    resolutions().flat_map(|r| r.targets.iter().cloned()),
                ));
                let skipped: Arc<Vec<Skip>> = Arc::new(
                    resolutions()
                        .flat_map(|r| r.skipped.iter().cloned())
                        .collect(),
                );
                self.combined = Some((targets.clone(), skipped.clone()));
                changed = true;
                (targets, skipped)
            }
        };
        let publishable = result == CycleResult::Success
            || (result == CycleResult::Partial && self.published_once);
        if publish && publishable && (changed || !self.published_once || self.publish_pending) {
            self.publish(&targets, &skipped).await;
        }
        if publish && changed {
            self.log_new_skips(&skipped);
        }
        if changed {
            TargetsPublished {
                targets: &targets,
                skipped: &skipped,
            }
            .emit(&self.metrics);
        }
        CycleCompleted {
            result,
            duration: started.elapsed(),
            targets: targets.len(),
            skipped: skipped.len(),
            changed,
        }
        .emit(&self.metrics);
        CycleReport {
            result,
            errors,
            targets,
            skipped,
        }
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

    async fn publish(&mut self, targets: &Arc<Vec<Arc<Target>>>, skipped: &Arc<Vec<Skip>>) {
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

    /// Runs cycles every `interval` until shutdown, which also ends a cycle in progress.
    pub async fn run(mut self, interval: Duration, shutdown: Shutdown) {
        loop {
            let Some(report) = self.cycle_unless_shutdown(true, &shutdown).await else {
                return;
            };
            for error in &report.errors {
                tracing::debug!(%error, "cycle error");
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.wait() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests;
