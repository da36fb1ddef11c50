#!/usr/bin/env bash
# A local S3-compatible server (moto's standalone server from PyPI, `moto[server]` in the test extras) for
# trying `storage_driver = "s3"` by hand; the tests start their own (tests/support/s3.py).
#   scripts/s3-server.sh [PORT]      then, in another shell:
#   HULLSCAN_STORAGE_DRIVER=s3 HULLSCAN_STORAGE_S3_ENDPOINT_URL=http://127.0.0.1:9000 \
#   HULLSCAN_STORAGE_S3_BUCKET=hullscan HULLSCAN_STORAGE_S3_PATH_STYLE=true \
#   HULLSCAN_STORAGE_S3_ACCESS_KEY_ID=test HULLSCAN_STORAGE_S3_SECRET_ACCESS_KEY=test make run
# Data lives in memory: it is gone when the server stops.
set -euo pipefail
PORT="${1:-9000}"
PY="$(dirname "$0")/../.venv/bin/python"
[ -x "$PY" ] || PY=python3
"$PY" -m moto.server -H 127.0.0.1 -p "$PORT" &
pid=$!
trap 'kill $pid' EXIT INT TERM
for _ in $(seq 50); do
  if "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/', timeout=1)" 2>/dev/null; then break; fi
  sleep 0.2
done
"$PY" - "$PORT" <<'PY'
import sys, boto3
boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
             aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket="hullscan")
print(f"S3 server on http://127.0.0.1:{sys.argv[1]} with bucket 'hullscan'; Ctrl-C stops it")
PY
wait $pid
