//! The AWS edge: turns ECS and EC2 API answers into a [`ClusterSnapshot`], making as few calls
//! as the API allows.
//!
//! - Tasks seen RUNNING are cached by ARN and never described again; a task that is not yet
//!   RUNNING (PENDING, ACTIVATING) is described again on the next cycle.
//! - Task definitions are immutable: each ARN is described once (bounded cache).
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
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::types::{ClusterField, DesiredStatus, ServiceField, TaskField};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use tokio::time::Instant;

use crate::events::{ApiCallAttempted, CacheLookups, InternalEvent};
use crate::metrics::{Cache, Metrics};
use crate::model::{
    ClusterSnapshot, Container, ContainerDefinition, Instance, NetworkBinding, PortMapping, Task,
    TaskDefinition, cluster_name,
};
use crate::ratelimit::{Bucket, RateLimiter};
use lru::LruCache;
use stack_common::cloudmap::{self, CloudMap};

const DESCRIBE_TASKS_BATCH: usize = 100;
const DESCRIBE_CONTAINER_INSTANCES_BATCH: usize = 100;
const DESCRIBE_SERVICES_BATCH: usize = 10;
const DESCRIBE_CLUSTERS_BATCH: usize = 100;
const DESCRIBE_INSTANCES_BATCH: usize = 1000;
/// Task definitions kept: those in use always, and the most recently used others up to this
/// many in all, so a rollback or a canary revision isn't described again, without letting the
/// cache grow forever.
const TASK_DEFINITION_CACHE_LIMIT: usize = 2048;

/// An AWS call failed; the cluster keeps its last good targets.
#[derive(Debug, thiserror::Error)]
#[error("{operation} for cluster '{cluster}' failed: {message}")]
pub struct EdgeError {
    pub operation: &'static str,
    pub cluster: String,
    pub message: String,
}

fn edge_error<E: std::error::Error>(operation: &'static str, cluster: &str, error: E) -> EdgeError {
    EdgeError {
        operation,
        cluster: cluster.to_string(),
        message: DisplayErrorContext(error).to_string(),
    }
}

/// Counts every attempt of every AWS call by operation, and the throttled ones, on `/metrics`.
#[derive(Debug, Clone)]
pub struct ApiCallRecorder {
    pub metrics: Arc<Metrics>,
}

impl Intercept for ApiCallRecorder {
    fn name(&self) -> &'static str {
        "ApiCallRecorder"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let throttled = context.response().is_some_and(|response| {
            let status = response.status().as_u16();
            // Only an error answer's body is read: success bodies can be hundreds of kB.
            status == 429
                || (status >= 400
                    && error_code(
                        response.headers().get("x-amzn-errortype"),
                        response.body().bytes().unwrap_or_default(),
                    )
                    .is_some_and(is_throttling))
        });
        ApiCallAttempted {
            service: metadata.service(),
            operation: metadata.name(),
            throttled,
        }
        .emit(&self.metrics);
        Ok(())
    }
}

/// Whether an AWS error code means throttling, by the SDK's own list (ECS answers 400
/// `ThrottlingException`, EC2 503 `RequestLimitExceeded`, S3 503 `SlowDown`).
pub fn is_throttling(code: &str) -> bool {
    aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&code)
}

/// The error code of an AWS error answer: the `x-amzn-errortype` header or `__type` of the JSON
/// protocols (ECS, Cloud Map), or `<Code>` of the XML ones (EC2, S3). The SDK parses the same
/// after the interceptor has run; here only the code is needed, so it's found in place.
pub fn error_code<'b>(header: Option<&'b str>, body: &'b [u8]) -> Option<&'b str> {
    let code = |raw: &'b str| {
        let raw = raw.split(':').next().unwrap_or(raw);
        raw.rsplit('#').next().unwrap_or(raw).trim()
    };
    if let Some(header) = header.filter(|h| !h.is_empty()) {
        return Some(code(header));
    }
    let body = std::str::from_utf8(body).ok()?;
    let raw = if let Some((_, rest)) = body.split_once("<Code>") {
        rest.split('<').next()
    } else if let Some((_, rest)) = body.split_once("\"__type\"") {
        // `:"ThrottlingException",...`: the first quoted string after the key.
        rest.split('"').nth(1)
    } else {
        None
    };
    raw.map(code).filter(|c| !c.is_empty())
}

/// Patient retries: standard mode retries throttling and transient errors with exponential
/// backoff and jitter.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(20))
}

/// Clients configured for the discoverer: the call recorder and patient throttling retries.
pub fn clients(
    config: &aws_config::SdkConfig,
    metrics: &Arc<Metrics>,
) -> (aws_sdk_ecs::Client, aws_sdk_ec2::Client) {
    let retry = retry_config();
    let recorder = ApiCallRecorder {
        metrics: metrics.clone(),
    };
    let ecs = aws_sdk_ecs::config::Builder::from(config)
        .retry_config(retry.clone())
        .interceptor(recorder.clone())
        .build();
    let ec2 = aws_sdk_ec2::config::Builder::from(config)
        .retry_config(retry)
        .interceptor(recorder)
        .build();
    (
        aws_sdk_ecs::Client::from_conf(ecs),
        aws_sdk_ec2::Client::from_conf(ec2),
    )
}

/// The Cloud Map client, recorded and retried as the ECS and EC2 ones, and paced in its
/// buckets of `limiter`.
pub fn cloudmap_client(
    config: &aws_config::SdkConfig,
    metrics: &Arc<Metrics>,
    limiter: Arc<RateLimiter>,
) -> CloudMap {
    let client = aws_sdk_servicediscovery::Client::from_conf(
        cloudmap::client_config(config)
            .retry_config(retry_config())
            .interceptor(ApiCallRecorder {
                metrics: metrics.clone(),
            })
            .build(),
    );
    CloudMap::new(client).with_pacer(crate::ratelimit::cloudmap_pacer(limiter))
}

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

/// A task seen RUNNING, and when it was described: past the TTL it is described again, so a
/// tag added to a running task reaches its labels.
#[derive(Debug, Clone)]
struct KnownTask {
    task: Arc<Task>,
    described_at: Instant,
}

impl KnownTask {
    fn fresh(&self, ttl: Duration) -> bool {
        self.described_at.elapsed() < ttl
    }
}

/// Tags of a resource, shared between the cache and the snapshots.
type Tags = Arc<BTreeMap<String, String>>;

#[derive(Debug, Clone)]
struct ClusterInfo {
    arn: String,
    name: String,
    tags: BTreeMap<String, String>,
    fetched: Instant,
}

impl ClusterInfo {
    fn of(found: &aws_sdk_ecs::types::Cluster, asked: &str, fetched: Instant) -> Self {
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

/// The AWS edge and its caches; one per process.
#[derive(Debug)]
pub struct Edge {
    ecs: aws_sdk_ecs::Client,
    ec2: aws_sdk_ec2::Client,
    limiter: Arc<RateLimiter>,
    metrics: Arc<Metrics>,
    ttl: Duration,
    clusters: HashMap<String, ClusterInfo>,
    /// Tasks seen RUNNING, per cluster (as the caller names it), by task ARN.
    running: HashMap<String, HashMap<String, KnownTask>>,
    /// Least recently used first; see [`TASK_DEFINITION_CACHE_LIMIT`].
    task_definitions: LruCache<String, Arc<TaskDefinition>>,
    /// Per cluster, by container instance ARN.
    instances: HashMap<String, HashMap<String, Arc<Instance>>>,
    /// By (cluster ARN, service name).
    services: HashMap<(String, String), (Instant, Tags)>,
    /// The services of each cluster's RUNNING tasks at its last full snapshot.
    cluster_services: HashMap<String, Vec<String>>,
}

fn tags_of<'a>(
    tags: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

fn task_from_sdk(task: &aws_sdk_ecs::types::Task) -> Task {
    let eni_private_ipv4 = task
        .attachments()
        .iter()
        .filter(|a| a.r#type() == Some("ElasticNetworkInterface"))
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value())
        .map(str::to_string);
    Task {
        arn: task.task_arn().unwrap_or_default().to_string(),
        task_definition_arn: task.task_definition_arn().unwrap_or_default().to_string(),
        group: task.group().map(str::to_string),
        last_status: task.last_status().unwrap_or_default().to_string(),
        launch_type: task.launch_type().map(|l| l.as_str().to_string()),
        capacity_provider: task.capacity_provider_name().map(str::to_string),
        availability_zone: task.availability_zone().map(str::to_string),
        container_instance_arn: task.container_instance_arn().map(str::to_string),
        eni_private_ipv4,
        containers: task
            .containers()
            .iter()
            .map(|c| Container {
                name: c.name().unwrap_or_default().to_string(),
                network_bindings: c
                    .network_bindings()
                    .iter()
                    .map(|b| NetworkBinding {
                        container_port: b.container_port(),
                        host_port: b.host_port(),
                    })
                    .collect(),
                private_ipv4: c
                    .network_interfaces()
                    .iter()
                    .find_map(|n| n.private_ipv4_address().map(str::to_string)),
            })
            .collect(),
        tags: tags_of(task.tags().iter().map(|t| (t.key(), t.value()))),
    }
}

fn task_definition_from_sdk(definition: &aws_sdk_ecs::types::TaskDefinition) -> TaskDefinition {
    TaskDefinition {
        arn: definition
            .task_definition_arn()
            .unwrap_or_default()
            .to_string(),
        family: definition.family().unwrap_or_default().to_string(),
        revision: definition.revision(),
        network_mode: definition
            .network_mode()
            .map_or("bridge", |m| m.as_str())
            .to_string(),
        containers: definition
            .container_definitions()
            .iter()
            .map(|c| ContainerDefinition {
                name: c.name().unwrap_or_default().to_string(),
                docker_labels: c
                    .docker_labels()
                    .map(|labels| labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                environment: tags_of(c.environment().iter().map(|e| (e.name(), e.value()))),
                port_mappings: c
                    .port_mappings()
                    .iter()
                    .map(|m| PortMapping {
                        container_port: m.container_port(),
                        host_port: m.host_port(),
                    })
                    .collect(),
            })
            .collect(),
    }
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
            ecs,
            ec2,
            limiter,
            metrics,
            ttl,
            clusters: HashMap::new(),
            running: HashMap::new(),
            task_definitions: LruCache::unbounded(),
            instances: HashMap::new(),
            services: HashMap::new(),
            cluster_services: HashMap::new(),
        }
    }

    /// Every cluster ARN of the account and region (ListClusters, paginated).
    pub async fn list_clusters(&self) -> Result<Vec<String>, EdgeError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            self.limiter.acquire(Bucket::ClusterRead).await;
            let page = self
                .ecs
                .list_clusters()
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| edge_error("ListClusters", "*", e))?;
            arns.extend(page.cluster_arns().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(arns);
            }
        }
    }

    /// Drops the caches of clusters no longer scanned.
    pub fn retain_clusters(&mut self, keep: &HashSet<String>) {
        self.clusters.retain(|k, _| keep.contains(k));
        self.running.retain(|k, _| keep.contains(k));
        self.cluster_services.retain(|k, _| keep.contains(k));
        self.instances.retain(|k, _| keep.contains(k));
    }

    /// Drops service descriptions past their TTL: a live service is described again when next
    /// needed anyway, and a deleted one would otherwise stay in memory for good.
    fn evict_expired_services(&mut self) {
        let ttl = self.ttl;
        self.services
            .retain(|_, (fetched, _)| fetched.elapsed() < ttl);
    }

    /// The cached description of `cluster`, while younger than the TTL.
    fn fresh_cluster(&self, cluster: &str) -> Option<&ClusterInfo> {
        self.clusters
            .get(cluster)
            .filter(|i| i.fetched.elapsed() < self.ttl)
    }

    /// True while the cached tags of `service` (in `cluster_arn`) are younger than the TTL.
    fn service_fresh(&self, cluster_arn: &str, service: &str) -> bool {
        self.services
            .get(&(cluster_arn.to_string(), service.to_string()))
            .is_some_and(|(at, _)| at.elapsed() < self.ttl)
    }

    /// Describes every uncached cluster in batches of 100, so a cold cycle makes one
    /// DescribeClusters for up to 100 clusters. Failures are left to [`Edge::snapshot`], which
    /// then describes that cluster on its own and reports the error.
    pub async fn prefetch_clusters(&mut self, clusters: &[String]) {
        let stale: Vec<String> = clusters
            .iter()
            .filter(|c| self.fresh_cluster(c).is_none())
            .cloned()
            .collect();
        for batch in stale
            .chunks(DESCRIBE_CLUSTERS_BATCH)
            .filter(|b| b.len() > 1)
        {
            self.limiter.acquire(Bucket::ClusterRead).await;
            let Ok(answer) = self
                .ecs
                .describe_clusters()
                .set_clusters(Some(batch.to_vec()))
                .include(ClusterField::Tags)
                .send()
                .await
            else {
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
                    self.clusters
                        .insert(key.clone(), ClusterInfo::of(found, key, now));
                }
            }
        }
    }

    async fn cluster_info(&mut self, cluster: &str) -> Result<ClusterInfo, EdgeError> {
        if let Some(info) = self.fresh_cluster(cluster) {
            CacheLookups {
                cache: Cache::Cluster,
                hits: 1,
                misses: 0,
            }
            .emit(&self.metrics);
            return Ok(info.clone());
        }
        CacheLookups {
            cache: Cache::Cluster,
            hits: 0,
            misses: 1,
        }
        .emit(&self.metrics);
        self.limiter.acquire(Bucket::ClusterRead).await;
        let answer = self
            .ecs
            .describe_clusters()
            .clusters(cluster)
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(|e| edge_error("DescribeClusters", cluster, e))?;
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
        self.clusters.insert(cluster.to_string(), info.clone());
        Ok(info)
    }

    async fn list_task_arns(&self, cluster: &str) -> Result<Vec<String>, EdgeError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            self.limiter.acquire(Bucket::ClusterResourceRead).await;
            let page = self
                .ecs
                .list_tasks()
                .cluster(cluster)
                .desired_status(DesiredStatus::Running)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| edge_error("ListTasks", cluster, e))?;
            arns.extend(page.task_arns().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(arns);
            }
        }
    }

    async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<Task>, EdgeError> {
        let mut tasks = Vec::with_capacity(arns.len());
        for batch in arns.chunks(DESCRIBE_TASKS_BATCH) {
            self.limiter.acquire(Bucket::ClusterResourceRead).await;
            let answer = self
                .ecs
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(batch.to_vec()))
                .include(TaskField::Tags)
                .send()
                .await
                .map_err(|e| edge_error("DescribeTasks", cluster, e))?;
            // Failures are tasks that stopped between ListTasks and DescribeTasks.
            tasks.extend(answer.tasks().iter().map(task_from_sdk));
        }
        Ok(tasks)
    }

    async fn task_definition(
        &mut self,
        cluster: &str,
        arn: &str,
    ) -> Result<Arc<TaskDefinition>, EdgeError> {
        if let Some(found) = self.task_definitions.get(arn) {
            CacheLookups {
                cache: Cache::TaskDefinition,
                hits: 1,
                misses: 0,
            }
            .emit(&self.metrics);
            return Ok(found.clone());
        }
        CacheLookups {
            cache: Cache::TaskDefinition,
            hits: 0,
            misses: 1,
        }
        .emit(&self.metrics);
        self.limiter.acquire(Bucket::TaskDefinitionRead).await;
        let answer = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| edge_error("DescribeTaskDefinition", cluster, e))?;
        let definition = answer.task_definition().ok_or_else(|| EdgeError {
            operation: "DescribeTaskDefinition",
            cluster: cluster.to_string(),
            message: format!("no task definition in the answer for {arn}"),
        })?;
        let definition = Arc::new(task_definition_from_sdk(definition));
        self.task_definitions
            .put(arn.to_string(), definition.clone());
        Ok(definition)
    }

    async fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<Instance>, EdgeError> {
        let mut instances = Vec::with_capacity(arns.len());
        for batch in arns.chunks(DESCRIBE_CONTAINER_INSTANCES_BATCH) {
            self.limiter.acquire(Bucket::ClusterResourceRead).await;
            let answer = self
                .ecs
                .describe_container_instances()
                .cluster(cluster)
                .set_container_instances(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| edge_error("DescribeContainerInstances", cluster, e))?;
            for ci in answer.container_instances() {
                instances.push(Instance {
                    container_instance_arn: ci
                        .container_instance_arn()
                        .unwrap_or_default()
                        .to_string(),
                    ec2_instance_id: ci.ec2_instance_id().map(str::to_string),
                    private_ip: None,
                });
            }
        }
        Ok(instances)
    }

    /// The private IP of each EC2 instance, by instance id (DescribeInstances, 1000 ids a call,
    /// whichever clusters they belong to).
    async fn private_ips(&self, ids: &[String]) -> Result<HashMap<String, String>, String> {
        let mut private_ips = HashMap::new();
        for batch in ids.chunks(DESCRIBE_INSTANCES_BATCH) {
            let mut token = None;
            loop {
                self.limiter.acquire(Bucket::Ec2Describe).await;
                let answer = self
                    .ec2
                    .describe_instances()
                    .set_instance_ids(Some(batch.to_vec()))
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| DisplayErrorContext(e).to_string())?;
                for instance in answer.reservations().iter().flat_map(|r| r.instances()) {
                    if let (Some(id), Some(ip)) =
                        (instance.instance_id(), instance.private_ip_address())
                    {
                        private_ips.insert(id.to_string(), ip.to_string());
                    }
                }
                token = answer.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(private_ips)
    }

    async fn service_tags(
        &mut self,
        cluster: &str,
        cluster_arn: &str,
        names: &[String],
    ) -> Result<HashMap<String, Arc<BTreeMap<String, String>>>, EdgeError> {
        let key = |name: &str| (cluster_arn.to_string(), name.to_string());
        let stale: Vec<String> = names
            .iter()
            .filter(|n| !self.service_fresh(cluster_arn, n))
            .cloned()
            .collect();
        CacheLookups {
            cache: Cache::Service,
            hits: names.len() - stale.len(),
            misses: stale.len(),
        }
        .emit(&self.metrics);
        for batch in stale.chunks(DESCRIBE_SERVICES_BATCH) {
            self.limiter.acquire(Bucket::ServiceRead).await;
            let answer = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(batch.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| edge_error("DescribeServices", cluster, e))?;
            let now = Instant::now();
            for name in batch {
                // A service missing from the answer (deleted) has no tags; remember that too.
                self.services
                    .insert(key(name), (now, Arc::new(BTreeMap::new())));
            }
            for service in answer.services() {
                let name = service.service_name().unwrap_or_default();
                let tags = tags_of(service.tags().iter().map(|t| (t.key(), t.value())));
                self.services.insert(key(name), (now, Arc::new(tags)));
            }
        }
        Ok(names
            .iter()
            .filter_map(|n| {
                self.services
                    .get(&key(n))
                    .map(|(_, tags)| (n.clone(), tags.clone()))
            })
            .collect())
    }

    /// One cycle's look at a cluster: after its ListTasks, [`Refresh::Unchanged`] when nothing
    /// needs describing (the same RUNNING tasks, no cluster or service description due), else
    /// the draft of its snapshot.
    pub async fn refresh(&mut self, cluster: &str) -> Result<Refresh, EdgeError> {
        let cluster_cached = self.fresh_cluster(cluster).is_some();
        let info = self.cluster_info(cluster).await?;
        let listed = self.list_task_arns(cluster).await?;
        let services_cached = self
            .cluster_services
            .get(cluster)
            .is_some_and(|names| names.iter().all(|n| self.service_fresh(&info.arn, n)));
        let all_known = self.running.get(cluster).is_some_and(|known| {
            known.len() == listed.len()
                && listed
                    .iter()
                    .all(|arn| known.get(arn).is_some_and(|k| k.fresh(self.ttl)))
        });
        if cluster_cached && services_cached && all_known {
            CacheLookups {
                cache: Cache::Task,
                hits: listed.len(),
                misses: 0,
            }
            .emit(&self.metrics);
            return Ok(Refresh::Unchanged);
        }
        self.draft_of(cluster, info, listed)
            .await
            .map(|draft| Refresh::Changed(Box::new(draft)))
    }

    /// The draft of a cluster's snapshot, whatever the caches say.
    pub async fn draft(&mut self, cluster: &str) -> Result<Draft, EdgeError> {
        let info = self.cluster_info(cluster).await?;
        let listed = self.list_task_arns(cluster).await?;
        self.draft_of(cluster, info, listed).await
    }

    /// Everything resolution needs about one cluster ([`Edge::draft`] then [`Edge::finish`]).
    pub async fn snapshot(&mut self, cluster: &str) -> Result<ClusterSnapshot, EdgeError> {
        let draft = self.draft(cluster).await?;
        match self.finish(vec![draft]).await.pop() {
            Some((_, finished)) => finished,
            None => unreachable!("finish answers each draft"),
        }
    }

    async fn draft_of(
        &mut self,
        cluster: &str,
        info: ClusterInfo,
        listed: Vec<String>,
    ) -> Result<Draft, EdgeError> {
        let known = self.running.get(cluster);
        let mut tasks: Vec<Arc<Task>> = Vec::with_capacity(listed.len());
        let mut unknown: Vec<String> = Vec::new();
        for arn in &listed {
            match known.and_then(|k| k.get(arn)).filter(|k| k.fresh(self.ttl)) {
                Some(cached) => tasks.push(cached.task.clone()),
                None => unknown.push(arn.clone()),
            }
        }
        CacheLookups {
            cache: Cache::Task,
            hits: listed.len() - unknown.len(),
            misses: unknown.len(),
        }
        .emit(&self.metrics);
        let described_at = Instant::now();
        let described = self.describe_tasks(cluster, &unknown).await?;
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
        let cached = self.instances.get(cluster);
        let missing: Vec<String> = needed
            .iter()
            .filter(|arn| cached.is_none_or(|c| !c.contains_key(*arn)))
            .cloned()
            .collect();
        CacheLookups {
            cache: Cache::ContainerInstance,
            hits: needed.len() - missing.len(),
            misses: missing.len(),
        }
        .emit(&self.metrics);
        let new_instances = self.describe_container_instances(cluster, &missing).await?;

        let service_names: Vec<String> = {
            let names: HashSet<&str> = tasks.iter().filter_map(|t| t.service_name()).collect();
            let mut names: Vec<String> = names.into_iter().map(str::to_string).collect();
            names.sort();
            names
        };
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
        &mut self,
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
            self.private_ips(&ids).await
        };
        drafts
            .into_iter()
            .map(|draft| {
                let cluster = draft.cluster.clone();
                let finished = match &private_ips {
                    Err(message) if !draft.new_instances.is_empty() => Err(EdgeError {
                        operation: "DescribeInstances",
                        cluster: cluster.clone(),
                        message: message.clone(),
                    }),
                    Err(_) => Ok(self.commit(draft, &HashMap::new())),
                    Ok(ips) => Ok(self.commit(draft, ips)),
                };
                (cluster, finished)
            })
            .collect()
    }

    /// Every call for the draft succeeded: commit its caches and complete its snapshot.
    fn commit(&mut self, draft: Draft, private_ips: &HashMap<String, String>) -> ClusterSnapshot {
        let Draft {
            cluster,
            mut snapshot,
            new_instances,
            needed,
            service_names,
            described,
            described_at,
        } = draft;
        let mut instances: HashMap<String, Arc<Instance>> =
            self.instances.remove(&cluster).unwrap_or_default();
        instances.extend(new_instances.into_iter().map(|mut instance| {
            instance.private_ip = instance
                .ec2_instance_id
                .as_ref()
                .and_then(|id| private_ips.get(id).cloned());
            (instance.container_instance_arn.clone(), Arc::new(instance))
        }));
        instances.retain(|arn, _| needed.contains(arn));
        self.instances.insert(cluster.clone(), instances.clone());
        snapshot.instances = instances;

        let previously = self.running.remove(&cluster).unwrap_or_default();
        let running: HashMap<String, KnownTask> = snapshot
            .tasks
            .iter()
            .filter(|t| t.last_status == "RUNNING")
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
        self.running.insert(cluster.clone(), running);
        self.cluster_services.insert(cluster, service_names);
        self.evict_expired_services();
        self.evict_least_recently_used_task_definitions();
        snapshot
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
pub(crate) mod tests;

#[cfg(test)]
mod rate_tests;
