resource "aws_service_discovery_private_dns_namespace" "this" {
  count       = var.create ? 1 : 0
  name        = var.namespace_name
  description = "Prometheus on ECS: the monitoring stack and the services it scrapes"
  vpc         = var.vpc_id
  tags        = var.tags
}

resource "aws_service_discovery_service" "this" {
  for_each = var.create ? var.services : {}
  name     = each.key
  tags     = merge(var.tags, each.value.metrics_path == null ? {} : { METRICS_PATH = each.value.metrics_path })

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this[0].id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = var.dns_ttl
    }

    # With an SRV record, ECS registers the task's port (AWS_INSTANCE_PORT), which the Cloud Map
    # job scrapes; with A records alone, no port is registered and the target is port 80.
    dns_records {
      type = "SRV"
      ttl  = var.dns_ttl
    }
  }

  # Health from ECS, which reports each task's health to Cloud Map. failure_threshold is
  # deprecated (AWS always uses 1) but stays: AWS answers 1, and provider 5.x, without it in the
  # config, replaces every service on each plan (seen against the emulator, which answers as AWS).
  health_check_custom_config {
    failure_threshold = 1
  }
}
