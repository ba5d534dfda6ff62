variable "create" {
  description = "Create the DAEMON service, its task definition, roles and log group (false creates nothing)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name of the DAEMON service, its task family and its container."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]{1,32}$", var.name))
    error_message = "name must be 1-32 lowercase letters, digits or hyphens."
  }
}

variable "cluster_arn" {
  description = "ECS cluster with EC2 capacity: one task runs on every container instance."
  type        = string
}

variable "image" {
  description = "Container image."
  type        = string
}

variable "network_mode" {
  description = "\"host\" (the exporter binds the instance's port) or \"bridge\" (a dynamic host port, found by the discoverer)."
  type        = string

  validation {
    condition     = contains(["host", "bridge"], var.network_mode)
    error_message = "network_mode must be \"host\" or \"bridge\"."
  }
}

variable "container_port" {
  description = "Port the exporter listens on in the container."
  type        = number

  validation {
    condition     = var.container_port >= 1 && var.container_port <= 65535
    error_message = "container_port must be between 1 and 65535."
  }
}

variable "docker_labels" {
  description = "Docker labels (the discovery markers, e.g. PROMETHEUS_EXPORTER_PORT)."
  type        = map(string)
  default     = {}
}

variable "command" {
  description = "Container command (arguments), or empty for the image's default."
  type        = list(string)
  default     = []
}

variable "host_mounts" {
  description = "Host paths mounted read-only: volume name => { host_path, container_path }."
  type = map(object({
    host_path      = string
    container_path = string
  }))
  default = {}
}

variable "privileged" {
  description = "Run the container privileged (cAdvisor needs it to read every cgroup and device)."
  type        = bool
  default     = false
}

variable "cpu" {
  description = "CPU units reserved per instance."
  type        = number
  default     = 128
}

variable "memory" {
  description = "Memory limit per instance, MiB."
  type        = number
  default     = 128
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log group, days."
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the log group, or null for CloudWatch's default encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "user" {
  description = "The user the container runs as (uid[:gid] or a name from the image), set explicitly rather than left to the image."
  type        = string

  validation {
    condition     = length(trimspace(var.user)) > 0
    error_message = "user must name the container's user, e.g. 65534:65534."
  }
}

variable "readonly_root_filesystem" {
  description = "Mount the container's root file system read-only (the exporter writes nothing but its volumes)."
  type        = bool
  default     = true
}

variable "pid_mode" {
  description = "\"host\" to share the instance's process namespace (node-exporter's process metrics), or null for the container's own."
  type        = string
  default     = null

  validation {
    condition     = var.pid_mode == null || contains(["host", "task"], coalesce(var.pid_mode, "task"))
    error_message = "pid_mode must be \"host\", \"task\" or null."
  }
}
