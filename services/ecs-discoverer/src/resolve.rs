//! Resolution: a pure function from a cluster snapshot to target groups.
//!
//! All convention, port and label logic lives here, and nothing here does I/O. A marked container
//! that can't become a target is returned as a [`Skip`] with its reason, never silently dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use stack_common::labels::{is_valid_label_name, sanitize_label_name};

use crate::config::LabelFilter;
use crate::label_set::{Interner, LabelSet, Text};
use crate::model::{
    ClusterSnapshot, ContainerDefinition, Instance, LaunchType, NetworkBinding, NetworkMode, Task,
    TaskDefinition, TaskStatus,
};

/// What resolution needs from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub fallback_metrics_path: String,
    pub filter_label: Option<LabelFilter>,
    pub service_selector: BTreeMap<String, String>,
    pub extra_labels: BTreeMap<String, String>,
}

/// The scrape intervals a target may declare (those of prometheus-ecs-discoverer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interval {
    S15,
    S30,
    M1,
    M5,
}

impl Interval {
    pub const ALL: [Interval; 4] = [Interval::S15, Interval::S30, Interval::M1, Interval::M5];

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::S15 => "15s",
            Interval::S30 => "30s",
            Interval::M1 => "1m",
            Interval::M5 => "5m",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == raw)
    }
}

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
}

/// One endpoint a marker declares, before it is bound to an address.
#[derive(Debug, Clone)]
struct Endpoint<'a> {
    convention: Convention,
    container: &'a str,
    port: u16,
    path: String,
    interval: Option<Interval>,
    scheme: Option<String>,
    job: Option<String>,
    host: Option<String>,
    labels: BTreeMap<String, String>,
}

fn parse_port(key: &'static str, raw: &str) -> Result<u16, SkipReason> {
    match raw.trim().parse::<i64>() {
        Ok(port) if (1..=65535).contains(&port) => Ok(port as u16),
        _ => Err(SkipReason::InvalidPort {
            key,
            value: raw.to_string(),
        }),
    }
}

fn binding_host_port(binding: &NetworkBinding) -> Result<u16, SkipReason> {
    match binding.host_port {
        Some(port) if (1..=65535).contains(&port) => Ok(port as u16),
        Some(port) if port != 0 => Err(SkipReason::InvalidPort {
            key: "networkBindings.hostPort",
            value: port.to_string(),
        }),
        _ => Err(SkipReason::DynamicPortUnassigned {
            container_port: binding.container_port,
        }),
    }
}

fn binding_for(bindings: &[NetworkBinding], container_port: u16) -> Result<u16, SkipReason> {
    bindings
        .iter()
        .find(|b| b.container_port == Some(i32::from(container_port)))
        .ok_or(SkipReason::NoBindingForPort {
            port: container_port,
        })
        .and_then(binding_host_port)
}

/// At most this many endpoints per container from `PROMETHEUS_ENDPOINT`: a runaway value (a
/// 10 KB variable made 1,800 targets) can't flood Prometheus.
pub const MAX_ENDPOINTS_PER_CONTAINER: usize = 32;

/// A metrics path as `__metrics_path__`: absolute, without a query or fragment. Prometheus
/// escapes a `?` in the path (`%3F`), so `/metrics?x=1` would scrape a path that doesn't exist;
/// such an endpoint is refused with its reason rather than scraped wrong. (Query parameters
/// belong in the scrape config's `params`.)
fn check_path(key: &'static str, path: &str) -> Result<String, SkipReason> {
    if !path.starts_with('/') {
        Err(SkipReason::InvalidPath {
            key,
            value: path.to_string(),
        })
    } else if path.contains(['?', '#']) {
        Err(SkipReason::QueryInPath {
            key,
            value: path.to_string(),
        })
    } else {
        Ok(path.to_string())
    }
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

    fn address(
        &self,
        task: &'a Task,
        definition: &TaskDefinition,
    ) -> Result<(String, Option<&'a Instance>), SkipReason> {
        if task.effective_launch_type() == Some(LaunchType::External) {
            return Err(SkipReason::ExternalLaunchType);
        }
        match definition.network_mode {
            NetworkMode::None => Err(SkipReason::NetworkModeNone),
            NetworkMode::Awsvpc => task
                .eni_private_ipv4
                .clone()
                .or_else(|| task.containers.iter().find_map(|c| c.private_ipv4.clone()))
                // awsvpc on EC2 still runs on an instance: keep its labels for relabeling.
                .map(|ip| {
                    let instance = task
                        .container_instance_arn
                        .as_deref()
                        .and_then(|arn| self.cluster.instances.get(arn));
                    (ip, instance.map(AsRef::as_ref))
                })
                .ok_or(SkipReason::NoAddress {
                    detail: "awsvpc task without an ENI address (no attachment details yet)",
                }),
            _ => {
                let arn = task
                    .container_instance_arn
                    .as_deref()
                    .ok_or(SkipReason::NoAddress {
                        detail: "bridge/host task without a container instance",
                    })?;
                let instance = self
                    .cluster
                    .instances
                    .get(arn)
                    .ok_or(SkipReason::NoAddress {
                        detail: "the container instance could not be described",
                    })?;
                let ip = instance.private_ip.clone().ok_or(SkipReason::NoAddress {
                    detail: "the EC2 instance behind the container instance has no private IP",
                })?;
                Ok((ip, Some(instance.as_ref())))
            }
        }
    }

    fn environment_endpoints(
        &mut self,
        ctx: &TaskContext<'_>,
        def: &'a ContainerDefinition,
    ) -> Vec<Result<Endpoint<'a>, SkipReason>> {
        let port = if ctx.bridge {
            if let Some(raw) = def.key("PROMETHEUS_PORT") {
                parse_port("PROMETHEUS_PORT", raw)
            } else if let Some(raw) = def.key("PROMETHEUS_CONTAINER_PORT") {
                parse_port("PROMETHEUS_CONTAINER_PORT", raw)
                    .and_then(|p| binding_for(ctx.bindings_of(&def.name), p))
            } else {
                ctx.bindings_of(&def.name)
                    .first()
                    .ok_or(SkipReason::NoNetworkBinding)
                    .and_then(binding_host_port)
            }
        } else if let Some(raw) = def.key("PROMETHEUS_PORT") {
            parse_port("PROMETHEUS_PORT", raw)
        } else {
            match def.port_mappings.first().and_then(|m| m.container_port) {
                Some(port) => parse_port("portMappings.containerPort", &port.to_string()),
                None => Ok(80),
            }
        };
        let port = match port {
            Ok(port) => port,
            Err(reason) => return vec![Err(reason)],
        };
        // A label with an invalid name is dropped, the targets stay; explain and the skip
        // count show it, with its key and task family.
        let (labels, dropped) = match self.custom_labels(ctx, def) {
            Ok(found) => found,
            Err(reason) => return vec![Err(reason)],
        };
        let dropped = dropped.into_iter().map(Err);
        let raw_endpoints = def
            .key("PROMETHEUS_ENDPOINT")
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let Some(raw_endpoints) = raw_endpoints else {
            return dropped
                .chain(std::iter::once(Ok(Endpoint {
                    convention: Convention::Environment,
                    container: &def.name,
                    port,
                    path: self.options.fallback_metrics_path.clone(),
                    interval: None,
                    scheme: None,
                    job: None,
                    host: None,
                    labels,
                })))
                .collect();
        };
        let mut endpoints: Vec<_> = dropped.collect();
        let dropped_count = endpoints.len();
        for item in raw_endpoints
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            if endpoints.len() - dropped_count >= MAX_ENDPOINTS_PER_CONTAINER {
                endpoints.push(Err(SkipReason::TooManyEndpoints {
                    limit: MAX_ENDPOINTS_PER_CONTAINER,
                }));
                break;
            }
            let (interval, path) = if item.starts_with('/') {
                (None, item)
            } else {
                let Some((raw_interval, path)) = item.split_once(':') else {
                    endpoints.push(Err(SkipReason::InvalidEndpoint {
                        value: item.to_string(),
                    }));
                    continue;
                };
                let interval = Interval::parse(raw_interval.trim());
                if interval.is_none() {
                    // Counted and shown by explain, and the path is still a target.
                    endpoints.push(Err(SkipReason::UnknownInterval {
                        value: raw_interval.trim().to_string(),
                    }));
                }
                (interval, path.trim())
            };
            let path = if path.starts_with('/') {
                check_path("PROMETHEUS_ENDPOINT", path)
            } else {
                Err(SkipReason::InvalidEndpoint {
                    value: item.to_string(),
                })
            };
            endpoints.push(path.map(|path| Endpoint {
                convention: Convention::Environment,
                container: &def.name,
                port,
                path,
                interval,
                scheme: None,
                job: None,
                host: None,
                labels: labels.clone(),
            }));
        }
        endpoints
    }

    /// The `PROMETHEUS_LABEL_<name>` labels. A name starting with `__` would steer Prometheus
    /// (`__scheme__`, `__param_*`, `__scrape_interval__`, a faked `__meta_*`): the container is
    /// refused rather than scraped differently from what its owner sees.
    fn custom_labels(
        &mut self,
        ctx: &TaskContext<'_>,
        def: &ContainerDefinition,
    ) -> Result<(BTreeMap<String, String>, Vec<SkipReason>), SkipReason> {
        let mut labels = BTreeMap::new();
        let mut dropped = Vec::new();
        let keys = def.environment.keys().chain(def.docker_labels.keys());
        for key in keys {
            let Some(name) = key.strip_prefix("PROMETHEUS_LABEL_") else {
                continue;
            };
            if name.starts_with("__") {
                return Err(SkipReason::ReservedLabel {
                    key: key.clone(),
                    family: ctx.definition.family.clone(),
                });
            }
            if is_valid_label_name(name) {
                if let Some(value) = def.key(key) {
                    labels.insert(name.to_string(), value.to_string());
                }
            } else {
                dropped.push(SkipReason::InvalidLabelName {
                    key: key.clone(),
                    family: ctx.definition.family.clone(),
                });
            }
        }
        Ok((labels, dropped))
    }

    fn docker_label_endpoint(
        &self,
        ctx: &TaskContext<'_>,
        def: &'a ContainerDefinition,
        raw_port: &str,
    ) -> Result<Endpoint<'a>, SkipReason> {
        let container_port = parse_port("PROMETHEUS_EXPORTER_PORT", raw_port)?;
        let port = if ctx.bridge {
            binding_for(ctx.bindings_of(&def.name), container_port)?
        } else {
            container_port
        };
        let path = match def
            .key("PROMETHEUS_EXPORTER_PATH")
            .filter(|p| !p.is_empty())
        {
            Some(path) => check_path("PROMETHEUS_EXPORTER_PATH", path)?,
            None => self.options.fallback_metrics_path.clone(),
        };
        let scheme = match def
            .key("PROMETHEUS_EXPORTER_SCHEME")
            .filter(|s| !s.is_empty())
        {
            Some(s @ ("http" | "https")) => Some(s.to_string()),
            Some(other) => {
                return Err(SkipReason::InvalidScheme {
                    value: other.to_string(),
                });
            }
            None => None,
        };
        Ok(Endpoint {
            convention: Convention::DockerLabel,
            container: &def.name,
            port,
            path,
            interval: None,
            scheme,
            job: def
                .key("PROMETHEUS_EXPORTER_JOB_NAME")
                .filter(|j| !j.is_empty())
                .map(str::to_string),
            host: def
                .key("PROMETHEUS_EXPORTER_SERVER_NAME")
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(server_name)
                .transpose()?,
            labels: BTreeMap::new(),
        })
    }

    /// The tag convention: `METRICS_PORT<suffix>` groups on the service and task (task wins).
    fn tag_endpoints(
        &self,
        ctx: &TaskContext<'a>,
    ) -> Vec<(String, Result<Endpoint<'a>, SkipReason>)> {
        let mut tags: BTreeMap<&str, &str> = BTreeMap::new();
        for source in ctx
            .service_tags
            .into_iter()
            .chain(std::iter::once(&ctx.task.tags))
        {
            for (key, value) in source {
                if key.starts_with("METRICS_") {
                    tags.insert(key, value);
                }
            }
        }
        let mut groups: BTreeMap<&str, [Option<&str>; 3]> = BTreeMap::new();
        for (key, value) in tags {
            for (index, prefix) in ["METRICS_PORT", "METRICS_PATH", "METRICS_NAME"]
                .iter()
                .enumerate()
            {
                if let Some(suffix) = key.strip_prefix(prefix) {
                    groups.entry(suffix).or_default()[index] = Some(value);
                }
            }
        }
        let first_container = ctx
            .definition
            .containers
            .first()
            .map_or("", |c| c.name.as_str());
        groups
            .into_iter()
            .map(|(suffix, [port, path, name])| {
                let endpoint = (|| {
                    let raw_port = port.ok_or_else(|| SkipReason::TagWithoutPort {
                        suffix: suffix.to_string(),
                    })?;
                    let key = "METRICS_PORT";
                    let container_port = parse_port(key, raw_port)?;
                    let (container, port) = if ctx.bridge {
                        let owner = ctx.definition.containers.iter().find(|c| {
                            ctx.bindings_of(&c.name)
                                .iter()
                                .any(|b| b.container_port == Some(i32::from(container_port)))
                        });
                        let owner = owner.ok_or(SkipReason::NoBindingForPort {
                            port: container_port,
                        })?;
                        (
                            owner.name.as_str(),
                            binding_for(ctx.bindings_of(&owner.name), container_port)?,
                        )
                    } else {
                        let owner = ctx.definition.containers.iter().find(|c| {
                            c.port_mappings
                                .iter()
                                .any(|m| m.container_port == Some(i32::from(container_port)))
                        });
                        (
                            owner.map_or(first_container, |c| c.name.as_str()),
                            container_port,
                        )
                    };
                    let path = match path.filter(|p| !p.is_empty()) {
                        Some(path) => check_path("METRICS_PATH", path)?,
                        None => self.options.fallback_metrics_path.clone(),
                    };
                    let mut labels = BTreeMap::new();
                    if let Some(name) = name.filter(|n| !n.is_empty()) {
                        labels.insert("scrape_target_name".to_string(), name.to_string());
                    }
                    Ok(Endpoint {
                        convention: Convention::Tag,
                        container,
                        port,
                        path,
                        interval: None,
                        scheme: None,
                        job: None,
                        host: None,
                        labels,
                    })
                })();
                (first_container.to_string(), endpoint)
            })
            .collect()
    }

    fn target(
        &mut self,
        ctx: &TaskContext<'_>,
        endpoint: Endpoint<'_>,
        ip: &str,
        instance: Option<&Instance>,
    ) -> Target {
        let task = ctx.task;
        let definition = ctx.definition;
        let interner = &mut self.interner;
        let mut pairs: Vec<(Text, Text)> =
            Vec::with_capacity(self.options.extra_labels.len() + endpoint.labels.len() + 32);
        let mut set = |name: &str, value: &str| {
            pairs.push((interner.intern(name), interner.intern(value)));
        };
        for (name, value) in self.options.extra_labels.iter().chain(&endpoint.labels) {
            set(name, value);
        }
        set("job", endpoint.job.as_deref().unwrap_or(&definition.family));
        set("__metrics_path__", &endpoint.path);
        if let Some(scheme) = &endpoint.scheme {
            set("__scheme__", scheme);
        }
        let revision = definition.revision.to_string();
        set("ecs_cluster", &self.cluster.name);
        if let Some(service) = task.service_name() {
            set("ecs_service", service);
            set("__meta_ecs_service", service);
        }
        set("ecs_task_family", &definition.family);
        set("ecs_task_revision", &revision);
        set("ecs_container", endpoint.container);
        set("__meta_ecs_cluster", &self.cluster.name);
        set("__meta_ecs_cluster_arn", &self.cluster.arn);
        set("__meta_ecs_task_arn", &task.arn);
        set("__meta_ecs_task_definition", &task.task_definition_arn);
        set("__meta_ecs_task_group", task.group.as_deref().unwrap_or(""));
        set(
            "__meta_ecs_launch_type",
            task.effective_launch_type()
                .as_ref()
                .map_or("", LaunchType::as_str),
        );
        set("__meta_ecs_network_mode", definition.network_mode.as_str());
        set(
            "__meta_ecs_availability_zone",
            task.availability_zone.as_deref().unwrap_or(""),
        );
        set("__meta_ecs_ip_address", ip);
        set("__meta_ecs_container_name", endpoint.container);
        set("__meta_ecs_task_definition_family", &definition.family);
        set("__meta_ecs_task_definition_revision", &revision);
        set("__meta_ecs_convention", endpoint.convention.as_str());
        if let Some(instance) = instance {
            set(
                "__meta_ecs_container_instance_arn",
                &instance.container_instance_arn,
            );
            set(
                "__meta_ecs_ec2_instance_id",
                instance.ec2_instance_id.as_deref().unwrap_or(""),
            );
            set(
                "__meta_ecs_ec2_instance_private_ip",
                instance.private_ip.as_deref().unwrap_or(""),
            );
        }
        let tag_sets = [
            ("cluster", Some(&self.cluster.tags)),
            ("service", ctx.service_tags),
            ("task", Some(&task.tags)),
        ];
        for (kind, tags) in tag_sets {
            for (key, value) in tags.into_iter().flatten() {
                set(
                    &format!("__meta_ecs_tag_{kind}_{}", sanitize_label_name(key)),
                    value,
                );
            }
        }
        let host = endpoint.host.as_deref().unwrap_or(ip);
        Target {
            origin: Origin::Ecs,
            interval: endpoint.interval,
            address: Text::from(format!("{host}:{}", endpoint.port)),
            labels: LabelSet::from_pairs(pairs),
        }
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
        resolver.task(task);
    }
    resolver.out
}

/// Merges targets into one sorted list, ECS's first; two endpoints of one origin with the same
/// address and path are emitted once (the first by sort order wins).
pub fn combine(targets: impl IntoIterator<Item = Arc<Target>>) -> Vec<Arc<Target>> {
    let mut all: Vec<Arc<Target>> = targets.into_iter().collect();
    all.sort();
    let first: Vec<bool> = {
        let mut seen = BTreeSet::new();
        all.iter()
            .map(|t| {
                seen.insert((
                    t.origin,
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

/// `PROMETHEUS_EXPORTER_SERVER_NAME` as the host part of a target address: a DNS name (RFC 1123
/// labels) or an IP address, IPv6 in brackets. Anything else (a port, a path, a query,
/// credentials) would change what Prometheus scrapes, or make a target it rejects.
fn server_name(value: &str) -> Result<String, SkipReason> {
    if let Ok(ip) = value.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        });
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let name = value.strip_suffix('.').unwrap_or(value);
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(name.to_string())
    } else {
        Err(SkipReason::InvalidServerName {
            value: value.to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
