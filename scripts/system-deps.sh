#!/usr/bin/env bash
# Debian packages the test suite drives as real components. Installed when missing and running as
# root; otherwise a clear message naming what is missing.
set -euo pipefail
need=()
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v podman >/dev/null 2>&1 || need+=(podman)  # docker-daemon:/podman: sources, registry client tests
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)  # `systemd-analyze verify` of deploy/*.service
command -v zsh >/dev/null 2>&1 || need+=(zsh)  # `hullscan completion zsh|fish` in their shells
command -v fish >/dev/null 2>&1 || need+=(fish)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)  # deploy/nginx.conf, run by the tests
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
python3 -c 'import sys' >/dev/null 2>&1
[ -e /usr/lib/python3/dist-packages/rpm/__init__.py ] || need+=(python3-rpm)
command -v dpkg >/dev/null 2>&1 || need+=(dpkg)
command -v rpmbuild >/dev/null 2>&1 || need+=(rpm)  # scripts/build-rpm-test-image.sh
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}"; }
else
  echo "missing Debian packages for the tests: ${need[*]} (install them: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
