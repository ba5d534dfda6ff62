//! The sinks: file_sd files and the state behind the HTTP endpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use stack_common::atomic_file::{self, WriteError, WriteOutcome};
use stack_common::target_group::{OutputFormat, TargetGroup, render, render_to};

use crate::resolve::{Interval, Skip, Target};

/// A target group as served, borrowed from the target (or Cloud Map group) it comes from: the
/// combined file and http_sd add `__scrape_interval__`, in label order, without copying any
/// label.
#[derive(Debug, Clone, Copy)]
pub struct GroupView<'a> {
    source: Source<'a>,
    interval: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    Ecs(&'a Target),
    CloudMap(&'a TargetGroup),
}

const SCRAPE_INTERVAL: &str = "__scrape_interval__";

impl<'a> GroupView<'a> {
    /// The ECS target, with its interval as a label when `with_interval`.
    fn ecs(target: &'a Target, with_interval: bool) -> Self {
        Self {
            source: Source::Ecs(target),
            interval: target
                .interval
                .filter(|_| with_interval)
                .map(Interval::as_str),
        }
    }

    fn label_count(&self) -> usize {
        match self.source {
            Source::Ecs(target) => target.labels.len(),
            Source::CloudMap(group) => group.labels.len(),
        }
    }

    fn has_label(&self, name: &str) -> bool {
        match self.source {
            Source::Ecs(target) => target.labels.contains_key(name),
            Source::CloudMap(group) => group.labels.contains_key(name),
        }
    }

    fn labels(&self) -> Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a> {
        match self.source {
            Source::Ecs(target) => Box::new(target.labels.iter()),
            Source::CloudMap(group) => {
                Box::new(group.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            }
        }
    }
}

impl Serialize for GroupView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Labels<'v>(&'v GroupView<'v>);
        impl Serialize for Labels<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut pending = self
                    .0
                    .interval
                    .filter(|_| !self.0.has_label(SCRAPE_INTERVAL));
                let mut map = serializer
                    .serialize_map(Some(self.0.label_count() + usize::from(pending.is_some())))?;
                for (name, value) in self.0.labels() {
                    if let Some(interval) = pending.filter(|_| name > SCRAPE_INTERVAL) {
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
        match self.source {
            Source::Ecs(target) => group.serialize_field("targets", &[&*target.address])?,
            Source::CloudMap(cloudmap) => group.serialize_field("targets", &cloudmap.targets)?,
        }
        group.serialize_field("labels", &Labels(self))?;
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
        .map(|t| GroupView::ecs(t, true))
        .chain(cloudmap.iter().map(|group| GroupView {
            source: Source::CloudMap(group),
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

    /// Whether any of the files is gone (one stat each).
    pub fn any_missing(&self) -> bool {
        std::iter::once(self.combined_path())
            .chain(self.interval_paths().into_iter().map(|(_, path)| path))
            .any(|path| !path.exists())
    }

    /// Writes every file, each streamed straight into its temp file; returns each file's
    /// outcome.
    pub fn write(
        &self,
        targets: &[Arc<Target>],
        cloudmap: &[TargetGroup],
    ) -> Vec<(PathBuf, Result<WriteOutcome, WriteError>)> {
        let mut by_interval: BTreeMap<Option<Interval>, Vec<GroupView>> = BTreeMap::new();
        for target in targets {
            by_interval
                .entry(target.interval)
                .or_default()
                .push(GroupView::ecs(target, false));
        }
        let combined = self.combined_path();
        let mut outcomes = vec![(
            combined.clone(),
            write_groups(&combined, &combined_groups(targets, cloudmap), self.format),
        )];
        for (interval, path) in self.interval_paths() {
            let groups = by_interval.remove(&interval).unwrap_or_default();
            let outcome = write_groups(&path, &groups, OutputFormat::Json);
            outcomes.push((path, outcome));
        }
        outcomes
    }
}

fn write_groups<G: Serialize>(
    path: &Path,
    groups: &[G],
    format: OutputFormat,
) -> Result<WriteOutcome, WriteError> {
    atomic_file::write_with_if_changed(path, |out| {
        render_to(groups, format, out).map_err(std::io::Error::other)
    })
}

/// One publication: the groups as of a change, and their http_sd body, rendered on the first
/// request that needs it (a set-up that reads only the files never pays for it).
#[derive(Debug)]
struct Publication {
    targets: Arc<Vec<Arc<Target>>>,
    cloudmap: Arc<Vec<TargetGroup>>,
    skipped: Arc<Vec<Skip>>,
    /// The rendered body, or why it could not be rendered. Never `[]` in place of targets: an
    /// empty list would tell every Prometheus to drop them all.
    http_sd: OnceLock<Result<Bytes, String>>,
}

impl Publication {
    fn http_sd(&self) -> Result<Bytes, String> {
        self.http_sd
            .get_or_init(|| {
                serde_json::to_vec(&combined_groups(&self.targets, &self.cloudmap))
                    .map(Bytes::from)
                    .map_err(|error| error.to_string())
            })
            .clone()
    }
}

/// What the HTTP endpoints serve: the last good groups and the skip list. Shared between the
/// refresher (writer) and the HTTP handlers (readers).
#[derive(Debug, Default)]
pub struct SharedState {
    /// `None` until the first successful cycle.
    inner: RwLock<Option<Arc<Publication>>>,
}

impl SharedState {
    pub fn publish(
        &self,
        targets: Arc<Vec<Arc<Target>>>,
        cloudmap: Arc<Vec<TargetGroup>>,
        skipped: Arc<Vec<Skip>>,
    ) {
        let publication = Arc::new(Publication {
            targets,
            cloudmap,
            skipped,
            http_sd: OnceLock::new(),
        });
        *self
            .inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(publication);
    }

    fn current(&self) -> Option<Arc<Publication>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The http_sd body; `None` until the first successful cycle, `Some(Err)` when it can't
    /// be rendered.
    pub fn http_sd(&self) -> Option<Result<Bytes, String>> {
        self.current().map(|p| p.http_sd())
    }

    /// A publication whose http_sd body failed to render with `error` (serde_json fails only
    /// on shapes these groups never have, so the handler's answer is tested through this).
    #[cfg(test)]
    pub fn publish_unrenderable(&self, error: &str) {
        let publication = Publication {
            targets: Arc::default(),
            cloudmap: Arc::default(),
            skipped: Arc::default(),
            http_sd: OnceLock::from(Err(error.to_string())),
        };
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(publication));
    }

    pub fn skipped(&self) -> Arc<Vec<Skip>> {
        self.current()
            .map(|p| p.skipped.clone())
            .unwrap_or_default()
    }

    pub fn is_ready(&self) -> bool {
        self.current().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label_set::LabelSet;

    fn labels(names: &[&str]) -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| (n.to_string(), format!("{n}-value")))
            .collect()
    }

    fn target(interval: Option<Interval>, names: &[&str]) -> Target {
        let mut interner = crate::label_set::Interner::default();
        Target {
            interval,
            address: "10.0.0.1:8080".into(),
            labels: LabelSet::from_pairs(
                labels(names)
                    .iter()
                    .map(|(n, v)| (interner.intern(n), interner.intern(v)))
                    .collect(),
            ),
        }
    }

    /// The view renders exactly what a copied target group with the label inserted would.
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
                let mut copy = TargetGroup::new("10.0.0.1:8080", labels(names));
                let per_interval_file = render(&[copy.clone()], OutputFormat::Json).expect("json");
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
                assert_eq!(
                    render(&[GroupView::ecs(&t, false)], OutputFormat::Json).expect("json"),
                    per_interval_file
                );
            }
        }
    }

    #[test]
    fn cloud_map_groups_are_rendered_as_they_are() {
        let group = TargetGroup {
            targets: vec!["10.0.0.2:9100".into(), "10.0.0.3:9100".into()],
            labels: labels(&["__meta_cloudmap_service", "job"]),
        };
        let view = combined_groups(&[], std::slice::from_ref(&group));
        for format in [OutputFormat::Json, OutputFormat::Yaml] {
            assert_eq!(
                render(&view, format).expect("render"),
                render(std::slice::from_ref(&group), format).expect("render")
            );
        }
    }
}
