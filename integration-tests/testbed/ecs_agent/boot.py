"""What an EC2 container instance's user data does at boot, read from the script itself: the
data volume it attaches and mounts (the NAME=value settings of the prometheus module's
mount-data-volume.sh) and the ECS agent configuration it writes (ECS_CLUSTER,
ECS_INSTANCE_ATTRIBUTES). The test bed acts on these settings instead of running the script,
whose AWS CLI and block-device steps have no counterpart here."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The boot script of a durable Prometheus replica's instance (module prometheus).
MOUNT_DATA_VOLUME = Path(__file__).resolve().parents[3] / "terraform/modules/prometheus/templates/mount-data-volume.sh.tftpl"


@dataclass(frozen=True)
class BootScript:
    cluster: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    volume_id: str | None = None
    device: str | None = None
    mount_point: str | None = None
    data_dir: str | None = None
    data_owner: tuple[int, int] | None = None

    @classmethod
    def parse(cls, text: str) -> "BootScript":
        settings = dict(re.findall(r"^([A-Z_]+)=(.*?)\s*$", text, flags=re.MULTILINE))
        owner = settings.get("DATA_OWNER")
        uid, _, gid = (owner or "").partition(":")
        return cls(cluster=settings.get("ECS_CLUSTER"),
                   attributes=json.loads(settings.get("ECS_INSTANCE_ATTRIBUTES") or "{}"),
                   volume_id=settings.get("VOLUME_ID"), device=settings.get("DEVICE"),
                   mount_point=settings.get("MOUNT_POINT"), data_dir=settings.get("DATA_DIR"),
                   data_owner=(int(uid), int(gid or uid)) if owner else None)

    @classmethod
    def of_instance(cls, ec2: Any, instance_id: str) -> "BootScript":
        """The boot script an EC2 instance was launched with (its user data)."""
        user_data = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData").get("UserData", {})
        return cls.parse(base64.b64decode(user_data.get("Value") or "").decode(errors="replace"))


def mount_data_volume_script(**settings: str) -> str:
    """The Prometheus replica's boot script with its template's `${...}` settings filled in,
    as Terraform renders it (volume_id, device, mount_point, data_dir, data_owner, region)."""
    text = MOUNT_DATA_VOLUME.read_text()
    missing = set(re.findall(r"(?<!\$)\$\{([a-z_]+)\}", text)) - set(settings)
    if missing:
        raise KeyError(f"{MOUNT_DATA_VOLUME.name} needs {sorted(missing)}")
    text = re.sub(r"(?<!\$)\$\{([a-z_]+)\}", lambda m: settings[m.group(1)], text)
    return "#!/bin/bash\n" + text.replace("$${", "${")
