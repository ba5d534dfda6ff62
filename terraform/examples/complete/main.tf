provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project = "prometheus-on-ecs"
    }
  }
}

module "stack" {
  source = "../../modules/stack"

  name                 = "monitoring"
  availability_zones   = var.availability_zones
  discoverer_image     = var.discoverer_image
  reloader_image       = var.reloader_image
  operator_cidr_blocks = var.operator_cidr_blocks
  remote_write         = var.remote_write
  amp_workspace_arn    = var.amp_workspace_arn
  alert_receiver       = var.alert_receiver
  dashboards_dir       = "${path.module}/../../../dashboards"
}
