# A Ray node with mllib installed: the head and the workers of deploy/kuberay/ (and any Ray
# cluster that runs mllib's tasks). The same mllib version must run on the workstation.
#   docker build -f docker/ray.Dockerfile -t mllib-ray .
#   docker build -f docker/ray.Dockerfile --build-arg GPU=1 -t mllib-ray:gpu .   # CUDA training
FROM python:3.11-slim-bookworm

ARG GPU=0

# Ray's dashboard agent and the Jobs API need nothing from apt; curl is for the probes of
# deploy/kuberay. Debian's stable archive moves point releases under pinned versions.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/mllib
COPY pyproject.toml README.md ./
COPY backends ./backends
COPY mllib ./mllib
COPY mllib_tui ./mllib_tui
# Versions are pinned in pyproject.toml; GPU=1 trades tensorflow-cpu for the CUDA build of the
# same TensorFlow version.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[all,ray]" \
    && if [ "$GPU" = "1" ]; then \
         pip uninstall -y tensorflow-cpu \
         && pip install --no-cache-dir "tensorflow[and-cuda]==2.21.0"; \
       fi

# The store's creds.json is mounted from a Secret; MLLIB_CREDS says where (deploy/kuberay/).
ENV MLLIB_WORKSPACE=/work/mllib-workspace
RUN useradd --create-home --uid 1000 ray && mkdir -p /work && chown ray /work
USER 1000
WORKDIR /work
