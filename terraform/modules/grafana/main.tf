data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  # Empty when create is false and no bucket is given: nothing uses it then.
  bucket_id        = try(coalesce(var.config_bucket_id, one(aws_s3_bucket.config[*].id)), "")
  bucket_arn       = "arn:${data.aws_partition.current.partition}:s3:::${local.bucket_id}"
  admin_secret_arn = var.create ? coalesce(var.admin_password_secret_arn, one(aws_secretsmanager_secret.admin[*].arn)) : var.admin_password_secret_arn
  dashboards       = fileset(var.dashboards_dir, "*.json")
  provisioning     = "/etc/grafana/provisioning"

  # One reloader per provisioning directory: Grafana wants datasources/ and dashboards/ apart.
  reloaders = {
    datasources = {
      main   = "s3://${local.bucket_id}/${var.config_prefix}datasources.yaml"
      scrape = null
    }
    dashboards = {
      main   = "s3://${local.bucket_id}/${var.config_prefix}dashboards.yaml"
      scrape = "s3://${local.bucket_id}/${var.config_prefix}dashboards/"
    }
  }

  # What the init and the long-running reloader of one directory share: the image's nonroot,
  # explicitly, writing only its volume at the image's VOLUME path (/etc/config), where Grafana
  # reads it at its provisioning path.
  reloader_container = { for kind, r in local.reloaders : kind => {
    image                  = var.reloader_image
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    essential              = false
    environment = concat(
      [
        { name = "CONFIG_SOURCE", value = "s3" },
        { name = "SOURCE_PROMETHEUS_CONFIG_FILE_PATH", value = r.main },
        { name = "CONFIG_FILE_DIR", value = "/etc/config/" },
        { name = "CONFIG_FILE_NAME", value = "${kind}.yaml" },
        { name = "RELOADER_LISTEN", value = "off" },
      ],
      r.scrape == null ? [] : [{ name = "SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH", value = r.scrape }],
    )
    mountPoints  = [{ sourceVolume = kind, containerPath = "/etc/config", readOnly = false }]
    portMappings = []
  } }

  container_definitions = concat(
    # Grafana reads its provisioning only at start: a one-pass reloader per directory writes it
    # first, and Grafana starts on their SUCCESS (a failed pass keeps Grafana from starting
    # without its datasource or dashboards). Init containers come first, so each volume starts
    # as their image's /etc/config VOLUME, owned by nonroot (see terraform/README.md).
    [for kind, base in local.reloader_container : merge(base, {
      name        = "init-${kind}"
      environment = concat(base.environment, [{ name = "CONFIG_RELOAD_FREQUENCY", value = "0" }])
    })],
    # Then one reloader per directory keeps the files current; Grafana re-reads dashboards on
    # its provider's interval, a datasource change takes a task restart.
    [for kind, base in local.reloader_container : merge(base, {
      name        = "reloader-${kind}"
      environment = concat(base.environment, [{ name = "CONFIG_RELOAD_FREQUENCY", value = "60" }])
      dependsOn   = [{ containerName = "init-${kind}", condition = "SUCCESS" }]
    })],
    [{
      name  = "grafana"
      image = var.grafana_image
      # The image's grafana user, explicitly. Its root stays writable: Grafana writes its database
      # and plugins under /var/lib/grafana, which is not a volume here.
      user      = "472"
      essential = true
      environment = [
        { name = "GF_SECURITY_ADMIN_USER", value = "admin" },
        { name = "GF_AUTH_ANONYMOUS_ENABLED", value = "false" },
        { name = "GF_ANALYTICS_REPORTING_ENABLED", value = "false" },
        # SigV4 signing for the AMP data source, with the task role's credentials.
        { name = "GF_AUTH_SIGV4_AUTH_ENABLED", value = tostring(var.amp_data_source != null) },
      ]
      secrets = [{ name = "GF_SECURITY_ADMIN_PASSWORD", valueFrom = local.admin_secret_arn }]
      mountPoints = [for kind, _ in local.reloaders : {
        sourceVolume = kind, containerPath = "${local.provisioning}/${kind}", readOnly = true
      }]
      portMappings = [{ containerPort = 3000, protocol = "tcp" }]
      dependsOn    = [for kind, _ in local.reloaders : { containerName = "init-${kind}", condition = "SUCCESS" }]
    }],
  )
}

# --- the config bucket, when none is given -----------------------------------------------

resource "aws_s3_bucket" "config" {
  #checkov:skip=CKV_AWS_18: access logging needs a log bucket of its own; this bucket holds only provisioning files written by Terraform.
  #checkov:skip=CKV_AWS_144: cross-region replication is not needed: Terraform can rewrite every object.
  #checkov:skip=CKV2_AWS_62: nothing consumes event notifications; the reloaders poll with conditional GETs.
  count         = var.create && var.config_bucket_id == null ? 1 : 0
  bucket_prefix = "${var.name}-config-"
  force_destroy = true
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "config" {
  count                   = var.create && var.config_bucket_id == null ? 1 : 0
  bucket                  = aws_s3_bucket.config[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "config" {
  count  = var.create && var.config_bucket_id == null ? 1 : 0
  bucket = aws_s3_bucket.config[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "config" {
  count  = var.create && var.config_bucket_id == null ? 1 : 0
  bucket = aws_s3_bucket.config[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.secret_kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "config" {
  count  = var.create && var.config_bucket_id == null ? 1 : 0
  bucket = aws_s3_bucket.config[0].id
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_object" "datasources" {
  count  = var.create ? 1 : 0
  bucket = local.bucket_id
  key    = "${var.config_prefix}datasources.yaml"
  content = templatefile("${path.module}/templates/datasources.yaml.tftpl", {
    prometheus_url = var.prometheus_url
    amp_query_url  = var.amp_data_source == null ? "" : var.amp_data_source.url
    region         = data.aws_region.current.id
  })
  content_type = "application/yaml"
  tags         = var.tags
}

resource "aws_s3_object" "dashboard_provider" {
  count        = var.create ? 1 : 0
  bucket       = local.bucket_id
  key          = "${var.config_prefix}dashboards.yaml"
  content      = file("${path.module}/templates/dashboards.yaml.tftpl")
  content_type = "application/yaml"
  tags         = var.tags
}

resource "aws_s3_object" "dashboard" {
  for_each     = var.create ? local.dashboards : toset([])
  bucket       = local.bucket_id
  key          = "${var.config_prefix}dashboards/${each.value}"
  source       = "${var.dashboards_dir}/${each.value}"
  source_hash  = filemd5("${var.dashboards_dir}/${each.value}")
  content_type = "application/json"
  tags         = var.tags
}

# The password never enters Terraform's state or plan: an ephemeral value, written once through
# the write-only secret_string_wo. Bump admin_password_version to write a new one.
ephemeral "aws_secretsmanager_random_password" "admin" {
  count               = var.create && var.admin_password_secret_arn == null ? 1 : 0
  password_length     = 32
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "admin" {
  #checkov:skip=CKV2_AWS_57: a Grafana admin password has no rotation Lambda; rotate it by writing a new version.
  count       = var.create && var.admin_password_secret_arn == null ? 1 : 0
  name_prefix = "${var.name}-admin-"
  description = "Grafana admin password"
  kms_key_id  = var.secret_kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "admin" {
  count                    = var.create && var.admin_password_secret_arn == null ? 1 : 0
  secret_id                = aws_secretsmanager_secret.admin[0].id
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.admin[0].random_password
  secret_string_wo_version = var.admin_password_version
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
    desired_count         = 1
  }]
  cpu              = 512
  memory           = 1024
  cpu_architecture = var.cpu_architecture
  volumes          = [for kind, _ in local.reloaders : { name = kind }]

  permissions = {
    config_bucket_arn     = local.bucket_arn
    config_s3_prefixes    = [var.config_prefix]
    execution_secret_arns = [local.admin_secret_arn]
    # With a customer key, reading the secret and the SSE-KMS objects needs kms:Decrypt on it.
    execution_kms_key_arns = var.secret_kms_key_arn == null ? [] : [var.secret_kms_key_arn]
    s3_kms_key_arns        = var.secret_kms_key_arn == null ? [] : [var.secret_kms_key_arn]
    enable_amp_query       = var.amp_data_source != null
    amp_workspace_arn      = var.amp_data_source == null ? null : var.amp_data_source.workspace_arn
  }

  security_group_description = "Grafana task: the UI on 3000 from the allowed groups and CIDR blocks"
  ingress = {
    port                    = 3000
    description             = "Grafana UI and /metrics"
    from_security_group_ids = var.allowed_security_group_ids
    from_cidr_blocks        = var.allowed_cidr_blocks
  }
  egress_description = "Prometheus queries, S3 and AWS APIs"

  # The SRV record carries 3000, so the Cloud Map job scrapes Grafana's /metrics there.
  cloudmap = var.cloudmap_service_arn == null ? null : {
    service_arn = var.cloudmap_service_arn, container_name = "grafana", container_port = 3000
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
  from = aws_vpc_security_group_ingress_rule.ui
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
