#!/usr/bin/env bash
# `make image`: builds deploy/Dockerfile with buildah, offline, and reports on what it built.
#
#  1. the base: PYTHON_IMAGE as given. A localhost/ name that the store lacks is made by base.sh (Debian 12 with
#     Debian's CPython 3.11, from the package mirror); any other name is pulled once (python:3.11.13-slim-bookworm
#     where a registry is reachable);
#  2. a wheelhouse of the lock in $OUT/wheels: `pip download --require-hashes` of requirements.lock and
#     requirements-nodeps.lock with this machine's pip configuration (here: find-links /opt/wheels for torch's CPU
#     wheel, the local indexes under /opt/pypi*, then PyPI); files already there are only re-checked;
#  3. `buildah build --isolation chroot --format docker`, the wheelhouse as the `wheels` build context and
#     WHEELS_ONLY=1, inside a new network namespace with no interface up (unshare --net): the build reaches no
#     network at all, as on an air-gapped site (copy $OUT/wheels and the base image there);
#  4. the figures: build time, image size, the largest layers (-> $OUT/build.json), and a CycloneDX SBOM
#     (sbom.py: the lock's entries that the image holds, with their hashes, and the base's Debian packages).
#
# Environment (the Makefile sets it): IMAGE, PYTHON_IMAGE, OUT, PYTHON (runs pip download and sbom.py),
# PREBUILD_MODELS (1), BUILD_ARGS (more `buildah build` options). Root only; needs buildah (and for base.sh
# mmdebstrap and podman): apt-get install buildah podman mmdebstrap.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${IMAGE:?}" "${PYTHON_IMAGE:?}" "${OUT:?}"
PYTHON=${PYTHON:-python3}
PREBUILD_MODELS=${PREBUILD_MODELS:-1}
BUILD_ARGS=${BUILD_ARGS:-}

for tool in buildah unshare; do
  command -v "$tool" >/dev/null || { echo "make image: $tool is missing (apt-get install buildah podman mmdebstrap)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "make image: run as root (buildah with chroot isolation, unshare --net)" >&2; exit 2; }
mkdir -p "$OUT/wheels"

# 1. The base image.
if ! buildah inspect --type image "$PYTHON_IMAGE" >/dev/null 2>&1; then
  case "$PYTHON_IMAGE" in
    localhost/*) deploy/image/base.sh "$PYTHON_IMAGE" ;;
    *) buildah pull --quiet "$PYTHON_IMAGE" >/dev/null ;;
  esac
fi

# 2. The wheelhouse (bind-mounted into the build, never copied into the image).
start=$(date +%s)
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes --dest "$OUT/wheels" \
  -r requirements.lock -r requirements-nodeps.lock 2> >(grep -v "is neither a file nor a directory" >&2)
wheels_s=$(( $(date +%s) - start ))

# 3. The build, with no network.
start=$(date +%s)
set +e
# shellcheck disable=SC2086  # BUILD_ARGS is a list of options
unshare --net -- buildah build --isolation chroot --format docker --layers --pull=never \
  --ignorefile deploy/Dockerfile.dockerignore -f deploy/Dockerfile \
  --build-context wheels="$OUT/wheels" \
  --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" --build-arg WHEELS_ONLY=1 --build-arg TORCH_INDEX_URL= \
  --build-arg PREBUILD_MODELS="$PREBUILD_MODELS" $BUILD_ARGS \
  -t "$IMAGE" . > "$OUT/build.log" 2>&1
status=$?
set -e
grep -E '^(STEP [0-9]+/[0-9]+: (FROM|RUN)|prune_venv:|Successfully tagged)' "$OUT/build.log" | cut -c1-160 || true
if [ "$status" != 0 ]; then
  tail -40 "$OUT/build.log" >&2
  echo "make image: buildah build failed (exit $status; the whole log: $OUT/build.log)" >&2
  exit 1
fi
build_s=$(( $(date +%s) - start ))

# 4. Figures and the SBOM.
"$PYTHON" deploy/image/report.py --image "$IMAGE" --base "$PYTHON_IMAGE" --out "$OUT" \
  --build-seconds "$build_s" --wheels-seconds "$wheels_s"
