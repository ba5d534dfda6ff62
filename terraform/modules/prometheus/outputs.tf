output "service_names" {
  description = "Names of the replicas' ECS services, in replica order."
  value       = module.service.service_names
}

output "task_definition_arns" {
  description = "ARNs of the replicas' task definitions, in replica order."
  value       = module.service.task_definition_arns
}

output "container_definitions" {
  description = "Replica 0's container definitions, as registered (the source task-definitions/prometheus.json is checked against)."
  value       = module.service.container_definitions[0]
}

output "replicas" {
  description = "Each replica: its name (the __replica__ label), subnet and, with instance-ebs, its volume and the auto scaling group of its instance."
  value = [for i in range(var.replicas) : {
    name                   = local.replica_names[i]
    subnet_id              = local.replica_subnets[i]
    volume_id              = local.durable ? aws_ebs_volume.data[i].id : null
    availability_zone      = local.durable ? aws_ebs_volume.data[i].availability_zone : null
    autoscaling_group_name = local.durable ? module.replica_instances[i].autoscaling_group_name : null
  }]
}

output "config_parameter_name" {
  description = "SSM parameter holding prometheus.yml."
  value       = aws_ssm_parameter.config.name
}

output "security_group_id" {
  description = "Security group of the Prometheus task."
  value       = module.service.security_group_id
}

output "task_role_arn" {
  description = "Task role of Prometheus and its sidecars."
  value       = module.service.task_role_arn
}

output "amp_workspace_arn" {
  description = "AMP workspace written to, or null."
  value       = local.amp_workspace_arn
}

output "remote_write_url" {
  description = "The remote_write URL in the config, or an empty string."
  value       = local.remote_write_url
}

output "amp_query_url" {
  description = "The AMP workspace's query URL (Grafana's AMP data source), or an empty string without remote write."
  value       = local.amp_query_url
}
