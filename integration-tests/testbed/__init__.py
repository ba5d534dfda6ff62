"""The test bed: the AWS emulators (`emulator/`, moto with the fidelity layer, and LocalStack), the
ECS agent that runs their tasks (`ecs_agent/`), the processes of a run (`harness`), the address
plan (`network`), seeding (`seed`), Terraform against the emulators (`terraform_stack`), the fault
proxy (`fault_proxy`) and the discoverer's shared helpers (`discoverer`).

Kept free of imports: the emulators' own processes (LocalStack's venv among them) import
`testbed.emulator` through it."""
