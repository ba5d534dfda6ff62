"""The test bed's address plan on loopback, one per pytest-xdist worker.

Each worker seeds its estates in a VPC of its own, so two workers' emulators, which hand out
addresses independently, never give the same address to two hosts: the ECS agent routes each
address it runs a host on into a network namespace, and a worker's process listening on an
address of another worker's VPC would lose its traffic to that namespace.

Worker n (`gw<n>`, or 0 outside pytest-xdist: the demo and the benches) holds
  - the VPC 127.(10n).0.0/16, one /20 subnet per availability zone from 127.(10n).16.0;
  - the bridge network of the agent's bridge-mode containers, 127.(10n + 2).0.0/16, outside the
    VPC as Docker's bridge is;
and every worker's emulators listen on `EMULATOR_HOST` (127.1.0.1), outside every VPC, on ports
of their own. Worker 0's plan is the one the README describes: 127.0.0.0/16 and 127.2.0.0/16.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

EMULATOR_HOST = "127.1.0.1"


def worker_number() -> int:
    """pytest-xdist's worker number (`PYTEST_XDIST_WORKER=gw3` is 3); 0 outside pytest-xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") and worker[2:].isdigit() else 0


@dataclass(frozen=True)
class AddressPlan:
    """One worker's VPC and bridge network (see the module's docstring)."""

    octet: int  # the second octet of the VPC: 127.<octet>.0.0/16

    @classmethod
    def of_worker(cls, number: int) -> "AddressPlan":
        if not 0 <= number <= 24:
            raise ValueError(f"worker {number}: the loopback plan has room for workers 0 to 24")
        return cls(octet=10 * number)

    @property
    def vpc_cidr(self) -> str:
        return f"127.{self.octet}.0.0/16"

    def subnet_cidr(self, index: int) -> str:
        """The /20 subnet of the index-th availability zone."""
        return f"127.{self.octet}.{16 * (index + 1)}.0/20"

    def address(self, third: int, fourth: int) -> str:
        """An address in the VPC (127.<octet>.third.fourth), for a test's own Cloud Map instance."""
        return f"127.{self.octet}.{third}.{fourth}"

    def in_vpc(self, address: str) -> bool:
        return ipaddress.ip_address(address) in ipaddress.ip_network(self.vpc_cidr)

    @property
    def bridge_cidr(self) -> str:
        return f"127.{self.octet + 2}.0.0/16"

    def bridge_address(self, number: int) -> str:
        """The number-th (from 1) address of the bridge network."""
        return f"127.{self.octet + 2}.{number // 250}.{number % 250 + 2}"


PLAN = AddressPlan.of_worker(worker_number())
