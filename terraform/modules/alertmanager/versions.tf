terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Tested with 5.100.x only; 6.x is untested.
      version = "~> 5.100.0"
    }
  }
}
