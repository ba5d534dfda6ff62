//! Why a marked container (or one of its endpoints) is not a target, and which convention
//! marked it: what `explain`, `/debug/skipped` and `ecs_sd_skipped_targets` report.

use std::fmt;

/// The target convention a marker belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Convention {
    /// prometheus-ecs-sd / prometheus-ecs-discoverer: `PROMETHEUS`, `PROMETHEUS_TARGET=true`.
    Environment,
    /// prometheus-ecs-discovery: `PROMETHEUS_EXPORTER_PORT`.
    DockerLabel,
    /// aws-ecs-cloudmap-prometheus-sd: `METRICS_PORT*` tags on the service or task.
    Tag,
}

impl Convention {
    pub fn as_str(self) -> &'static str {
        match self {
            Convention::Environment => "environment",
            Convention::DockerLabel => "docker_label",
            Convention::Tag => "tag",
        }
    }
}

/// Why a marked container (or one of its endpoints) is not a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    InvalidPort { key: &'static str, value: String },
    DynamicPortUnassigned { container_port: Option<i32> },
    NoBindingForPort { port: u16 },
    NoNetworkBinding,
    NoAddress { detail: &'static str },
    ExternalLaunchType,
    NetworkModeNone,
    InvalidEndpoint { value: String },
    UnknownInterval { value: String },
    InvalidPath { key: &'static str, value: String },
    InvalidScheme { value: String },
    FilteredByLabel,
    ServiceSelector,
    TaskDefinitionUnavailable,
    TagWithoutPort { suffix: String },
    ReservedLabel { key: String, family: String },
    InvalidServerName { value: String },
    QueryInPath { key: &'static str, value: String },
    TooManyEndpoints { limit: usize },
    InvalidLabelName { key: String, family: String },
}

impl SkipReason {
    /// The `reason` label of `ecs_sd_skipped_targets`.
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::InvalidPort { .. } => "invalid_port",
            SkipReason::DynamicPortUnassigned { .. } => "dynamic_port_unassigned",
            SkipReason::NoBindingForPort { .. } => "no_binding_for_port",
            SkipReason::NoNetworkBinding => "no_network_binding",
            SkipReason::NoAddress { .. } => "no_address",
            SkipReason::ExternalLaunchType => "external_launch_type",
            SkipReason::NetworkModeNone => "network_mode_none",
            SkipReason::InvalidEndpoint { .. } => "invalid_endpoint",
            SkipReason::UnknownInterval { .. } => "unknown_interval",
            SkipReason::InvalidPath { .. } => "invalid_path",
            SkipReason::InvalidScheme { .. } => "invalid_scheme",
            SkipReason::FilteredByLabel => "filtered_by_label",
            SkipReason::ServiceSelector => "service_selector",
            SkipReason::TaskDefinitionUnavailable => "task_definition_unavailable",
            SkipReason::TagWithoutPort { .. } => "tag_without_port",
            SkipReason::ReservedLabel { .. } => "reserved_label",
            SkipReason::InvalidServerName { .. } => "invalid_server_name",
            SkipReason::QueryInPath { .. } => "query_in_path",
            SkipReason::TooManyEndpoints { .. } => "too_many_endpoints",
            SkipReason::InvalidLabelName { .. } => "invalid_label_name",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::InvalidPort { key, value } => {
                write!(
                    f,
                    "{key}='{value}' is not a port: give a number from 1 to 65535"
                )
            }
            SkipReason::DynamicPortUnassigned { container_port } => write!(
                f,
                "the network binding of container port {} has host port 0: ECS has not assigned the dynamic port yet",
                container_port.map_or("?".to_string(), |p| p.to_string())
            ),
            SkipReason::NoBindingForPort { port } => write!(
                f,
                "bridge mode, but no network binding has container port {port}: add a portMappings entry for {port}"
            ),
            SkipReason::NoNetworkBinding => write!(
                f,
                "bridge mode and the container has no network binding: add a portMappings entry, or set PROMETHEUS_PORT"
            ),
            SkipReason::NoAddress { detail } => write!(f, "no IP address: {detail}"),
            SkipReason::ExternalLaunchType => {
                write!(
                    f,
                    "EXTERNAL launch type (ECS Anywhere): the task's address is unknown to ECS"
                )
            }
            SkipReason::NetworkModeNone => {
                write!(f, "network mode 'none': the container has no network")
            }
            SkipReason::InvalidEndpoint { value } => write!(
                f,
                "PROMETHEUS_ENDPOINT entry '{value}' is not [interval:]path: give e.g. /metrics or 30s:/metrics"
            ),
            SkipReason::UnknownInterval { value } => write!(
                f,
                "PROMETHEUS_ENDPOINT interval '{value}' is not one of 15s, 30s, 1m, 5m: the interval is dropped and the path is scraped at the job's interval (as prometheus-ecs-discoverer does)"
            ),
            SkipReason::InvalidPath { key, value } => {
                write!(
                    f,
                    "{key}='{value}' is not a path: give one starting with '/'"
                )
            }
            SkipReason::InvalidScheme { value } => {
                write!(
                    f,
                    "PROMETHEUS_EXPORTER_SCHEME='{value}': give http or https"
                )
            }
            SkipReason::FilteredByLabel => {
                write!(
                    f,
                    "the container lacks the docker label that --filter-label requires"
                )
            }
            SkipReason::ServiceSelector => {
                write!(f, "the task's service does not match --service-selector")
            }
            SkipReason::TaskDefinitionUnavailable => {
                write!(f, "the task definition could not be described")
            }
            SkipReason::TagWithoutPort { suffix } => write!(
                f,
                "METRICS_PATH{suffix}/METRICS_NAME{suffix} tag without METRICS_PORT{suffix}"
            ),
            SkipReason::ReservedLabel { key, family } => write!(
                f,
                "{key} (task family {family}) names a label starting with __, which Prometheus reads as a scrape setting, not a label: rename it"
            ),
            SkipReason::InvalidLabelName { key, family } => write!(
                f,
                "{key} (task family {family}) is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*): the label is dropped, the target stays"
            ),
            SkipReason::TooManyEndpoints { limit } => write!(
                f,
                "PROMETHEUS_ENDPOINT lists more than {limit} endpoints: the first {limit} are targets, the rest are dropped"
            ),
            SkipReason::QueryInPath { key, value } => write!(
                f,
                "{key} path '{value}' has a query or fragment, which Prometheus would escape (%3F) and scrape as part of the path: give the path alone, and put parameters in the scrape config's params"
            ),
            SkipReason::InvalidServerName { value } => write!(
                f,
                "PROMETHEUS_EXPORTER_SERVER_NAME='{value}' is not a hostname or IP address: give e.g. metrics.internal or 10.0.0.5, without port, path or credentials"
            ),
        }
    }
}

/// A marked container, or one endpoint of it, that is not a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub cluster: String,
    pub service: Option<String>,
    pub task_arn: String,
    pub container: String,
    pub convention: Convention,
    pub reason: SkipReason,
}
