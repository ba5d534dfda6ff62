# cAdvisor on every EC2 container instance, bridge network with a dynamic host port; the
# docker-label marker names the container port and ecs-discoverer finds the host port.
module "daemon" {
  source = "../daemon-service"
  create = var.create

  name           = var.name
  cluster_arn    = var.cluster_arn
  image          = var.image
  network_mode   = "bridge"
  container_port = 8080
  privileged     = true
  user           = "0" # root, explicitly: cAdvisor reads the Docker socket and every cgroup
  # cAdvisor has no local program in the test bed, so a read-only root is unverified; left off.
  readonly_root_filesystem = false
  cpu                      = 128
  memory                   = 256
  command                  = ["--docker_only=true", "--housekeeping_interval=30s"]
  docker_labels = {
    PROMETHEUS_EXPORTER_PORT     = "8080"
    PROMETHEUS_EXPORTER_JOB_NAME = "cadvisor"
  }
  host_mounts = {
    rootfs   = { host_path = "/", container_path = "/rootfs" }
    var_run  = { host_path = "/var/run", container_path = "/var/run" }
    sys      = { host_path = "/sys", container_path = "/sys" }
    docker   = { host_path = "/var/lib/docker", container_path = "/var/lib/docker" }
    dev_disk = { host_path = "/dev/disk", container_path = "/dev/disk" }
    cgroup   = { host_path = "/sys/fs/cgroup", container_path = "/sys/fs/cgroup" }
  }
  log_kms_key_arn    = var.log_kms_key_arn
  log_retention_days = var.log_retention_days
  tags               = var.tags
}
