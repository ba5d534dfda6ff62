# storage = "instance-ebs": each replica's TSDB on an EBS volume of its own, in its zone, that
# outlives tasks and instances. The replica's own one-instance auto scaling group, pinned to the
# volume's subnet, attaches and mounts the volume at boot (templates/mount-data-volume.sh.tftpl)
# and registers with the replica's attribute, which the replica's service is placed by. A
# replaced instance attaches the same volume: the history is the volume's, not the instance's.

data "aws_subnet" "replica" {
  count = local.durable ? var.replicas : 0
  id    = local.replica_subnets[count.index]
}

resource "aws_ebs_volume" "data" {
  count             = local.durable ? var.replicas : 0
  availability_zone = data.aws_subnet.replica[count.index].availability_zone
  size              = var.ebs_size_gib
  type              = "gp3"
  encrypted         = true
  kms_key_id        = var.data_volume_kms_key_arn
  snapshot_id       = var.ebs_snapshot_id
  # Deleting the stack keeps a last snapshot of each replica's history.
  final_snapshot = true
  tags           = merge(var.tags, { Name = "${local.replica_names[count.index]}-tsdb", PrometheusTsdb = var.name })

  lifecycle {
    # ebs_snapshot_id is for the volumes created from now on: a restore replaces one replica's
    # volume (terraform apply -replace) without replacing the others.
    ignore_changes = [snapshot_id]
  }
}

data "aws_iam_policy_document" "attach_data_volume" {
  count = local.durable ? var.replicas : 0

  statement {
    sid       = "AttachTheReplicasVolume"
    actions   = ["ec2:AttachVolume"]
    resources = [aws_ebs_volume.data[count.index].arn]
  }

  # AttachVolume is also authorised on the instance; only instances of this replica's group.
  statement {
    sid       = "ToAnInstanceOfTheReplicasGroup"
    actions   = ["ec2:AttachVolume"]
    resources = ["arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/aws:autoscaling:groupName"
      values   = ["${local.replica_names[count.index]}-ecs"]
    }
  }

  statement {
    sid       = "WaitForTheAttachment"
    actions   = ["ec2:DescribeVolumes"]
    resources = ["*"]
  }
}

module "replica_instances" {
  source = "../ecs-instances"
  count  = local.durable ? var.replicas : 0

  name                = "${local.replica_names[count.index]}-ecs"
  cluster_name        = local.cluster_name
  subnet_ids          = [local.replica_subnets[count.index]]
  security_group_ids  = var.instance_security_group_ids
  instance_type       = var.instance_type
  ami_ssm_parameter   = var.cpu_architecture == "ARM64" ? "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id" : "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
  instance_attributes = { (local.replica_attribute) = local.replica_names[count.index] }
  boot_policies       = [data.aws_iam_policy_document.attach_data_volume[count.index].json]
  boot_script = templatefile("${path.module}/templates/mount-data-volume.sh.tftpl", {
    volume_id   = aws_ebs_volume.data[count.index].id
    device      = local.data_device
    mount_point = local.data_mount_point
    data_dir    = local.data_dir
    data_owner  = local.prometheus_user
    region      = data.aws_region.current.id
  })
  enable_detailed_monitoring = var.enable_detailed_monitoring
  tags                       = var.tags
}

# --- snapshots ---------------------------------------------------------------------------

data "aws_iam_policy_document" "dlm_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["dlm.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "snapshots" {
  count              = local.durable && var.snapshot_schedule != null ? 1 : 0
  name               = "${var.name}-tsdb-snapshots"
  assume_role_policy = data.aws_iam_policy_document.dlm_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "snapshots" {
  count      = local.durable && var.snapshot_schedule != null ? 1 : 0
  role       = aws_iam_role.snapshots[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"
}

resource "aws_dlm_lifecycle_policy" "snapshots" {
  count              = local.durable && var.snapshot_schedule != null ? 1 : 0
  description        = "Daily snapshots of the TSDB volumes of ${var.name}"
  execution_role_arn = aws_iam_role.snapshots[0].arn
  state              = "ENABLED"
  tags               = var.tags

  policy_details {
    resource_types = ["VOLUME"]
    target_tags    = { PrometheusTsdb = var.name }

    schedule {
      name      = "daily"
      copy_tags = true

      create_rule {
        interval      = 24
        interval_unit = "HOURS"
        times         = [var.snapshot_schedule.time]
      }

      retain_rule {
        count = var.snapshot_schedule.count
      }
    }
  }
}
