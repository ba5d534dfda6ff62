"""`make upgrade-plan BASE=<git revision>`: what upgrading a deployed stack to this tree plans.

It applies terraform/examples/emulator as it is at BASE (a `git worktree`, removed afterwards)
against a fresh embedded emulator, then plans this tree's example against that state, and prints
the plan's summary with every resource it would replace, destroy or create, and every `moved`.
A refactor of the modules (resources moved into a module, renamed, re-keyed) must plan no
replacement: its `moved` blocks carry the state over. Exit status 1 when anything would be
destroyed or replaced, but a task definition (a new revision is how ECS changes a task). Not
part of `make test` (an apply and a plan, about 2 minutes).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from testbed.harness import ROOT, Emulator
from testbed.terraform_stack import EMULATOR_EXAMPLE, AppliedStack, missing, terraform


def main(base: str) -> int:
    if missing():
        print(f"upgrade-plan: {missing()}")
        return 2
    with tempfile.TemporaryDirectory(prefix="upgrade-plan-") as scratch:
        work, tree = Path(scratch) / "work", Path(scratch) / "base"
        work.mkdir()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), base], check=True,
                       capture_output=True)
        emulator = Emulator(log_dir=Path(scratch), embedded=True)
        try:
            stack = AppliedStack(emulator, work)
            old_example = tree / EMULATOR_EXAMPLE.relative_to(ROOT)
            print(f"upgrade-plan: applying examples/emulator at {base}", flush=True)
            terraform(old_example, "init", env=stack.env)
            terraform(old_example, "apply", "-auto-approve", *stack.vars, env=stack.env, timeout=900)
            print("upgrade-plan: planning this tree against that state", flush=True)
            terraform(EMULATOR_EXAMPLE, "init", env=stack.env)
            done = terraform(EMULATOR_EXAMPLE, "plan", *stack.vars, env=stack.env, timeout=600)
        finally:
            emulator.stop()
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    lines = done.stdout.splitlines()
    moved = [line.strip() for line in lines if " has moved to " in line or line.strip().startswith("# (moved from")]
    changed = [line.strip() for line in lines
               if re.search(r"# \S+ (must be replaced|will be destroyed|will be created|will be updated in-place)", line)]
    summary = next((line for line in lines if line.startswith(("Plan:", "No changes."))), "no plan summary")
    print("\n".join(["", *moved, "", *changed, "", summary]))
    lost = [line for line in changed if ("must be replaced" in line or "will be destroyed" in line)
            and ".aws_ecs_task_definition." not in line]
    return 1 if lost else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: upgrade_plan.py <git revision of the stack deployed before>")
    sys.exit(main(sys.argv[1]))
