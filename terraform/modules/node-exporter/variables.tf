variable "create" {
  description = "Create the node-exporter DAEMON service (false creates nothing)."
  type        = bool
  default     = true
}

variable "cluster_arn" {
  description = "ECS cluster with EC2 capacity; node-exporter runs on every container instance."
  type        = string
}

variable "name" {
  description = "Name of the service."
  type        = string
  default     = "node-exporter"
}

variable "image" {
  description = "node-exporter image."
  type        = string
  default     = "quay.io/prometheus/node-exporter:v1.8.2"
}

variable "port" {
  description = "Port node-exporter binds on the host."
  type        = number
  default     = 9100

  validation {
    condition     = var.port >= 1 && var.port <= 65535
    error_message = "port must be between 1 and 65535."
  }
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
