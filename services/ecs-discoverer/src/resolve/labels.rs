//! A target's label set: extra labels, the convention's own, the ECS labels and the
//! `__meta_ecs_*` labels, including every cluster, service and task tag.

use stack_common::labels::sanitize_label_name;

use crate::label_set::{LabelSet, Text};
use crate::model::{Instance, LaunchType};

use super::endpoint::Endpoint;
use super::{Origin, Resolver, Target, TaskContext};

impl<'a> Resolver<'a> {
    pub(super) fn target(
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
}
