# hullscan: API/registry server (`serve`) and scan runner (`runner`) in one image.
#   docker build -t hullscan .          (or deploy/build-image.sh: podman, a local base, this machine's PyPI)
#   docker run -p 8080:8080 -v hullscan-data:/var/lib/hullscan hullscan            # the embedded default
# Everything is installed at build time (pinned by constraints.txt); nothing is fetched when it runs.
# Multi-node settings, storage and secrets: docs/operations.md and deploy/compose.yaml.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Where pip finds packages at build time (a mirror, a proxy's CA as the build secret `pip-cert`): build stage
# only, never in the final image.
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first (pyproject's list, pinned by constraints.txt), the project after: a change to src/ rebuilds
# only the last layer. The runtime needs no installer: pip and setuptools leave the virtualenv at the end.
COPY pyproject.toml constraints.txt README.md LICENSE ./
RUN --mount=type=secret,id=pip-cert \
    if [ -s /run/secrets/pip-cert ]; then export PIP_CERT=/run/secrets/pip-cert; fi \
 && python -m venv /opt/hullscan \
 && python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
    > /tmp/requirements.txt \
 && /opt/hullscan/bin/pip install --no-compile -c constraints.txt -r /tmp/requirements.txt
COPY src/ src/
RUN --mount=type=secret,id=pip-cert \
    if [ -s /run/secrets/pip-cert ]; then export PIP_CERT=/run/secrets/pip-cert; fi \
 && /opt/hullscan/bin/pip install --no-compile --no-deps -c constraints.txt . \
 && /opt/hullscan/bin/pip check \
 && /opt/hullscan/bin/pip uninstall -q -y pip setuptools \
 && /opt/hullscan/bin/python -m compileall -q /opt/hullscan/lib

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 hullscan \
 && useradd --system --uid 10001 --gid hullscan --home-dir /var/lib/hullscan --create-home --shell /usr/sbin/nologin hullscan
COPY --from=build /opt/hullscan /opt/hullscan
ENV PATH=/opt/hullscan/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/hullscan \
    HULLSCAN_DATA_DIR=/var/lib/hullscan \
    HULLSCAN_HOST=0.0.0.0 \
    HULLSCAN_PORT=8080
USER 10001:10001
WORKDIR /var/lib/hullscan
VOLUME ["/var/lib/hullscan"]
EXPOSE 8080
# Ready = the database answers and the storage is usable (what a load balancer should route on, too).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; u = 'http://127.0.0.1:%s/-/ready' % os.environ.get('HULLSCAN_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(u, timeout=4).status == 200 else 1)"]
ENTRYPOINT ["hullscan"]
CMD ["serve"]
