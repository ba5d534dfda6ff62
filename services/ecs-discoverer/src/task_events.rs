//! "ECS Task State Change" events, as EventBridge delivers them (an SQS message's body is the
//! event): parsed into the model's [`Task`], and the per-task state they build up between
//! cycles ([`overlay`]).
//!
//! The event's `detail` is the task as DescribeTasks returns it, in the same camelCase names,
//! with its `version`. Two differences matter here: the ENI attachment's `type` is `eni` in
//! events and `ElasticNetworkInterface` in DescribeTasks, and events carry no tags. Unknown
//! fields are ignored, as AWS asks of event readers.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{Container, LaunchType, NetworkBinding, Task, TaskStatus};

pub mod listener;
pub mod overlay;
pub mod queue;

pub const SOURCE: &str = "aws.ecs";
pub const DETAIL_TYPE: &str = "ECS Task State Change";

/// One task state change: the task as the event describes it, and the cluster it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStateChange {
    pub cluster_arn: String,
    pub task: Task,
    /// ECS's version of the task; a higher one is a later state.
    pub version: i64,
    /// Whether ECS is stopping the task (`desiredStatus` STOPPED).
    pub stopping: bool,
}

impl TaskStateChange {
    /// Whether the task is a target source now: RUNNING, and not on its way out. A task ECS is
    /// stopping is no longer listed by the cycles' ListTasks (desired status RUNNING) either.
    pub fn is_running(&self) -> bool {
        self.task.last_status == TaskStatus::Running && !self.stopping
    }
}

/// Why a message is not a task state change this crate can apply.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("the message is not a JSON EventBridge event: {0}")]
    NotJson(String),
    #[error("the event is '{detail_type}' from '{from}', not '{DETAIL_TYPE}' from '{SOURCE}'")]
    OtherEvent { from: String, detail_type: String },
    #[error("the task state change has no '{0}'")]
    Missing(&'static str),
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    source: String,
    #[serde(rename = "detail-type", default)]
    detail_type: String,
    detail: Option<Detail>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Detail {
    cluster_arn: Option<String>,
    task_arn: Option<String>,
    task_definition_arn: Option<String>,
    last_status: Option<String>,
    desired_status: Option<String>,
    version: Option<i64>,
    group: Option<String>,
    launch_type: Option<String>,
    capacity_provider_name: Option<String>,
    availability_zone: Option<String>,
    container_instance_arn: Option<String>,
    attachments: Vec<Attachment>,
    containers: Vec<DetailContainer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    details: Vec<NameValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NameValue {
    name: String,
    value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DetailContainer {
    name: String,
    network_bindings: Vec<Binding>,
    network_interfaces: Vec<Interface>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Binding {
    container_port: Option<i32>,
    host_port: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Interface {
    private_ipv4_address: Option<String>,
}

/// Parses one message body. Anything but an ECS task state change is an [`EventError`].
pub fn parse(body: &str) -> Result<TaskStateChange, EventError> {
    let envelope: Envelope =
        serde_json::from_str(body).map_err(|error| EventError::NotJson(error.to_string()))?;
    if envelope.source != SOURCE || envelope.detail_type != DETAIL_TYPE {
        return Err(EventError::OtherEvent {
            from: envelope.source,
            detail_type: envelope.detail_type,
        });
    }
    let detail = envelope.detail.ok_or(EventError::Missing("detail"))?;
    let eni_private_ipv4 = detail
        .attachments
        .iter()
        .filter(|a| a.kind.eq_ignore_ascii_case("eni") || a.kind == "ElasticNetworkInterface")
        .flat_map(|a| &a.details)
        .find(|d| d.name == "privateIPv4Address")
        .and_then(|d| d.value.clone());
    let task = Task {
        arn: detail.task_arn.ok_or(EventError::Missing("taskArn"))?,
        task_definition_arn: detail
            .task_definition_arn
            .ok_or(EventError::Missing("taskDefinitionArn"))?,
        group: detail.group,
        last_status: TaskStatus::from(
            detail
                .last_status
                .as_deref()
                .ok_or(EventError::Missing("lastStatus"))?,
        ),
        launch_type: detail.launch_type.as_deref().map(LaunchType::from),
        capacity_provider: detail.capacity_provider_name,
        availability_zone: detail.availability_zone,
        container_instance_arn: detail.container_instance_arn,
        eni_private_ipv4,
        containers: detail
            .containers
            .into_iter()
            .map(|c| Container {
                name: c.name,
                network_bindings: c
                    .network_bindings
                    .into_iter()
                    .map(|b| NetworkBinding {
                        container_port: b.container_port,
                        host_port: b.host_port,
                    })
                    .collect(),
                private_ipv4: c
                    .network_interfaces
                    .into_iter()
                    .find_map(|n| n.private_ipv4_address),
            })
            .collect(),
        tags: BTreeMap::new(),
        version: detail.version,
    };
    Ok(TaskStateChange {
        cluster_arn: detail
            .cluster_arn
            .ok_or(EventError::Missing("clusterArn"))?,
        version: detail.version.ok_or(EventError::Missing("version"))?,
        stopping: detail.desired_status.as_deref() == Some("STOPPED"),
        task,
    })
}

#[cfg(test)]
mod tests;
