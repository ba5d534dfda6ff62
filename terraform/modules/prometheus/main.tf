data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  config_volume = "config"
  sd_volume     = "ecs-sd"
  data_volume   = "data"

  durable      = var.storage == "instance-ebs"
  task_ebs     = var.storage == "fargate-ebs-lost-with-task"
  launch_type  = local.durable ? "EC2" : "FARGATE"
  cluster_name = element(split("/", var.cluster_arn), 1)
  # Replica i: its name (the __replica__ external label, the service, the task family) and the
  # subnet (so the zone) it runs in; replicas take the subnets in turn.
  replica_names   = [for i in range(var.replicas) : "${var.name}-${i}"]
  replica_subnets = [for i in range(var.replicas) : var.subnet_ids[i % length(var.subnet_ids)]]
  # The attribute a replica's instance registers with and its service is placed by.
  replica_attribute = "prometheus-replica"
  data_device       = "/dev/xvdf"
  data_mount_point  = "/data/prometheus"
  data_dir          = "${local.data_mount_point}/tsdb"
  # The image's nobody: Prometheus and its config check run as it, and owns the TSDB directory.
  prometheus_user = "65534:65534"
  # Prometheus's units are binary: 80% of the volume, the rest for the WAL and compactions.
  retention_size = var.storage == "fargate-ephemeral-lost-with-task" ? var.ephemeral_retention_size : "${floor(var.ebs_size_gib * 0.8)}GB"

  amp_workspace_arn = var.remote_write == "create" ? one(aws_prometheus_workspace.this[*].arn) : var.amp_workspace_arn
  # Grafana's AMP data source: the workspace's query endpoint (<url>/api/v1/query ...).
  amp_query_url    = trimsuffix(local.remote_write_url, "/api/v1/remote_write")
  remote_write_url = var.remote_write == "create" ? "${one(aws_prometheus_workspace.this[*].prometheus_endpoint)}api/v1/remote_write" : (var.remote_write == "existing" ? "https://aps-workspaces.${data.aws_region.current.id}.amazonaws.com/workspaces/${element(split("/", coalesce(var.amp_workspace_arn, "/")), 1)}/api/v1/remote_write" : "")

  scrape_configs = concat(
    [
      { job_name = "prometheus", static_configs = [{ targets = ["localhost:9090"] }] },
      { job_name = "ecs-discoverer", static_configs = [{ targets = ["localhost:9001"] }] },
      { job_name = "config-reloader", static_configs = [{ targets = ["localhost:9533"] }] },
      # Every container marked with one of the three conventions; `job` comes from the target.
      { job_name = "ecs", file_sd_configs = [{ files = ["/etc/ecs-sd/ecs_file_sd.json"] }] },
    ],
    length(var.cloudmap_namespaces) > 0 ? [
      { job_name = "cloudmap", file_sd_configs = [{ files = ["/etc/config/cloudmap.json"] }] },
    ] : [],
    var.extra_scrape_configs,
  )

  # Alertmanager is found where the Cloud Map job finds its targets: the reloader's cloudmap.json,
  # kept to the one Cloud Map service. No DNS is involved, so a replaced task is reached as soon
  # as ECS registers it.
  alertmanagers = var.alertmanager_service == null ? [] : [{
    file_sd_configs = [{ files = ["/etc/config/cloudmap.json"] }]
    relabel_configs = [{ source_labels = ["__meta_cloudmap_service_name"], regex = var.alertmanager_service, action = "keep" }]
  }]

  config = templatefile("${path.module}/templates/prometheus.yml.tftpl", {
    name             = var.name
    scrape_interval  = var.scrape_interval
    scrape_configs   = jsonencode(local.scrape_configs)
    alertmanagers    = jsonencode(local.alertmanagers)
    remote_write_url = local.remote_write_url
    region           = data.aws_region.current.id
    cluster          = var.name
  })

  reloader_environment = [
    { name = "CONFIG_SOURCE", value = "ssm" },
    { name = "SOURCE_PROMETHEUS_CONFIG_FILE_PATH", value = "${var.ssm_path}/config.yml" },
    { name = "SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH", value = "${var.ssm_path}/scrape" },
    { name = "CONFIG_FILE_DIR", value = "/etc/config/" },
    { name = "CONFIG_FILE_NAME", value = "prometheus.yml" },
  ]

  # What config-init and config-reloader share: the image's nonroot, explicitly, writing only
  # its volume at the image's VOLUME path (/etc/config).
  reloader_container = {
    image                  = var.reloader_image
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    essential              = false
    mountPoints            = [{ sourceVolume = local.config_volume, containerPath = "/etc/config", readOnly = false }]
  }

  # The one source of these container definitions, one list per replica;
  # task-definitions/prometheus.json is checked against replica 0's
  # (integration-tests/tests/test_terraform.py).
  container_definitions = [for i in range(var.replicas) : [
    merge(local.reloader_container, {
      name         = "config-init"
      environment  = concat(local.reloader_environment, [{ name = "CONFIG_RELOAD_FREQUENCY", value = "0" }, { name = "RELOADER_LISTEN", value = "off" }])
      portMappings = []
    }),
    merge(local.reloader_container, {
      name         = "config-reloader"
      environment  = concat(local.reloader_environment, [{ name = "CONFIG_RELOAD_FREQUENCY", value = "30" }, { name = "PROMETHEUS_RELOAD_URL", value = "http://localhost:9090/-/reload" }])
      portMappings = [{ containerPort = 9533, protocol = "tcp" }]
      dependsOn    = [{ containerName = "config-init", condition = "SUCCESS" }]
    }),
    # Prometheus's own check of the config (and the rule files it names) before Prometheus
    # starts: a config it can't load fails here, with promtool's message in the logs, instead
    # of crash-looping Prometheus. Same image, so the check knows the running version's schema.
    {
      name                   = "config-check"
      image                  = var.prometheus_image
      user                   = local.prometheus_user
      readonlyRootFilesystem = true
      essential              = false
      entryPoint             = ["/bin/promtool"]
      command                = ["check", "config", "/etc/config/prometheus.yml"]
      environment            = []
      portMappings           = []
      mountPoints            = [{ sourceVolume = local.config_volume, containerPath = "/etc/config", readOnly = true }]
      dependsOn              = [{ containerName = "config-init", condition = "SUCCESS" }]
    },
    {
      name  = "ecs-discoverer"
      image = var.discoverer_image
      user  = "65532:65532" # the image's nonroot, explicitly
      # Writes only its volume (/etc/ecs-sd).
      readonlyRootFilesystem = true
      # Not essential: a discoverer that crashes or runs out of memory must not stop Prometheus
      # (and, on Fargate, delete its volume). Prometheus keeps the last targets it wrote, and
      # ECSDiscovererDown alerts.
      essential = false
      environment = concat(
        [
          { name = "ECS_SD_OUTPUT_DIR", value = "/etc/ecs-sd" },
          { name = "ECS_SD_INTERVAL", value = var.events_queues == null ? var.scrape_interval : var.reconcile_interval },
          { name = "ECS_SD_SERVICE_CACHE_TTL", value = var.discoverer_cache_ttl },
          { name = "ECS_SD_LOG_FORMAT", value = "json" },
        ],
        length(var.discovery_clusters) > 0 ? [{ name = "ECS_SD_CLUSTERS", value = join(",", var.discovery_clusters) }] : [],
        var.events_queues == null ? [] : [{ name = "ECS_SD_EVENTS_QUEUE_URL", value = var.events_queues[i].url }],
      )
      mountPoints  = [{ sourceVolume = local.sd_volume, containerPath = "/etc/ecs-sd", readOnly = false }]
      portMappings = [{ containerPort = 9001, protocol = "tcp" }]
    },
    {
      name      = "prometheus"
      image     = var.prometheus_image
      essential = true
      # The image's nobody, set explicitly: the boot script of a replica's instance makes the
      # TSDB directory on its volume nobody's; ECS gives a configuredAtLaunch EBS volume group
      # write for the container's `user` only when one is set. (On ephemeral storage,
      # /prometheus is the image's VOLUME, owned by nobody.)
      user = local.prometheus_user
      # Writes only its TSDB volume.
      readonlyRootFilesystem = true
      command = [
        "--config.file=/etc/config/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        "--storage.tsdb.retention.time=${var.retention}",
        "--storage.tsdb.retention.size=${local.retention_size}",
        "--web.enable-lifecycle",
        # external_labels carry ${PROMETHEUS_REPLICA} (__replica__): one config for every replica.
        "--enable-feature=expand-external-labels",
      ]
      environment = [{ name = "PROMETHEUS_REPLICA", value = local.replica_names[i] }]
      mountPoints = [
        { sourceVolume = local.config_volume, containerPath = "/etc/config", readOnly = true },
        { sourceVolume = local.sd_volume, containerPath = "/etc/ecs-sd", readOnly = true },
        { sourceVolume = local.data_volume, containerPath = "/prometheus", readOnly = false },
      ]
      portMappings = [{ containerPort = 9090, protocol = "tcp" }]
      dependsOn    = [{ containerName = "config-check", condition = "SUCCESS" }]
      healthCheck = {
        command     = ["CMD-SHELL", "wget -q -O /dev/null http://localhost:9090/-/healthy || exit 1"]
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 60
      }
    },
  ]]
}

resource "aws_prometheus_workspace" "this" {
  count = var.remote_write == "create" ? 1 : 0
  alias = var.name
  tags  = var.tags
}

resource "aws_ssm_parameter" "config" {
  #checkov:skip=CKV_AWS_337: the key is var.config_kms_key_arn; without one, SSM uses the AWS managed key alias/aws/ssm.
  name        = "${var.ssm_path}/config.yml"
  description = "Prometheus configuration (module prometheus), read by the config-reloader"
  type        = "SecureString"
  key_id      = var.config_kms_key_arn
  tier        = length(local.config) > 4096 ? "Advanced" : "Standard"
  value       = local.config
  tags        = var.tags
}

resource "aws_ssm_parameter" "cloudmap" {
  #checkov:skip=CKV_AWS_337: the key is var.config_kms_key_arn; without one, SSM uses the AWS managed key alias/aws/ssm.
  count       = length(var.cloudmap_namespaces) > 0 ? 1 : 0
  name        = "${var.ssm_path}/scrape/cloudmap"
  description = "Cloud Map namespaces whose instances Prometheus scrapes (config-reloader writes cloudmap.json)"
  type        = "SecureString"
  key_id      = var.config_kms_key_arn
  value       = join(",", var.cloudmap_namespaces)
  tags        = var.tags
}

resource "aws_ssm_parameter" "rules" {
  #checkov:skip=CKV_AWS_337: the key is var.config_kms_key_arn; without one, SSM uses the AWS managed key alias/aws/ssm.
  for_each    = var.rule_files
  name        = "${var.ssm_path}/scrape/${each.key}"
  description = "Prometheus rule file ${each.key}; the config-reloader writes it beside prometheus.yml and reloads"
  type        = "SecureString"
  key_id      = var.config_kms_key_arn
  tier        = length(each.value) > 4096 ? "Advanced" : "Standard"
  value       = each.value
  tags        = var.tags
}

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }
  }
}

# ECS-managed EBS volumes: the role ECS uses to create and attach the volume.
resource "aws_iam_role" "volumes" {
  count              = local.task_ebs ? 1 : 0
  name               = "${var.name}-ecs-volumes"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "volumes" {
  count      = local.task_ebs ? 1 : 0
  role       = aws_iam_role.volumes[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSInfrastructureRolePolicyForVolumes"
}

# Prometheus is let into the groups of what it scrapes, on the scrape ports only (the stack: the
# container instances, where cAdvisor runs privileged). The rules live here, with their source.
resource "aws_vpc_security_group_ingress_rule" "scrape_targets" {
  count                        = length(var.scrape_targets)
  security_group_id            = var.scrape_targets[count.index].security_group_id
  description                  = "Prometheus ${var.name} scrapes ${var.scrape_targets[count.index].description}"
  referenced_security_group_id = module.service.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.scrape_targets[count.index].from_port
  to_port                      = var.scrape_targets[count.index].to_port
}

module "service" {
  source = "../replicated-service"

  name        = var.name
  cluster_arn = var.cluster_arn
  vpc_id      = var.vpc_id
  # One service per replica, in the subnets' zones in turn; with instance-ebs, placed only on the
  # replica's own instance, the one its volume is attached to.
  services = [for i in range(var.replicas) : {
    name                  = local.replica_names[i]
    container_definitions = jsonencode(local.container_definitions[i])
    subnet_ids            = [local.replica_subnets[i]]
    desired_count         = 1
    placement_member_of   = local.durable ? "attribute:${local.replica_attribute} == ${local.replica_names[i]}" : null
  }]
  launch_type      = local.launch_type
  cpu              = var.cpu
  memory           = var.memory
  cpu_architecture = var.cpu_architecture
  # instance-ebs: the replica's volume, mounted by its instance's boot script; fargate-ebs: an
  # ECS-managed volume per task (managed_ebs_volume); ephemeral: task storage.
  volumes = [
    { name = local.config_volume },
    { name = local.sd_volume },
    { name = local.data_volume, host_path = local.durable ? local.data_dir : null, configure_at_launch = local.task_ebs },
  ]
  managed_ebs_volume = local.task_ebs ? {
    volume_name = local.data_volume
    # Read through the policy attachment, so the services wait until ECS may use the role.
    role_arn    = aws_iam_role_policy_attachment.volumes[0].role == aws_iam_role.volumes[0].name ? aws_iam_role.volumes[0].arn : null
    size_gib    = var.ebs_size_gib
    snapshot_id = var.ebs_snapshot_id
  } : null
  # One task per replica, and the old one stopped before the new one starts: two Prometheus
  # processes can't share a TSDB. The other replicas scrape and alert meanwhile.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  permissions = {
    enable_discoverer   = true
    config_ssm_paths    = [var.ssm_path]
    ssm_kms_key_arns    = var.config_kms_key_arn == null ? [] : [var.config_kms_key_arn]
    enable_remote_write = var.remote_write != "none"
    events_queue_arns   = var.events_queues == null ? [] : var.events_queues[*].arn
    amp_workspace_arn   = local.amp_workspace_arn
  }

  # 9090 carries --web.enable-lifecycle (POST /-/quit, /-/reload): open to the VPC, anyone in it
  # could stop Prometheus. Only the given groups (Grafana), this group (Prometheus scraping itself
  # through Cloud Map, federation between shards) and the operators' CIDR blocks reach it.
  security_group_description = "Prometheus task: queries on 9090 from Grafana, the operators and other Prometheus tasks"
  ingress = {
    port                    = 9090
    description             = "PromQL queries and the UI"
    from_security_group_ids = var.allowed_security_group_ids
    from_cidr_blocks        = var.allowed_cidr_blocks
  }
  allow_from_self    = true
  egress_description = "Scrapes, AWS APIs and remote write"

  # The SRV record carries 9090, so ECS registers AWS_INSTANCE_PORT and the Cloud Map job
  # scrapes 9090 instead of port 80.
  cloudmap = var.cloudmap_service_arn == null ? null : {
    service_arn = var.cloudmap_service_arn, container_name = "prometheus", container_port = 9090
  }

  wait_for_steady_state = var.wait_for_steady_state
  log_retention_days    = var.log_retention_days
  log_kms_key_arn       = var.log_kms_key_arn
  tags                  = var.tags
}

# State of earlier versions: the single service's resources are replica 0's, then the
# replicated-service module holds them.
moved {
  from = aws_cloudwatch_log_group.this
  to   = module.service.aws_cloudwatch_log_group.this[0]
}

moved {
  from = module.iam
  to   = module.service.module.iam[0]
}

moved {
  from = aws_security_group.this
  to   = module.service.aws_security_group.this[0]
}

moved {
  from = aws_vpc_security_group_ingress_rule.from_groups
  to   = module.service.aws_vpc_security_group_ingress_rule.from_groups
}

moved {
  from = aws_vpc_security_group_ingress_rule.query
  to   = module.service.aws_vpc_security_group_ingress_rule.from_cidrs
}

moved {
  from = aws_vpc_security_group_egress_rule.all
  to   = module.service.aws_vpc_security_group_egress_rule.all[0]
}

moved {
  from = aws_ecs_task_definition.this
  to   = module.service.aws_ecs_task_definition.this
}

moved {
  from = aws_ecs_service.this
  to   = module.service.aws_ecs_service.this
}
