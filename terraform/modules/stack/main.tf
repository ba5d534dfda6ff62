# The whole stack, wired: network, cluster with EC2 and Fargate capacity, Cloud Map,
# Prometheus with both sidecars, Alertmanager, node-exporter and cAdvisor daemons, Grafana. The examples call
# this module with real-AWS or emulator settings.

module "network" {
  source = "../network"

  name                       = var.name
  cidr_block                 = var.vpc_cidr_block
  availability_zones         = var.availability_zones
  enable_nat_gateway         = var.enable_nat_gateway
  single_nat_gateway         = var.single_nat_gateway
  enable_s3_gateway_endpoint = var.enable_s3_gateway_endpoint
  enable_flow_logs           = var.enable_flow_logs
  flow_log_retention_days    = var.flow_log_retention_days
  log_kms_key_arn            = var.log_kms_key_arn
  tags                       = var.tags
}

module "cluster" {
  source = "../ecs-cluster"

  name                       = var.name
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  min_size                   = var.instance_count
  desired_capacity           = var.instance_count
  max_size                   = max(var.instance_count, 1) * 2
  instance_type              = var.instance_type
  enable_detailed_monitoring = var.enable_detailed_monitoring
  enable_managed_scaling     = var.enable_managed_scaling
  enable_container_insights  = var.enable_container_insights
  tags                       = var.tags
}

locals {
  # SSM port forwarding to the UIs goes through a container instance (terraform/README.md).
  port_forwarding_groups = var.enable_port_forwarding ? [module.cluster.instance_security_group_id] : []
}

module "cloudmap" {
  source = "../cloudmap"

  namespace_name = var.namespace_name
  vpc_id         = module.network.vpc_id
  services = merge(
    { prometheus = { metrics_path = "/metrics" } },
    var.enable_grafana ? { grafana = { metrics_path = "/metrics" } } : {},
    var.enable_alertmanager ? { alertmanager = { metrics_path = "/metrics" } } : {},
    var.user_cloudmap_services,
  )
  tags = var.tags
}

locals {
  # The discoverer scans this stack's cluster, not every cluster of the region, unless told.
  discovery_clusters = coalesce(var.discovery_clusters, [module.cluster.cluster_name])
}

module "task_events" {
  source = "../task-events"
  create = var.enable_event_discovery

  name      = "${var.name}-task-events"
  clusters  = local.discovery_clusters
  consumers = var.prometheus_replicas
  tags      = var.tags
}

module "prometheus" {
  source = "../prometheus"

  name        = "${var.name}-prometheus"
  cluster_arn = module.cluster.cluster_arn
  vpc_id      = module.network.vpc_id
  subnet_ids  = module.network.private_subnet_ids
  # 9090 also serves the lifecycle API: Grafana, the port-forwarding instances and the operators
  # only, not the whole VPC.
  allowed_security_group_ids = concat(var.enable_grafana ? [module.grafana.security_group_id] : [], local.port_forwarding_groups)
  allowed_cidr_blocks        = var.operator_cidr_blocks
  # Only Prometheus reaches the instances, and only on the scrape ports: cAdvisor runs privileged.
  scrape_targets = [for r in var.instance_scrape_port_ranges : {
    security_group_id = module.cluster.instance_security_group_id
    from_port         = r.from_port
    to_port           = r.to_port
    description       = "ports ${r.from_port}-${r.to_port} of the container instances"
  }]
  discoverer_image     = var.discoverer_image
  discovery_clusters   = local.discovery_clusters
  events_queues        = var.enable_event_discovery ? module.task_events.queues : null
  reconcile_interval   = var.event_reconcile_interval
  discoverer_cache_ttl = var.discoverer_cache_ttl
  reloader_image       = var.reloader_image
  ssm_path             = "/${var.name}/prometheus"
  cloudmap_namespaces  = [module.cloudmap.namespace_name]
  cloudmap_service_arn = module.cloudmap.service_arns["prometheus"]
  storage              = var.prometheus_storage
  replicas             = var.prometheus_replicas
  ebs_size_gib         = var.prometheus_volume_size_gib
  instance_type        = var.prometheus_instance_type
  snapshot_schedule    = var.prometheus_snapshot_schedule
  ebs_snapshot_id      = var.prometheus_restore_snapshot_id
  # The replicas' instances are container instances like the others: the daemons run there too.
  instance_security_group_ids = [module.cluster.instance_security_group_id]
  enable_detailed_monitoring  = var.enable_detailed_monitoring
  retention                   = var.prometheus_retention
  config_kms_key_arn          = var.config_kms_key_arn
  log_kms_key_arn             = var.log_kms_key_arn
  log_retention_days          = var.log_retention_days
  cpu_architecture            = var.cpu_architecture
  wait_for_steady_state       = var.wait_for_steady_state
  remote_write                = var.remote_write
  alertmanager_service        = var.enable_alertmanager ? "alertmanager" : null
  # Every shipped rule file (dashboards/alerts/*.rules.yml, not their *.rules.test.yml).
  rule_files = merge(var.extra_rule_files, {
    for path in fileset("${var.dashboards_dir}/alerts", "*.rules.yml") : path => file("${var.dashboards_dir}/alerts/${path}")
  })
  amp_workspace_arn = var.amp_workspace_arn
  tags              = var.tags
}

module "node_exporter" {
  source = "../node-exporter"
  create = var.enable_node_exporter

  name               = "${var.name}-node-exporter"
  cluster_arn        = module.cluster.cluster_arn
  log_kms_key_arn    = var.log_kms_key_arn
  log_retention_days = var.log_retention_days
  tags               = var.tags
}

module "cadvisor" {
  source = "../cadvisor"
  create = var.enable_cadvisor

  name               = "${var.name}-cadvisor"
  cluster_arn        = module.cluster.cluster_arn
  log_kms_key_arn    = var.log_kms_key_arn
  log_retention_days = var.log_retention_days
  tags               = var.tags
}

module "grafana" {
  source = "../grafana"
  create = var.enable_grafana

  name        = "${var.name}-grafana"
  cluster_arn = module.cluster.cluster_arn
  vpc_id      = module.network.vpc_id
  subnet_ids  = module.network.private_subnet_ids
  # Prometheus scrapes Grafana's /metrics; operators come through port forwarding or their CIDRs.
  allowed_security_group_ids = concat([module.prometheus.security_group_id], local.port_forwarding_groups)
  allowed_cidr_blocks        = var.operator_cidr_blocks
  reloader_image             = var.reloader_image
  prometheus_url             = "http://prometheus.${module.cloudmap.namespace_name}:9090"
  amp_data_source = var.remote_write == "none" ? null : {
    url           = module.prometheus.amp_query_url
    workspace_arn = module.prometheus.amp_workspace_arn
  }
  dashboards_dir        = var.dashboards_dir
  cloudmap_service_arn  = var.enable_grafana ? module.cloudmap.service_arns["grafana"] : null
  secret_kms_key_arn    = var.secret_kms_key_arn
  log_kms_key_arn       = var.log_kms_key_arn
  log_retention_days    = var.log_retention_days
  cpu_architecture      = var.cpu_architecture
  wait_for_steady_state = var.wait_for_steady_state
  tags                  = var.tags
}

module "alertmanager" {
  source = "../alertmanager"
  create = var.enable_alertmanager

  name                       = "${var.name}-alertmanager"
  cluster_arn                = module.cluster.cluster_arn
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  allowed_security_group_ids = concat([module.prometheus.security_group_id], local.port_forwarding_groups)
  allowed_cidr_blocks        = var.operator_cidr_blocks
  reloader_image             = var.reloader_image
  ssm_path                   = "/${var.name}/alertmanager"
  receiver                   = var.alert_receiver
  config_kms_key_arn         = var.config_kms_key_arn
  log_kms_key_arn            = var.log_kms_key_arn
  log_retention_days         = var.log_retention_days
  group_wait                 = var.alert_group_wait
  replicas                   = var.alertmanager_replicas
  cluster_peer_dns_name      = "alertmanager.${module.cloudmap.namespace_name}"
  cloudmap_service_arn       = var.enable_alertmanager ? module.cloudmap.service_arns["alertmanager"] : null
  cpu_architecture           = var.cpu_architecture
  wait_for_steady_state      = var.wait_for_steady_state
  tags                       = var.tags
}

# A plan with the placeholder receiver says so: alerts would be evaluated and delivered nowhere.
check "alert_receiver" {
  assert {
    condition     = !var.enable_alertmanager || !endswith(coalesce(var.alert_receiver.webhook_url, "-"), ".invalid/replace-me")
    error_message = "alert_receiver is still the placeholder ${coalesce(var.alert_receiver.webhook_url, "-")}: alerts reach Alertmanager and go nowhere. Set alert_receiver to your webhook URL or SNS topic ARN."
  }
}

# Grafana took `create` instead of a module count: state of an earlier version moves over.
moved {
  from = module.grafana[0]
  to   = module.grafana
}
