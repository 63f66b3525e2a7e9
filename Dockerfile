# syntax=docker/dockerfile:1
# newsmt: gRPC news translation and summarization service.
#
#   docker build -t newsmt:0.1.0 .                          # with real models, pulled at build time
#   docker build --secret id=hf_token,env=HF_TOKEN -t newsmt:0.1.0 .   # ... from a private repo
#   docker build --build-arg PULL_MODELS=0 -t newsmt:0.1.0 .  # no models: mount them at /models
#   docker run -p 50051:50051 newsmt:0.1.0
#   python3 scripts/dev.py image    # with podman, no registry needed: build, then run-checks
#
# Layers, most stable first: third-party packages, then models, then newsmt's own code. The
# deps stage sees only the list of dependencies, the models stage only the registry and the
# code that downloads and converts models, and the code stage is copied in last, so an edit to
# the code rebuilds neither the packages nor the models (docs/OPERATIONS.md, Deploying: Docker).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- the dependency list ------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS requirements
# The dependencies of both distributions, read from their pyproject.toml files, less the
# client distribution itself (installed with the code). The deps stage copies only this
# list: an edit elsewhere in pyproject.toml (a tool's settings, the version) does not
# reinstall the packages.
COPY pyproject.toml /tmp/server.toml
COPY clients/python/pyproject.toml /tmp/client.toml
RUN python3 -c "import re, tomllib; \
projects = [tomllib.load(open(f'/tmp/{n}.toml', 'rb'))['project'] for n in ('client', 'server')]; \
key = lambda req: re.sub(r'[-_.]+', '-', re.match(r'[A-Za-z0-9._-]+', req)[0].lower()); \
own = {key(p['name']) for p in projects}; \
print('\n'.join(d for p in projects for d in p['dependencies'] if key(d) not in own))" \
    > /requirements.txt

# -- dependencies --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS deps
# Where torch comes from, as pip options: the PyTorch CPU index (the default wheel on PyPI is a
# multi-GB CUDA build). A machine without that index mounts a folder holding the CPU wheel at
# build time and passes e.g. --build-arg TORCH_SOURCE="--find-links /mnt" (scripts/image.py).
ARG TORCH_SOURCE="--index-url https://download.pytorch.org/whl/cpu"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
COPY --from=requirements /requirements.txt /tmp/deps/requirements.txt
# torch first, at its pinned version, from TORCH_SOURCE; then the rest. Then what the server
# never runs goes (about 300 MB): the packages' test suites, torch's C++ test programs,
# headers and protoc.
RUN python3 -m venv /opt/venv \
    && grep '^torch==' /tmp/deps/requirements.txt > /tmp/deps/torch.txt \
    && pip install $TORCH_SOURCE --requirement /tmp/deps/torch.txt \
    && pip install --requirement /tmp/deps/requirements.txt \
    && rm -rf /tmp/deps \
    && site="$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && find "$site" -path '*.dist-info' -prune -o -type d \( -name tests -o -name test \) \
         -prune -exec rm -rf {} + \
    && rm -rf "$site/torch/include" "$site"/torch/bin/protoc* "$site"/torch/bin/test_* \
         "$site"/torch/bin/*Test

# -- models --------------------------------------------------------------------------------
FROM deps AS models
# Real weights at the registry's revisions (pin commit hashes in production), converted to
# CTranslate2 int8. An optional build secret `hf_token` is used for private repos.
# PULL_MODELS=0 builds an image without models (mount a model folder at /models instead).
# Only the registry and the code that pulls and converts (newsmt.core, newsmt.models) are
# copied here: an edit anywhere else keeps this layer, and the downloaded models, cached.
ARG PULL_MODELS=1
COPY service/newsmt/core /opt/pull/newsmt/core
COPY service/newsmt/models /opt/pull/newsmt/models
COPY scripts/pull_models.py /opt/pull/
RUN --mount=type=secret,id=hf_token,required=false \
    mkdir -p /models \
    && if [ "$PULL_MODELS" = "1" ]; then \
         HF_TOKEN="$(cat /run/secrets/hf_token 2>/dev/null || true)" \
         PYTHONPATH=/opt/pull python /opt/pull/pull_models.py /models; \
       fi

# -- code ----------------------------------------------------------------------------------
FROM deps AS code
# Both distributions: the client (stubs, client, the `newsmt` command) and the server. They
# are installed under /staging, so that the runtime stage copies exactly the installed files:
# no sources, no wheels, no build tools.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service service
COPY clients/python clients/python
RUN pip install --no-deps --no-warn-script-location --root /staging ./clients/python .

# -- runtime -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin newsmt
WORKDIR /opt/newsmt
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    NEWSMT_HOST=0.0.0.0 \
    NEWSMT_PORT=50051 \
    NEWSMT_MODEL_DIR=/models \
    NEWSMT_LOG_FORMAT=json
EXPOSE 50051 8080 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["newsmt", "health", "--address", "127.0.0.1:50051"]
COPY --from=deps /opt/venv /opt/venv
COPY --from=models --chown=10001:10001 /models /models
# `newsmt smoke` in the container reads ./seeds.
COPY seeds /opt/newsmt/seeds
COPY --from=code /staging/opt/venv /opt/venv
USER 10001
ENTRYPOINT ["newsmt", "serve"]
