#!/bin/sh
# build-rpm-test-image.sh OUT — an AlmaLinux-9-like OCI image layout whose only content is /etc/os-release and
# an SQLite rpm database, for testing modular rpms end to end (tests/matching/test_modular_rpm.py).
#
# The packages are built with Debian's rpmbuild (apt-get install rpm) from empty specs and installed with
# `rpm --justdb`, so the rpmdb holds real rpm headers:
#   nodejs 1:18.20.2-2.module_el9.4.0+99+a01f7676  x86_64  modularitylabel nodejs:18:9040020240807144226:rhel9
#   npm    1:10.5.0-1.18.20.2.2.module_el9.4.0+99+a01f7676  x86_64  same label, built from the nodejs source rpm
#   glibc  2.34-100.el9_4.2  x86_64 AND i686  (one package installed for two architectures)
# Versions and the label are those of AlmaLinux 9.4's nodejs:18 stream (see tests/data/modular-rpm/README.md).
set -eu
OUT=${1:?usage: build-rpm-test-image.sh OUT}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/specs" "$WORK/root/etc" "$WORK/root/var/lib/rpm"

cat > "$WORK/specs/nodejs.spec" <<'EOF'
Name: nodejs
Epoch: 1
Version: 18.20.2
Release: 2.module_el9.4.0+99+a01f7676
Summary: JavaScript runtime (test header only)
License: MIT
ModularityLabel: nodejs:18:9040020240807144226:rhel9
%description
Test package: an rpm header with the nodejs:18 module stream.
%package -n npm
Epoch: 1
Version: 10.5.0
Release: 1.18.20.2.2.module_el9.4.0+99+a01f7676
Summary: Node.js package manager (test header only)
%description -n npm
Test package built from the nodejs source rpm with its own version.
%files
%files -n npm
EOF

cat > "$WORK/specs/glibc.spec" <<'EOF'
Name: glibc
Version: 2.34
Release: 100.el9_4.2
Summary: The GNU libc libraries (test header only)
License: LGPLv2+
%description
Test package installed for two architectures.
%files
EOF

build() {  # spec target
    rpmbuild --quiet -bb --target "$2" --define "_topdir $WORK/build" --define "_build_id_links none" \
        --define "__os_install_post %{nil}" "$WORK/specs/$1" >/dev/null
}
build nodejs.spec x86_64
build glibc.spec x86_64
build glibc.spec i686

rpm --root "$WORK/root" --dbpath /var/lib/rpm --define "_db_backend sqlite" --initdb
rpm --root "$WORK/root" --dbpath /var/lib/rpm --define "_db_backend sqlite" --justdb --nodeps --noscripts \
    --ignorearch --ignoreos -i "$WORK"/build/RPMS/*/*.rpm
# keep only the database itself (no journal or lock files)
find "$WORK/root/var/lib/rpm" -type f ! -name rpmdb.sqlite -delete

cat > "$WORK/root/etc/os-release" <<'EOF'
NAME="AlmaLinux"
VERSION="9.4 (Seafoam Ocelot)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"
EOF

python3 "$HERE/testimages/ocipack.py" image "$OUT" --ref latest --arch amd64 --layer "$WORK/root" >/dev/null
