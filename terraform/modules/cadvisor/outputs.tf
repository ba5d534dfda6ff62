output "service_name" {
  description = "Name of the DAEMON service."
  value       = module.daemon.service_name
}

output "task_definition_arn" {
  description = "ARN of the task definition."
  value       = module.daemon.task_definition_arn
}

output "container_definitions" {
  description = "The container definitions, as registered."
  value       = module.daemon.container_definitions
}
