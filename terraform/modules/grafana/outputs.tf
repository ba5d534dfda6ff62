output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "ARN of the task definition."
  value       = aws_ecs_task_definition.this.arn
}

output "container_definitions" {
  description = "The container definitions, as registered."
  value       = local.container_definitions
}

output "admin_password_secret_arn" {
  description = "Secrets Manager secret with the admin password."
  value       = local.admin_secret_arn
}

output "security_group_id" {
  description = "Security group of the Grafana task."
  value       = aws_security_group.this.id
}

output "config_bucket_id" {
  description = "Bucket holding the provisioning files."
  value       = local.bucket_id
}
