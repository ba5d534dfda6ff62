//! The refresher: runs discovery cycles and keeps the last good result per cluster.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use stack_common::atomic_file::WriteOutcome;
use stack_common::cloudmap::{self, CloudMap};
use stack_common::shutdown::Shutdown;
use stack_common::target_group::TargetGroup;

use crate::config::Config;
use crate::edge::{Edge, EdgeError, Refresh};
use crate::metrics::{ClusterLabels, Metrics, ResultLabels, SkipLabels};
use crate::output::{FileSdWriter, SharedState};
use crate::resolve::{Options, Resolution, Skip, Target, combine, resolve_cluster};

fn failure_labels(cluster: &str) -> ClusterLabels {
    ClusterLabels {
        cluster: crate::model::cluster_name(cluster).to_string(),
    }
}

/// How a cycle went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleResult {
    /// Every cluster refreshed.
    Success,
    /// Some sources failed and kept their last good targets; at least one refreshed.
    Partial,
    /// Nothing refreshed: ListClusters failed, or every cluster (and Cloud Map) did.
    Failure,
}

impl CycleResult {
    /// The contract (spec, Failure behaviour): `failure` when no source refreshed, `partial`
    /// when some did, `success` only when all did. Cloud Map counts as one source when it is
    /// configured. A cycle with nothing to refresh (no cluster listed, no Cloud Map) succeeded.
    fn of(listed: bool, sources: usize, refreshed: usize) -> Self {
        if !listed || (sources > 0 && refreshed == 0) {
            CycleResult::Failure
        } else if refreshed < sources {
            CycleResult::Partial
        } else {
            CycleResult::Success
        }
    }
}

impl CycleResult {
    fn as_str(self) -> &'static str {
        match self {
            CycleResult::Success => "success",
            CycleResult::Partial => "partial",
            CycleResult::Failure => "failure",
        }
    }
}

/// The outcome of one cycle, for `--once` and `explain`.
#[derive(Debug)]
pub struct CycleReport {
    pub result: CycleResult,
    pub errors: Vec<String>,
    pub targets: Arc<Vec<Arc<Target>>>,
    /// The Cloud Map groups served beside the ECS targets (last good).
    pub cloudmap: Arc<Vec<TargetGroup>>,
    pub skipped: Arc<Vec<Skip>>,
}

/// All targets and skips of the last good results, deduplicated.
type Combined = (Arc<Vec<Arc<Target>>>, Arc<Vec<Skip>>);

#[derive(Debug)]
pub struct Refresher {
    edge: Edge,
    clusters: Vec<String>,
    options: Options,
    metrics: Arc<Metrics>,
    state: Arc<SharedState>,
    writer: Option<FileSdWriter>,
    /// The last good resolution per cluster (as configured or listed).
    last_good: BTreeMap<String, Resolution>,
    /// Set after the first fully successful cycle; before it nothing partial is published.
    published_once: bool,
    /// Cloud Map namespaces (`--cloudmap-namespaces`) and their client, when any are given.
    cloudmap: Option<CloudMap>,
    cloudmap_namespaces: Vec<String>,
    /// Shared with the published state and the cycle report, not copied per cycle.
    cloudmap_last_good: Arc<Vec<TargetGroup>>,
    /// Skip causes already logged, so each is logged once while it lasts.
    logged_skips: HashSet<String>,
    /// The combination of `last_good` (and Cloud Map) as of the last change. A cycle that
    /// changes nothing reuses it and publishes nothing: no render, no file read or write.
    combined: Option<Combined>,
    /// A publish left a file unwritten: publish again even if nothing changes.
    publish_pending: bool,
    /// Clusters with a `cluster_refresh_failures` series, so a cluster gone from the list
    /// takes its series with it.
    clusters_with_failure_series: HashSet<String>,
}

impl Refresher {
    pub fn new(
        edge: Edge,
        config: &Config,
        metrics: Arc<Metrics>,
        state: Arc<SharedState>,
    ) -> Self {
        Self {
            edge,
            clusters: config.clusters.clone(),
            options: Options {
                fallback_metrics_path: config.fallback_metrics_path.clone(),
                filter_label: config.filter_label.clone(),
                service_selector: config.service_selector.clone(),
                extra_labels: config.extra_labels.clone(),
            },
            metrics,
            state,
            writer: config.output_dir.clone().map(|dir| FileSdWriter {
                dir,
                format: config.output_format,
            }),
            last_good: BTreeMap::new(),
            published_once: false,
            cloudmap: None,
            cloudmap_namespaces: config.cloudmap_namespaces.clone(),
            cloudmap_last_good: Arc::default(),
            logged_skips: HashSet::new(),
            combined: None,
            publish_pending: false,
            clusters_with_failure_series: HashSet::new(),
        }
    }

    /// Adds the instances of `--cloudmap-namespaces` to http_sd and the combined file.
    pub fn with_cloudmap(mut self, client: CloudMap) -> Self {
        if !self.cloudmap_namespaces.is_empty() {
            self.cloudmap = Some(client);
        }
        self
    }

    /// Refreshes the Cloud Map groups; on failure the last good ones stay. Returns whether it
    /// succeeded and whether the groups changed.
    async fn refresh_cloudmap(&mut self, errors: &mut Vec<String>) -> (bool, bool) {
        let Some(client) = &self.cloudmap else {
            return (true, false);
        };
        match client.snapshot(&self.cloudmap_namespaces).await {
            Ok(snapshot) => {
                let found = cloudmap::groups(&snapshot);
                for reason in found.skipped {
                    tracing::warn!("{reason}");
                }
                let changed = *self.cloudmap_last_good != found.groups;
                if changed {
                    self.cloudmap_last_good = Arc::new(found.groups);
                }
                (true, changed)
            }
            Err(error) => {
                tracing::warn!(%error, "Cloud Map refresh failed; keeping its last good targets");
                self.metrics.cloudmap_failures.inc();
                errors.push(error.to_string());
                (false, false)
            }
        }
    }

    /// A cluster's refresh failed: it keeps its last good targets.
    fn cluster_failed(&self, cluster: &str, error: EdgeError, errors: &mut Vec<String>) {
        tracing::warn!(%error, "cluster refresh failed; keeping its last good targets");
        self.metrics
            .cluster_failures
            .get_or_create(&failure_labels(cluster))
            .inc();
        errors.push(error.to_string());
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
            tracing::warn!("not a target: {cause}");
        }
        self.logged_skips = current;
    }

    /// One discovery cycle: refresh every cluster, keep the last good result of those that
    /// fail, and publish (http_sd state and files) when there is something good to publish.
    pub async fn cycle(&mut self, publish: bool) -> CycleReport {
        let started = Instant::now();
        let mut errors = Vec::new();
        let listed = if self.clusters.is_empty() {
            match self.edge.list_clusters().await {
                Ok(arns) => Some(arns),
                Err(error) => {
                    errors.push(error.to_string());
                    None
                }
            }
        } else {
            Some(self.clusters.clone())
        };
        let mut refreshed = 0;
        let mut changed = false;
        if let Some(clusters) = &listed {
            let keep: HashSet<String> = clusters.iter().cloned().collect();
            let before = self.last_good.len();
            self.last_good.retain(|k, _| keep.contains(k));
            changed |= self.last_good.len() != before;
            self.edge.retain_clusters(&keep);
            for gone in self.clusters_with_failure_series.difference(&keep) {
                self.metrics.cluster_failures.remove(&failure_labels(gone));
            }
            self.clusters_with_failure_series = keep;
            self.edge.prefetch_clusters(clusters).await;
            let mut drafts = Vec::new();
            for cluster in clusters {
                self.metrics
                    .cluster_failures
                    .get_or_create(&failure_labels(cluster))
                    .inc_by(0);
                let draft = match self.edge.refresh(cluster).await {
                    Ok(Refresh::Unchanged) if self.last_good.contains_key(cluster) => {
                        refreshed += 1;
                        continue;
                    }
                    Ok(Refresh::Unchanged) => self.edge.draft(cluster).await,
                    Ok(Refresh::Changed(draft)) => Ok(*draft),
                    Err(error) => Err(error),
                };
                match draft {
                    Ok(draft) => drafts.push(draft),
                    Err(error) => self.cluster_failed(cluster, error, &mut errors),
                }
            }
            for (cluster, finished) in self.edge.finish(drafts).await {
                match finished {
                    Ok(snapshot) => {
                        let resolution = resolve_cluster(&snapshot, &self.options);
                        changed |= self.last_good.get(&cluster) != Some(&resolution);
                        self.last_good.insert(cluster, resolution);
                        refreshed += 1;
                    }
                    Err(error) => self.cluster_failed(&cluster, error, &mut errors),
                }
            }
        }
        let (cloudmap_ok, cloudmap_changed) = self.refresh_cloudmap(&mut errors).await;
        changed |= cloudmap_changed;
        let cloudmap_sources = usize::from(self.cloudmap.is_some());
        let result = CycleResult::of(
            listed.is_some(),
            listed.as_ref().map_or(0, Vec::len) + cloudmap_sources,
            refreshed + usize::from(cloudmap_ok && self.cloudmap.is_some()),
        );
        // A file_sd file deleted under us (a cleanup, a volume re-mount) is written again,
        // even when nothing changed: one stat per file and cycle, no render.
        if self.published_once && self.any_file_missing().await {
            tracing::warn!("a file_sd file is missing; writing the files again");
            self.publish_pending = true;
        }

        let (targets, skipped) = match (&self.combined, changed) {
            (Some((targets, skipped)), false) => (targets.clone(), skipped.clone()),
            _ => {
                let targets = Arc::new(combine(
                    self.last_good
                        .values()
                        .flat_map(|r| r.targets.iter().cloned()),
                ));
                let skipped: Arc<Vec<Skip>> = Arc::new(
                    self.last_good
                        .values()
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
        self.record(result, started, changed);
        CycleReport {
            result,
            errors,
            targets,
            cloudmap: Arc::clone(&self.cloudmap_last_good),
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
        self.state.publish(
            targets.clone(),
            self.cloudmap_last_good.clone(),
            skipped.clone(),
        );
        if let Some(writer) = self.writer.clone() {
            let (targets, cloudmap) = (Arc::clone(targets), Arc::clone(&self.cloudmap_last_good));
            let outcomes = match tokio::task::spawn_blocking(move || {
                writer.write(&targets, &cloudmap)
            })
            .await
            {
                Ok(outcomes) => outcomes,
                Err(error) => {
                    tracing::error!(%error, "file_sd write task failed; the old files stay");
                    self.publish_pending = true;
                    return;
                }
            };
            for (path, outcome) in outcomes {
                let result = match outcome {
                    Ok(WriteOutcome::Written) => "written",
                    Ok(WriteOutcome::Unchanged) => "unchanged",
                    Err(error) => {
                        tracing::error!(%error, path = %path.display(), "file_sd write failed; the old file stays");
                        self.publish_pending = true;
                        "error"
                    }
                };
                self.metrics
                    .file_writes
                    .get_or_create(&ResultLabels {
                        result: result.to_string(),
                    })
                    .inc();
            }
        }
    }

    /// Counts the cycle; when the combination `changed`, also resets the target and skip gauges,
    /// which otherwise keep their values.
    fn record(&self, result: CycleResult, started: Instant, changed: bool) {
        let metrics = &self.metrics;
        metrics
            .cycles
            .get_or_create(&ResultLabels {
                result: result.as_str().to_string(),
            })
            .inc();
        metrics
            .cycle_duration
            .observe(started.elapsed().as_secs_f64());
        // Only a cycle in which everything refreshed is a success: the staleness alert on this
        // timestamp must fire while any source is stuck.
        if result == CycleResult::Success {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default();
            metrics.last_success.set(now);
        }
        if let Some((targets, skipped)) = self.combined.as_ref().filter(|_| changed) {
            let mut by_cluster: BTreeMap<&str, i64> = BTreeMap::new();
            for target in targets.iter() {
                let cluster = target.labels.get("ecs_cluster").unwrap_or_default();
                *by_cluster.entry(cluster).or_default() += 1;
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
            let mut by_reason: BTreeMap<(&str, &str), i64> = BTreeMap::new();
            for skip in skipped.iter() {
                *by_reason
                    .entry((skip.reason.code(), skip.convention.as_str()))
                    .or_default() += 1;
            }
            metrics.skipped.clear();
            for ((reason, convention), count) in by_reason {
                metrics
                    .skipped
                    .get_or_create(&SkipLabels {
                        reason: reason.to_string(),
                        convention: convention.to_string(),
                    })
                    .set(count);
            }
            metrics
                .cloudmap_targets
                .set(self.cloudmap_last_good.len() as i64);
        }
        let (targets, skipped) = self
            .combined
            .as_ref()
            .map_or((0, 0), |(t, s)| (t.len(), s.len()));
        tracing::info!(
            result = result.as_str(),
            targets,
            skipped,
            changed,
            duration_ms = started.elapsed().as_millis() as u64,
            "discovery cycle"
        );
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
    pub async fn run(mut self, interval: std::time::Duration, shutdown: Shutdown) {
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
