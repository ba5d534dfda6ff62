# The whole stack, wired: network, cluster with EC2 and Fargate capacity, Cloud Map,
# Prometheus with both sidecars, node-exporter and cAdvisor daemons, Grafana. The examples call
# this module with real-AWS or emulator settings.

module "network" {
  source = "../network"

  name               = var.name
  cidr_block         = var.vpc_cidr_block
  availability_zones = var.availability_zones
  enable_nat_gateway = var.enable_nat_gateway
  tags               = var.tags
}

module "cluster" {
  source = "../ecs-cluster"

  name                        = var.name
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  min_size                    = var.instance_count
  desired_capacity            = var.instance_count
  max_size                    = max(var.instance_count, 1) * 2
  enable_managed_scaling      = var.enable_managed_scaling
  enable_container_insights   = var.enable_container_insights
  allowed_scraper_cidr_blocks = [module.network.vpc_cidr_block]
  tags                        = var.tags
}

module "cloudmap" {
  source = "../cloudmap"

  namespace_name = var.namespace_name
  vpc_id         = module.network.vpc_id
  services = merge(
    { prometheus = { metrics_path = "/metrics" } },
    var.enable_grafana ? { grafana = { metrics_path = "/metrics" } } : {},
    var.user_cloudmap_services,
  )
  tags = var.tags
}

module "prometheus" {
  source = "../prometheus"

  name                = "${var.name}-prometheus"
  cluster_arn         = module.cluster.cluster_arn
  vpc_id              = module.network.vpc_id
  subnet_ids          = module.network.private_subnet_ids
  allowed_cidr_blocks = concat([module.network.vpc_cidr_block], var.operator_cidr_blocks)
  discoverer_image    = var.discoverer_image
  # The discoverer scans this stack's cluster, not every cluster of the region, unless told.
  discovery_clusters    = coalesce(var.discovery_clusters, [module.cluster.cluster_name])
  reloader_image        = var.reloader_image
  ssm_path              = "/${var.name}/prometheus"
  cloudmap_namespaces   = [module.cloudmap.namespace_name]
  cloudmap_service_arn  = module.cloudmap.service_arns["prometheus"]
  storage               = var.prometheus_storage
  cpu_architecture      = var.cpu_architecture
  wait_for_steady_state = var.wait_for_steady_state
  remote_write          = var.remote_write
  rule_files = {
    "ecs-monitoring.rules.yml" = file("${var.dashboards_dir}/alerts/ecs-monitoring.rules.yml")
  }
  amp_workspace_arn = var.amp_workspace_arn
  tags              = var.tags
}

module "node_exporter" {
  source = "../node-exporter"

  name        = "${var.name}-node-exporter"
  cluster_arn = module.cluster.cluster_arn
  tags        = var.tags
}

module "cadvisor" {
  source = "../cadvisor"

  name        = "${var.name}-cadvisor"
  cluster_arn = module.cluster.cluster_arn
  tags        = var.tags
}

module "grafana" {
  source = "../grafana"
  count  = var.enable_grafana ? 1 : 0

  name                  = "${var.name}-grafana"
  cluster_arn           = module.cluster.cluster_arn
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  allowed_cidr_blocks   = concat([module.network.vpc_cidr_block], var.operator_cidr_blocks)
  reloader_image        = var.reloader_image
  prometheus_url        = "http://prometheus.${module.cloudmap.namespace_name}:9090"
  dashboards_dir        = var.dashboards_dir
  cloudmap_service_arn  = module.cloudmap.service_arns["grafana"]
  cpu_architecture      = var.cpu_architecture
  wait_for_steady_state = var.wait_for_steady_state
  tags                  = var.tags
}
