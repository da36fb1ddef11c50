#!/bin/sh
# Builds the Dockerfile's Python base from Debian packages when Docker Hub's python:3.11-slim-bookworm cannot be
# pulled (a machine that reaches only a Debian mirror): a minimal bookworm root (debootstrap --variant=minbase;
# bookworm's python3 is 3.11) with python3, venv and CA certificates, imported into podman's local store.
#   deploy/build-base.sh [TAG]               (root; default TAG localhost/hullscan-python:3.11-bookworm)
#   podman build --build-arg PYTHON_IMAGE=localhost/hullscan-python:3.11-bookworm -t hullscan .
# MIRROR (default http://deb.debian.org/debian) picks the Debian mirror.
set -eu
TAG="${1:-localhost/hullscan-python:3.11-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (Debian package debootstrap)" >&2; exit 1; }
command -v podman >/dev/null || { echo "podman is not installed (Debian package podman)" >&2; exit 1; }
root="$(mktemp -d /var/tmp/hullscan-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT INT TERM
debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
  bookworm "$root" "$MIRROR" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# What a slim image leaves out: package lists and caches, documentation, man pages, other locales.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
       "$root"/var/cache/debconf/*-old "$root"/var/log/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
       "$root"/usr/share/info/* "$root"/usr/share/locale/*
find "$root/usr/lib/python3.11" -name __pycache__ -prune -exec rm -rf {} +
printf 'nameserver 127.0.0.1\n' >"$root/etc/resolv.conf"   # the runtime supplies its own
tar --numeric-owner -C "$root" -c . | podman import --quiet \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
  --message "debootstrap minbase bookworm + python3 (deploy/build-base.sh)" - "$TAG" >/dev/null
echo "$TAG: $(podman image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
