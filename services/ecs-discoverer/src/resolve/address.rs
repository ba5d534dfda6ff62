//! A task's address: the ENI's for awsvpc, the EC2 instance's private IP for bridge and host.

use crate::model::{Instance, LaunchType, NetworkMode, Task, TaskDefinition};

use super::Resolver;
use super::skip::SkipReason;

impl<'a> Resolver<'a> {
    pub(super) fn address(
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
}
