"""`make image-test`: runs the built image's own file system the way a container runtime would, without one.

``podman run`` cannot run here (crun: setrlimit RLIMIT_NPROC: Operation not permitted), so each scenario is:

1. ``buildah from IMAGE``: a working container, its root an overlay over the image's layers, ``buildah mount``ed;
2. the runtime's own part, done by hand: ``/run`` a small root-owned tmpfs (buildah puts ``/run/.containerenv``
   there and removes it after each run); mount points for the volumes made in the container's own layer; then
   ``mount -o remount,ro`` of the overlay: the root file system is read-only for every process of the container;
3. ``buildah run --isolation chroot --user 10001:10001`` with the volumes as bind mounts (``--volume``), the
   image's own environment and working directory, the image's ENTRYPOINT + CMD (its ports, 8000 and 8001);
4. all of it inside a new network namespace (``unshare --net``, loopback only; this script re-executes itself
   there): the container has its own ports, as behind a runtime's network, and reaches no network.

Scenarios:

- ``kubernetes``: deploy/k8s/deployment.yaml's UID and its ``emptyDir`` mounts (``/data``, ``/tmp``) the only
  writable places, the image's defaults otherwise (SQLite in ``/data``): ``decorum users add`` makes a login,
  ``decorum serve`` starts, ``/livez`` and ``/healthz`` answer, ``GET /api/health`` and an ask through
  ``POST /api/ask`` show the prebuilt engine (the note's ``model.artifact_revision`` is the manifest revision of
  a build in the image's cache), the note is in the audit log, and SIGTERM drains (``/healthz`` 503) and exits 0.
  A model build at start-up could not write (the cache is on the read-only root), and no build line may be
  logged.
- ``compose``: deploy/compose.yaml's ``decorum`` service as compose would run it: its ``environment``, the
  ``env_file`` and key files that ``make_secrets.py`` (run in the image) writes, its ``secrets`` at
  ``/run/secrets``, ``read_only`` with its ``tmpfs`` ``/tmp`` (a private host folder here), its volumes
  (``decorum-data``, a ``decorum-cache`` that starts as a copy of the image's cache, as a new named volume does;
  the config folder read-only), and PostgreSQL: the machine's, through its Unix socket bind-mounted at
  ``/run/postgresql`` (a fresh database, dropped afterwards). Nothing may be added to the cache volume, and the
  ask's audit record must be in PostgreSQL.

    python3 deploy/image/smoke.py --image localhost/decorum:0.1.0 [--scenario kubernetes] [--out .cache/image]

Root only (buildah, mount, unshare); the compose scenario needs PostgreSQL's socket in /var/run/postgresql with
trust for the postgres role. Figures go to ``OUT/smoke.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "compose.yaml"
K8S_DEPLOYMENT = REPO / "deploy" / "k8s" / "deployment.yaml"
UID = "10001:10001"
NETNS_MARK = "DECORUM_SMOKE_NETNS"
START_TIMEOUT_S = 600
QUESTION = "How do I reset my password?"
# Lines of a model build (onnx_build, weights conversion, classifier checkpoints) in serve's log.
BUILD_LINE = re.compile(r"building the ONNX model|built onnx model|rebuilding|de-quantizing GGUF|"
                        r"converting .* to safetensors|downloading ", re.I)
PG_SOCKET = Path("/var/run/postgresql")


def log(msg: str) -> None:
    print(f"[image-test] {msg}", flush=True)


def run(*cmd: str, **kw: Any) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {' '.join(cmd)[:300]}\n{result.stdout[-2000:]}"
                             f"{result.stderr[-3000:]}")
    return result.stdout


# -- the container ---------------------------------------------------------------------------------------------------


class Container:
    """A working container of ``image``: read-only root, the given bind mounts, run as UID 10001 by chroot."""

    def __init__(self, image: str, scratch: Path) -> None:
        self.image = image
        self.scratch = scratch
        self.name = run("buildah", "from", "--pull=never", image).strip()
        info = json.loads(run("buildah", "inspect", "--type", "container", self.name))
        config = (info.get("Docker") or {}).get("config") or info["OCIv1"]["config"]
        self.entrypoint: list[str] = config.get("Entrypoint") or []
        self.cmd: list[str] = config.get("Cmd") or []
        self.env: dict[str, str] = dict(e.split("=", 1) for e in config.get("Env") or [])
        self.user: str = config.get("User") or ""
        self.volumes: list[str] = sorted(config.get("Volumes") or {})
        self.exposed: list[str] = sorted(config.get("ExposedPorts") or {})
        self.root = Path(run("buildah", "mount", self.name).strip())
        # /run as a runtime has it: its own small file system, root's (buildah puts /run/.containerenv there and
        # removes it after each run, which a read-only /run would fail; UID 10001 cannot write there either).
        run("mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "tmpfs", str(self.root / "run"))
        self.mounts: list[str] = []
        self.read_only = False

    def bind(self, source: Path, target: str, *, ro: bool = False) -> None:
        # --volume, not --mount: buildah 1.28 deletes a --mount's target from the root after each run (it would
        # fail on the read-only root; and buildah panics on that error).
        self.mounts.append(f"{source}:{target}:{'ro' if ro else 'rw'}")
        self._mountpoint(target, file=source.is_file())

    def tmpfs(self, target: str) -> None:
        """A private, empty, writable folder of the host (buildah run has no tmpfs volume but --mount's)."""
        path = Path(tempfile.mkdtemp(prefix="tmpfs-", dir=self.scratch))
        os.chmod(path, 0o1777)
        self.bind(path, target)

    def _mountpoint(self, target: str, *, file: bool) -> None:
        assert not self.read_only, "mount points are made before the root turns read-only"
        path = self.root / target.lstrip("/")
        if file:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
        else:
            path.mkdir(parents=True, exist_ok=True)

    def make_read_only(self) -> None:
        """The whole root read-only (the overlay of this container: the image's layers and its own)."""
        run("mount", "-o", "remount,ro", str(self.root))
        self.read_only = True

    def argv(self, cmd: list[str], env: dict[str, str] | None = None, user: str = UID) -> list[str]:
        out = ["buildah", "run", "--isolation", "chroot", "--user", user]
        for volume in self.mounts:
            out += ["--volume", volume]
        for key, value in (env or {}).items():
            out += ["--env", f"{key}={value}"]
        return [*out, self.name, "--", *cmd]

    def remove(self) -> None:
        with suppress(AssertionError):
            run("umount", str(self.root / "run"))
        with suppress(AssertionError):
            run("mount", "-o", "remount,rw", str(self.root))
        subprocess.run(["buildah", "rm", self.name], capture_output=True)


# -- HTTP --------------------------------------------------------------------------------------------------------------


def request(method: str, port: int, path: str, *, body: Any = None, token: str | None = None,
         host: str = "localhost", timeout: float = 120) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Host": f"{host}:{port}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw.decode(errors="replace")


def wait_for(port: int, path: str, deadline: float, proc: subprocess.Popen[str]) -> float:
    """Seconds until ``path`` answers 200; fails when the process exits first, the app reports an error (500:
    model loading failed), or at ``deadline``."""
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"decorum serve exited with {proc.returncode} before {path} answered 200")
        with suppress(OSError, http.client.HTTPException):
            status, body = request("GET", port, path, timeout=5)
            if status == 200:
                return time.monotonic() - t0
            if status == 500:
                raise AssertionError(f"{path}: {status} {body}")
        time.sleep(0.25)
    raise AssertionError(f"{path} did not answer 200 in time")


def descendant(pid: int, needle: str, uid: int = 10001) -> int:
    """The PID of the app under ``pid`` (buildah run, then buildah-chroot-exec, which runs as ``uid`` too): the
    process of ``uid`` whose command line contains ``needle``, not buildah's. What a runtime signals: the app."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, ValueError, IndexError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        with suppress(OSError, ValueError, IndexError):
            proc = Path("/proc") / str(p)
            owner = int(next(line for line in (proc / "status").read_text().splitlines()
                             if line.startswith("Uid:")).split()[1])
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if owner == uid and not argv[0].startswith(b"buildah") and needle.encode() in b" ".join(argv):
                return p
        todo += children.get(p, [])
    raise AssertionError(f"no process of UID {uid} running {needle!r} under {pid}")


def prebuilt_revisions(cache: Path) -> dict[str, str]:
    """``{folder: revision}`` of the complete ONNX builds in a cache (their manifests)."""
    return {m.parent.name: json.loads(m.read_text())["revision"] for m in cache.glob("onnx/*/decorum-onnx.json")}


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# -- one scenario ----------------------------------------------------------------------------------------------------


def serve_and_check(ctr: Container, env: dict[str, str], token: str, revisions: dict[str, str],
                    public: int = 8000, admin: int = 8001) -> dict[str, Any]:
    """Start the image's command, wait for /livez and /healthz, ask through the admin API, SIGTERM, exit 0."""
    out: dict[str, Any] = {}
    logfile = tempfile.TemporaryFile(mode="w+")
    argv = ctr.argv([*ctr.entrypoint, *ctr.cmd], env)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=logfile, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        wait_for(public, "/livez", deadline, proc)
        out["livez_s"] = round(time.monotonic() - t0, 1)
        wait_for(public, "/healthz", deadline, proc)
        out["healthz_s"] = round(time.monotonic() - t0, 1)
        log(f"  /livez 200 after {out['livez_s']} s, /healthz 200 after {out['healthz_s']} s")
        assert request("GET", public, "/healthz")[1] == {"status": "ok"}

        status, health = request("GET", admin, "/api/health", token=token)
        assert status == 200, (status, health)
        out["health"] = health
        t1 = time.monotonic()
        status, answer = request("POST", admin, "/api/ask", body={"text": QUESTION}, token=token)
        out["ask_s"] = round(time.monotonic() - t1, 1)
        assert status == 200, (status, answer)
        model = answer["model"]  # the transparency note is the response (plus "answer")
        out["note_model"] = model
        out["verdict"] = answer.get("verdict")
        log(f"  ask: {answer.get('verdict')} in {out['ask_s']} s; note: engine {model.get('engine')} "
            f"{model.get('precision')}, artifact {str(model.get('artifact_revision'))[:16]}")
        assert model.get("engine") == health["engine"], (model, health)
        assert model.get("artifact_revision") in revisions.values(), \
            f"the note's artifact {model.get('artifact_revision')} is none of the image's builds {revisions}"
        status, record = request("GET", admin, f"/api/audit/{answer['id']}", token=token)
        assert status == 200, (status, record)

        pid = descendant(proc.pid, "decorum serve")
        os.kill(pid, signal.SIGTERM)
        t2 = time.monotonic()
        with suppress(OSError, http.client.HTTPException):
            out["healthz_while_draining"] = request("GET", public, "/healthz", timeout=5)
        rc = proc.wait(timeout=120)
        out["exit_code"] = rc
        out["stop_s"] = round(time.monotonic() - t2, 1)
    finally:
        if proc.poll() is None:  # a failure above: stop the app, then buildah
            with suppress(AssertionError, OSError):
                os.kill(descendant(proc.pid, "decorum serve"), signal.SIGKILL)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        logfile.seek(0)
        text = logfile.read()
        out["log_tail"] = text.splitlines()[-15:]
    out["model_build_lines"] = [line for line in text.splitlines() if BUILD_LINE.search(line)]
    assert out["exit_code"] == 0, f"exit {out['exit_code']} after SIGTERM:\n{text[-3000:]}"
    assert "draining" in text, "no drain in the log after SIGTERM"
    assert not out["model_build_lines"], f"a model was built at start-up: {out['model_build_lines']}"
    log(f"  SIGTERM: drained and exited {out['exit_code']} in {out['stop_s']} s")
    return out


def users_add(ctr: Container, env: dict[str, str]) -> str:
    cmd = ["decorum", "users", "add", "image-test", "--role", "admin", "--json"]
    result = subprocess.run(ctr.argv(cmd, env), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])["token"]


def writable_check(ctr: Container, env: dict[str, str], writable: list[str]) -> dict[str, bool]:
    """Which of the places a process might write to are writable, as UID 10001 in the container."""
    places = ["/", "/tmp", "/home/decorum", "/opt/decorum/cache", "/opt/venv", "/etc", "/data"]
    script = ("import json, os, sys, tempfile\nout = {}\nfor d in sys.argv[1:]:\n    try:\n"
              "        fd, p = tempfile.mkstemp(dir=d); os.close(fd); os.unlink(p); out[d] = True\n"
              "    except OSError:\n        out[d] = False\nprint(json.dumps(out))")
    result = run(*ctr.argv(["python", "-c", script, *places], env))
    found: dict[str, bool] = json.loads(result.strip().splitlines()[-1])
    wrong = {d: w for d, w in found.items() if w != (d in writable)}
    assert not wrong, f"writable places differ from {writable}: {found}"
    return found


def scenario_kubernetes(image: str, work: Path) -> dict[str, Any]:
    deployment = next(d for d in yaml.safe_load_all(K8S_DEPLOYMENT.read_text(encoding="utf-8")) if d)
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    scratch = sorted(m["mountPath"] for m in container["volumeMounts"] if m["name"] in empty_dirs)
    user = f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    log(f"kubernetes: UID {user}, read-only root, the Deployment's emptyDirs ({', '.join(scratch)}) the only "
        "writable places, SQLite in /data")
    assert container["securityContext"]["readOnlyRootFilesystem"] is True and user == UID
    ctr = Container(image, work)
    try:
        assert ctr.user == UID, f"the image's USER is {ctr.user!r}"
        assert ctr.volumes == ["/data"] and ctr.exposed == ["8000/tcp", "8001/tcp"], (ctr.volumes, ctr.exposed)
        revisions = prebuilt_revisions(ctr.root / "opt/decorum/cache")
        assert revisions, "the image carries no prebuilt ONNX model"
        dirs = {}
        for target in scratch:
            dirs[target] = work / f"emptydir{target.replace('/', '-')}"
            dirs[target].mkdir(mode=0o1777 if target == "/tmp" else 0o700)
            os.chown(dirs[target], 10001, 10001)  # fsGroup 10001
            ctr.bind(dirs[target], target)
        ctr.make_read_only()
        out: dict[str, Any] = {"prebuilt": revisions, "writable_mounts": scratch}
        out["writable"] = writable_check(ctr, {}, scratch)
        token = users_add(ctr, {})
        out.update(serve_and_check(ctr, {}, token, revisions))
        out["data_dir"] = sorted(listing(dirs["/data"]))
        return out
    finally:
        ctr.remove()


def _expand(value: Any) -> str:
    """compose's ``${VAR:-default}`` with nothing set: the default."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1), m.group(2)), str(value))


def _psql(*args: str) -> None:
    run("psql", "-h", str(PG_SOCKET), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", *args)


def scenario_compose(image: str, work: Path) -> dict[str, Any]:
    log("compose: deploy/compose.yaml's decorum service, against this machine's PostgreSQL (Unix socket)")
    if not (PG_SOCKET / ".s.PGSQL.5432").exists():
        raise SystemExit(f"no PostgreSQL socket in {PG_SOCKET}: run with --scenario kubernetes")
    service = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["decorum"]
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert service["image"] == image.removeprefix("localhost/"), (service["image"], image)
    database = f"decorum_image_test_{os.getpid()}"
    _psql("-c", f"CREATE DATABASE {database}")
    ctr = None
    try:
        # make_secrets.py, run in the image as deploy/README.md shows (it needs only cryptography).
        keys = work / "compose-work"
        keys.mkdir()
        shutil.copy(REPO / "deploy/compose/make_secrets.py", keys / "make_secrets.py")
        os.chown(keys, 10001, 10001)
        url = f"postgresql://postgres@/{database}?host=/run/postgresql"
        helper = Container(image, work)
        try:
            helper.bind(keys, "/work")
            helper.make_read_only()
            run(*helper.argv(["python", "/work/make_secrets.py", "--dir", "/work/keys", "--database-url", url]))
        finally:
            helper.remove()
        env_file = dict(line.split("=", 1) for line in (keys / "keys/.env").read_text().splitlines()
                        if line and not line.startswith("#"))
        env = {**env_file, **{k: _expand(v) for k, v in service["environment"].items()}}

        ctr = Container(image, work)
        volumes: dict[str, Path] = {}
        for spec in service["volumes"]:
            source, target, *mode = spec.split(":")
            if source.startswith("./"):
                ctr.bind(COMPOSE.parent / source, target, ro=mode == ["ro"])
                continue
            path = volumes[source] = work / f"volume-{source}"
            image_content = ctr.root / target.lstrip("/")
            path.mkdir()
            if image_content.is_dir():  # a new named volume starts as a copy of what the image has there
                run("cp", "-a", f"{image_content}/.", str(path))  # owners and modes kept, as docker does
                shutil.copystat(image_content, path)
                st = image_content.stat()
                os.chown(path, st.st_uid, st.st_gid)
            else:
                os.chown(path, 10001, 10001)
            ctr.bind(path, target)
        for secret in service["secrets"]:
            ctr.bind(keys / "keys" / compose["secrets"][secret["source"]]["file"].removeprefix("compose/"),
                     f"/run/secrets/{secret['target']}", ro=True)
        for target in service.get("tmpfs", []):
            ctr.tmpfs(target)
        ctr.bind(PG_SOCKET, "/run/postgresql")
        assert service["read_only"] is True
        ctr.make_read_only()
        cache = volumes["decorum-cache"]
        before = listing(cache)
        revisions = prebuilt_revisions(cache)
        out: dict[str, Any] = {"database": database, "writable": writable_check(
            ctr, env, ["/data", "/tmp", "/opt/decorum/cache"])}
        token = users_add(ctr, env)
        out.update(serve_and_check(ctr, env, token, revisions))
        added = sorted(listing(cache) - before)
        assert not added, f"the cache volume gained files (a model was built): {added[:10]}"
        records = run("psql", "-h", str(PG_SOCKET), "-U", "postgres", "-d", database, "-tAc",
                      "SELECT count(*) FROM audit_record").strip()
        out["postgres_audit_records"] = int(records)
        assert int(records) >= 1, "the ask left no audit record in PostgreSQL"
        log(f"  PostgreSQL {database}: {records} audit record(s)")
        return out
    finally:
        if ctr is not None:
            ctr.remove()
        _psql("-c", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--scenario", choices=["kubernetes", "compose"], action="append")
    ap.add_argument("--out", type=Path, default=REPO / ".cache" / "image")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("make image-test runs as root (buildah, mount, unshare)")
    if os.environ.get(NETNS_MARK) != "1":  # into a new network namespace, loopback up, then on
        os.environ[NETNS_MARK] = "1"
        os.execvp("unshare", ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
                              sys.executable, str(Path(__file__).resolve()), *argv])
    results: dict[str, Any] = {"image": args.image}
    with tempfile.TemporaryDirectory(prefix="decorum-image-test-") as tmp:
        os.chmod(tmp, 0o755)
        for name in args.scenario or ["kubernetes", "compose"]:
            work = Path(tmp) / name
            work.mkdir()
            results[name] = {"kubernetes": scenario_kubernetes, "compose": scenario_compose}[name](args.image, work)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "smoke.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    log(f"passed: {', '.join(k for k in results if k != 'image')} ({args.out / 'smoke.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
