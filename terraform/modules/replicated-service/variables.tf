variable "create" {
  description = "Create the service (false creates nothing)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name of the service: its security group, roles, log group (/ecs/<name>) and log stream prefix."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]{1,32}$", var.name))
    error_message = "name must be 1-32 lowercase letters, digits or hyphens."
  }
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the services run in."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the security group."
  type        = string
}

variable "services" {
  description = "One task definition and ECS service each: name (of both), container_definitions (JSON, without logConfiguration: every container logs to the log group), subnet_ids, desired_count, and placement_member_of, a memberOf expression (EC2) or null."
  type = list(object({
    name                  = string
    container_definitions = string
    subnet_ids            = list(string)
    desired_count         = number
    placement_member_of   = optional(string)
  }))

  validation {
    condition     = length(var.services) >= 1 && alltrue([for s in var.services : length(s.subnet_ids) >= 1 && s.desired_count >= 0])
    error_message = "Give at least one service, each with a subnet and a desired_count of 0 or more."
  }
}

variable "launch_type" {
  description = "\"FARGATE\" or \"EC2\" (with awsvpc, on container instances)."
  type        = string
  default     = "FARGATE"

  validation {
    condition     = contains(["FARGATE", "EC2"], var.launch_type)
    error_message = "launch_type must be \"FARGATE\" or \"EC2\"."
  }
}

variable "cpu" {
  description = "Task CPU units."
  type        = number
}

variable "memory" {
  description = "Task memory, MiB."
  type        = number
}

variable "cpu_architecture" {
  description = "CPU architecture of the tasks: \"X86_64\" or \"ARM64\"."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be \"X86_64\" or \"ARM64\"."
  }
}

variable "volumes" {
  description = "Task volumes: a bind mount (name alone), a host path, or one configured at launch (an ECS-managed EBS volume, managed_ebs_volume)."
  type = list(object({
    name                = string
    host_path           = optional(string)
    configure_at_launch = optional(bool, false)
  }))
  default = []
}

variable "managed_ebs_volume" {
  description = "The ECS-managed EBS volume of each task, for the volume configured at launch, or null: volume_name, role_arn (the ECS infrastructure role; pass it through its policy attachment so the service waits for it), size_gib, snapshot_id."
  type = object({
    volume_name = string
    role_arn    = string
    size_gib    = number
    snapshot_id = optional(string)
  })
  default = null
}

variable "deployment_minimum_healthy_percent" {
  description = "Of desired_count, what stays running during a deployment: 100 (ECS's default) starts the new task before the old one stops; 0 stops the old one first (a data volume two tasks can't share); 50 replaces half the tasks at a time."
  type        = number
  default     = 100

  validation {
    condition     = var.deployment_minimum_healthy_percent >= 0 && var.deployment_minimum_healthy_percent <= 100
    error_message = "deployment_minimum_healthy_percent is 0 to 100."
  }
}

variable "deployment_maximum_percent" {
  description = "Of desired_count, what may run during a deployment: 200 (ECS's default) or 100 (never more tasks than desired)."
  type        = number
  default     = 200

  validation {
    condition     = var.deployment_maximum_percent >= 100 && var.deployment_maximum_percent <= 200
    error_message = "deployment_maximum_percent is 100 to 200."
  }
}

variable "permissions" {
  description = "What the task and execution roles may do: the inputs of the iam module of the same names (the log group is added)."
  type = object({
    enable_discoverer      = optional(bool, false)
    config_ssm_paths       = optional(list(string), [])
    ssm_kms_key_arns       = optional(list(string), [])
    config_bucket_arn      = optional(string)
    config_s3_prefixes     = optional(list(string), [])
    enable_remote_write    = optional(bool, false)
    enable_amp_query       = optional(bool, false)
    amp_workspace_arn      = optional(string)
    execution_secret_arns  = optional(list(string), [])
    execution_kms_key_arns = optional(list(string), [])
    s3_kms_key_arns        = optional(list(string), [])
    sns_topic_arns         = optional(list(string), [])
    events_queue_arns      = optional(list(string), [])
  })
  default = {}
}

variable "security_group_description" {
  description = "Description of the security group (changing it replaces the group)."
  type        = string
}

variable "ingress" {
  description = "The service's port (TCP), what it carries (each rule's description starts with it), and the security groups and operator CIDR blocks it is open to."
  type = object({
    port                    = number
    description             = string
    from_security_group_ids = optional(list(string), [])
    from_cidr_blocks        = optional(list(string), [])
  })
}

variable "allow_from_self" {
  description = "Open the port to the tasks of this group too (Prometheus scraping itself through Cloud Map)."
  type        = bool
  default     = false
}

variable "ingress_from_self" {
  description = "Further ports open between the tasks of this group only: protocol (tcp or udp), port, description (Alertmanager's gossip)."
  type = list(object({
    protocol    = string
    port        = number
    description = string
  }))
  default = []

  validation {
    condition     = alltrue([for rule in var.ingress_from_self : contains(["tcp", "udp"], rule.protocol)])
    error_message = "ingress_from_self protocols are \"tcp\" or \"udp\"."
  }
}

variable "egress_description" {
  description = "What the tasks reach out to (the one egress rule, to anywhere)."
  type        = string
}

variable "cloudmap" {
  description = "Cloud Map service to register every task in, with the container and port of its SRV record, or null."
  type = object({
    service_arn    = string
    container_name = string
    container_port = number
  })
  default = null
}

variable "wait_for_steady_state" {
  description = "Make terraform apply wait until each service is stable (its tasks running), so a task that can't start fails the apply. Off only against an emulator that never runs tasks."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log group, days."
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the log group, or null."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
