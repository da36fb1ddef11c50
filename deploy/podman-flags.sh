#!/bin/sh
# Flags `podman run`/`podman build` need on a host like the one hullscan's image was tried on (a VM with hybrid
# cgroups v1+v2 and capped rlimits): crun refuses hybrid cgroups ("drop all controllers from cgroupv2"), so
# runc (Debian package runc) runs the containers there; and podman's default rlimits (nofile 1048576) exceed
# what the host allows, so they are set to the host's. Prints nothing special on an ordinary cgroup v2 host.
set -eu
flags=""
if [ -d /sys/fs/cgroup/unified ] && grep -q . /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
  command -v runc >/dev/null || { echo "hybrid cgroups: install runc (Debian package runc)" >&2; exit 1; }
  flags="--runtime runc"
fi
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] || flags="$flags --ulimit nofile=$nofile:$nofile"
grep -q "^Max processes .* unlimited" /proc/self/limits || flags="$flags --ulimit nproc=4096:4096"
echo "$flags"
