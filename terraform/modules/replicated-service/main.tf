# One service of the stack in awsvpc: its log group, task and execution roles (../iam), security
# group with its ingress, and one task definition and ECS service per entry of `services`
# (Prometheus: one per replica; Alertmanager: one service of N tasks; Grafana: one of one).
# Every container logs to the log group, under its own stream prefix.

data "aws_region" "current" {}

locals {
  log_group = "/ecs/${var.name}"
  log_configuration = {
    logDriver = "awslogs"
    options = {
      "awslogs-group"         = local.log_group
      "awslogs-region"        = data.aws_region.current.id
      "awslogs-stream-prefix" = var.name
    }
  }
  # Each service's containers as registered: the caller's, each logging to the log group.
  container_definitions = [
    for service in var.services : [
      for container in jsondecode(service.container_definitions) : merge(container, { logConfiguration = local.log_configuration })
    ]
  ]
  # Index 0 is this group itself when allow_from_self is set: the service's tasks reach each other.
  ingress_groups = var.create ? concat(var.allow_from_self ? [aws_security_group.this[0].id] : [], var.ingress.from_security_group_ids) : []
  self_ingress   = var.create ? { for rule in var.ingress_from_self : "${rule.protocol}/${rule.port}" => rule } : {}
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338: retention is var.log_retention_days (30 by default): container logs of the stack are operational logs, not audit records.
  count             = var.create ? 1 : 0
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

module "iam" {
  count  = var.create ? 1 : 0
  source = "../iam"

  name                   = var.name
  enable_discoverer      = var.permissions.enable_discoverer
  config_ssm_paths       = var.permissions.config_ssm_paths
  ssm_kms_key_arns       = var.permissions.ssm_kms_key_arns
  config_bucket_arn      = var.permissions.config_bucket_arn
  config_s3_prefixes     = var.permissions.config_s3_prefixes
  enable_remote_write    = var.permissions.enable_remote_write
  enable_amp_query       = var.permissions.enable_amp_query
  amp_workspace_arn      = var.permissions.amp_workspace_arn
  execution_secret_arns  = var.permissions.execution_secret_arns
  execution_kms_key_arns = var.permissions.execution_kms_key_arns
  s3_kms_key_arns        = var.permissions.s3_kms_key_arns
  sns_topic_arns         = var.permissions.sns_topic_arns
  events_queue_arns      = var.permissions.events_queue_arns
  log_group_arns         = aws_cloudwatch_log_group.this[*].arn
  tags                   = var.tags
}

resource "aws_security_group" "this" {
  count       = var.create ? 1 : 0
  name        = var.name
  description = var.security_group_description
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "from_groups" {
  count                        = length(local.ingress_groups)
  security_group_id            = aws_security_group.this[0].id
  description                  = var.allow_from_self && count.index == 0 ? "${var.ingress.description} from the tasks of this group" : "${var.ingress.description} from ${local.ingress_groups[count.index]}"
  referenced_security_group_id = local.ingress_groups[count.index]
  ip_protocol                  = "tcp"
  from_port                    = var.ingress.port
  to_port                      = var.ingress.port
}

resource "aws_vpc_security_group_ingress_rule" "from_cidrs" {
  for_each          = var.create ? toset(var.ingress.from_cidr_blocks) : toset([])
  security_group_id = aws_security_group.this[0].id
  description       = "${var.ingress.description} from operators"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.ingress.port
  to_port           = var.ingress.port
}

resource "aws_vpc_security_group_ingress_rule" "from_self" {
  for_each                     = local.self_ingress
  security_group_id            = aws_security_group.this[0].id
  description                  = "${each.value.description} (${each.value.protocol}) between the tasks of this group"
  referenced_security_group_id = aws_security_group.this[0].id
  ip_protocol                  = each.value.protocol
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "all" {
  count             = var.create ? 1 : 0
  security_group_id = aws_security_group.this[0].id
  description       = var.egress_description
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_ecs_task_definition" "this" {
  count                    = var.create ? length(var.services) : 0
  family                   = var.services[count.index].name
  requires_compatibilities = [var.launch_type]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = module.iam[0].task_role_arn
  execution_role_arn       = module.iam[0].execution_role_arn
  container_definitions    = jsonencode(local.container_definitions[count.index])
  tags                     = var.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  dynamic "volume" {
    for_each = var.volumes
    content {
      name                = volume.value.name
      host_path           = volume.value.host_path
      configure_at_launch = volume.value.configure_at_launch
    }
  }
}

resource "aws_ecs_service" "this" {
  count                              = var.create ? length(var.services) : 0
  name                               = var.services[count.index].name
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.this[count.index].arn
  desired_count                      = var.services[count.index].desired_count
  launch_type                        = var.launch_type
  propagate_tags                     = "SERVICE"
  enable_ecs_managed_tags            = true
  deployment_minimum_healthy_percent = var.deployment_minimum_healthy_percent
  deployment_maximum_percent         = var.deployment_maximum_percent
  tags                               = var.tags

  # A task that keeps failing to start rolls the deployment back instead of looping forever, and
  # with wait_for_steady_state a broken deployment fails the apply instead of looking deployed.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  wait_for_steady_state = var.wait_for_steady_state

  network_configuration {
    subnets          = var.services[count.index].subnet_ids
    security_groups  = [aws_security_group.this[0].id]
    assign_public_ip = false
  }

  dynamic "placement_constraints" {
    for_each = var.services[count.index].placement_member_of == null ? [] : [var.services[count.index].placement_member_of]
    content {
      type       = "memberOf"
      expression = placement_constraints.value
    }
  }

  # The SRV record carries the port, so ECS registers AWS_INSTANCE_PORT and the Cloud Map job
  # scrapes that port instead of port 80.
  dynamic "service_registries" {
    for_each = var.cloudmap == null ? [] : [var.cloudmap]
    content {
      registry_arn   = service_registries.value.service_arn
      container_name = service_registries.value.container_name
      container_port = service_registries.value.container_port
    }
  }

  dynamic "volume_configuration" {
    for_each = var.managed_ebs_volume == null ? [] : [var.managed_ebs_volume]
    content {
      name = volume_configuration.value.volume_name
      managed_ebs_volume {
        role_arn         = volume_configuration.value.role_arn
        size_in_gb       = volume_configuration.value.size_gib
        snapshot_id      = volume_configuration.value.snapshot_id
        file_system_type = "ext4"
        volume_type      = "gp3"
        encrypted        = true
      }
    }
  }
}
