//! The AWS edge: turns ECS and EC2 API answers into a [`ClusterSnapshot`], making as few calls
//! as the API allows. This file is the orchestration (a cluster's draft, then the cycle's
//! finish); the calls (`calls`), the SDK-to-model conversion (`convert`), the caches and
//! their policy (`cache`) and the clients' telemetry (`telemetry`) each have their own.
//!
//! - Tasks seen RUNNING are cached by ARN and described again after the TTL (for their tags);
//!   a task that is not yet RUNNING (PENDING, ACTIVATING) is described again on the next cycle.
//! - Task definitions are immutable: each ARN is described once (bounded LRU cache).
//! - Container instance → EC2 instance → private IP is cached; an entry is dropped as soon as no
//!   task of its cluster runs on it any more (the instance drained or disappeared).
//! - Cluster and service descriptions (tags, for labels and selectors) are cached with a TTL.
//! - Batches are at the API maxima: DescribeClusters 100 (all clusters of a cycle at once),
//!   DescribeTasks 100, DescribeContainerInstances 100,
//!   DescribeServices 10, DescribeInstances 1000 ids (of every cluster of a cycle together:
//!   [`Edge::finish`]).
//!
//! A warm cycle on an unchanged estate is one ListTasks per 100 tasks of each cluster.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::events::{CacheLookups, InternalEvent};
use crate::metrics::{Cache, Metrics};
use crate::model::{ClusterSnapshot, Instance, Task};
use crate::ratelimit::RateLimiter;

mod cache;
mod calls;
mod convert;
mod telemetry;

use cache::{Caches, ClusterInfo, Commit, Tags};
pub use calls::EdgeError;
use calls::{Api, DESCRIBE_CLUSTERS_BATCH, DESCRIBE_SERVICES_BATCH};
pub use telemetry::{
    ApiCallRecorder, clients, cloudmap_client, error_code, is_throttling, retry_config, sqs_client,
};

/// What a cycle's look at a cluster found.
#[derive(Debug)]
pub enum Refresh {
    /// Nothing to describe since the last snapshot: its resolution still holds.
    Unchanged,
    /// Something changed: [`Edge::finish`] completes the snapshot.
    Changed(Box<Draft>),
}

/// A cluster's snapshot whose new container instances don't have their EC2 address yet.
/// [`Edge::finish`] looks up the addresses of every cluster's drafts in one DescribeInstances,
/// then commits the caches of each cluster whose calls all succeeded.
#[derive(Debug)]
pub struct Draft {
    cluster: String,
    snapshot: ClusterSnapshot,
    /// Container instances described this cycle (EC2 id known, address not yet).
    new_instances: Vec<Instance>,
    /// Every container instance a task of the snapshot runs on.
    needed: HashSet<String>,
    service_names: Vec<String>,
    /// The tasks described this cycle (the others came from the cache).
    described: HashSet<String>,
    /// When this draft's descriptions were made.
    described_at: Instant,
}

/// The AWS edge and its caches; one per process, cloned (sharing its caches) for the event path.
#[derive(Debug, Clone)]
pub struct Edge {
    api: Api,
    /// Shared with the event path's clones of this edge; never locked across an await.
    caches: Arc<Mutex<Caches>>,
    metrics: Arc<Metrics>,
}

impl Edge {
    pub fn new(
        ecs: aws_sdk_ecs::Client,
        ec2: aws_sdk_ec2::Client,
        limiter: Arc<RateLimiter>,
        metrics: Arc<Metrics>,
        ttl: Duration,
    ) -> Self {
        Self {
            api: Api { ecs, ec2, limiter },
            caches: Arc::new(Mutex::new(Caches::new(ttl))),
            metrics,
        }
    }

    /// The caches, for one synchronous step. A panic while they were held leaves them as they
    /// were at that point, which every step keeps consistent, so a poisoned lock is used as is.
    fn caches(&self) -> MutexGuard<'_, Caches> {
        self.caches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lookups(&self, cache: Cache, hits: usize, misses: usize) {
        CacheLookups {
            cache,
            hits,
            misses,
        }
        .emit(&self.metrics);
    }

    /// Every cluster ARN of the account and region.
    pub async fn list_clusters(&self) -> Result<Vec<String>, EdgeError> {
        self.api.list_clusters().await
    }

    /// Drops the caches of clusters no longer scanned.
    pub fn retain_clusters(&self, keep: &HashSet<String>) {
        self.caches().retain_clusters(keep);
    }

    /// Describes every uncached cluster in batches of 100, so a cold cycle makes one
    /// DescribeClusters for up to 100 clusters. Failures are left to [`Edge::snapshot`], which
    /// then describes that cluster on its own and reports the error.
    pub async fn prefetch_clusters(&self, clusters: &[String]) {
        let stale: Vec<String> = clusters
            .iter()
            .filter(|c| self.caches().fresh_cluster(c).is_none())
            .cloned()
            .collect();
        for batch in stale
            .chunks(DESCRIBE_CLUSTERS_BATCH)
            .filter(|b| b.len() > 1)
        {
            let Ok(answer) = self.api.describe_clusters(batch, "*").await else {
                continue;
            };
            let now = Instant::now();
            for found in answer
                .clusters()
                .iter()
                .filter(|c| c.status() != Some("INACTIVE"))
            {
                for key in batch.iter().filter(|k| {
                    Some(k.as_str()) == found.cluster_arn()
                        || Some(k.as_str()) == found.cluster_name()
                }) {
                    self.caches()
                        .put_cluster(key.clone(), ClusterInfo::of(found, key, now));
                }
            }
        }
    }

    async fn cluster_info(&self, cluster: &str) -> Result<ClusterInfo, EdgeError> {
        let cached = self.caches().fresh_cluster(cluster).cloned();
        if let Some(info) = cached {
            self.lookups(Cache::Cluster, 1, 0);
            return Ok(info);
        }
        self.lookups(Cache::Cluster, 0, 1);
        let answer = self
            .api
            .describe_clusters(&[cluster.to_string()], cluster)
            .await?;
        let found = answer
            .clusters()
            .iter()
            .find(|c| c.status() != Some("INACTIVE"));
        let Some(found) = found else {
            let reason = answer
                .failures()
                .first()
                .and_then(|f| f.reason())
                .unwrap_or("not found");
            return Err(EdgeError {
                operation: "DescribeClusters",
                cluster: cluster.to_string(),
                message: format!(
                    "{reason}: check --clusters (names or ARNs of this account and region)"
                ),
            });
        };
        let info = ClusterInfo::of(found, cluster, Instant::now());
        self.caches().put_cluster(cluster.to_string(), info.clone());
        Ok(info)
    }

    async fn task_definition(
        &self,
        cluster: &str,
        arn: &str,
    ) -> Result<Arc<crate::model::TaskDefinition>, EdgeError> {
        let cached = self.caches().task_definitions.get(arn).cloned();
        if let Some(found) = cached {
            self.lookups(Cache::TaskDefinition, 1, 0);
            return Ok(found);
        }
        self.lookups(Cache::TaskDefinition, 0, 1);
        let definition = Arc::new(self.api.describe_task_definition(cluster, arn).await?);
        self.caches()
            .task_definitions
            .put(arn.to_string(), definition.clone());
        Ok(definition)
    }

    async fn service_tags(
        &self,
        cluster: &str,
        cluster_arn: &str,
        names: &[String],
    ) -> Result<HashMap<String, Tags>, EdgeError> {
        let stale: Vec<String> = names
            .iter()
            .filter(|n| !self.caches().service_fresh(cluster_arn, n))
            .cloned()
            .collect();
        self.lookups(Cache::Service, names.len() - stale.len(), stale.len());
        for batch in stale.chunks(DESCRIBE_SERVICES_BATCH) {
            let found = self.api.describe_services(cluster, batch).await?;
            let now = Instant::now();
            for name in batch {
                // A service missing from the answer (deleted) has no tags; remember that too.
                self.caches()
                    .put_service(cluster_arn, name, now, Arc::new(BTreeMap::new()));
            }
            for (name, tags) in found {
                self.caches()
                    .put_service(cluster_arn, &name, now, Arc::new(tags));
            }
        }
        Ok(self.caches().service_tags(cluster_arn, names))
    }

    /// One cycle's look at a cluster: after its ListTasks, [`Refresh::Unchanged`] when nothing
    /// needs describing (the same RUNNING tasks, no cluster or service description due), else
    /// the draft of its snapshot.
    pub async fn refresh(&self, cluster: &str) -> Result<Refresh, EdgeError> {
        let cluster_cached = self.caches().fresh_cluster(cluster).is_some();
        let info = self.cluster_info(cluster).await?;
        let listed = self.api.list_tasks(cluster).await?;
        if cluster_cached
            && self
                .caches()
                .nothing_to_describe(cluster, &info.arn, &listed)
        {
            self.lookups(Cache::Task, listed.len(), 0);
            return Ok(Refresh::Unchanged);
        }
        self.draft_of(cluster, info, listed)
            .await
            .map(|draft| Refresh::Changed(Box::new(draft)))
    }

    /// The draft of a cluster's snapshot, whatever the caches say.
    pub async fn draft(&self, cluster: &str) -> Result<Draft, EdgeError> {
        let info = self.cluster_info(cluster).await?;
        let listed = self.api.list_tasks(cluster).await?;
        self.draft_of(cluster, info, listed).await
    }

    /// Everything resolution needs about one cluster ([`Edge::draft`] then [`Edge::finish`]).
    pub async fn snapshot(&self, cluster: &str) -> Result<ClusterSnapshot, EdgeError> {
        let draft = self.draft(cluster).await?;
        match self.finish(vec![draft]).await.pop() {
            Some((_, finished)) => finished,
            None => unreachable!("finish answers each draft"),
        }
    }

    /// The snapshot of one task an event reported RUNNING, for resolution: its cluster, task
    /// definition, container instance and service from the caches, described (under the rate
    /// limiter) only where the caches don't have them, as a cycle would. Events carry no tags,
    /// so the task keeps the tags a cycle last described it with, or has none yet.
    pub async fn event_snapshot(
        &self,
        cluster: &str,
        mut task: Task,
    ) -> Result<ClusterSnapshot, EdgeError> {
        let info = self.cluster_info(cluster).await?;
        let definition = self
            .task_definition(cluster, &task.task_definition_arn)
            .await?;
        let known = self.caches().known_task(cluster, &task.arn);
        if let Some(known) = known {
            task.tags = known.tags.clone();
        }
        let mut instances = HashMap::new();
        if let Some(arn) = task.container_instance_arn.clone() {
            let instance = self.caches().instance(cluster, &arn);
            self.lookups(
                Cache::ContainerInstance,
                usize::from(instance.is_some()),
                usize::from(instance.is_none()),
            );
            let instance = match instance {
                Some(cached) => cached,
                None => self.describe_instance(cluster, &arn).await?,
            };
            instances.insert(arn, instance);
        }
        let service_names: Vec<String> = task
            .service_name()
            .map(str::to_string)
            .into_iter()
            .collect();
        let service_tags = self
            .service_tags(cluster, &info.arn, &service_names)
            .await?;
        Ok(ClusterSnapshot {
            name: info.name,
            arn: info.arn,
            tags: info.tags,
            task_definitions: HashMap::from([(definition.arn.clone(), definition)]),
            tasks: vec![Arc::new(task)],
            instances,
            service_tags,
        })
    }

    /// One container instance and its EC2 address, described and cached for its cluster.
    async fn describe_instance(
        &self,
        cluster: &str,
        arn: &str,
    ) -> Result<Arc<Instance>, EdgeError> {
        let mut described = self
            .api
            .describe_container_instances(cluster, &[arn.to_string()])
            .await?;
        let Some(mut instance) = described.pop() else {
            return Err(EdgeError {
                operation: "DescribeContainerInstances",
                cluster: cluster.to_string(),
                message: format!("container instance {arn} not found"),
            });
        };
        if let Some(id) = instance.ec2_instance_id.clone() {
            let private_ips = self
                .api
                .describe_instances(std::slice::from_ref(&id))
                .await
                .map_err(|message| EdgeError::describe_instances(cluster, message))?;
            instance.private_ip = private_ips.get(&id).cloned();
        }
        Ok(self.caches().put_instance(cluster, instance))
    }

    async fn draft_of(
        &self,
        cluster: &str,
        info: ClusterInfo,
        listed: Vec<String>,
    ) -> Result<Draft, EdgeError> {
        let mut tasks: Vec<Arc<Task>> = Vec::with_capacity(listed.len());
        let mut unknown: Vec<String> = Vec::new();
        for arn in &listed {
            match self.caches().fresh_task(cluster, arn) {
                Some(cached) => tasks.push(cached),
                None => unknown.push(arn.clone()),
            }
        }
        self.lookups(Cache::Task, listed.len() - unknown.len(), unknown.len());
        let described_at = Instant::now();
        let described = self.api.describe_tasks(cluster, &unknown).await?;
        tasks.extend(described.into_iter().map(Arc::new));

        let mut definitions = HashMap::new();
        let definition_arns: HashSet<&str> = tasks
            .iter()
            .map(|t| t.task_definition_arn.as_str())
            .collect();
        for arn in definition_arns {
            let definition = self.task_definition(cluster, arn).await?;
            definitions.insert(arn.to_string(), definition);
        }

        let needed: HashSet<String> = tasks
            .iter()
            .filter_map(|t| t.container_instance_arn.clone())
            .collect();
        let missing = self.caches().missing_instances(cluster, &needed);
        self.lookups(
            Cache::ContainerInstance,
            needed.len() - missing.len(),
            missing.len(),
        );
        let new_instances = self
            .api
            .describe_container_instances(cluster, &missing)
            .await?;

        let service_names: Vec<String> = tasks
            .iter()
            .filter_map(|t| t.service_name())
            .collect::<BTreeSet<&str>>()
            .into_iter()
            .map(str::to_string)
            .collect();
        let service_tags = self
            .service_tags(cluster, &info.arn, &service_names)
            .await?;

        Ok(Draft {
            cluster: cluster.to_string(),
            snapshot: ClusterSnapshot {
                name: info.name,
                arn: info.arn,
                tags: info.tags,
                tasks,
                task_definitions: definitions,
                instances: HashMap::new(),
                service_tags,
            },
            new_instances,
            needed,
            service_names,
            described: unknown.into_iter().collect(),
            described_at,
        })
    }

    /// Completes the drafts of a cycle: one DescribeInstances for the new container instances
    /// of all of them, then each cluster's caches are committed. If that call fails, the
    /// clusters that needed it fail (and commit nothing); the others complete.
    pub async fn finish(
        &self,
        drafts: Vec<Draft>,
    ) -> Vec<(String, Result<ClusterSnapshot, EdgeError>)> {
        let ids: Vec<String> = drafts
            .iter()
            .flat_map(|d| d.new_instances.iter())
            .filter_map(|i| i.ec2_instance_id.clone())
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        let private_ips = if ids.is_empty() {
            Ok(HashMap::new())
        } else {
            self.api.describe_instances(&ids).await
        };
        drafts
            .into_iter()
            .map(|draft| {
                let cluster = draft.cluster.clone();
                let finished = match &private_ips {
                    Err(message) if !draft.new_instances.is_empty() => {
                        Err(EdgeError::describe_instances(&cluster, message.clone()))
                    }
                    Err(_) => Ok(self.commit(draft, &HashMap::new())),
                    Ok(ips) => Ok(self.commit(draft, ips)),
                };
                (cluster, finished)
            })
            .collect()
    }

    /// Every call for the draft succeeded: commit its caches and complete its snapshot.
    fn commit(&self, draft: Draft, private_ips: &HashMap<String, String>) -> ClusterSnapshot {
        let Draft {
            cluster,
            mut snapshot,
            new_instances,
            needed,
            service_names,
            described,
            described_at,
        } = draft;
        let new_instances = new_instances
            .into_iter()
            .map(|mut instance| {
                instance.private_ip = instance
                    .ec2_instance_id
                    .as_ref()
                    .and_then(|id| private_ips.get(id).cloned());
                instance
            })
            .collect();
        snapshot.instances = self.caches().commit(Commit {
            cluster: &cluster,
            tasks: &snapshot.tasks,
            new_instances,
            needed: &needed,
            service_names,
            described: &described,
            described_at,
        });
        snapshot
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod rate_tests;
