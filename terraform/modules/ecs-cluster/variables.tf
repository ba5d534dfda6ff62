variable "name" {
  description = "Name of the ECS cluster, also the prefix of its capacity resources."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,255}$", var.name))
    error_message = "name must be 1-255 letters, digits, hyphens or underscores (an ECS cluster name)."
  }
}

variable "vpc_id" {
  description = "VPC of the EC2 capacity."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the EC2 capacity, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Give subnets in at least two availability zones."
  }
}

variable "enable_ec2_capacity" {
  description = "Create EC2 capacity (launch template, auto scaling group, capacity provider) for the DAEMON exporters."
  type        = bool
  default     = true
}

variable "instance_type" {
  description = "EC2 instance type of the capacity."
  type        = string
  default     = "t3.medium"
}

variable "min_size" {
  description = "Minimum number of EC2 instances."
  type        = number
  default     = 2

  validation {
    condition     = var.min_size >= 0
    error_message = "min_size must be 0 or more."
  }
}

variable "max_size" {
  description = "Maximum number of EC2 instances."
  type        = number
  default     = 4

  validation {
    condition     = var.max_size >= 1
    error_message = "max_size must be 1 or more."
  }
}

variable "desired_capacity" {
  description = "Initial number of EC2 instances (managed scaling adjusts it afterwards)."
  type        = number
  default     = 2
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

variable "enable_container_insights" {
  description = "Enable CloudWatch Container Insights on the cluster."
  type        = bool
  default     = true
}

variable "enable_detailed_monitoring" {
  description = "1-minute CloudWatch monitoring of the instances (about USD 2.10 per instance a month for the default metrics). node-exporter already covers the instances in Prometheus."
  type        = bool
  default     = false
}

variable "enable_managed_scaling" {
  description = "Let the capacity provider scale the auto scaling group."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
