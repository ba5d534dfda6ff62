variable "name" {
  description = "Name of the Prometheus service; prefix of its resources."
  type        = string
  default     = "prometheus"

  validation {
    condition     = can(regex("^[a-z0-9-]{1,32}$", var.name))
    error_message = "name must be 1-32 lowercase letters, digits or hyphens."
  }
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the task (awsvpc), in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Give subnets in at least two availability zones."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to query Prometheus on 9090 (Grafana's)."
  type        = list(string)
  default     = []
}

variable "scrape_targets" {
  description = "Security groups of what Prometheus scrapes, each with the port range it opens to Prometheus's group (an ingress rule is added to that group)."
  type = list(object({
    security_group_id = string
    from_port         = number
    to_port           = number
    description       = string
  }))
  default = []

  validation {
    condition     = alltrue([for t in var.scrape_targets : t.from_port >= 1 && t.from_port <= t.to_port && t.to_port <= 65535])
    error_message = "Each scrape_targets entry needs 1 <= from_port <= to_port <= 65535."
  }
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks of operators allowed to query Prometheus on 9090. Keep it narrow: 9090 also serves the lifecycle API (/-/quit, /-/reload)."
  type        = list(string)
  default     = []
}

variable "prometheus_image" {
  description = "Prometheus image."
  type        = string
  default     = "quay.io/prometheus/prometheus:v2.53.2"
}

variable "discoverer_image" {
  description = "ecs-discoverer image (built from services/ecs-discoverer/Dockerfile and pushed to your registry)."
  type        = string

  validation {
    condition     = length(var.discoverer_image) > 0
    error_message = "Give the ecs-discoverer image, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/ecs-discoverer:0.1.0."
  }
}

variable "reloader_image" {
  description = "config-reloader image (built from services/config-reloader/Dockerfile)."
  type        = string

  validation {
    condition     = length(var.reloader_image) > 0
    error_message = "Give the config-reloader image, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/config-reloader:0.1.0."
  }
}

variable "cpu" {
  description = "Task CPU units."
  type        = number
  default     = 1024
}

variable "memory" {
  description = "Task memory, MiB."
  type        = number
  default     = 4096
}

variable "scrape_interval" {
  description = "Default scrape interval."
  type        = string
  default     = "30s"

  validation {
    condition     = can(regex("^[1-9][0-9]*(s|m)$", var.scrape_interval))
    error_message = "scrape_interval is a positive Prometheus duration in seconds or minutes, e.g. 30s or 1m (the discoverer polls at it and refuses 0)."
  }
}

variable "retention" {
  description = "Local TSDB retention (--storage.tsdb.retention.time)."
  type        = string
  default     = "15d"

  validation {
    condition     = can(regex("^[0-9]+(h|d|w|y)$", var.retention))
    error_message = "retention is a Prometheus duration such as 15d."
  }
}

variable "ssm_path" {
  description = "SSM path holding the config: <path>/config.yml and <path>/scrape/*."
  type        = string
  default     = "/prometheus"

  validation {
    condition     = startswith(var.ssm_path, "/") && !endswith(var.ssm_path, "/")
    error_message = "ssm_path starts with '/' and has no trailing '/', e.g. /prometheus."
  }
}

variable "config_kms_key_arn" {
  description = "Customer managed KMS key for the SecureString config parameters; null uses the AWS managed key alias/aws/ssm."
  type        = string
  default     = null
}

variable "extra_scrape_configs" {
  description = "More scrape_configs entries, as objects, appended to the generated config."
  type        = any
  default     = []
}

variable "rule_files" {
  description = "Prometheus rule files: file name (ending in .rules.yml) => content. Stored under <ssm_path>/scrape/ and loaded through rule_files."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.rule_files) : can(regex("^[a-zA-Z0-9_.-]+\\.rules\\.yml$", name))])
    error_message = "Rule file names are plain file names ending in .rules.yml, e.g. ecs-monitoring.rules.yml."
  }
}

variable "cloudmap_namespaces" {
  description = "Cloud Map namespaces whose instances are scraped (through the config-reloader's cloudmap.json)."
  type        = list(string)
  default     = []
}

variable "alertmanager_service" {
  description = "Cloud Map service (in cloudmap_namespaces) whose instances are the Alertmanagers Prometheus sends alerts to, or null for no alerting."
  type        = string
  default     = null

  validation {
    condition     = var.alertmanager_service == null || length(var.cloudmap_namespaces) > 0
    error_message = "alertmanager_service is found through the Cloud Map file: give cloudmap_namespaces too."
  }
}

variable "events_queues" {
  description = "SQS queues of ECS task state changes (the task-events module's queues), one per replica in replica order, which each replica's ecs-discoverer applies as they come (an SQS message reaches one consumer, so replicas can't share a queue); null to discover by polling alone."
  type = list(object({
    url = string
    arn = string
  }))
  default = null

  validation {
    condition     = var.events_queues == null || length(coalesce(var.events_queues, [])) == var.replicas
    error_message = "events_queues needs one queue per replica (the task-events module's consumers = replicas)."
  }
}

variable "reconcile_interval" {
  description = "With events_queue: the discoverer's full cycle, which corrects whatever the events missed (ECS_SD_INTERVAL). Without it, the discoverer polls at scrape_interval."
  type        = string
  default     = "5m"

  validation {
    condition     = can(regex("^[1-9][0-9]*(s|m|h)$", var.reconcile_interval))
    error_message = "reconcile_interval is a positive duration (the discoverer refuses 0) such as 5m or 15m."
  }
}

variable "discoverer_cache_ttl" {
  description = "How long ecs-discoverer keeps descriptions with tags (services, running tasks) before describing them again (ECS_SD_SERVICE_CACHE_TTL). Each refresh describes every running task again, one DescribeTasks per 100; with a long reconcile_interval, a longer TTL saves those calls."
  type        = string
  default     = "5m"

  validation {
    condition     = can(regex("^[1-9][0-9]*(s|m|h)$", var.discoverer_cache_ttl))
    error_message = "discoverer_cache_ttl is a positive duration (the discoverer refuses 0) such as 5m or 1h."
  }
}

variable "discovery_clusters" {
  description = "ECS clusters ecs-discoverer scans; empty means every cluster of the account and region."
  type        = list(string)
  default     = []
}

variable "replicas" {
  description = "Prometheus replicas: each its own ECS service scraping the same targets, in the zones of subnet_ids in turn, with external labels naming it (__replica__). 2 keeps scraping, alerting and the UI through the loss of a task, an instance or a zone; 1 is allowed."
  type        = number
  default     = 2

  validation {
    condition     = var.replicas >= 1 && var.replicas <= 5 && floor(var.replicas) == var.replicas
    error_message = "replicas must be a whole number from 1 to 5 (an EventBridge rule has at most 5 targets: one events queue per replica)."
  }
}

variable "storage" {
  description = "Where each replica's TSDB lives. \"instance-ebs\" (default, durable): an EBS volume per replica, created here in the replica's zone, attached and mounted by the boot script of the replica's own EC2 instance and given to the task as a host path; it outlives deployments, crashes and instance replacements. \"fargate-ebs-lost-with-task\": an ECS-managed EBS volume per Fargate task, deleted with the task, so every deployment or restart starts an empty TSDB. \"fargate-ephemeral-lost-with-task\": Fargate task storage, lost the same way. NFS/EFS is not offered: Prometheus's TSDB does not support it."
  type        = string
  default     = "instance-ebs"

  validation {
    condition     = contains(["instance-ebs", "fargate-ebs-lost-with-task", "fargate-ephemeral-lost-with-task"], var.storage)
    error_message = "storage must be \"instance-ebs\" (durable), \"fargate-ebs-lost-with-task\" or \"fargate-ephemeral-lost-with-task\" (the old \"ebs\" and \"ephemeral\" are the last two; both lose history with each task)."
  }
}

variable "ebs_size_gib" {
  description = "Size of each replica's EBS volume for the TSDB, GiB (instance-ebs and fargate-ebs-lost-with-task). --storage.tsdb.retention.size is 80% of it, the rest is room for the WAL and compaction."
  type        = number
  default     = 50

  validation {
    condition     = var.ebs_size_gib >= 2 && var.ebs_size_gib <= 16384
    error_message = "ebs_size_gib must be between 2 and 16384."
  }
}

variable "ephemeral_retention_size" {
  description = "--storage.tsdb.retention.size with fargate-ephemeral-lost-with-task, where the TSDB shares the task's 20 GiB of ephemeral storage with the images (Prometheus units: GB = GiB)."
  type        = string
  default     = "12GB"

  validation {
    condition     = can(regex("^[1-9][0-9]*(MB|GB)$", var.ephemeral_retention_size))
    error_message = "ephemeral_retention_size is a size such as 12GB or 8000MB."
  }
}

variable "instance_type" {
  description = "EC2 instance type of each replica's own instance (instance-ebs): it must hold the task's cpu and memory next to the stack's daemons."
  type        = string
  default     = "t3.large"
}

variable "instance_security_group_ids" {
  description = "Security groups of the replicas' instances (instance-ebs): the cluster's container-instance group, so the daemons on them are scraped like everywhere else."
  type        = list(string)
  default     = []
}

variable "enable_detailed_monitoring" {
  description = "1-minute CloudWatch monitoring of the replicas' instances (instance-ebs)."
  type        = bool
  default     = false
}

variable "data_volume_kms_key_arn" {
  description = "KMS key encrypting the replicas' EBS volumes, or null for the account's default EBS key."
  type        = string
  default     = null
}

variable "snapshot_schedule" {
  description = "Daily EBS snapshots of the replicas' volumes (instance-ebs) by Data Lifecycle Manager: the UTC time and how many to keep; null for none. A restore starts a replica from one (terraform/README.md, Operating)."
  type = object({
    time  = string
    count = number
  })
  default = { time = "03:00", count = 7 }

  validation {
    condition     = var.snapshot_schedule == null || (can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", try(var.snapshot_schedule.time, ""))) && try(var.snapshot_schedule.count, 0) >= 1 && try(var.snapshot_schedule.count, 0) <= 1000)
    error_message = "snapshot_schedule needs time as HH:MM (UTC) and count from 1 to 1000, or null."
  }
}

variable "ebs_snapshot_id" {
  description = "Snapshot each new TSDB volume starts from (a restore, terraform/README.md), or null. With instance-ebs a volume is created once per replica; changing this replaces the volumes."
  type        = string
  default     = null
}

variable "remote_write" {
  description = "Remote write to Amazon Managed Service for Prometheus: \"none\", \"existing\" (give amp_workspace_arn) or \"create\" (a new workspace)."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "existing", "create"], var.remote_write)
    error_message = "remote_write must be \"none\", \"existing\" or \"create\"."
  }
}

variable "amp_workspace_arn" {
  description = "Existing AMP workspace ARN when remote_write = \"existing\"."
  type        = string
  default     = null

  validation {
    condition     = var.remote_write != "existing" || can(regex("^arn:aws[a-z-]*:aps:[a-z0-9-]+:[0-9]{12}:workspace/ws-[A-Za-z0-9-]+$", var.amp_workspace_arn))
    error_message = "remote_write = \"existing\" needs amp_workspace_arn, the ARN of your workspace (arn:aws:aps:<region>:<account>:workspace/ws-...)."
  }
}

variable "cloudmap_service_arn" {
  description = "Cloud Map service to register the task in (e.g. prometheus.<namespace>), or null."
  type        = string
  default     = null
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

variable "wait_for_steady_state" {
  description = "Make terraform apply wait until the service is stable (its tasks running), so a task that can't start fails the apply. Off only against an emulator that never runs tasks."
  type        = bool
  default     = true
}

variable "cpu_architecture" {
  description = "CPU architecture of the Fargate task: \"X86_64\" or \"ARM64\". Build and push the images for the same platform (docker build --platform linux/amd64 or linux/arm64)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be \"X86_64\" or \"ARM64\"."
  }
}
