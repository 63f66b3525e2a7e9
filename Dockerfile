# syntax=docker/dockerfile:1
# newsmt: gRPC news translation and summarization service.
#
#   docker build -t newsmt .                          # with real models, pulled at build time
#   docker build --secret id=hf_token,env=HF_TOKEN -t newsmt .   # ... from a private repo
#   docker build --build-arg PULL_MODELS=0 -t newsmt .  # no models: mount them at /models
#   docker run -p 50051:50051 newsmt
#
# Layers, most stable first: Python dependencies, then models, then newsmt's own code.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- dependencies --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
COPY pyproject.toml /tmp/pyproject.toml
# CPU build of torch (the default wheel is a multi-GB CUDA build), then the rest of the
# dependencies, read from pyproject.toml so that this layer changes only when they do.
RUN python -m venv /opt/venv \
    && pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# -- models --------------------------------------------------------------------------------
FROM deps AS models
# Real weights at the registry's revisions (pin commit hashes in production), converted to
# CTranslate2 int8. An optional build secret `hf_token` is used for private repos.
# PULL_MODELS=0 builds an image without models (mount a model folder at /models instead).
ARG PULL_MODELS=1
WORKDIR /src
COPY . .
RUN --mount=type=secret,id=hf_token,required=false \
    pip install --no-deps . \
    && mkdir -p /models \
    && if [ "$PULL_MODELS" = "1" ]; then \
         HF_TOKEN="$(cat /run/secrets/hf_token 2>/dev/null || true)" \
         newsmt models pull --convert --model-dir /models; \
       fi

# -- runtime -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin newsmt
COPY --from=deps /opt/venv /opt/venv
COPY --from=models --chown=10001:10001 /models /models
COPY . /src
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps /src \
    && mkdir -p /opt/newsmt && cp -r /src/seeds /opt/newsmt/seeds && rm -rf /src
# `newsmt smoke` in the container reads ./seeds.
WORKDIR /opt/newsmt
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    NEWSMT_HOST=0.0.0.0 \
    NEWSMT_PORT=50051 \
    NEWSMT_MODEL_DIR=/models \
    NEWSMT_LOG_FORMAT=json
USER 10001
EXPOSE 50051 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["newsmt", "health", "--address", "127.0.0.1:50051"]
ENTRYPOINT ["newsmt", "serve"]
