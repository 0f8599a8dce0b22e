# syntax=docker/dockerfile:1
# The xero_pipelines code location as a user-code image for Kubernetes (deploy/helm/values.yaml,
# docs/deploy.md). It holds the product only: no sandbox, no test tools, no secrets (those come
# from Kubernetes Secrets at run time).
#   docker build -t xero-pipelines:0.1.0 .

# Build: a wheel of this package and of every dependency it needs in production.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY xero_pipelines ./xero_pipelines
# Extras: k8s only (dagster-k8s, for the chart's K8sRunLauncher), never dev or sandbox.
RUN pip wheel --wheel-dir /wheels ".[k8s]"

# Run: those wheels, installed without the network, under a user that is not root.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "xero_pipelines[k8s]"
RUN useradd --create-home --uid 10001 xero
USER 10001
WORKDIR /home/xero
ENV XERO_PIPELINES_HOME=/home/xero/.xero_pipelines
EXPOSE 4000
# The Helm chart overrides this with its own `dagster code-server start` command line
# (codeServerArgs); the same command runs the image alone.
CMD ["dagster", "code-server", "start", "-m", "xero_pipelines", "-h", "0.0.0.0", "-p", "4000"]
