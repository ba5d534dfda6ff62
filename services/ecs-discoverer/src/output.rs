//! The sinks: file_sd files and the state behind the HTTP endpoints.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use stack_common::atomic_file::{self, WriteError, WriteOutcome};
use stack_common::target_group::{OutputFormat, TargetGroup, render};

use crate::resolve::{Interval, Skip, Target};

/// A target group as served, borrowed from the target it comes from: the combined file and
/// http_sd add `__scrape_interval__`, in label order, without copying any label.
#[derive(Debug, Clone, Copy)]
pub struct GroupView<'a> {
    group: &'a TargetGroup,
    interval: Option<&'static str>,
}

const SCRAPE_INTERVAL: &str = "__scrape_interval__";

impl Serialize for GroupView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Labels<'a>(&'a BTreeMap<String, String>, Option<&'static str>);
        impl Serialize for Labels<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let extra = self.1.filter(|_| !self.0.contains_key(SCRAPE_INTERVAL));
                let mut map =
                    serializer.serialize_map(Some(self.0.len() + extra.map_or(0, |_| 1)))?;
                let mut pending = extra;
                for (name, value) in self.0 {
                    if let Some(interval) = pending.filter(|_| name.as_str() > SCRAPE_INTERVAL) {
                        map.serialize_entry(SCRAPE_INTERVAL, interval)?;
                        pending = None;
                    }
                    map.serialize_entry(name, value)?;
                }
                if let Some(interval) = pending {
                    map.serialize_entry(SCRAPE_INTERVAL, interval)?;
                }
                map.end()
            }
        }
        let mut group = serializer.serialize_struct("TargetGroup", 2)?;
        group.serialize_field("targets", &self.group.targets)?;
        group.serialize_field("labels", &Labels(&self.group.labels, self.interval))?;
        group.end()
    }
}

/// The combined list: every ECS target, with `__scrape_interval__` on those that declared one,
/// then the Cloud Map groups (which are in no per-interval file).
pub fn combined_groups<'a>(
    targets: &'a [Arc<Target>],
    cloudmap: &'a [TargetGroup],
) -> Vec<GroupView<'a>> {
    targets
        .iter()
        .map(|t| GroupView {
            group: &t.group,
            interval: t.interval.map(Interval::as_str),
        })
        .chain(cloudmap.iter().map(|group| GroupView {
            group,
            interval: None,
        }))
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
            &render::<TargetGroup>(&[], self.format).unwrap_or_default(),
        )?;
        for (_, path) in self.interval_paths() {
            atomic_file::create_if_missing(&path, b"[]\n")?;
        }
        Ok(())
    }

    /// Writes every file; returns each file's outcome.
    pub fn write(
        &self,
        targets: &[Arc<Target>],
        cloudmap: &[TargetGroup],
    ) -> Vec<(PathBuf, Result<WriteOutcome, WriteError>)> {
        let mut by_interval: BTreeMap<Option<Interval>, Vec<&TargetGroup>> = BTreeMap::new();
        for target in targets {
            by_interval
                .entry(target.interval)
                .or_default()
                .push(&target.group);
        }
        let mut files = vec![(
            self.combined_path(),
            render(&combined_groups(targets, cloudmap), self.format),
        )];
        for (interval, path) in self.interval_paths() {
            let groups = by_interval.remove(&interval).unwrap_or_default();
            files.push((path, render(&groups, OutputFormat::Json)));
        }
        files
            .into_iter()
            .map(|(path, rendered)| {
                let outcome = rendered
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
    pub fn publish(
        &self,
        targets: &[Arc<Target>],
        cloudmap: &[TargetGroup],
        skipped: Arc<Vec<Skip>>,
    ) {
        let body = serde_json::to_vec(&combined_groups(targets, cloudmap))
            .unwrap_or_else(|_| b"[]".to_vec());
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.http_sd = Some(Arc::new(body));
        inner.skipped = skipped;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn target(interval: Option<Interval>, names: &[&str]) -> Target {
        Target {
            interval,
            group: TargetGroup::new(
                "10.0.0.1:8080",
                names
                    .iter()
                    .map(|n| (n.to_string(), format!("{n}-value")))
                    .collect(),
            ),
        }
    }

    /// The view renders exactly what a copy with the label inserted would.
    #[test]
    fn the_scrape_interval_is_rendered_in_label_order_without_a_copy() {
        for names in [
            &["__meta_a", "__metrics_path__", "__scheme__", "job"][..],
            &["job", "zz"][..],
            &["__a"][..],
            &[][..],
        ] {
            for interval in [None, Some(Interval::S30)] {
                let t = target(interval, names);
                let mut copy = t.group.clone();
                if let Some(interval) = interval {
                    copy.labels
                        .insert(SCRAPE_INTERVAL.to_string(), interval.as_str().to_string());
                }
                let shared = [Arc::new(t.clone())];
                let view = combined_groups(&shared, &[]);
                assert_eq!(
                    serde_json::to_string(&view).expect("json"),
                    serde_json::to_string(&[copy]).expect("json"),
                    "{names:?} {interval:?}"
                );
            }
        }
    }
}
