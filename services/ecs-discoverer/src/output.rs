//! The sinks: file_sd files and the state behind the HTTP endpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use stack_common::atomic_file::{self, WriteError, WriteOutcome};
use stack_common::target_group::{OutputFormat, TargetGroup, render, render_to};

use crate::resolve::{Interval, Origin, Skip, Target};

/// A target as served, borrowed: the combined file and http_sd add `__scrape_interval__`, in
/// label order, without copying any label.
#[derive(Debug, Clone, Copy)]
pub struct GroupView<'a> {
    target: &'a Target,
    interval: Option<&'static str>,
}

const SCRAPE_INTERVAL: &str = "__scrape_interval__";

impl<'a> GroupView<'a> {
    /// The target, with its interval as a label when `with_interval`.
    fn of(target: &'a Target, with_interval: bool) -> Self {
        Self {
            target,
            interval: target
                .interval
                .filter(|_| with_interval)
                .map(Interval::as_str),
        }
    }
}

impl Serialize for GroupView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Labels<'v>(&'v GroupView<'v>);
        impl Serialize for Labels<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let labels = &self.0.target.labels;
                let mut pending = self
                    .0
                    .interval
                    .filter(|_| !labels.contains_key(SCRAPE_INTERVAL));
                let mut map = serializer
                    .serialize_map(Some(labels.len() + usize::from(pending.is_some())))?;
                for (name, value) in labels.iter() {
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
        group.serialize_field("targets", &[&*self.target.address])?;
        group.serialize_field("labels", &Labels(self))?;
        group.end()
    }
}

/// The combined list: every target (ECS's, then Cloud Map's), with `__scrape_interval__` on
/// those that declared one.
pub fn combined_groups(targets: &[Arc<Target>]) -> Vec<GroupView<'_>> {
    targets.iter().map(|t| GroupView::of(t, true)).collect()
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
    /// Cloud Map's targets are in the combined file only: the per-interval files are
    /// prometheus-ecs-discoverer's, for ECS targets.
    /// When no target declares an interval and all are ECS's, the combined file (as JSON) holds
    /// exactly what `tasks.json` holds; it is then rendered once, into both.
    pub fn write(
        &self,
        targets: &[Arc<Target>],
    ) -> Vec<(PathBuf, Result<WriteOutcome, WriteError>)> {
        let mut by_interval: BTreeMap<Option<Interval>, Vec<GroupView>> = BTreeMap::new();
        for target in targets.iter().filter(|t| t.origin == Origin::Ecs) {
            by_interval
                .entry(target.interval)
                .or_default()
                .push(GroupView::of(target, false));
        }
        let mut combined_copies = vec![self.combined_path()];
        if self.format == OutputFormat::Json
            && targets
                .iter()
                .all(|t| t.origin == Origin::Ecs && t.interval.is_none())
        {
            combined_copies.push(self.dir.join(interval_file_name(None)));
        }
        let mut outcomes = write_groups(combined_copies, &combined_groups(targets), self.format);
        for (interval, path) in self.interval_paths() {
            if outcomes.iter().any(|(written, _)| *written == path) {
                continue;
            }
            let groups = by_interval.remove(&interval).unwrap_or_default();
            outcomes.extend(write_groups(vec![path], &groups, OutputFormat::Json));
        }
        outcomes
    }
}

/// Renders `groups` once into every file of `paths`; each file's outcome.
fn write_groups<G: Serialize>(
    paths: Vec<PathBuf>,
    groups: &[G],
    format: OutputFormat,
) -> Vec<(PathBuf, Result<WriteOutcome, WriteError>)> {
    let borrowed: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let outcomes = atomic_file::write_copies_with_if_changed(&borrowed, |out| {
        render_to(groups, format, out).map_err(std::io::Error::other)
    });
    paths.into_iter().zip(outcomes).collect()
}

/// One publication: the groups as of a change, and their http_sd body, rendered on the first
/// request that needs it (a set-up that reads only the files never pays for it).
#[derive(Debug)]
struct Publication {
    targets: Arc<Vec<Arc<Target>>>,
    skipped: Arc<Vec<Skip>>,
    /// The rendered body, or why it could not be rendered. Never `[]` in place of targets: an
    /// empty list would tell every Prometheus to drop them all.
    http_sd: OnceLock<Result<Bytes, String>>,
}

impl Publication {
    fn http_sd(&self) -> Result<Bytes, String> {
        self.http_sd
            .get_or_init(|| {
                serde_json::to_vec(&combined_groups(&self.targets))
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
    pub fn publish(&self, targets: Arc<Vec<Arc<Target>>>, skipped: Arc<Vec<Skip>>) {
        let publication = Arc::new(Publication {
            targets,
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

    fn target(origin: Origin, interval: Option<Interval>, names: &[&str]) -> Target {
        let mut interner = crate::label_set::Interner::default();
        Target {
            origin,
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
                let t = target(Origin::Ecs, interval, names);
                let mut copy = TargetGroup::new("10.0.0.1:8080", labels(names));
                let per_interval_file = render(&[copy.clone()], OutputFormat::Json).expect("json");
                if let Some(interval) = interval {
                    copy.labels
                        .insert(SCRAPE_INTERVAL.to_string(), interval.as_str().to_string());
                }
                let shared = [Arc::new(t.clone())];
                let view = combined_groups(&shared);
                assert_eq!(
                    serde_json::to_string(&view).expect("json"),
                    serde_json::to_string(&[copy]).expect("json"),
                    "{names:?} {interval:?}"
                );
                assert_eq!(
                    render(&[GroupView::of(&t, false)], OutputFormat::Json).expect("json"),
                    per_interval_file
                );
            }
        }
    }

    /// A Cloud Map target renders as the group the reloader's Cloud Map file has for it, and
    /// only in the combined file.
    #[test]
    fn cloud_map_targets_are_rendered_as_their_groups_in_the_combined_file_only() {
        let names = ["__meta_cloudmap_service", "job"];
        let group = TargetGroup::new("10.0.0.1:8080", labels(&names));
        let shared = [Arc::new(target(Origin::CloudMap, None, &names))];
        for format in [OutputFormat::Json, OutputFormat::Yaml] {
            assert_eq!(
                render(&combined_groups(&shared), format).expect("render"),
                render(std::slice::from_ref(&group), format).expect("render")
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let writer = FileSdWriter {
            dir: dir.path().to_path_buf(),
            format: OutputFormat::Json,
        };
        writer.write(&shared);
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("written");
        assert!(read("ecs_file_sd.json").contains("10.0.0.1:8080"));
        assert_eq!(read("tasks.json"), "[]\n");
    }

    /// Rendered once into two files or apart, every file holds its own targets, and a second
    /// write of the same targets writes nothing.
    #[test]
    fn every_file_holds_its_targets_whether_rendered_once_or_apart() {
        let names = ["__meta_ecs_task_arn", "job"];
        let plain = Arc::new(target(Origin::Ecs, None, &names));
        let every_30s = Arc::new(Target {
            address: "10.0.0.2:8080".into(),
            ..target(Origin::Ecs, Some(Interval::S30), &names)
        });
        let cloud_map = Arc::new(Target {
            address: "10.0.0.3:8080".into(),
            ..target(Origin::CloudMap, None, &names)
        });
        for format in [OutputFormat::Json, OutputFormat::Yaml] {
            for targets in [
                vec![plain.clone()],
                vec![plain.clone(), every_30s.clone()],
                vec![plain.clone(), cloud_map.clone()],
            ] {
                let dir = tempfile::tempdir().expect("temp dir");
                let writer = FileSdWriter {
                    dir: dir.path().to_path_buf(),
                    format,
                };
                let outcomes = writer.write(&targets);
                let expected_paths: Vec<PathBuf> = std::iter::once(writer.combined_path())
                    .chain(writer.interval_paths().into_iter().map(|(_, path)| path))
                    .collect();
                let paths: Vec<PathBuf> = outcomes.iter().map(|(path, _)| path.clone()).collect();
                assert_eq!(paths, expected_paths);
                assert!(
                    outcomes
                        .iter()
                        .all(|(_, o)| matches!(o, Ok(WriteOutcome::Written)))
                );
                let read = |path: &Path| std::fs::read(path).expect("written");
                let in_file = |interval: Option<Interval>| -> Vec<GroupView> {
                    targets
                        .iter()
                        .filter(|t| t.origin == Origin::Ecs && t.interval == interval)
                        .map(|t| GroupView::of(t, false))
                        .collect()
                };
                assert_eq!(
                    read(&writer.combined_path()),
                    render(&combined_groups(&targets), format).expect("render"),
                    "{format:?} {targets:?}"
                );
                for (interval, path) in writer.interval_paths() {
                    assert_eq!(
                        read(&path),
                        render(&in_file(interval), OutputFormat::Json).expect("render"),
                        "{} {format:?} {targets:?}",
                        path.display()
                    );
                }
                assert!(
                    writer
                        .write(&targets)
                        .iter()
                        .all(|(_, o)| matches!(o, Ok(WriteOutcome::Unchanged)))
                );
            }
        }
    }
}
