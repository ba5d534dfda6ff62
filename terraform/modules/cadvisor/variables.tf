variable "create" {
  description = "Create the cAdvisor DAEMON service (false creates nothing)."
  type        = bool
  default     = true
}

variable "cluster_arn" {
  description = "ECS cluster with EC2 capacity; cAdvisor runs on every container instance."
  type        = string
}

variable "name" {
  description = "Name of the service."
  type        = string
  default     = "cadvisor"
}

variable "image" {
  description = "cAdvisor image."
  type        = string
  default     = "gcr.io/cadvisor/cadvisor:v0.49.1"
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
