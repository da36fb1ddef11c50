#!/bin/sh
# Creates deploy/.env and deploy/secrets/registry-token.pem for compose.yaml (once; keeps existing ones).
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
if [ ! -f secrets/registry-token.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=hullscan \
    -keyout secrets/key.pem -out secrets/cert.pem 2>/dev/null
  cat secrets/key.pem secrets/cert.pem > secrets/registry-token.pem
  rm secrets/key.pem secrets/cert.pem
  chmod 0644 secrets/registry-token.pem   # readable by the container user (uid 10001); secrets/ stays 0700
fi
if [ ! -f .env ]; then
  rand() { openssl rand -hex 24; }
  # Reached by clients and by the runner containers alike (not localhost): see compose.yaml. Prefer a DNS name.
  addr="$(hostname -I 2>/dev/null | awk '{print $1}')"
  [ -n "$addr" ] || addr="$(hostname)"
  cat > .env <<ENV
POSTGRES_PASSWORD=$(rand)
S3_SECRET_KEY=$(rand)
HULLSCAN_UI_SECRET=$(rand)
HULLSCAN_RUNNER_REGISTRATION_TOKEN=hsreg_$(rand)
HULLSCAN_ADMIN_PASSWORD=$(rand)
HULLSCAN_PUBLIC_URL=http://$addr:8080
ENV
fi
echo "deploy/.env and deploy/secrets/registry-token.pem are ready (admin password: see .env)"
