output "cluster_name" {
  description = "The ECS cluster."
  value       = module.stack.cluster_name
}

output "prometheus_url" {
  description = "Prometheus inside the VPC."
  value       = module.stack.prometheus_url
}

output "grafana_url" {
  description = "Grafana inside the VPC."
  value       = module.stack.grafana_url
}

output "grafana_admin_password_secret_arn" {
  description = "Read the admin password with: aws secretsmanager get-secret-value --secret-id <this>."
  value       = module.stack.grafana_admin_password_secret_arn
}
