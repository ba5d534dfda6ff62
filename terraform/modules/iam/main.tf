data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  ssm_arn_prefix = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:parameter"
  # Everything the task role may do, statement by statement; empty ones are left out.
  task_statements = concat(
    var.enable_discoverer ? [{
      sid = "EcsDiscoveryReads"
      actions = [
        "ecs:ListClusters", "ecs:DescribeClusters", "ecs:ListTasks", "ecs:DescribeTasks",
        "ecs:DescribeTaskDefinition", "ecs:DescribeContainerInstances", "ecs:DescribeServices",
        "ec2:DescribeInstances",
      ]
      resources  = ["*"]
      conditions = []
    }] : [],
    length(var.events_queue_arns) > 0 ? [{
      sid        = "TaskStateChangeQueue"
      actions    = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
      resources  = var.events_queue_arns
      conditions = []
    }] : [],
    var.enable_discoverer || var.enable_cloudmap_reader ? [{
      sid = "CloudMapReads"
      actions = [
        "servicediscovery:ListNamespaces", "servicediscovery:ListServices",
        "servicediscovery:ListTagsForResource", "servicediscovery:DiscoverInstances",
      ]
      resources  = ["*"]
      conditions = []
    }] : [],
    length(var.config_ssm_paths) > 0 ? [{
      sid     = "ConfigParameters"
      actions = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
      resources = flatten([for p in var.config_ssm_paths : [
        "${local.ssm_arn_prefix}${p}", "${local.ssm_arn_prefix}${p}/*",
      ]])
      conditions = []
    }] : [],
    length(var.ssm_kms_key_arns) > 0 ? [{
      sid        = "DecryptConfigParameters"
      actions    = ["kms:Decrypt"]
      resources  = var.ssm_kms_key_arns
      conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["ssm.${data.aws_region.current.id}.amazonaws.com"] }]
    }] : [],
    var.config_bucket_arn != null && length(var.config_s3_prefixes) > 0 ? [{
      sid        = "ConfigObjects"
      actions    = ["s3:GetObject"]
      resources  = [for p in var.config_s3_prefixes : "${var.config_bucket_arn}/${p}*"]
      conditions = []
      }, {
      sid        = "ListConfigPrefixes"
      actions    = ["s3:ListBucket"]
      resources  = [var.config_bucket_arn]
      conditions = [{ test = "StringLike", variable = "s3:prefix", values = flatten([for p in var.config_s3_prefixes : [p, "${p}*"]]) }]
    }] : [],
    # SSE-KMS objects with a customer key: S3 decrypts on the reader's behalf, with its kms:Decrypt.
    length(var.s3_kms_key_arns) > 0 ? [{
      sid        = "DecryptConfigObjects"
      actions    = ["kms:Decrypt"]
      resources  = var.s3_kms_key_arns
      conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["s3.${data.aws_region.current.id}.amazonaws.com"] }]
    }] : [],
    length(var.sns_topic_arns) > 0 ? [{
      sid        = "PublishAlerts"
      actions    = ["sns:Publish"]
      resources  = var.sns_topic_arns
      conditions = []
    }] : [],
    # Switched on a value known at plan: a workspace created in the same apply has an unknown ARN.
    var.enable_remote_write ? [{
      sid        = "RemoteWrite"
      actions    = ["aps:RemoteWrite"]
      resources  = [var.amp_workspace_arn]
      conditions = []
    }] : [],
    var.enable_amp_query ? [{
      sid        = "QueryManagedPrometheus"
      actions    = ["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"]
      resources  = [var.amp_workspace_arn]
      conditions = []
    }] : [],
  )
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# --- task role: what the containers call -------------------------------------------------

data "aws_iam_policy_document" "task" {
  count = length(local.task_statements) > 0 ? 1 : 0

  dynamic "statement" {
    for_each = local.task_statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

# A task role only when the containers call AWS: a role that grants nothing is not created.
resource "aws_iam_role" "task" {
  count              = var.create && length(local.task_statements) > 0 ? 1 : 0
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "task" {
  count  = var.create && length(local.task_statements) > 0 ? 1 : 0
  name   = "${var.name}-task"
  role   = aws_iam_role.task[0].id
  policy = data.aws_iam_policy_document.task[0].json
}

# --- execution role: what ECS does to start the containers ------------------------------

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullImages"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = ["arn:${data.aws_partition.current.partition}:ecr:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:repository/*"]
  }

  dynamic "statement" {
    for_each = length(var.log_group_arns) > 0 ? [1] : []
    content {
      sid       = "WriteLogs"
      actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      resources = [for arn in var.log_group_arns : "${arn}:*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.execution_secret_arns) > 0 ? [1] : []
    content {
      sid       = "InjectSecrets"
      actions   = ["secretsmanager:GetSecretValue", "ssm:GetParameters"]
      resources = var.execution_secret_arns
    }
  }

  # A secret encrypted with a customer key: ECS reads it through Secrets Manager or SSM, which
  # decrypt with the execution role's kms:Decrypt.
  dynamic "statement" {
    for_each = length(var.execution_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.execution_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${data.aws_region.current.id}.amazonaws.com", "ssm.${data.aws_region.current.id}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "execution" {
  count              = var.create ? 1 : 0
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "execution" {
  count  = var.create ? 1 : 0
  name   = "${var.name}-execution"
  role   = aws_iam_role.execution[0].id
  policy = data.aws_iam_policy_document.execution.json
}
