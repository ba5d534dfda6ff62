"""Writes the Inputs and Outputs tables of every module README from its variables.tf and
outputs.tf (between the TF_DOCS markers); `--check` fails when a README is out of date.

Runs with the checkov venv's Python (`.tools/checkov/bin/python`), which has an HCL parser.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import hcl2

MODULES = Path(__file__).resolve().parent / "modules"
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def hcl(value: object) -> str:
    """An HCL-looking rendering of a parsed type expression."""
    if isinstance(value, list) and len(value) == 1:
        return hcl(value[0])
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {hcl(v)}" for k, v in value.items()) + " }"
    text = str(value)
    text = text[2:-1] if text.startswith("${") and text.endswith("}") else text
    return re.sub(r"\$\{([^{}]*)\}", r"\1", text).replace("'", "").replace(": ", " = ")


def plain(value: object) -> str:
    text = value[0] if isinstance(value, list) and len(value) == 1 else value
    if isinstance(text, str):
        text = text.removeprefix("${").removesuffix("}") if text.startswith("${") else text
    return str(text).replace('\\"', '"').replace("|", "\\|").replace("\n", " ")


def tables(module: Path) -> str:
    variables = hcl2.load(open(module / "variables.tf")).get("variable", [])
    outputs = hcl2.load(open(module / "outputs.tf")).get("output", [])
    lines = ["## Inputs", "", "| name | description | type | default |", "|---|---|---|---|"]
    for block in variables:
        for name, spec in block.items():
            default = f"`{plain(spec['default'])}`" if "default" in spec else "required"
            lines.append(f"| `{name}` | {plain(spec.get('description', ''))} | `{hcl(spec.get('type', 'any'))}` "
                         f"| {default} |")
    lines += ["", "## Outputs", "", "| name | description |", "|---|---|"]
    for block in outputs:
        for name, spec in block.items():
            lines.append(f"| `{name}` | {plain(spec.get('description', ''))} |")
    return "\n".join([BEGIN, *lines, END])


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for module in sorted(p for p in MODULES.iterdir() if p.is_dir()):
        readme = module / "README.md"
        text = readme.read_text()
        if BEGIN not in text or END not in text:
            stale.append(f"{readme}: no {BEGIN} ... {END} markers")
            continue
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        updated = head + tables(module) + tail
        if updated != text:
            if check:
                stale.append(f"{readme} is out of date: run `make terraform-docs`")
            else:
                readme.write_text(updated)
    for line in stale:
        print(line, file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
