output "service_name" {
  description = "Name of the DAEMON service."
  value       = one(aws_ecs_service.this[*].name)
}

output "task_definition_arn" {
  description = "ARN of the task definition."
  value       = one(aws_ecs_task_definition.this[*].arn)
}

output "container_definitions" {
  description = "The container definitions, as registered."
  value       = local.container_definitions
}
