# The workstation: the app, the CLI, training and conversion (TensorFlow CPU on x86_64).
#   docker build -f docker/workstation.Dockerfile -t mllib-workstation .
#   docker run --rm -it -v "$PWD/mllib-workspace:/work/mllib-workspace" mllib-workstation
FROM python:3.11-slim-bookworm

# ssh/sftp for boards, tmux for long sessions over SSH. Debian's stable archive moves point
# releases under pinned versions, so apt packages follow the base image instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client tmux \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/mllib
COPY pyproject.toml README.md ./
COPY backends ./backends
COPY mllib ./mllib
COPY mllib_tui ./mllib_tui
# Versions are pinned in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[all]"

WORKDIR /work
ENV MLLIB_WORKSPACE=/work/mllib-workspace
ENTRYPOINT ["mllib-tui"]
