data "aws_ssm_parameter" "ami" {
  count = var.enable_ec2_capacity ? 1 : 0
  name  = var.ami_ssm_parameter
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  tags = var.tags

  setting {
    name  = "containerInsights"
    value = var.enable_container_insights ? "enabled" : "disabled"
  }
}

# --- EC2 capacity ------------------------------------------------------------------------

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  count              = var.enable_ec2_capacity ? 1 : 0
  name               = "${var.name}-ecs-instance"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "instance_ecs" {
  count      = var.enable_ec2_capacity ? 1 : 0
  role       = aws_iam_role.instance[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_role_policy_attachment" "instance_ssm" {
  count      = var.enable_ec2_capacity ? 1 : 0
  role       = aws_iam_role.instance[0].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "instance" {
  count = var.enable_ec2_capacity ? 1 : 0
  name  = "${var.name}-ecs-instance"
  role  = aws_iam_role.instance[0].name
  tags  = var.tags
}

resource "aws_security_group" "instances" {
  count       = var.enable_ec2_capacity ? 1 : 0
  name        = "${var.name}-ecs-instances"
  description = "ECS container instances of ${var.name}: exporters reachable from Prometheus only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

# No ingress here: whoever scrapes the instances adds its rule to this group (the prometheus
# module's scrape_targets), so only Prometheus reaches the exporters and the dynamic host ports.

resource "aws_vpc_security_group_egress_rule" "all" {
  count             = var.enable_ec2_capacity ? 1 : 0
  security_group_id = aws_security_group.instances[0].id
  description       = "ECS agent, image pulls and AWS APIs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_launch_template" "this" {
  #checkov:skip=CKV_AWS_126: detailed monitoring is var.enable_detailed_monitoring (off by default): node-exporter scrapes the instances' metrics more often than CloudWatch's 1 minute.
  count                  = var.enable_ec2_capacity ? 1 : 0
  name                   = "${var.name}-ecs"
  image_id               = nonsensitive(data.aws_ssm_parameter.ami[0].value)
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.instances[0].id]
  ebs_optimized          = true
  user_data = base64encode(<<-EOT
    #!/bin/bash
    echo "ECS_CLUSTER=${var.name}" >> /etc/ecs/ecs.config
    echo "ECS_ENABLE_CONTAINER_METADATA=true" >> /etc/ecs/ecs.config
  EOT
  )

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance[0].arn
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
    tags          = merge(var.tags, { Name = "${var.name}-ecs" })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "this" {
  count                 = var.enable_ec2_capacity ? 1 : 0
  name                  = "${var.name}-ecs"
  vpc_zone_identifier   = var.subnet_ids
  min_size              = var.min_size
  max_size              = var.max_size
  desired_capacity      = var.desired_capacity
  protect_from_scale_in = var.enable_managed_scaling
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

resource "aws_ecs_capacity_provider" "ec2" {
  count = var.enable_ec2_capacity ? 1 : 0
  name  = "${var.name}-ec2"
  tags  = var.tags

  auto_scaling_group_provider {
    auto_scaling_group_arn         = aws_autoscaling_group.this[0].arn
    managed_termination_protection = var.enable_managed_scaling ? "ENABLED" : "DISABLED"

    managed_scaling {
      status          = var.enable_managed_scaling ? "ENABLED" : "DISABLED"
      target_capacity = 100
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name = aws_ecs_cluster.this.name
  capacity_providers = concat(
    ["FARGATE", "FARGATE_SPOT"],
    aws_ecs_capacity_provider.ec2[*].name,
  )

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}
