# node-exporter on every EC2 container instance, host network, marked with the docker-label
# convention so ecs-discoverer finds it with no extra config.
module "daemon" {
  source = "../daemon-service"
  create = var.create

  name           = var.name
  cluster_arn    = var.cluster_arn
  image          = var.image
  network_mode   = "host"
  pid_mode       = "host"        # the instance's processes, as node-exporter's documentation asks
  user           = "65534:65534" # the image's nobody
  container_port = var.port
  command = [
    "--path.procfs=/host/proc",
    "--path.sysfs=/host/sys",
    "--path.rootfs=/rootfs",
    "--web.listen-address=:${var.port}",
  ]
  docker_labels = {
    PROMETHEUS_EXPORTER_PORT     = tostring(var.port)
    PROMETHEUS_EXPORTER_JOB_NAME = "node-exporter"
  }
  host_mounts = {
    proc   = { host_path = "/proc", container_path = "/host/proc" }
    sys    = { host_path = "/sys", container_path = "/host/sys" }
    rootfs = { host_path = "/", container_path = "/rootfs" }
  }
  log_kms_key_arn    = var.log_kms_key_arn
  log_retention_days = var.log_retention_days
  tags               = var.tags
}
