//! SDK answers to the plain model ([`crate::model`]): pure, so the rest of the edge and
//! resolution never see an SDK type.

use std::collections::BTreeMap;

use crate::model::{
    Container, ContainerDefinition, Instance, LaunchType, NetworkBinding, NetworkMode, PortMapping,
    Task, TaskDefinition, TaskStatus,
};

pub(super) fn tags_of<'a>(
    tags: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

pub(super) fn task_from_sdk(task: &aws_sdk_ecs::types::Task) -> Task {
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
        last_status: TaskStatus::from(task.last_status().unwrap_or_default()),
        launch_type: task.launch_type().map(|l| LaunchType::from(l.as_str())),
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
        version: Some(task.version()).filter(|v| *v > 0),
    }
}

pub(super) fn task_definition_from_sdk(
    definition: &aws_sdk_ecs::types::TaskDefinition,
) -> TaskDefinition {
    TaskDefinition {
        arn: definition
            .task_definition_arn()
            .unwrap_or_default()
            .to_string(),
        family: definition.family().unwrap_or_default().to_string(),
        revision: definition.revision(),
        network_mode: definition
            .network_mode()
            .map_or(NetworkMode::Bridge, |m| NetworkMode::from(m.as_str())),
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

pub(super) fn instance_from_sdk(ci: &aws_sdk_ecs::types::ContainerInstance) -> Instance {
    Instance {
        container_instance_arn: ci.container_instance_arn().unwrap_or_default().to_string(),
        ec2_instance_id: ci.ec2_instance_id().map(str::to_string),
        private_ip: None,
    }
}
