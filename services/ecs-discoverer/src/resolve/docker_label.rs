//! prometheus-ecs-discovery's convention: the `PROMETHEUS_EXPORTER_*` docker labels.

use std::collections::BTreeMap;

use crate::model::ContainerDefinition;

use super::endpoint::{Endpoint, binding_for, check_path, parse_port, server_name};
use super::skip::SkipReason;
use super::{Convention, Resolver, TaskContext};

impl<'a> Resolver<'a> {
    pub(super) fn docker_label_endpoint(
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
}
