# One group of ECS container instances: an auto scaling group of the ECS-optimised AMI that
# joins `cluster_name`, with its instance role. The cluster's general capacity is one such group
# (ecs-cluster); each durable Prometheus replica is another, of one instance in one zone, whose
# boot script attaches and mounts the replica's EBS volume before the ECS agent starts.

data "aws_ssm_parameter" "ami" {
  count = var.create ? 1 : 0
  name  = var.ami_ssm_parameter
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  count              = var.create ? 1 : 0
  name               = "${var.name}-instance"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "ecs" {
  count      = var.create ? 1 : 0
  role       = aws_iam_role.this[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_role_policy_attachment" "ssm" {
  count      = var.create ? 1 : 0
  role       = aws_iam_role.this[0].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy" "boot" {
  count  = var.create ? length(var.boot_policies) : 0
  name   = "boot-${count.index}"
  role   = aws_iam_role.this[0].id
  policy = var.boot_policies[count.index]
}

resource "aws_iam_instance_profile" "this" {
  count = var.create ? 1 : 0
  name  = "${var.name}-instance"
  role  = aws_iam_role.this[0].name
  tags  = var.tags
}

locals {
  # The ECS agent reads /etc/ecs/ecs.config when it starts, after the boot script has run.
  ecs_config = join("\n", concat(
    ["ECS_CLUSTER=${var.cluster_name}", "ECS_ENABLE_CONTAINER_METADATA=true"],
    length(var.instance_attributes) > 0 ? ["ECS_INSTANCE_ATTRIBUTES=${jsonencode(var.instance_attributes)}"] : [],
  ))
  user_data = "${join("\n", compact([
    "#!/bin/bash",
    "set -euo pipefail",
    var.boot_script,
    "cat >> /etc/ecs/ecs.config <<'ECS_CONFIG'",
    local.ecs_config,
    "ECS_CONFIG",
  ]))}\n"
}

resource "aws_launch_template" "this" {
  #checkov:skip=CKV_AWS_126: detailed monitoring is var.enable_detailed_monitoring (off by default): node-exporter scrapes the instances' metrics more often than CloudWatch's 1 minute.
  count                  = var.create ? 1 : 0
  name                   = var.name
  image_id               = nonsensitive(data.aws_ssm_parameter.ami[0].value)
  instance_type          = var.instance_type
  vpc_security_group_ids = var.security_group_ids
  ebs_optimized          = true
  user_data              = base64encode(local.user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.this[0].arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  # Detailed (1-minute) CloudWatch monitoring is billed per instance; node-exporter already
  # gives Prometheus the instances' metrics every scrape.
  monitoring {
    enabled = var.enable_detailed_monitoring
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = var.name })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "this" {
  count                 = var.create ? 1 : 0
  name                  = var.name
  vpc_zone_identifier   = var.subnet_ids
  min_size              = var.min_size
  max_size              = var.max_size
  desired_capacity      = var.desired_capacity
  protect_from_scale_in = var.protect_from_scale_in
  health_check_type     = "EC2"

  launch_template {
    id      = aws_launch_template.this[0].id
    version = "$Latest"
  }

  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = var.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # Managed scaling owns the desired capacity after creation.
    ignore_changes = [desired_capacity]
  }
}
