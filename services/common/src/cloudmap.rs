//! Cloud Map discovery: every registered instance of the named namespaces as file_sd groups.
//!
//! Shared by config-reloader (`cloudmap.json`) and ecs-discoverer (`--cloudmap-namespaces`).
//! [`CloudMap::snapshot`] is the AWS edge (ListNamespaces, ListServices, ListTagsForResource,
//! DiscoverInstances); [`groups`] is the pure mapping from that snapshot to target groups.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::types::{
    FilterCondition, HealthStatusFilter, ServiceFilter, ServiceFilterName,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::labels::sanitize_label_name;
use crate::printable::printable;
use crate::target_group::TargetGroup;

/// DiscoverInstances returns at most this many instances per call (the API maximum).
const DISCOVER_MAX_RESULTS: i32 = 1000;
/// The host prefix the SDK puts in front of the endpoint for Cloud Map's data-plane calls.
const DATA_PLANE_HOST_PREFIX: &str = "data-";

/// Attributes that ECS sets when it registers a task, and the plain labels they become.
const ECS_ATTRIBUTE_LABELS: [(&str, &str); 3] = [
    ("ECS_CLUSTER_NAME", "ecs_cluster"),
    ("ECS_SERVICE_NAME", "ecs_service"),
    ("ECS_TASK_DEFINITION_FAMILY", "ecs_task_family"),
];

#[derive(Debug, thiserror::Error)]
pub enum CloudMapError {
    #[error(
        "Cloud Map namespace '{name}' does not exist in this account and region: check the name \
         (aws servicediscovery list-namespaces) or remove it from the list"
    )]
    NamespaceNotFound { name: String },
    #[error("Cloud Map {operation} failed for '{target}': {message}")]
    Api {
        operation: &'static str,
        target: String,
        message: String,
    },
}

fn api_error<E>(operation: &'static str, target: &str, error: E) -> CloudMapError
where
    E: std::error::Error,
{
    CloudMapError::Api {
        operation,
        target: target.to_string(),
        message: DisplayErrorContext(error).to_string(),
    }
}

/// One registered instance: its id, attributes and health as Cloud Map reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub attributes: BTreeMap<String, String>,
    pub health_status: Option<String>,
}

/// One Cloud Map service with its instances, as fetched in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInstances {
    pub namespace: String,
    pub service: String,
    /// The service's `METRICS_PATH` tag.
    pub metrics_path: Option<String>,
    pub instances: Vec<Instance>,
}

/// The groups of a snapshot, and the instances that could not become targets (in words).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    pub groups: Vec<TargetGroup>,
    pub skipped: Vec<String>,
}

/// Maps a snapshot to one group per instance, sorted by namespace, service and instance id so
/// that an unchanged registry renders to the same bytes.
pub fn groups(services: &[ServiceInstances]) -> Groups {
    let mut out = Groups::default();
    let mut keyed = Vec::new();
    for service in services {
        for instance in &service.instances {
            match group(service, instance) {
                Ok(group) => keyed.push((
                    (
                        service.namespace.clone(),
                        service.service.clone(),
                        instance.id.clone(),
                    ),
                    group,
                )),
                Err(reason) => out.skipped.push(format!(
                    "Cloud Map instance '{}' of service '{}' in namespace '{}': {}",
                    printable(&instance.id),
                    printable(&service.service),
                    printable(&service.namespace),
                    printable(&reason),
                )),
            }
        }
    }
    keyed.sort();
    out.groups = keyed.into_iter().map(|(_, group)| group).collect();
    out
}

fn group(service: &ServiceInstances, instance: &Instance) -> Result<TargetGroup, String> {
    let ip = instance
        .attributes
        .get("AWS_INSTANCE_IPV4")
        .filter(|ip| !ip.is_empty())
        .ok_or("no AWS_INSTANCE_IPV4 attribute, so there is no address to scrape")?;
    let port = match instance.attributes.get("AWS_INSTANCE_PORT") {
        None => 80,
        Some(raw) => match raw.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(format!(
                    "AWS_INSTANCE_PORT='{raw}' is not a port: register a number from 1 to 65535"
                ));
            }
        },
    };
    let mut labels = BTreeMap::from([
        (
            "__meta_cloudmap_namespace_name".to_string(),
            service.namespace.clone(),
        ),
        (
            "__meta_cloudmap_service_name".to_string(),
            service.service.clone(),
        ),
        (
            "__meta_cloudmap_instance_id".to_string(),
            instance.id.clone(),
        ),
    ]);
    if let Some(health) = &instance.health_status {
        labels.insert("__meta_cloudmap_health_status".to_string(), health.clone());
    }
    for (name, value) in &instance.attributes {
        labels.insert(
            format!("__meta_cloudmap_attribute_{}", sanitize_label_name(name)),
            value.clone(),
        );
    }
    for (attribute, label) in ECS_ATTRIBUTE_LABELS {
        if let Some(value) = instance.attributes.get(attribute) {
            labels.insert(label.to_string(), value.clone());
        }
    }
    if let Some(path) = &service.metrics_path {
        if !path.starts_with('/') {
            return Err(format!(
                "the service's METRICS_PATH tag is '{path}': give a path starting with '/'"
            ));
        }
        labels.insert("__metrics_path__".to_string(), path.clone());
    }
    let target = if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    };
    Ok(TargetGroup::new(target, labels))
}

/// Strips the `data-` host prefix from a request URI; `None` when it has none.
///
/// The SDK sends DiscoverInstances to `data-servicediscovery.<region>.amazonaws.com`, and it puts
/// the same prefix in front of a custom endpoint too: `http://127.0.0.1:4566` becomes
/// `http://data-127.0.0.1:4566`, which doesn't resolve. Emulators serve the data plane on the
/// endpoint as given, so with a custom endpoint the prefix is removed again.
pub fn strip_data_plane_prefix(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let host = rest.strip_prefix(DATA_PLANE_HOST_PREFIX)?;
    Some(format!("{scheme}://{host}"))
}

/// The interceptor that applies [`strip_data_plane_prefix`] before a request is signed.
#[derive(Debug, Clone, Copy)]
pub struct StripDataPlanePrefix;

impl Intercept for StripDataPlanePrefix {
    fn name(&self) -> &'static str {
        "StripDataPlanePrefix"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        if let Some(uri) = strip_data_plane_prefix(request.uri()) {
            request.set_uri(uri)?;
        }
        Ok(())
    }
}

/// A Cloud Map client configuration for `sdk`: with a custom endpoint (an emulator), the
/// data-plane prefix is stripped. The caller adds its own interceptors and builds it.
pub fn client_config(sdk: &SdkConfig) -> aws_sdk_servicediscovery::config::Builder {
    let builder = aws_sdk_servicediscovery::config::Builder::from(sdk);
    if crate::aws::has_custom_endpoint(sdk) {
        builder.interceptor(StripDataPlanePrefix)
    } else {
        builder
    }
}

/// Which AWS throttling bucket a Cloud Map call draws from: DiscoverInstances has its own
/// (documented: 2,000 burst, 1,000 a second); the other calls share the control plane's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloudMapCall {
    DiscoverInstances,
    ControlPlane,
}

/// Waits before each Cloud Map call, e.g. for a token of a client-side rate limiter.
pub type Pacer =
    Arc<dyn Fn(CloudMapCall) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The AWS edge of Cloud Map discovery.
#[derive(Clone)]
pub struct CloudMap {
    client: Client,
    pacer: Option<Pacer>,
}

impl fmt::Debug for CloudMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudMap")
            .field("paced", &self.pacer.is_some())
            .finish_non_exhaustive()
    }
}

impl CloudMap {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            pacer: None,
        }
    }

    /// Every call (every page) waits for `pacer` first.
    pub fn with_pacer(mut self, pacer: Pacer) -> Self {
        self.pacer = Some(pacer);
        self
    }

    async fn pace(&self, call: CloudMapCall) {
        if let Some(pacer) = &self.pacer {
            pacer(call).await;
        }
    }

    /// Every service and instance of `namespaces` (names). Fails as a whole when any call
    /// fails, so a caller never mistakes a partial registry for the real one.
    pub async fn snapshot(
        &self,
        namespaces: &[String],
    ) -> Result<Vec<ServiceInstances>, CloudMapError> {
        let ids = self.namespace_ids().await?;
        let mut out = Vec::new();
        for name in namespaces {
            let id = ids
                .get(name)
                .ok_or_else(|| CloudMapError::NamespaceNotFound { name: name.clone() })?;
            for (service, arn) in self.services(name, id).await? {
                let metrics_path = self.metrics_path_tag(&arn).await?;
                let instances = self.instances(name, &service).await?;
                out.push(ServiceInstances {
                    namespace: name.clone(),
                    service,
                    metrics_path,
                    instances,
                });
            }
        }
        Ok(out)
    }

    async fn namespace_ids(&self) -> Result<BTreeMap<String, String>, CloudMapError> {
        let mut ids = BTreeMap::new();
        let mut pages = self
            .client
            .list_namespaces()
            .max_results(100)
            .into_paginator()
            .send();
        loop {
            self.pace(CloudMapCall::ControlPlane).await;
            let Some(page) = pages.next().await else {
                break;
            };
            let page = page.map_err(|e| api_error("ListNamespaces", "*", e))?;
            let last = page.next_token().is_none();
            for namespace in page.namespaces() {
                if let (Some(name), Some(id)) = (namespace.name(), namespace.id()) {
                    ids.insert(name.to_string(), id.to_string());
                }
            }
            if last {
                break;
            }
        }
        Ok(ids)
    }

    /// (name, ARN) of every service in the namespace.
    async fn services(
        &self,
        namespace: &str,
        id: &str,
    ) -> Result<Vec<(String, String)>, CloudMapError> {
        let filter = ServiceFilter::builder()
            .name(ServiceFilterName::NamespaceId)
            .values(id)
            .condition(FilterCondition::Eq)
            .build()
            .map_err(|e| api_error("ListServices", namespace, e))?;
        let mut services = Vec::new();
        let mut pages = self
            .client
            .list_services()
            .filters(filter)
            .max_results(100)
            .into_paginator()
            .send();
        loop {
            self.pace(CloudMapCall::ControlPlane).await;
            let Some(page) = pages.next().await else {
                break;
            };
            let page = page.map_err(|e| api_error("ListServices", namespace, e))?;
            let last = page.next_token().is_none();
            for service in page.services() {
                if let (Some(name), Some(arn)) = (service.name(), service.arn()) {
                    services.push((name.to_string(), arn.to_string()));
                }
            }
            if last {
                break;
            }
        }
        Ok(services)
    }

    async fn metrics_path_tag(&self, service_arn: &str) -> Result<Option<String>, CloudMapError> {
        self.pace(CloudMapCall::ControlPlane).await;
        let tags = self
            .client
            .list_tags_for_resource()
            .resource_arn(service_arn)
            .send()
            .await
            .map_err(|e| api_error("ListTagsForResource", service_arn, e))?;
        Ok(tags
            .tags()
            .iter()
            .find(|t| t.key() == "METRICS_PATH")
            .map(|t| t.value().to_string()))
    }

    /// Every instance, healthy or not: an unhealthy instance is one whose metrics matter most.
    async fn instances(
        &self,
        namespace: &str,
        service: &str,
    ) -> Result<Vec<Instance>, CloudMapError> {
        self.pace(CloudMapCall::DiscoverInstances).await;
        let found = self
            .client
            .discover_instances()
            .namespace_name(namespace)
            .service_name(service)
            .health_status(HealthStatusFilter::All)
            .max_results(DISCOVER_MAX_RESULTS)
            .send()
            .await
            .map_err(|e| api_error("DiscoverInstances", &format!("{namespace}/{service}"), e))?;
        Ok(found
            .instances()
            .iter()
            .map(|i| Instance {
                id: i.instance_id().unwrap_or_default().to_string(),
                attributes: i
                    .attributes()
                    .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                health_status: i.health_status().map(|h| h.as_str().to_string()),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
