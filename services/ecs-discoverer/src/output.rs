//! The sinks: file_sd files and the state behind the HTTP endpoints.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use stack_common::atomic_file::{self, WriteError, WriteOutcome};
use stack_common::target_group::{OutputFormat, TargetGroup, render};

use crate::resolve::{Interval, Skip, Target};

/// The combined list: every ECS target, with `__scrape_interval__` on those that declared one,
/// then the Cloud Map groups (which are in no per-interval file).
pub fn combined_groups(targets: &[Target], cloudmap: &[TargetGroup]) -> Vec<TargetGroup> {
    targets
        .iter()
        .map(|t| {
            let mut group = t.group.clone();
            if let Some(interval) = t.interval {
                group.labels.insert(
                    "__scrape_interval__".to_string(),
                    interval.as_str().to_string(),
                );
            }
            group
        })
        .chain(cloudmap.iter().cloned())
        .collect()
}

/// The per-interval file names (prometheus-ecs-discoverer's), `None` for "no interval".
pub fn interval_file_name(interval: Option<Interval>) -> String {
    match interval {
        Some(interval) => format!("{}-tasks.json", interval.as_str()),
        None => "tasks.json".to_string(),
    }
}

/// Writes the file_sd files atomically, and only those whose content changed.
#[derive(Debug, Clone)]
pub struct FileSdWriter {
    pub dir: PathBuf,
    pub format: OutputFormat,
}

impl FileSdWriter {
    pub fn combined_path(&self) -> PathBuf {
        self.dir
            .join(format!("ecs_file_sd.{}", self.format.extension()))
    }

    fn interval_paths(&self) -> Vec<(Option<Interval>, PathBuf)> {
        std::iter::once(None)
            .chain(Interval::ALL.into_iter().map(Some))
            .map(|i| (i, self.dir.join(interval_file_name(i))))
            .collect()
    }

    /// Creates every file that doesn't exist yet as an empty list, so Prometheus finds them.
    pub fn create_missing(&self) -> Result<(), WriteError> {
        atomic_file::create_if_missing(
            &self.combined_path(),
            &render(&[], self.format).unwrap_or_default(),
        )?;
        for (_, path) in self.interval_paths() {
            atomic_file::create_if_missing(&path, b"[]\n")?;
        }
        Ok(())
    }

    /// Writes every file; returns each file's outcome.
    pub fn write(
        &self,
        targets: &[Target],
        cloudmap: &[TargetGroup],
    ) -> Vec<(PathBuf, Result<WriteOutcome, WriteError>)> {
        let mut by_interval: BTreeMap<Option<Interval>, Vec<TargetGroup>> = BTreeMap::new();
        for target in targets {
            by_interval
                .entry(target.interval)
                .or_default()
                .push(target.group.clone());
        }
        let mut files = vec![(
            self.combined_path(),
            combined_groups(targets, cloudmap),
            self.format,
        )];
        for (interval, path) in self.interval_paths() {
            files.push((
                path,
                by_interval.remove(&interval).unwrap_or_default(),
                OutputFormat::Json,
            ));
        }
        files
            .into_iter()
            .map(|(path, groups, format)| {
                let outcome = render(&groups, format)
                    .map_err(|e| WriteError {
                        path: path.clone(),
                        source: std::io::Error::other(e),
                    })
                    .and_then(|bytes| atomic_file::write_if_changed(&path, &bytes));
                (path, outcome)
            })
            .collect()
    }
}

/// What the HTTP endpoints serve: the last good groups (pre-rendered) and the skip list.
#[derive(Debug, Default)]
pub struct Published {
    /// The http_sd body; `None` until the first successful cycle.
    pub http_sd: Option<Arc<Vec<u8>>>,
    pub skipped: Arc<Vec<Skip>>,
    pub targets: usize,
}

/// Shared between the refresher (writer) and the HTTP handlers (readers).
#[derive(Debug, Default)]
pub struct SharedState {
    inner: RwLock<Published>,
}

impl SharedState {
    pub fn publish(&self, targets: &[Target], cloudmap: &[TargetGroup], skipped: Vec<Skip>) {
        let body = serde_json::to_vec(&combined_groups(targets, cloudmap))
            .unwrap_or_else(|_| b"[]".to_vec());
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.http_sd = Some(Arc::new(body));
        inner.skipped = Arc::new(skipped);
        inner.targets = targets.len() + cloudmap.len();
    }

    pub fn http_sd(&self) -> Option<Arc<Vec<u8>>> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .http_sd
            .clone()
    }

    pub fn skipped(&self) -> Arc<Vec<Skip>> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .skipped
            .clone()
    }

    pub fn is_ready(&self) -> bool {
        self.http_sd().is_some()
    }
}
