"""The VPC's DNS resolver (what AWS calls AmazonProvidedDNS, at the VPC's base address + 2):
it answers the names of the emulator's Cloud Map private DNS namespaces, as Route 53 answers
them for every task in the namespace's VPC.

`<service>.<namespace>` has an A record per registered instance (`AWS_INSTANCE_IPV4`) and an
SRV record per instance with a port (`AWS_INSTANCE_PORT`, target `<instance>.<service>.<namespace>`),
with the TTL of the service's DNS config, read from the emulator on each query, so a task that
registers or deregisters is in or out of the next answer. Any other name is NXDOMAIN: the test
bed reaches nothing outside the estate by name.

The agent starts one per sandbox and writes its address into every container's
/etc/resolv.conf, as ECS does with the VPC's resolver. The DNS wire format and the UDP server
are dnslib's.
"""

from __future__ import annotations

import errno
import time
from typing import Any, Callable

from dnslib import QTYPE, RCODE, RR, A, DNSRecord, SRV
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from ..network import PLAN
from .aws_pages import every

CACHE_SECONDS = 1.0  # the namespaces and services of the estate, between queries


class CloudMapResolver(BaseResolver):
    """Answers A and SRV queries for Cloud Map names from the emulator's servicediscovery API."""

    def __init__(self, client: Callable[[], Any]):
        self.client = client
        self._services: tuple[float, dict[str, tuple[str, int]]] = (0.0, {})

    def services(self) -> dict[str, tuple[str, int]]:
        """`<service>.<namespace>` -> (service id, TTL) for every private DNS namespace."""
        read_at, found = self._services
        if time.monotonic() - read_at < CACHE_SECONDS:
            return found
        discovery = self.client()
        found = {}
        for namespace in every(discovery, "list_namespaces", "Namespaces"):
            if namespace.get("Type") != "DNS_PRIVATE":
                continue
            for service in every(discovery, "list_services", "Services",
                                  Filters=[{"Name": "NAMESPACE_ID", "Values": [namespace["Id"]]}]):
                records = service.get("DnsConfig", {}).get("DnsRecords", [])
                ttl = int(records[0].get("TTL", 10)) if records else 10
                found[f"{service['Name']}.{namespace['Name']}".lower()] = (service["Id"], ttl)
        self._services = (time.monotonic(), found)
        return found

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        service_name, instance = name, None
        services = self.services()
        if name not in services and "." in name and name.split(".", 1)[1] in services:
            instance, service_name = name.split(".", 1)
        if service_name not in services:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        service_id, ttl = services[service_name]
        for registered in every(self.client(), "list_instances", "Instances", ServiceId=service_id):
            attributes = registered.get("Attributes", {})
            address, port = attributes.get("AWS_INSTANCE_IPV4"), attributes.get("AWS_INSTANCE_PORT")
            if address is None or (instance is not None and registered["Id"].lower() != instance):
                continue
            if qtype in ("A", "ANY"):
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=ttl))
            if qtype in ("SRV", "ANY") and port is not None and instance is None:
                target = f"{registered['Id']}.{service_name}."
                reply.add_answer(RR(request.q.qname, QTYPE.SRV, rdata=SRV(1, 1, int(port), target), ttl=ttl))
                reply.add_ar(RR(target, QTYPE.A, rdata=A(address), ttl=ttl))
        return reply


class VpcDns:
    """The resolver's UDP server on the first free address from the VPC's base + 2."""

    def __init__(self, client: Callable[[], Any]):
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        for fourth in range(2, 16):
            address = PLAN.address(0, fourth)
            try:
                self.server = DNSServer(CloudMapResolver(client), address=address, port=53, logger=quiet)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    continue
                raise
            self.address = address
            self.server.start_thread()
            return
        raise OSError(errno.EADDRINUSE, f"no free address for the VPC resolver in {PLAN.address(0, 2)}-15")

    def resolv_conf(self) -> str:
        return f"nameserver {self.address}\noptions timeout:1 attempts:2\n"

    def stop(self) -> None:
        self.server.stop()
        self.server.server.server_close()
