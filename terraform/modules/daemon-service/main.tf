data "aws_region" "current" {}

locals {
  # The one source of this container definition (see task-definitions/README.md).
  container_definitions = [{
    name       = var.name
    image      = var.image
    essential  = true
    privileged = var.privileged
    user       = var.user
    # Volumes are read-only host mounts; nothing else is written where the image allows it.
    readonlyRootFilesystem = var.readonly_root_filesystem
    cpu                    = var.cpu
    memory                 = var.memory
    command                = var.command
    dockerLabels           = var.docker_labels
    environment            = []
    portMappings = [{
      containerPort = var.container_port
      hostPort      = var.network_mode == "host" ? var.container_port : 0
      protocol      = "tcp"
    }]
    mountPoints = [for volume, m in var.host_mounts : {
      sourceVolume  = volume
      containerPath = m.container_path
      readOnly      = true
    }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = one(aws_cloudwatch_log_group.this[*].name)
        "awslogs-region"        = data.aws_region.current.id
        "awslogs-stream-prefix" = var.name
      }
    }
  }]
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338: retention is var.log_retention_days (30 by default): container logs of the stack are operational logs, not audit records.
  count             = var.create ? 1 : 0
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

module "iam" {
  count  = var.create ? 1 : 0
  source = "../iam"

  name           = var.name
  log_group_arns = aws_cloudwatch_log_group.this[*].arn
  tags           = var.tags
}

resource "aws_ecs_task_definition" "this" {
  count                    = var.create ? 1 : 0
  family                   = var.name
  requires_compatibilities = ["EC2"]
  network_mode             = var.network_mode
  pid_mode                 = var.pid_mode
  execution_role_arn       = module.iam[0].execution_role_arn
  container_definitions    = jsonencode(local.container_definitions)
  tags                     = var.tags

  dynamic "volume" {
    for_each = var.host_mounts
    content {
      name      = volume.key
      host_path = volume.value.host_path
    }
  }
}

resource "aws_ecs_service" "this" {
  count               = var.create ? 1 : 0
  name                = var.name
  cluster             = var.cluster_arn
  task_definition     = aws_ecs_task_definition.this[0].arn
  launch_type         = "EC2"
  scheduling_strategy = "DAEMON"
  propagate_tags      = "SERVICE"
  tags                = var.tags
}
