//! The snapshot of an ECS estate that the AWS edge produces and the resolution step reads.
//!
//! Plain data, independent of the SDK's types, so resolution is a pure function that unit tests
//! can feed with any shape, including the odd ones real estates have.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One port mapping of a container definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub container_port: Option<i32>,
    pub host_port: Option<i32>,
}

/// A container definition of a task definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerDefinition {
    pub name: String,
    pub docker_labels: BTreeMap<String, String>,
    pub environment: BTreeMap<String, String>,
    pub port_mappings: Vec<PortMapping>,
}

impl ContainerDefinition {
    /// A convention key: docker labels first, then the environment.
    pub fn key(&self, name: &str) -> Option<&str> {
        self.docker_labels
            .get(name)
            .or_else(|| self.environment.get(name))
            .map(String::as_str)
    }
}

/// Names ECS gives that this crate branches on; a name it doesn't know is kept as given, for
/// the `__meta_ecs_*` labels, and treated as the text says.
macro_rules! ecs_names {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)*
            /// A value this crate has no name for (a newer ECS).
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }
        }
    };
}

ecs_names!(
    /// A task definition's `networkMode`.
    NetworkMode {
        Bridge = "bridge",
        Host = "host",
        Awsvpc = "awsvpc",
        None = "none",
    }
);

impl NetworkMode {
    /// Containers reach the outside through host ports that Docker maps (bridge, also what a
    /// mode this crate doesn't know is taken for).
    pub fn maps_host_ports(&self) -> bool {
        !matches!(self, Self::Host | Self::Awsvpc | Self::None)
    }
}

impl Default for NetworkMode {
    /// ECS's default when a task definition names none.
    fn default() -> Self {
        Self::Bridge
    }
}

ecs_names!(
    /// A task's launch type.
    LaunchType {
        Ec2 = "EC2",
        Fargate = "FARGATE",
        External = "EXTERNAL",
    }
);

ecs_names!(
    /// A task's `lastStatus`.
    TaskStatus {
        Provisioning = "PROVISIONING",
        Pending = "PENDING",
        Activating = "ACTIVATING",
        Running = "RUNNING",
        Deactivating = "DEACTIVATING",
        Stopping = "STOPPING",
        Deprovisioning = "DEPROVISIONING",
        Stopped = "STOPPED",
    }
);

impl Default for TaskStatus {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

/// A task definition (immutable in ECS, so cached by ARN).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskDefinition {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    /// `bridge` also when ECS reports none.
    pub network_mode: NetworkMode,
    pub containers: Vec<ContainerDefinition>,
}

/// One network binding of a running container (bridge and host mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkBinding {
    pub container_port: Option<i32>,
    pub host_port: Option<i32>,
}

/// A container of a running task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub network_bindings: Vec<NetworkBinding>,
    /// The first network interface's private IPv4 (awsvpc).
    pub private_ipv4: Option<String>,
}

/// A task as DescribeTasks reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Task {
    pub arn: String,
    pub task_definition_arn: String,
    pub group: Option<String>,
    pub last_status: TaskStatus,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider: Option<String>,
    pub availability_zone: Option<String>,
    pub container_instance_arn: Option<String>,
    /// The task ENI's private IPv4, from the task's attachments.
    pub eni_private_ipv4: Option<String>,
    pub containers: Vec<Container>,
    pub tags: BTreeMap<String, String>,
    /// ECS's version of the task, raised on each state change (DescribeTasks and the task's
    /// state change events both carry it).
    pub version: Option<i64>,
}

impl Task {
    /// The service name from the task's group (`service:NAME`); `None` for standalone tasks.
    pub fn service_name(&self) -> Option<&str> {
        self.group.as_deref()?.strip_prefix("service:")
    }

    /// The launch type, derived from the capacity provider or the container instance when ECS
    /// leaves `launchType` out (tasks placed by a capacity provider strategy).
    pub fn effective_launch_type(&self) -> Option<LaunchType> {
        match (&self.launch_type, self.capacity_provider.as_deref()) {
            (Some(launch_type), _) if !launch_type.as_str().is_empty() => Some(launch_type.clone()),
            (_, Some(provider)) if provider.starts_with("FARGATE") => Some(LaunchType::Fargate),
            _ if self.container_instance_arn.is_some() => Some(LaunchType::Ec2),
            _ => None,
        }
    }
}

/// The EC2 side of a container instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    pub container_instance_arn: String,
    pub ec2_instance_id: Option<String>,
    pub private_ip: Option<String>,
}

/// A cluster and everything resolution needs to know about it.
#[derive(Debug, Clone, Default)]
pub struct ClusterSnapshot {
    pub name: String,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    pub tasks: Vec<Arc<Task>>,
    pub task_definitions: HashMap<String, Arc<TaskDefinition>>,
    /// By container instance ARN.
    pub instances: HashMap<String, Arc<Instance>>,
    /// Service tags, by service name; a service missing here has unknown tags.
    pub service_tags: HashMap<String, Arc<BTreeMap<String, String>>>,
}

/// The cluster name in a cluster ARN (`arn:...:cluster/NAME`), or the input as it stands.
pub fn cluster_name(name_or_arn: &str) -> &str {
    name_or_arn
        .rsplit_once(":cluster/")
        .map_or(name_or_arn, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_name_comes_from_the_group() {
        let mut task = Task {
            group: Some("service:web".into()),
            ..Task::default()
        };
        assert_eq!(task.service_name(), Some("web"));
        task.group = Some("family:web".into());
        assert_eq!(task.service_name(), None);
        task.group = None;
        assert_eq!(task.service_name(), None);
    }

    #[test]
    fn launch_type_is_derived_when_missing() {
        let mut task = Task {
            capacity_provider: Some("FARGATE_SPOT".into()),
            ..Task::default()
        };
        assert_eq!(task.effective_launch_type(), Some(LaunchType::Fargate));
        task.capacity_provider = Some("my-asg".into());
        task.container_instance_arn = Some("arn:ci".into());
        assert_eq!(task.effective_launch_type(), Some(LaunchType::Ec2));
        task.launch_type = Some("EXTERNAL".into());
        assert_eq!(task.effective_launch_type(), Some(LaunchType::External));
        task.launch_type = Some("MANAGED_INSTANCES".into());
        assert_eq!(
            task.effective_launch_type()
                .as_ref()
                .map(LaunchType::as_str),
            Some("MANAGED_INSTANCES"),
            "a launch type this crate has no name for is kept as given"
        );
    }

    #[test]
    fn cluster_names_from_arns() {
        assert_eq!(cluster_name("arn:aws:ecs:us-east-1:1:cluster/prod"), "prod");
        assert_eq!(cluster_name("prod"), "prod");
    }
}
