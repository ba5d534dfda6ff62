# The stack of examples/complete on AWS emulators: every service endpoint points at `endpoint`
# (moto with the test bed's fidelity layer), except those LocalStack serves when
# `localstack_endpoint` is given. No module toggle is needed; README.md lists what the emulators
# do differently.
locals {
  # SSM, S3, IAM, STS, KMS, Secrets Manager and CloudWatch Logs: LocalStack's when it runs.
  localstack = coalesce(var.localstack_endpoint, var.endpoint)
}

provider "aws" {
  region = "us-east-1"
  # A 12-digit access key is the account to LocalStack; moto's account is the same one.
  access_key                  = "123456789012"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    amp              = var.endpoint
    autoscaling      = var.endpoint
    cloudwatchlogs   = local.localstack
    ec2              = var.endpoint
    dlm              = var.endpoint
    ecs              = var.endpoint
    events           = var.endpoint
    iam              = local.localstack
    kms              = local.localstack
    s3               = local.localstack
    secretsmanager   = local.localstack
    servicediscovery = var.endpoint
    sqs              = var.endpoint
    ssm              = local.localstack
    sts              = local.localstack
  }
}

module "stack" {
  source = "../../modules/stack"

  name               = "emu"
  availability_zones = ["us-east-1a", "us-east-1b"]
  vpc_cidr_block     = var.vpc_cidr_block
  discoverer_image   = "ecs-discoverer:emulator"
  reloader_image     = "config-reloader:emulator"
  dashboards_dir     = "${path.module}/../../../dashboards"
  instance_count     = 2

  remote_write                 = var.remote_write
  amp_workspace_arn            = var.amp_workspace_arn
  prometheus_storage           = var.prometheus_storage
  prometheus_replicas          = var.prometheus_replicas
  prometheus_snapshot_schedule = var.prometheus_snapshot_schedule
  enable_grafana               = var.enable_grafana
  enable_alertmanager          = var.enable_alertmanager
  alert_receiver               = var.alert_receiver
  alert_group_wait             = var.alert_group_wait
  alertmanager_replicas        = var.alertmanager_replicas
  log_retention_days           = var.log_retention_days
  log_kms_key_arn              = var.log_kms_key_arn
  secret_kms_key_arn           = var.secret_kms_key_arn
  extra_rule_files             = var.extra_rule_files

  event_reconcile_interval = var.event_reconcile_interval
  discoverer_cache_ttl     = var.discoverer_cache_ttl
  # moto keeps a service's runningCount at 0 whatever runs its tasks, so it never looks steady;
  # the test bed's ECS agent checks that the tasks really run instead.
  wait_for_steady_state = false
}
