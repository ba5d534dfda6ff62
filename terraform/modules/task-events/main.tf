# ECS task state changes for event-driven discovery: an EventBridge rule on the default bus
# (where ECS publishes them) sends "ECS Task State Change" events of the given clusters to one
# SQS queue per consumer, which only this rule may write to; each ecs-discoverer (one per
# Prometheus replica) long-polls its own queue (--events-queue-url), since an SQS message is
# received by one consumer only. Both queues are encrypted at rest with SQS-managed keys (SSE-SQS):
# a customer KMS key would need a key policy for EventBridge as well, and the events carry
# nothing a task's own DescribeTasks doesn't.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  cluster_arn_prefix = "arn:${data.aws_partition.current.partition}:ecs:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:cluster/"
  cluster_arns       = [for c in var.clusters : startswith(c, "arn:") ? c : "${local.cluster_arn_prefix}${c}"]
  event_pattern = merge(
    { source = ["aws.ecs"], "detail-type" = ["ECS Task State Change"] },
    length(local.cluster_arns) > 0 ? { detail = { clusterArn = local.cluster_arns } } : {},
  )
}

resource "aws_sqs_queue" "dead_letters" {
  count                     = var.create ? 1 : 0
  name                      = "${var.name}-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
  tags                      = var.tags
}

resource "aws_sqs_queue" "this" {
  count                     = var.create ? var.consumers : 0
  name                      = count.index == 0 ? var.name : "${var.name}-${count.index}"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = var.message_retention_seconds
  # The discoverer applies and deletes a batch within a second or two; a message it could not
  # apply (an AWS call failed) comes back after this.
  visibility_timeout_seconds = 30
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters[0].arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "this" {
  count         = var.create ? 1 : 0
  name          = var.name
  description   = "ECS task state changes for ecs-discoverer"
  event_pattern = jsonencode(local.event_pattern)
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  count     = var.create ? var.consumers : 0
  rule      = aws_cloudwatch_event_rule.this[0].name
  target_id = count.index == 0 ? "ecs-discoverer" : "ecs-discoverer-${count.index}"
  arn       = aws_sqs_queue.this[count.index].arn
}

data "aws_iam_policy_document" "only_the_rule_sends" {
  count = var.create ? var.consumers : 0
  statement {
    sid       = "TaskStateChangesFromTheRule"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this[count.index].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.this[0].arn]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  count     = var.create ? var.consumers : 0
  queue_url = aws_sqs_queue.this[count.index].id
  policy    = data.aws_iam_policy_document.only_the_rule_sends[count.index].json
}
