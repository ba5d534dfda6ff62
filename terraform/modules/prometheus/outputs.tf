output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "ARN of the task definition."
  value       = aws_ecs_task_definition.this.arn
}

output "container_definitions" {
  description = "The container definitions, as registered (the source task-definitions/prometheus.json is checked against)."
  value       = local.container_definitions
}

output "config_parameter_name" {
  description = "SSM parameter holding prometheus.yml."
  value       = aws_ssm_parameter.config.name
}

output "security_group_id" {
  description = "Security group of the Prometheus task."
  value       = aws_security_group.this.id
}

output "task_role_arn" {
  description = "Task role of Prometheus and its sidecars."
  value       = module.iam.task_role_arn
}

output "amp_workspace_arn" {
  description = "AMP workspace written to, or null."
  value       = local.amp_workspace_arn
}

output "remote_write_url" {
  description = "The remote_write URL in the config, or an empty string."
  value       = local.remote_write_url
}
