output "cluster_name" {
  description = "The ECS cluster."
  value       = module.stack.cluster_name
}

output "autoscaling_group_name" {
  description = "Auto scaling group whose instances the test registers as container instances."
  value       = module.stack.autoscaling_group_name
}

output "prometheus_replicas" {
  description = "Each Prometheus replica: name, subnet, and its TSDB volume, zone and auto scaling group (instance-ebs)."
  value       = module.stack.prometheus_replicas
}

output "prometheus_config_parameter" {
  description = "SSM parameter with prometheus.yml."
  value       = module.stack.prometheus_config_parameter
}

output "task_definition_arns" {
  description = "Task definitions by service."
  value       = module.stack.task_definition_arns
}

output "grafana_admin_password_secret_arn" {
  description = "Secret with Grafana's admin password (never in the state)."
  value       = module.stack.grafana_admin_password_secret_arn
}

output "prometheus_security_group_id" {
  description = "Security group of the Prometheus task: the example apps' group lets it in."
  value       = module.stack.prometheus_security_group_id
}

output "alertmanager_replicas" {
  description = "Alertmanager tasks (one gossip cluster)."
  value       = module.stack.alertmanager_replicas
}

output "events_queue_urls" {
  description = "The SQS queues of ECS task state changes, one per Prometheus replica's ecs-discoverer."
  value       = module.stack.events_queue_urls
}
