"""Security groups, enforced: the ingress rules the emulator holds for each host of the agent
(an EC2 instance, an awsvpc task's ENI) become an nftables ruleset in that host's namespace.

In a VPC a packet reaches an ENI only if one of the ENI's security groups lets it in: a rule
names a protocol, a port range and its sources, as CIDR ranges or as other security groups (every
address of an ENI in that group). Replies to an accepted connection, and a host's own `lo`, are
always let through. A bridge-mode container's namespace takes connections only from its
instance (the host-port proxy): its address isn't routed in a VPC. What a bridge container sends
leaves its instance as the instance's own address (Docker masquerades it), so a rule that lets
an instance's group in lets its bridge containers in too.

What isn't enforced, and why:
  - sources outside the VPC and the bridge network: the test bed's own processes (the tests, the
    demo's Prometheus on the machine) stand where an operator with a port forward stands;
  - egress rules, IPv6 ranges and prefix lists (a rule with only those is not modelled: the
    agent reports it in `errors`).
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from typing import Any

from ..network import PLAN
from .aws_pages import every

TABLE = "ecs_security_groups"


@dataclass(frozen=True)
class Permission:
    """One ingress rule: protocol ("tcp", "udp", "icmp" or "all"), ports, source addresses/CIDRs."""

    protocol: str
    from_port: int
    to_port: int
    sources: tuple[str, ...]

    def nft(self) -> str:
        sources = "{ " + ", ".join(self.sources) + " }"
        if self.protocol in ("tcp", "udp"):
            return f"{self.protocol} dport {self.from_port}-{self.to_port} ip saddr {sources} accept"
        if self.protocol == "icmp":
            return f"ip protocol icmp ip saddr {sources} accept"
        return f"ip saddr {sources} accept"


class SecurityGroups:
    """The emulator's security groups and which addresses belong to each, read once per pass."""

    def __init__(self, ec2: Any, masqueraded: dict[str, set[str]] | None = None):
        """`masqueraded`: instance address -> the addresses of its bridge containers."""
        interfaces = every(ec2, "describe_network_interfaces", "NetworkInterfaces")
        self.groups_of: dict[str, set[str]] = {}  # address -> its ENI's group ids
        self.members: dict[str, set[str]] = {}  # group id -> addresses of ENIs in it
        for interface in interfaces:
            groups = {g["GroupId"] for g in interface.get("Groups", [])}
            for address in interface.get("PrivateIpAddresses", []):
                ip = address["PrivateIpAddress"]
                self.groups_of.setdefault(ip, set()).update(groups)
                for group in groups:
                    self.members.setdefault(group, set()).update({ip, *(masqueraded or {}).get(ip, set())})
        self.groups = {g["GroupId"]: g for g in every(ec2, "describe_security_groups", "SecurityGroups")}
        self.unmodelled: list[str] = []

    def permissions(self, address: str) -> list[Permission]:
        """The ingress rules that apply to the ENI at `address`."""
        found = []
        for group_id in sorted(self.groups_of.get(address, set())):
            for rule in self.groups.get(group_id, {}).get("IpPermissions", []):
                sources = sorted({r["CidrIp"] for r in rule.get("IpRanges", [])}
                                 | {m for pair in rule.get("UserIdGroupPairs", [])
                                    for m in self.members.get(pair["GroupId"], set())})
                if not sources:
                    if rule.get("Ipv6Ranges") or rule.get("PrefixListIds"):
                        self.unmodelled.append(f"{group_id}: an ingress rule with only IPv6 ranges or prefix lists")
                    continue
                protocol = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp"}.get(rule["IpProtocol"], rule["IpProtocol"])
                found.append(Permission(protocol, int(rule.get("FromPort", 0) or 0),
                                        int(rule.get("ToPort", 65535) or 65535), tuple(sources)))
        return found


def ruleset(permissions: list[Permission] | None = None, only_from: str | None = None) -> str:
    """The namespace's ingress chain: a host's security groups (`permissions`), or a bridge
    container's single source (`only_from`, its instance)."""
    inside = ", ".join(str(ipaddress.ip_network(c)) for c in (PLAN.vpc_cidr, PLAN.bridge_cidr))
    rules = ["ct state established,related accept", 'iif "lo" accept']
    if only_from is not None:
        rules.append(f"ip saddr {only_from} accept")
    else:
        rules.append(f"ip saddr != {{ {inside} }} accept")
        rules += [p.nft() for p in permissions or []]
    body = "\n    ".join(rules)
    return (f"table inet {TABLE}\ndelete table inet {TABLE}\n"
            f"table inet {TABLE} {{\n  chain ingress {{\n    type filter hook input priority 0; policy drop;\n"
            f"    {body}\n  }}\n}}\n")


def apply(netns: str, text: str) -> None:
    done = subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=text, capture_output=True,
                          text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"nft in {netns} failed: {done.stderr.strip()}\n{text}")
