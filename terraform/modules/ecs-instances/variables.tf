variable "create" {
  description = "Create the group, its launch template and instance role (false creates nothing)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name of the auto scaling group and launch template, and prefix of the instance role and profile."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,55}$", var.name))
    error_message = "name must be 1-55 letters, digits, hyphens or underscores (it prefixes an IAM role name of at most 64)."
  }
}

variable "cluster_name" {
  description = "ECS cluster the instances join (ECS_CLUSTER)."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets the group launches into: one subnet pins the group to that subnet's zone."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "Give at least one subnet."
  }
}

variable "security_group_ids" {
  description = "Security groups of the instances."
  type        = list(string)
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
  default     = "t3.medium"
}

variable "min_size" {
  description = "Minimum number of instances."
  type        = number
  default     = 1

  validation {
    condition     = var.min_size >= 0
    error_message = "min_size must be 0 or more."
  }
}

variable "max_size" {
  description = "Maximum number of instances."
  type        = number
  default     = 1

  validation {
    condition     = var.max_size >= 1
    error_message = "max_size must be 1 or more."
  }
}

variable "desired_capacity" {
  description = "Initial number of instances (managed scaling, when on, adjusts it afterwards)."
  type        = number
  default     = 1
}

variable "protect_from_scale_in" {
  description = "Protect new instances from scale-in (what capacity provider managed termination protection needs)."
  type        = bool
  default     = false
}

variable "ami_ssm_parameter" {
  description = "Public SSM parameter holding the ECS-optimised AMI ID."
  type        = string
  default     = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

variable "root_volume_size" {
  description = "Root EBS volume size of each instance, in GiB."
  type        = number
  default     = 40

  validation {
    condition     = var.root_volume_size >= 30
    error_message = "The ECS-optimised AMI needs a root volume of at least 30 GiB."
  }
}

variable "enable_detailed_monitoring" {
  description = "1-minute CloudWatch monitoring of the instances (about USD 2.10 per instance a month for the default metrics). node-exporter already covers the instances in Prometheus."
  type        = bool
  default     = false
}

variable "instance_attributes" {
  description = "ECS custom attributes the instances register with (ECS_INSTANCE_ATTRIBUTES), for memberOf placement constraints."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.instance_attributes : can(regex("^[a-zA-Z0-9_./-]{1,128}$", k)) && can(regex("^[a-zA-Z0-9_.@/: -]{1,128}$", v))])
    error_message = "ECS attribute names are 1-128 letters, digits, hyphens, underscores, periods or slashes; values 1-128 of those, @, colons and spaces."
  }
}

variable "boot_script" {
  description = "Bash run at boot before the ECS agent starts (the user data's first part; set -euo pipefail is on), e.g. attaching and mounting a data volume. Empty for none."
  type        = string
  default     = ""
}

variable "boot_policies" {
  description = "IAM policy documents (JSON) the boot script needs, e.g. ec2:AttachVolume on one volume: a list, so its length is known at plan while the documents are not."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
