output "namespace_id" {
  description = "ID of the private DNS namespace."
  value       = one(aws_service_discovery_private_dns_namespace.this[*].id)
}

output "namespace_name" {
  description = "Name of the namespace (what the config-reloader's cloudmap parameter lists)."
  value       = one(aws_service_discovery_private_dns_namespace.this[*].name)
}

output "service_arns" {
  description = "Cloud Map service ARNs by name, for ECS service_registries."
  value       = { for name, s in aws_service_discovery_service.this : name => s.arn }
}
