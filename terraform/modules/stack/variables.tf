variable "name" {
  description = "Name of the stack: the ECS cluster and the prefix of every resource."
  type        = string
  default     = "monitoring"

  validation {
    condition     = can(regex("^[a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 1-20 lowercase letters, digits or hyphens."
  }
}

variable "availability_zones" {
  description = "Availability zones (at least two)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "Give at least two availability zones."
  }
}

variable "vpc_cidr_block" {
  description = "CIDR block of the new VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "enable_nat_gateway" {
  description = "NAT gateways for the private subnets (needed on AWS for image pulls and API calls)."
  type        = bool
  default     = true
}

variable "discoverer_image" {
  description = "ecs-discoverer image in your registry."
  type        = string
}

variable "reloader_image" {
  description = "config-reloader image in your registry."
  type        = string
}

variable "namespace_name" {
  description = "Private DNS namespace of the stack (Cloud Map)."
  type        = string
  default     = "monitoring.internal"
}

variable "user_cloudmap_services" {
  description = "Cloud Map services of your own to create in the namespace (name => metrics path); Prometheus scrapes their instances."
  type = map(object({
    metrics_path = optional(string)
  }))
  default = {}
}

variable "operator_cidr_blocks" {
  description = "CIDR blocks (VPN, bastion) allowed to reach Prometheus (9090), Alertmanager (9093) and Grafana (3000). Nothing else in the VPC reaches them; empty means port forwarding only."
  type        = list(string)
  default     = []
}

variable "instance_count" {
  description = "EC2 container instances for the DAEMON exporters."
  type        = number
  default     = 2
}

variable "enable_managed_scaling" {
  description = "Capacity provider managed scaling of the EC2 capacity. Off by default: the stack's only EC2 tasks are the DAEMON exporters, which run one per instance and never ask for capacity, so managed scaling would have nothing to scale for. Turn it on when you place services of your own through the capacity provider (output ec2_capacity_provider_name)."
  type        = bool
  default     = false
}

variable "enable_container_insights" {
  description = "CloudWatch Container Insights on the cluster: per-task and per-service CloudWatch metrics, billed as custom metrics and log ingestion (roughly USD 10-20 a month for this stack). Prometheus already has the containers' metrics through cAdvisor."
  type        = bool
  default     = true
}

variable "prometheus_storage" {
  description = "Where each Prometheus replica keeps its TSDB: \"instance-ebs\" (default, durable: an EBS volume per replica on the replica's own EC2 instance, kept across deployments and instance replacements), \"fargate-ebs-lost-with-task\" or \"fargate-ephemeral-lost-with-task\" (Fargate; every new task starts with no history). See the prometheus module."
  type        = string
  default     = "instance-ebs"
}

variable "prometheus_replicas" {
  description = "Prometheus replicas scraping the same targets, one per zone in turn (2 survives losing a task, an instance or a zone; 1 is allowed)."
  type        = number
  default     = 2
}

variable "alertmanager_replicas" {
  description = "Alertmanager tasks, one gossip cluster found through Cloud Map (2 delivers alerts while one is down, one notification per alert group while both are up; 1 is allowed)."
  type        = number
  default     = 2
}

variable "prometheus_volume_size_gib" {
  description = "Each replica's TSDB volume, GiB (EBS storage choices); retention by size is 80% of it."
  type        = number
  default     = 50
}

variable "prometheus_instance_type" {
  description = "EC2 instance type of each Prometheus replica's own instance (instance-ebs)."
  type        = string
  default     = "t3.large"
}

variable "prometheus_restore_snapshot_id" {
  description = "EBS snapshot a Prometheus TSDB volume created from now on starts from (a restore: terraform/README.md, Operating); existing volumes are not replaced by setting it."
  type        = string
  default     = null
}

variable "prometheus_snapshot_schedule" {
  description = "Daily snapshots of the replicas' TSDB volumes (Data Lifecycle Manager): UTC time and how many to keep; null for none."
  type = object({
    time  = string
    count = number
  })
  default = { time = "03:00", count = 7 }
}

variable "remote_write" {
  description = "\"none\", \"existing\" or \"create\" (an AMP workspace)."
  type        = string
  default     = "none"
}

variable "amp_workspace_arn" {
  description = "Existing AMP workspace when remote_write = \"existing\"."
  type        = string
  default     = null
}

variable "discovery_clusters" {
  description = "ECS clusters ecs-discoverer scans for targets; null means this stack's cluster only. Add the clusters your workloads run in (names or ARNs)."
  type        = list(string)
  default     = null

  validation {
    condition     = var.discovery_clusters == null || length(coalesce(var.discovery_clusters, [])) > 0
    error_message = "discovery_clusters must name at least one cluster, or be null for this stack's cluster."
  }
}

variable "enable_node_exporter" {
  description = "Run node-exporter on every container instance (DAEMON)."
  type        = bool
  default     = true
}

variable "enable_cadvisor" {
  description = "Run cAdvisor on every container instance (DAEMON, privileged)."
  type        = bool
  default     = true
}

variable "enable_event_discovery" {
  description = "Event-driven discovery: an EventBridge rule sends the discovery clusters' ECS task state changes to an SQS queue that ecs-discoverer applies within seconds; its full cycle then runs every event_reconcile_interval. False: the discoverer polls at the scrape interval."
  type        = bool
  default     = true
}

variable "event_reconcile_interval" {
  description = "With event discovery, how often the discoverer's full cycle corrects what the events missed. Each cycle is one ListTasks per 100 tasks, and every discoverer_cache_ttl one DescribeTasks per 100: measured at 5m, 20.5% of polling's ECS calls at 30s; 15m with discoverer_cache_ttl = 1h, 4.6% (integration-tests/benches/results/events.md)."
  type        = string
  default     = "5m"

  validation {
    condition     = can(regex("^[1-9][0-9]*(s|m|h)$", var.event_reconcile_interval))
    error_message = "event_reconcile_interval is a positive duration (the discoverer refuses 0) such as 5m or 15m."
  }
}

variable "discoverer_cache_ttl" {
  description = "How long ecs-discoverer keeps service and task descriptions (their tags) before describing them again. Set it with event_reconcile_interval: each refresh describes every running task again, one DescribeTasks per 100 (see benches/results/events.md for 15m with 1h)."
  type        = string
  default     = "5m"

  validation {
    condition     = can(regex("^[1-9][0-9]*(s|m|h)$", var.discoverer_cache_ttl))
    error_message = "discoverer_cache_ttl is a positive duration (the discoverer refuses 0) such as 5m or 1h."
  }
}

variable "enable_grafana" {
  description = "Run Grafana with the provisioned datasource and dashboards."
  type        = bool
  default     = true
}

variable "dashboards_dir" {
  description = "The repository's dashboards/: its *.json are provisioned in Grafana, its alerts/*.rules.yml are loaded by Prometheus."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "wait_for_steady_state" {
  description = "Make terraform apply wait until the Prometheus and Grafana services are stable (its tasks running), so a task that can't start fails the apply. Off only against an emulator that never runs tasks."
  type        = bool
  default     = true
}

variable "cpu_architecture" {
  description = "CPU architecture of the Fargate tasks (Prometheus, Grafana): \"X86_64\" or \"ARM64\". Build and push the images for the same platform (docker build --platform linux/amd64 or linux/arm64)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be \"X86_64\" or \"ARM64\"."
  }
}

variable "enable_port_forwarding" {
  description = "Let the container instances reach Prometheus, Alertmanager and Grafana, so operators can open them with SSM port forwarding through an instance (terraform/README.md, \"Reaching the UIs\")."
  type        = bool
  default     = true
}

variable "enable_alertmanager" {
  description = "Run Alertmanager, registered in Cloud Map, as Prometheus's alert destination."
  type        = bool
  default     = true
}

variable "alert_receiver" {
  description = "Where Alertmanager sends alerts: { webhook_url = \"https://...\" } or { sns_topic_arn = \"arn:aws:sns:...\" }. The default is a placeholder that delivers nothing (a plan warns about it)."
  type = object({
    webhook_url   = optional(string)
    sns_topic_arn = optional(string)
  })
  default = { webhook_url = "https://alerts.example.invalid/replace-me" }
}

variable "alert_group_wait" {
  description = "Alertmanager's group_wait: how long the first alert of a group waits for others before it is sent."
  type        = string
  default     = "30s"
}

variable "extra_rule_files" {
  description = "Rule files of your own (file name ending in .rules.yml => content) loaded beside the stack's dashboards/alerts/*.rules.yml."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.extra_rule_files) : can(regex("^[A-Za-z0-9_-]+\\.rules\\.yml$", name))]) && !contains(keys(var.extra_rule_files), "ecs-monitoring.rules.yml") && !contains(keys(var.extra_rule_files), "prometheus-storage.rules.yml")
    error_message = "extra_rule_files names must look like <name>.rules.yml (letters, digits, - and _), other than the stack's ecs-monitoring.rules.yml and prometheus-storage.rules.yml: Prometheus loads /etc/config/*.rules.yml."
  }
}

variable "instance_scrape_port_ranges" {
  description = "Container-instance ports open to Prometheus (and to nothing else): node-exporter on the host network, and the ephemeral range of bridge-mode dynamic host ports (cAdvisor, your apps; ip_local_port_range on the ECS-optimized AMIs, 49153-65535 on older agents). Add the host-network ports of your own exporters."
  type = list(object({
    from_port = number
    to_port   = number
  }))
  default = [
    { from_port = 9100, to_port = 9100 },
    { from_port = 32768, to_port = 65535 },
  ]
}

# --- sizing, cost and encryption --------------------------------------------------------------

variable "instance_type" {
  description = "EC2 instance type of the container instances (they host the node-exporter and cAdvisor daemons, and any EC2 services of yours)."
  type        = string
  default     = "t3.medium"
}

variable "prometheus_retention" {
  description = "How long each replica's TSDB keeps samples (Prometheus duration, e.g. 15d), within retention by size (80% of the volume). With a Fargate prometheus_storage the TSDB is lost with each task: remote write is then the only durable copy."
  type        = string
  default     = "15d"
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones instead of one per zone (saves about USD 33 a month per zone beyond the first; that zone becomes a single point of failure for egress)."
  type        = bool
  default     = false
}

variable "enable_s3_gateway_endpoint" {
  description = "S3 gateway endpoint (free), so ECR image layers and S3 reads skip NAT data processing."
  type        = bool
  default     = true
}

variable "enable_detailed_monitoring" {
  description = "1-minute CloudWatch monitoring of the container instances (about USD 2.10 per instance a month); node-exporter covers them in Prometheus already."
  type        = bool
  default     = false
}

variable "enable_flow_logs" {
  description = "VPC flow logs to CloudWatch Logs (USD 0.50 per GB ingested, plus storage)."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Retention of the flow log group, days."
  type        = number
  default     = 90
}

variable "log_retention_days" {
  description = "Retention of the containers' log groups, days."
  type        = number
  default     = 30
}

variable "config_kms_key_arn" {
  description = "Customer KMS key of the SecureString config parameters (Prometheus, Alertmanager), or null for alias/aws/ssm. The task roles get kms:Decrypt through SSM on it."
  type        = string
  default     = null
}

variable "secret_kms_key_arn" {
  description = "Customer KMS key of Grafana's admin secret and config bucket, or null for the AWS managed keys. The execution and task roles get kms:Decrypt on it."
  type        = string
  default     = null
}

variable "log_kms_key_arn" {
  description = "Customer KMS key of the log groups (containers and flow logs), or null. Its key policy must let CloudWatch Logs use it."
  type        = string
  default     = null
}
