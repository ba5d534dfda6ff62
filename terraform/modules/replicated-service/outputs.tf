output "service_names" {
  description = "Names of the ECS services, one per entry of services; empty when create is false."
  value       = aws_ecs_service.this[*].name
}

output "task_definition_arns" {
  description = "ARNs of the task definitions, one per entry of services."
  value       = aws_ecs_task_definition.this[*].arn
}

output "security_group_id" {
  description = "The services' security group, or null."
  value       = one(aws_security_group.this[*].id)
}

output "task_role_arn" {
  description = "The task role, or null."
  value       = one(module.iam[*].task_role_arn)
}

output "execution_role_arn" {
  description = "The execution role, or null."
  value       = one(module.iam[*].execution_role_arn)
}

output "log_group_name" {
  description = "The CloudWatch log group of every container, or null."
  value       = one(aws_cloudwatch_log_group.this[*].name)
}

output "container_definitions" {
  description = "Each service's container definitions as registered (with their logConfiguration), in the order of services; computed when create is false too."
  value       = local.container_definitions
}
