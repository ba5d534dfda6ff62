output "service_name" {
  description = "Name of the ECS service, or null when create is false."
  value       = one(module.service.service_names)
}

output "task_definition_arn" {
  description = "ARN of the task definition, or null."
  value       = one(module.service.task_definition_arns)
}

output "container_definitions" {
  description = "The container definitions, as registered (task-definitions/alertmanager.json is checked against them)."
  value       = module.service.container_definitions[0]
}

output "config_parameter_name" {
  description = "SSM parameter holding alertmanager.yml, or null."
  value       = one(aws_ssm_parameter.config[*].name)
}

output "security_group_id" {
  description = "Security group of the Alertmanager task, or null."
  value       = module.service.security_group_id
}

output "replicas" {
  description = "Alertmanager tasks of the service (one gossip cluster when 2 or more)."
  value       = var.replicas
}
