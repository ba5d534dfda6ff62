//! The edge's caches and their policy, pure: what is fresh, what a cycle may skip describing,
//! what a successful draft commits, and what is evicted. Tested without any AWS mock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use lru::LruCache;
use tokio::time::Instant;

use crate::model::{Instance, Task, TaskDefinition, TaskStatus, cluster_name};

use super::convert::tags_of;

/// Task definitions kept: those in use always, and the most recently used others up to this
/// many in all, so a rollback or a canary revision isn't described again, without letting the
/// cache grow forever.
pub(super) const TASK_DEFINITION_CACHE_LIMIT: usize = 2048;

/// Tags of a resource, shared between the cache and the snapshots.
pub(super) type Tags = Arc<BTreeMap<String, String>>;

/// A task seen RUNNING, and when it was described: past the TTL it is described again, so a
/// tag added to a running task reaches its labels.
#[derive(Debug, Clone)]
pub(super) struct KnownTask {
    pub task: Arc<Task>,
    pub described_at: Instant,
}

impl KnownTask {
    fn fresh(&self, ttl: Duration) -> bool {
        self.described_at.elapsed() < ttl
    }
}

#[derive(Debug, Clone)]
pub(super) struct ClusterInfo {
    pub arn: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub fetched: Instant,
}

impl ClusterInfo {
    pub fn of(found: &aws_sdk_ecs::types::Cluster, asked: &str, fetched: Instant) -> Self {
        Self {
            arn: found.cluster_arn().unwrap_or(asked).to_string(),
            name: found
                .cluster_name()
                .unwrap_or(cluster_name(asked))
                .to_string(),
            tags: tags_of(found.tags().iter().map(|t| (t.key(), t.value()))),
            fetched,
        }
    }
}

/// What a successful draft of one cluster commits.
#[derive(Debug)]
pub(super) struct Commit<'a> {
    pub cluster: &'a str,
    pub tasks: &'a [Arc<Task>],
    /// Container instances described this cycle, with their address when it was found.
    pub new_instances: Vec<Instance>,
    /// Every container instance a task of the snapshot runs on.
    pub needed: &'a HashSet<String>,
    pub service_names: Vec<String>,
    /// The tasks described this cycle (the others came from the cache), and when.
    pub described: &'a HashSet<String>,
    pub described_at: Instant,
}

#[derive(Debug)]
pub(super) struct Caches {
    ttl: Duration,
    clusters: HashMap<String, ClusterInfo>,
    /// Tasks seen RUNNING, per cluster (as the caller names it), by task ARN.
    running: HashMap<String, HashMap<String, KnownTask>>,
    /// Least recently used first; see [`TASK_DEFINITION_CACHE_LIMIT`].
    pub task_definitions: LruCache<String, Arc<TaskDefinition>>,
    /// Per cluster, by container instance ARN.
    instances: HashMap<String, HashMap<String, Arc<Instance>>>,
    /// By (cluster ARN, service name).
    services: HashMap<(String, String), (Instant, Tags)>,
    /// The services of each cluster's RUNNING tasks at its last full snapshot.
    cluster_services: HashMap<String, Vec<String>>,
}

impl Caches {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            clusters: HashMap::new(),
            running: HashMap::new(),
            task_definitions: LruCache::unbounded(),
            instances: HashMap::new(),
            services: HashMap::new(),
            cluster_services: HashMap::new(),
        }
    }

    /// Drops the caches of clusters no longer scanned.
    pub fn retain_clusters(&mut self, keep: &HashSet<String>) {
        self.clusters.retain(|k, _| keep.contains(k));
        self.running.retain(|k, _| keep.contains(k));
        self.cluster_services.retain(|k, _| keep.contains(k));
        self.instances.retain(|k, _| keep.contains(k));
    }

    /// The cached description of `cluster`, while younger than the TTL.
    pub fn fresh_cluster(&self, cluster: &str) -> Option<&ClusterInfo> {
        self.clusters
            .get(cluster)
            .filter(|i| i.fetched.elapsed() < self.ttl)
    }

    pub fn put_cluster(&mut self, key: String, info: ClusterInfo) {
        self.clusters.insert(key, info);
    }

    /// True while the cached tags of `service` (in `cluster_arn`) are younger than the TTL.
    pub fn service_fresh(&self, cluster_arn: &str, service: &str) -> bool {
        self.services
            .get(&(cluster_arn.to_string(), service.to_string()))
            .is_some_and(|(at, _)| at.elapsed() < self.ttl)
    }

    pub fn put_service(&mut self, cluster_arn: &str, service: &str, at: Instant, tags: Tags) {
        self.services
            .insert((cluster_arn.to_string(), service.to_string()), (at, tags));
    }

    /// The cached tags of each of `names` that has an entry.
    pub fn service_tags(&self, cluster_arn: &str, names: &[String]) -> HashMap<String, Tags> {
        names
            .iter()
            .filter_map(|n| {
                self.services
                    .get(&(cluster_arn.to_string(), n.clone()))
                    .map(|(_, tags)| (n.clone(), tags.clone()))
            })
            .collect()
    }

    /// Nothing of `cluster` needs describing: the services of its last snapshot are fresh, and
    /// `listed` is exactly the RUNNING tasks it knows, each described within the TTL.
    pub fn nothing_to_describe(&self, cluster: &str, cluster_arn: &str, listed: &[String]) -> bool {
        let services_fresh = self
            .cluster_services
            .get(cluster)
            .is_some_and(|names| names.iter().all(|n| self.service_fresh(cluster_arn, n)));
        services_fresh
            && self.running.get(cluster).is_some_and(|known| {
                known.len() == listed.len()
                    && listed
                        .iter()
                        .all(|arn| known.get(arn).is_some_and(|k| k.fresh(self.ttl)))
            })
    }

    /// The task's description, while it was seen RUNNING within the TTL.
    pub fn fresh_task(&self, cluster: &str, arn: &str) -> Option<Arc<Task>> {
        self.running
            .get(cluster)
            .and_then(|known| known.get(arn))
            .filter(|k| k.fresh(self.ttl))
            .map(|k| k.task.clone())
    }

    /// The last description of a task seen RUNNING in `cluster`, however old.
    pub fn known_task(&self, cluster: &str, arn: &str) -> Option<Arc<Task>> {
        self.running
            .get(cluster)
            .and_then(|known| known.get(arn))
            .map(|k| k.task.clone())
    }

    /// The cached container instance `arn` of `cluster`.
    pub fn instance(&self, cluster: &str, arn: &str) -> Option<Arc<Instance>> {
        self.instances.get(cluster)?.get(arn).cloned()
    }

    /// Caches a container instance described outside a cycle (for an event). The next commit
    /// of its cluster keeps it while a task of the snapshot runs on it.
    pub fn put_instance(&mut self, cluster: &str, instance: Instance) -> Arc<Instance> {
        let instance = Arc::new(instance);
        self.instances
            .entry(cluster.to_string())
            .or_default()
            .insert(instance.container_instance_arn.clone(), instance.clone());
        instance
    }

    /// Which of `needed` container instances of `cluster` are not cached.
    pub fn missing_instances(&self, cluster: &str, needed: &HashSet<String>) -> Vec<String> {
        let cached = self.instances.get(cluster);
        needed
            .iter()
            .filter(|arn| cached.is_none_or(|c| !c.contains_key(*arn)))
            .cloned()
            .collect()
    }

    /// Every call of a cluster's draft succeeded: commits its instances (only those still
    /// needed), its RUNNING tasks and its services, then evicts what expired. Returns the
    /// cluster's container instances.
    pub fn commit(&mut self, commit: Commit<'_>) -> HashMap<String, Arc<Instance>> {
        let Commit {
            cluster,
            tasks,
            new_instances,
            needed,
            service_names,
            described,
            described_at,
        } = commit;
        let mut instances = self.instances.remove(cluster).unwrap_or_default();
        instances.extend(
            new_instances
                .into_iter()
                .map(|instance| (instance.container_instance_arn.clone(), Arc::new(instance))),
        );
        instances.retain(|arn, _| needed.contains(arn));
        self.instances
            .insert(cluster.to_string(), instances.clone());

        let previously = self.running.remove(cluster).unwrap_or_default();
        let running: HashMap<String, KnownTask> = tasks
            .iter()
            .filter(|t| t.last_status == TaskStatus::Running)
            .map(|t| {
                let described_at = match previously.get(&t.arn) {
                    Some(known) if !described.contains(&t.arn) => known.described_at,
                    _ => described_at,
                };
                let known = KnownTask {
                    task: t.clone(),
                    described_at,
                };
                (t.arn.clone(), known)
            })
            .collect();
        self.running.insert(cluster.to_string(), running);
        self.cluster_services
            .insert(cluster.to_string(), service_names);
        self.evict_expired_services();
        self.evict_least_recently_used_task_definitions();
        instances
    }

    /// Drops service descriptions past their TTL: a live service is described again when next
    /// needed anyway, and a deleted one would otherwise stay in memory for good.
    fn evict_expired_services(&mut self) {
        let ttl = self.ttl;
        self.services
            .retain(|_, (fetched, _)| fetched.elapsed() < ttl);
    }

    /// Brings the task-definition cache back to its limit, least recently used first, never
    /// dropping one a RUNNING task uses.
    fn evict_least_recently_used_task_definitions(&mut self) {
        if self.task_definitions.len() <= TASK_DEFINITION_CACHE_LIMIT {
            return;
        }
        let in_use: HashSet<&String> = self
            .running
            .values()
            .flat_map(|m| m.values())
            .map(|k| &k.task.task_definition_arn)
            .collect();
        let mut kept_in_use = Vec::new();
        while self.task_definitions.len() + kept_in_use.len() > TASK_DEFINITION_CACHE_LIMIT {
            let Some((arn, definition)) = self.task_definitions.pop_lru() else {
                break;
            };
            if in_use.contains(&arn) {
                kept_in_use.push((arn, definition));
            }
        }
        // Back at the least recently used end, in their order.
        for (arn, definition) in kept_in_use.into_iter().rev() {
            self.task_definitions.push(arn.clone(), definition);
            self.task_definitions.demote(&arn);
        }
    }
}

#[cfg(test)]
mod tests;
