//! One function per AWS API the discoverer calls: each waits for its rate-limit bucket, pages
//! or batches at the API's maximum, and turns the answer into the model or an [`EdgeError`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput;
use aws_sdk_ecs::types::{ClusterField, DesiredStatus, ServiceField, TaskField};
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::model::{Instance, Task, TaskDefinition};
use crate::ratelimit::{Bucket, RateLimiter};

use super::convert::{instance_from_sdk, tags_of, task_definition_from_sdk, task_from_sdk};

pub(super) const DESCRIBE_TASKS_BATCH: usize = 100;
const DESCRIBE_CONTAINER_INSTANCES_BATCH: usize = 100;
pub(super) const DESCRIBE_SERVICES_BATCH: usize = 10;
pub(super) const DESCRIBE_CLUSTERS_BATCH: usize = 100;
const DESCRIBE_INSTANCES_BATCH: usize = 1000;

/// An AWS call failed; the cluster keeps its last good targets.
#[derive(Debug, thiserror::Error)]
#[error("{operation} for cluster '{cluster}' failed: {message}")]
pub struct EdgeError {
    pub operation: &'static str,
    pub cluster: String,
    pub message: String,
}

impl EdgeError {
    /// DescribeInstances failed (its answer is shared by every cluster of a cycle, so the
    /// call reports a message and each cluster that needed it gets its own error).
    pub fn describe_instances(cluster: &str, message: String) -> Self {
        EdgeError {
            operation: "DescribeInstances",
            cluster: cluster.to_string(),
            message,
        }
    }
}

fn edge_error<E: std::error::Error>(operation: &'static str, cluster: &str, error: E) -> EdgeError {
    EdgeError {
        operation,
        cluster: cluster.to_string(),
        message: DisplayErrorContext(error).to_string(),
    }
}

/// The clients and the rate limiter every call waits for.
#[derive(Debug, Clone)]
pub(super) struct Api {
    pub ecs: aws_sdk_ecs::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub limiter: Arc<RateLimiter>,
}

impl Api {
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

    /// DescribeClusters with tags, for up to [`DESCRIBE_CLUSTERS_BATCH`] clusters;
    /// `reported_as` names the cluster in an error.
    pub async fn describe_clusters(
        &self,
        clusters: &[String],
        reported_as: &str,
    ) -> Result<DescribeClustersOutput, EdgeError> {
        self.limiter.acquire(Bucket::ClusterRead).await;
        self.ecs
            .describe_clusters()
            .set_clusters(Some(clusters.to_vec()))
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(|e| edge_error("DescribeClusters", reported_as, e))
    }

    /// The ARNs of the cluster's tasks whose desired status is RUNNING (ListTasks, paginated).
    pub async fn list_tasks(&self, cluster: &str) -> Result<Vec<String>, EdgeError> {
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

    /// DescribeTasks with tags, in batches of [`DESCRIBE_TASKS_BATCH`].
    pub async fn describe_tasks(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<Task>, EdgeError> {
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

    pub async fn describe_task_definition(
        &self,
        cluster: &str,
        arn: &str,
    ) -> Result<TaskDefinition, EdgeError> {
        self.limiter.acquire(Bucket::TaskDefinitionRead).await;
        let answer = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| edge_error("DescribeTaskDefinition", cluster, e))?;
        answer
            .task_definition()
            .map(task_definition_from_sdk)
            .ok_or_else(|| EdgeError {
                operation: "DescribeTaskDefinition",
                cluster: cluster.to_string(),
                message: format!("no task definition in the answer for {arn}"),
            })
    }

    /// DescribeContainerInstances in batches of 100; the instances' addresses are not known yet.
    pub async fn describe_container_instances(
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
            instances.extend(answer.container_instances().iter().map(instance_from_sdk));
        }
        Ok(instances)
    }

    /// The private IP of each EC2 instance, by instance id (DescribeInstances, 1000 ids a call,
    /// whichever clusters they belong to).
    pub async fn describe_instances(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, String>, String> {
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

    /// The tags of up to [`DESCRIBE_SERVICES_BATCH`] services, by name; a service missing from
    /// the answer (deleted) is missing here.
    pub async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<(String, BTreeMap<String, String>)>, EdgeError> {
        self.limiter.acquire(Bucket::ServiceRead).await;
        let answer = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(names.to_vec()))
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| edge_error("DescribeServices", cluster, e))?;
        Ok(answer
            .services()
            .iter()
            .map(|service| {
                (
                    service.service_name().unwrap_or_default().to_string(),
                    tags_of(service.tags().iter().map(|t| (t.key(), t.value()))),
                )
            })
            .collect())
    }
}
