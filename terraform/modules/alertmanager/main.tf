# Alertmanager on Fargate: its config comes from SSM through the config-reloader (a one-pass
# init, then a sidecar that reloads it on change), it is registered in Cloud Map with its port,
# and Prometheus finds it there (the prometheus module's alertmanager_service). With replicas of
# 2 or more, the tasks are one gossip cluster: each resolves the Cloud Map A record to find the
# others, and they share silences and the notification log, so one notification goes out per
# alert group while any one of them is up.

data "aws_region" "current" {}

locals {
  config_volume = "config"
  data_volume   = "data"
  clustered     = var.replicas > 1
  gossip_port   = 9094

  config = templatefile("${path.module}/templates/alertmanager.yml.tftpl", {
    webhook_url   = var.receiver.webhook_url
    sns_topic_arn = var.receiver.sns_topic_arn
    group_wait    = var.group_wait
    region        = data.aws_region.current.id
  })

  # What config-init and config-reloader share: the image's nonroot, explicitly, writing only
  # its volume at the image's VOLUME path (/etc/config). Their own metrics are off: Alertmanager
  # exports alertmanager_config_last_reload_successful, which the Cloud Map job scrapes.
  reloader_container = {
    image                  = var.reloader_image
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    essential              = false
    environment = [
      { name = "CONFIG_SOURCE", value = "ssm" },
      { name = "SOURCE_PROMETHEUS_CONFIG_FILE_PATH", value = "${var.ssm_path}/alertmanager.yml" },
      { name = "CONFIG_FILE_DIR", value = "/etc/config/" },
      { name = "CONFIG_FILE_NAME", value = "alertmanager.yml" },
      { name = "RELOADER_LISTEN", value = "off" },
    ]
    mountPoints  = [{ sourceVolume = local.config_volume, containerPath = "/etc/config", readOnly = false }]
    portMappings = []
  }

  container_definitions = [
    merge(local.reloader_container, {
      name        = "config-init"
      environment = concat(local.reloader_container.environment, [{ name = "CONFIG_RELOAD_FREQUENCY", value = "0" }])
    }),
    merge(local.reloader_container, {
      name = "config-reloader"
      environment = concat(local.reloader_container.environment, [
        { name = "CONFIG_RELOAD_FREQUENCY", value = "60" },
        { name = "PROMETHEUS_RELOAD_URL", value = "http://localhost:9093/-/reload" },
      ])
      dependsOn = [{ containerName = "config-init", condition = "SUCCESS" }]
    }),
    {
      name      = "alertmanager"
      image     = var.alertmanager_image
      essential = true
      # The image's nobody, explicitly; it writes only /alertmanager, the image's VOLUME (owned
      # by nobody), where silences and the notification log live for the life of the task.
      user                   = "65534:65534"
      readonlyRootFilesystem = true
      command = concat(
        ["--config.file=/etc/config/alertmanager.yml", "--storage.path=/alertmanager"],
        # The peers are every address of the Cloud Map name, itself included, resolved again
        # every 15 s, so a replacement task joins as soon as ECS registers it. Each task
        # advertises its ENI's private address, which Alertmanager finds on awsvpc by itself.
        # One replica: no gossip peers, so no cluster listener.
        local.clustered ? [
          "--cluster.listen-address=0.0.0.0:${local.gossip_port}",
          "--cluster.peer=${coalesce(var.cluster_peer_dns_name, "-")}:${local.gossip_port}",
        ] : ["--cluster.listen-address="],
      )
      environment = []
      mountPoints = [
        { sourceVolume = local.config_volume, containerPath = "/etc/config", readOnly = true },
        { sourceVolume = local.data_volume, containerPath = "/alertmanager", readOnly = false },
      ]
      portMappings = [{ containerPort = 9093, protocol = "tcp" }]
      dependsOn    = [{ containerName = "config-init", condition = "SUCCESS" }]
      healthCheck = {
        command     = ["CMD-SHELL", "wget -q -O /dev/null http://localhost:9093/-/healthy || exit 1"]
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
    },
  ]
}

resource "aws_ssm_parameter" "config" {
  #checkov:skip=CKV_AWS_337: the key is var.config_kms_key_arn; without one, SSM uses the AWS managed key alias/aws/ssm.
  count       = var.create ? 1 : 0
  name        = "${var.ssm_path}/alertmanager.yml"
  description = "Alertmanager configuration (module alertmanager), read by the config-reloader"
  type        = "SecureString"
  key_id      = var.config_kms_key_arn
  tier        = length(local.config) > 4096 ? "Advanced" : "Standard"
  value       = local.config
  tags        = var.tags
}

module "service" {
  source = "../replicated-service"
  create = var.create

  name        = var.name
  cluster_arn = var.cluster_arn
  vpc_id      = var.vpc_id
  services = [{
    name                  = var.name
    container_definitions = jsonencode(local.container_definitions)
    subnet_ids            = var.subnet_ids
    desired_count         = var.replicas
  }]
  cpu              = var.cpu
  memory           = var.memory
  cpu_architecture = var.cpu_architecture
  volumes          = [{ name = local.config_volume }, { name = local.data_volume }]
  # A cluster is replaced one replica at a time (the new one gets silences and the notification
  # log from the others); a single Alertmanager is stopped before its replacement starts.
  deployment_minimum_healthy_percent = local.clustered ? 50 : 0
  deployment_maximum_percent         = 100

  permissions = {
    config_ssm_paths = [var.ssm_path]
    ssm_kms_key_arns = var.config_kms_key_arn == null ? [] : [var.config_kms_key_arn]
    sns_topic_arns   = var.receiver.sns_topic_arn == null ? [] : [var.receiver.sns_topic_arn]
  }

  security_group_description = "Alertmanager task: alerts and scrapes on 9093 from Prometheus, the UI from the allowed CIDR blocks"
  ingress = {
    port                    = 9093
    description             = "Alerts, scrapes and the Alertmanager UI and API"
    from_security_group_ids = var.allowed_security_group_ids
    from_cidr_blocks        = var.allowed_cidr_blocks
  }
  # Gossip between the replicas: memberlist probes and gossips over UDP and syncs state over TCP.
  ingress_from_self = local.clustered ? [
    for protocol in ["tcp", "udp"] : { protocol = protocol, port = local.gossip_port, description = "Gossip" }
  ] : []
  egress_description = "Receivers (webhook, SNS) and AWS APIs"

  # Fargate spreads the tasks over the subnets' zones. The SRV record carries 9093, so
  # Prometheus's alerting block (file_sd on the Cloud Map file) and the Cloud Map scrape job
  # reach Alertmanager on its port; the replicas find each other by its A record.
  cloudmap = var.cloudmap_service_arn == null ? null : {
    service_arn = var.cloudmap_service_arn, container_name = "alertmanager", container_port = 9093
  }

  wait_for_steady_state = var.wait_for_steady_state
  log_retention_days    = var.log_retention_days
  log_kms_key_arn       = var.log_kms_key_arn
  tags                  = var.tags
}

# State of the version before the replicated-service module.
moved {
  from = aws_cloudwatch_log_group.this
  to   = module.service.aws_cloudwatch_log_group.this
}

moved {
  from = module.iam
  to   = module.service.module.iam
}

moved {
  from = aws_security_group.this
  to   = module.service.aws_security_group.this
}

moved {
  from = aws_vpc_security_group_ingress_rule.from_groups
  to   = module.service.aws_vpc_security_group_ingress_rule.from_groups
}

moved {
  from = aws_vpc_security_group_ingress_rule.from_cidrs
  to   = module.service.aws_vpc_security_group_ingress_rule.from_cidrs
}

moved {
  from = aws_vpc_security_group_egress_rule.all
  to   = module.service.aws_vpc_security_group_egress_rule.all
}

moved {
  from = aws_ecs_task_definition.this
  to   = module.service.aws_ecs_task_definition.this
}

moved {
  from = aws_ecs_service.this
  to   = module.service.aws_ecs_service.this
}

moved {
  from = aws_vpc_security_group_ingress_rule.gossip["tcp"]
  to   = module.service.aws_vpc_security_group_ingress_rule.from_self["tcp/9094"]
}

moved {
  from = aws_vpc_security_group_ingress_rule.gossip["udp"]
  to   = module.service.aws_vpc_security_group_ingress_rule.from_self["udp/9094"]
}
