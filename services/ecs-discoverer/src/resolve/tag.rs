//! aws-ecs-cloudmap-prometheus-sd's convention: `METRICS_PORT<suffix>` tags on the service and
//! the task (the task's win), each with an optional `METRICS_PATH<suffix>` and
//! `METRICS_NAME<suffix>`.

use std::collections::BTreeMap;

use super::endpoint::{Endpoint, binding_for, check_path, parse_port};
use super::skip::SkipReason;
use super::{Convention, Resolver, TaskContext};

/// One `<suffix>` group of tags.
#[derive(Debug, Default)]
struct TagGroup<'t> {
    port: Option<&'t str>,
    path: Option<&'t str>,
    name: Option<&'t str>,
}

impl<'a> Resolver<'a> {
    /// The tag convention's endpoints, each with the container it is reported under (the
    /// task definition's first).
    pub(super) fn tag_endpoints(
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
        let mut groups: BTreeMap<&str, TagGroup> = BTreeMap::new();
        for (key, value) in tags {
            if let Some(suffix) = key.strip_prefix("METRICS_PORT") {
                groups.entry(suffix).or_default().port = Some(value);
            } else if let Some(suffix) = key.strip_prefix("METRICS_PATH") {
                groups.entry(suffix).or_default().path = Some(value);
            } else if let Some(suffix) = key.strip_prefix("METRICS_NAME") {
                groups.entry(suffix).or_default().name = Some(value);
            }
        }
        let first_container = ctx
            .definition
            .containers
            .first()
            .map_or("", |c| c.name.as_str());
        groups
            .into_iter()
            .map(|(suffix, group)| {
                (
                    first_container.to_string(),
                    self.tag_endpoint(ctx, suffix, &group, first_container),
                )
            })
            .collect()
    }

    /// One group's endpoint: its port belongs to the container that maps it (bridge: the one
    /// with a binding for it), else to the first container.
    fn tag_endpoint(
        &self,
        ctx: &TaskContext<'a>,
        suffix: &str,
        group: &TagGroup<'_>,
        first_container: &'a str,
    ) -> Result<Endpoint<'a>, SkipReason> {
        let raw_port = group.port.ok_or_else(|| SkipReason::TagWithoutPort {
            suffix: suffix.to_string(),
        })?;
        let container_port = parse_port("METRICS_PORT", raw_port)?;
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
        let path = match group.path.filter(|p| !p.is_empty()) {
            Some(path) => check_path("METRICS_PATH", path)?,
            None => self.options.fallback_metrics_path.clone(),
        };
        let mut labels = BTreeMap::new();
        if let Some(name) = group.name.filter(|n| !n.is_empty()) {
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
    }
}
