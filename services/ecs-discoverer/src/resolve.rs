//! Resolution: a pure function from a cluster snapshot to target groups.
//!
//! All convention, port and label logic lives here, and nothing here does I/O. A marked container
//! that can't become a target is returned as a [`Skip`] with its reason, never silently dropped.
//!
//! This file holds the types and the per-task walk (which containers are marked, the filter
//! and selector gates). Each convention has its own module (`environment`, `docker_label`,
//! `tag`); the checks they share are in `endpoint`, the task's address in `address`, the
//! label set in `labels` and the skip reasons in `skip`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::label_set::{Interner, LabelSet, Text};
use crate::model::{ClusterSnapshot, Instance, NetworkBinding, Task, TaskDefinition, TaskStatus};

mod address;
mod docker_label;
mod endpoint;
mod environment;
mod labels;
mod skip;
mod tag;

pub use endpoint::{Interval, MAX_ENDPOINTS_PER_CONTAINER};
pub use skip::{Convention, Skip, SkipReason};

use endpoint::Endpoint;

/// What resolution needs from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub fallback_metrics_path: String,
    pub filter_label: Option<LabelFilter>,
    pub service_selector: BTreeMap<String, String>,
    pub extra_labels: BTreeMap<String, String>,
}

/// Keep only containers whose docker labels carry `name` (and `value`, when given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    pub name: String,
    pub value: Option<String>,
}

/// Where a target was found. ECS targets sort first and alone go into the per-interval files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    Ecs,
    CloudMap,
}

/// One target: its address, its labels (without `__scrape_interval__`) and its declared
/// interval.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub origin: Origin,
    pub interval: Option<Interval>,
    /// `host:port`.
    pub address: Text,
    pub labels: LabelSet,
}

/// The outcome of resolving one cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Shared, so the combined list and the last good results hold one copy of each target.
    pub targets: Vec<Arc<Target>>,
    /// Endpoints that are not targets, and markers that cost a target nothing but are wrong
    /// (an unknown interval, an invalid label name): each with its reason, for explain.
    pub skipped: Vec<Skip>,
    /// The RUNNING tasks resolved, by ARN, with ECS's version of each when it was given:
    /// events older than what a cycle saw are not applied, and drift is counted by task. The
    /// ARN is the one its targets' `__meta_ecs_task_arn` share: no copy per task.
    pub running_tasks: BTreeMap<Text, Option<i64>>,
}

struct Resolver<'a> {
    cluster: &'a ClusterSnapshot,
    options: &'a Options,
    out: Resolution,
    interner: Interner,
}

/// The per-task facts every endpoint of the task shares.
struct TaskContext<'a> {
    task: &'a Task,
    definition: &'a TaskDefinition,
    bridge: bool,
    bindings: BTreeMap<&'a str, &'a [NetworkBinding]>,
    address: Result<(String, Option<&'a Instance>), SkipReason>,
    service_tags: Option<&'a BTreeMap<String, String>>,
}

impl TaskContext<'_> {
    fn bindings_of(&self, container: &str) -> &[NetworkBinding] {
        self.bindings.get(container).copied().unwrap_or_default()
    }
}

impl<'a> Resolver<'a> {
    fn skip(
        &mut self,
        ctx: &TaskContext<'_>,
        container: &str,
        convention: Convention,
        reason: SkipReason,
    ) {
        self.out.skipped.push(Skip {
            cluster: self.cluster.name.clone(),
            service: ctx.task.service_name().map(str::to_string),
            task_arn: ctx.task.arn.clone(),
            container: container.to_string(),
            convention,
            reason,
        });
    }

    fn task(&mut self, task: &'a Task) {
        if task.last_status != TaskStatus::Running {
            return;
        }
        let Some(definition) = self.cluster.task_definitions.get(&task.task_definition_arn) else {
            // Without the definition we can't even tell whether a container is marked.
            self.out.skipped.push(Skip {
                cluster: self.cluster.name.clone(),
                service: task.service_name().map(str::to_string),
                task_arn: task.arn.clone(),
                container: "*".to_string(),
                convention: Convention::Environment,
                reason: SkipReason::TaskDefinitionUnavailable,
            });
            return;
        };
        let service_tags = task
            .service_name()
            .and_then(|s| self.cluster.service_tags.get(s))
            .map(|t| t.as_ref());
        let ctx = TaskContext {
            task,
            definition,
            bridge: definition.network_mode.maps_host_ports(),
            bindings: task
                .containers
                .iter()
                .map(|c| (c.name.as_str(), c.network_bindings.as_slice()))
                .collect(),
            address: self.address(task, definition),
            service_tags,
        };
        let selected = self.options.service_selector.is_empty()
            || service_tags.is_some_and(|tags| {
                self.options
                    .service_selector
                    .iter()
                    .all(|(k, v)| tags.get(k) == Some(v))
            });

        let mut endpoints: Vec<(String, Convention, Result<Endpoint<'a>, SkipReason>)> = Vec::new();
        for def in &definition.containers {
            let env_marked =
                def.key("PROMETHEUS").is_some() || def.key("PROMETHEUS_TARGET") == Some("true");
            let docker_port = def.key("PROMETHEUS_EXPORTER_PORT");
            if !env_marked && docker_port.is_none() {
                continue;
            }
            let filtered = self.options.filter_label.as_ref().is_some_and(|filter| {
                match def.docker_labels.get(&filter.name) {
                    Some(value) => filter.value.as_ref().is_some_and(|wanted| wanted != value),
                    None => true,
                }
            });
            let gate = if filtered {
                Some(SkipReason::FilteredByLabel)
            } else if !selected {
                Some(SkipReason::ServiceSelector)
            } else {
                None
            };
            if env_marked {
                match &gate {
                    Some(reason) => endpoints.push((
                        def.name.clone(),
                        Convention::Environment,
                        Err(reason.clone()),
                    )),
                    None => {
                        for endpoint in self.environment_endpoints(&ctx, def) {
                            endpoints.push((def.name.clone(), Convention::Environment, endpoint));
                        }
                    }
                }
            }
            if let Some(raw) = docker_port {
                let endpoint = match &gate {
                    Some(reason) => Err(reason.clone()),
                    None => self.docker_label_endpoint(&ctx, def, raw),
                };
                endpoints.push((def.name.clone(), Convention::DockerLabel, endpoint));
            }
        }
        for (container, endpoint) in self.tag_endpoints(&ctx) {
            let endpoint = if selected {
                endpoint
            } else {
                Err(SkipReason::ServiceSelector)
            };
            endpoints.push((container, Convention::Tag, endpoint));
        }

        for (container, convention, endpoint) in endpoints {
            let endpoint = endpoint.and_then(|e| ctx.address.clone().map(|address| (e, address)));
            match endpoint {
                Ok((endpoint, (ip, instance))) => {
                    let target = self.target(&ctx, endpoint, &ip, instance);
                    self.out.targets.push(Arc::new(target));
                }
                Err(reason) => self.skip(&ctx, &container, convention, reason),
            }
        }
    }
}

/// Resolves one cluster snapshot into targets and skips.
pub fn resolve_cluster(cluster: &ClusterSnapshot, options: &Options) -> Resolution {
    let mut resolver = Resolver {
        cluster,
        options,
        out: Resolution::default(),
        interner: Interner::default(),
    };
    for task in &cluster.tasks {
        if task.last_status == TaskStatus::Running {
            let arn = resolver.interner.intern(&task.arn);
            resolver.out.running_tasks.insert(arn, task.version);
        }
        resolver.task(task);
    }
    resolver.out
}

/// Merges targets into one sorted list, ECS's first. Two ECS endpoints with the same address
/// and path (one container marked by two conventions) are emitted once, the first by sort order;
/// Cloud Map's targets are all kept, as the registry lists them (an instance registered in two
/// services is two targets with their own labels).
pub fn combine(targets: impl IntoIterator<Item = Arc<Target>>) -> Vec<Arc<Target>> {
    let mut all: Vec<Arc<Target>> = targets.into_iter().collect();
    all.sort();
    let first: Vec<bool> = {
        let mut seen = BTreeSet::new();
        all.iter()
            .map(|t| {
                t.origin != Origin::Ecs
                    || seen.insert((
                        &*t.address,
                        t.labels.get("__metrics_path__").unwrap_or_default(),
                    ))
            })
            .collect()
    };
    let mut first = first.into_iter();
    all.retain(|_| first.next().unwrap_or(false));
    all
}

#[cfg(test)]
mod tests;
