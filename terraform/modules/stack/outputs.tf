output "vpc_id" {
  description = "The stack's VPC."
  value       = module.network.vpc_id
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = module.cluster.cluster_name
}

output "autoscaling_group_name" {
  description = "Auto scaling group of the EC2 capacity."
  value       = module.cluster.autoscaling_group_name
}

output "prometheus_config_parameter" {
  description = "SSM parameter with prometheus.yml."
  value       = module.prometheus.config_parameter_name
}

output "prometheus_url" {
  description = "Prometheus inside the VPC (Cloud Map DNS)."
  value       = "http://prometheus.${module.cloudmap.namespace_name}:9090"
}

output "grafana_url" {
  description = "Grafana inside the VPC (Cloud Map DNS), or null."
  value       = var.enable_grafana ? "http://grafana.${module.cloudmap.namespace_name}:3000" : null
}

output "grafana_admin_password_secret_arn" {
  description = "Secrets Manager secret with Grafana's admin password, or null."
  value       = module.grafana.admin_password_secret_arn
}

output "task_definition_arns" {
  description = "Task definitions by service."
  value = merge(
    { for i, arn in module.prometheus.task_definition_arns : "prometheus-${i}" => arn },
    var.enable_node_exporter ? { node-exporter = module.node_exporter.task_definition_arn } : {},
    var.enable_cadvisor ? { cadvisor = module.cadvisor.task_definition_arn } : {},
    var.enable_grafana ? { grafana = module.grafana.task_definition_arn } : {},
    var.enable_alertmanager ? { alertmanager = module.alertmanager.task_definition_arn } : {},
  )
}

output "amp_workspace_arn" {
  description = "AMP workspace Prometheus writes to, or null."
  value       = module.prometheus.amp_workspace_arn
}

output "ec2_capacity_provider_name" {
  description = "The EC2 capacity provider: place EC2 services of your own through it (capacity_provider_strategy) for managed scaling to count them."
  value       = module.cluster.ec2_capacity_provider_name
}

output "prometheus_security_group_id" {
  description = "Security group of the Prometheus task: allow it in the security groups of the workloads it scrapes."
  value       = module.prometheus.security_group_id
}

output "alertmanager_config_parameter" {
  description = "SSM parameter holding alertmanager.yml, or null without Alertmanager."
  value       = module.alertmanager.config_parameter_name
}

output "alertmanager_replicas" {
  description = "Alertmanager tasks (one gossip cluster when 2 or more); 0 without Alertmanager."
  value       = var.enable_alertmanager ? module.alertmanager.replicas : 0
}

output "prometheus_replicas" {
  description = "Each Prometheus replica: name (its __replica__ label and service), subnet, and with instance-ebs its TSDB volume, zone and the auto scaling group of its instance."
  value       = module.prometheus.replicas
}

output "events_queue_urls" {
  description = "The SQS queues of ECS task state changes, one per Prometheus replica's ecs-discoverer; empty without event discovery."
  value       = module.task_events.queues[*].url
}
