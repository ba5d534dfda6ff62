# The stack of examples/complete on an AWS emulator: every service endpoint points at it. No
# module toggle is needed; README.md lists what the emulator does differently.
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    amp              = var.endpoint
    autoscaling      = var.endpoint
    cloudwatchlogs   = var.endpoint
    ec2              = var.endpoint
    ecs              = var.endpoint
    iam              = var.endpoint
    kms              = var.endpoint
    s3               = var.endpoint
    secretsmanager   = var.endpoint
    servicediscovery = var.endpoint
    ssm              = var.endpoint
    sts              = var.endpoint
  }
}

module "stack" {
  source = "../../modules/stack"

  name               = "emu"
  availability_zones = ["us-east-1a", "us-east-1b"]
  # Loopback addresses: whatever the emulator hands out (instances, ENIs) is scrapeable locally.
  vpc_cidr_block   = "127.0.0.0/16"
  discoverer_image = "ecs-discoverer:emulator"
  reloader_image   = "config-reloader:emulator"
  dashboards_dir   = "${path.module}/../../../dashboards"
  instance_count   = 2

  remote_write        = var.remote_write
  amp_workspace_arn   = var.amp_workspace_arn
  prometheus_storage  = var.prometheus_storage
  enable_grafana      = var.enable_grafana
  enable_alertmanager = var.enable_alertmanager
  alert_receiver      = var.alert_receiver
  alert_group_wait    = var.alert_group_wait
  extra_rule_files    = var.extra_rule_files
  # moto keeps a service's runningCount at 0 whatever runs its tasks, so it never looks steady;
  # the test bed's ECS agent checks that the tasks really run instead.
  wait_for_steady_state = false
}
