"""``make audit`` (run by ``make lint``): the locked dependencies checked for known vulnerabilities.

pip-audit reads the lock file's pins (exported by uv) and asks the PyPI vulnerability service
about each. A known vulnerability fails the run and names the package, its version and the
fixed versions. Where the service does not answer (a closed network, a mirror without the
JSON API) nothing can be audited: the run says so, with how many packages were skipped, and
passes, so that the rest of ``make lint`` still runs on such a machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    uv = ROOT / ".tools" / "bin" / "uv"
    exported = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [str(uv), "export", "--frozen", "--no-hashes", "--no-emit-project", "--quiet"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write(exported.stdout)
        requirements.flush()
        audit = subprocess.run(  # noqa: S603
            [
                sys.executable, "-m", "pip_audit", "--requirement", requirements.name, "--no-deps", "--disable-pip",
                "--progress-spinner", "off", "--format", "json",
            ],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    try:
        report = json.loads(audit.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit did not run: {audit.stderr.strip()[-500:]}", file=sys.stderr)
        return 1
    dependencies = report["dependencies"]
    vulnerable = [dependency for dependency in dependencies if dependency.get("vulns")]
    skipped = [dependency for dependency in dependencies if dependency.get("skip_reason")]
    for dependency in vulnerable:
        for vulnerability in dependency["vulns"]:
            fixed = ", ".join(vulnerability.get("fix_versions") or []) or "no fixed version yet"
            print(f"{dependency['name']} {dependency['version']}: {vulnerability['id']} (fixed in {fixed})")
    if vulnerable:
        print(f"pip-audit: {len(vulnerable)} of {len(dependencies)} locked packages have known vulnerabilities.")
        return 1
    if skipped and len(skipped) == len(dependencies):
        print(
            f"pip-audit: the vulnerability service did not answer for any of the {len(dependencies)} locked packages "
            "(PyPI's vulnerability data could not be reached from here); nothing was audited on this machine."
        )
        return 0
    print(f"pip-audit: {len(dependencies) - len(skipped)} locked packages audited, no known vulnerabilities"
          f"{f' ({len(skipped)} could not be looked up)' if skipped else ''}.")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
