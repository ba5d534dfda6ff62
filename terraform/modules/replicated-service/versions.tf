terraform {
  # 1.11: write-only arguments (the Grafana admin secret) and cross-variable validation (1.9).
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The floor is what the tests run (5.100); 6.x is allowed but untested (terraform/README.md).
      version = ">= 5.100.0, < 7.0.0"
    }
  }
}
