output "service_name" {
  description = "Name of the ECS service, or null when create is false."
  value       = one(module.service.service_names)
}

output "task_definition_arn" {
  description = "ARN of the task definition."
  value       = one(module.service.task_definition_arns)
}

output "container_definitions" {
  description = "The container definitions, as registered."
  value       = module.service.container_definitions[0]
}

output "admin_password_secret_arn" {
  description = "Secrets Manager secret with the admin password."
  value       = local.admin_secret_arn
}

output "security_group_id" {
  description = "Security group of the Grafana task."
  value       = module.service.security_group_id
}

output "config_bucket_id" {
  description = "Bucket holding the provisioning files."
  value       = local.bucket_id
}
