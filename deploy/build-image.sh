#!/bin/sh
# Builds hullscan's image with podman from the project's Dockerfile, the way it was tried on a machine that
# reaches PyPI (through a TLS proxy) and a Debian mirror but not Docker Hub:
#   deploy/build-image.sh [TAG]                         (default TAG localhost/hullscan:latest)
# The base: python:3.11-slim-bookworm when it can be pulled, else the one deploy/build-base.sh builds from Debian
# packages. pip in the build stage uses this machine's index (PIP_INDEX_URL, default PyPI) and CA bundle
# (PIP_CERT / SSL_CERT_FILE, passed as a build secret); neither reaches the final image.
set -eu
cd "$(dirname "$0")/.."
TAG="${1:-localhost/hullscan:latest}"
need() {  # Debian packages this needs: installed when missing and running as root, else named
  missing=""
  for tool in "$@"; do command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"; done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 || {
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing; }
  else
    echo "missing Debian packages:$missing" >&2; exit 1
  fi
}
need podman:podman
if grep -q . /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then need runc:runc; fi
BASE="${PYTHON_IMAGE:-}"
if [ -z "$BASE" ]; then
  if podman image exists docker.io/library/python:3.11-slim-bookworm \
     || timeout 60 podman pull -q docker.io/library/python:3.11-slim-bookworm >/dev/null 2>&1; then
    BASE=docker.io/library/python:3.11-slim-bookworm
  else
    BASE=localhost/hullscan-python:3.11-bookworm
    podman image exists "$BASE" || { need debootstrap:debootstrap; sh deploy/build-base.sh "$BASE"; }
  fi
fi
index="${PIP_INDEX_URL:-$(pip3 config get global.index-url 2>/dev/null || true)}"
cert="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
set -- --build-arg "PYTHON_IMAGE=$BASE" --format docker --network host --layers $(sh deploy/podman-flags.sh)
[ -n "$index" ] && set -- "$@" --build-arg "PIP_INDEX_URL=$index"
[ -s "$cert" ] && set -- "$@" --secret "id=pip-cert,src=$cert"
start=$(date +%s)
podman build "$@" -t "$TAG" -f Dockerfile . >&2
echo "$TAG: built in $(( $(date +%s) - start )) s, $(podman image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}') (base $BASE)"
