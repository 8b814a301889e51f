# A Raspberry Pi or Coral board as mllib sees it (Debian arm64): sshd, Python 3, numpy 1.x,
# tflite-runtime, and Coral's libedgetpu and PyCoral from Coral's own apt repository (never
# PyPI's unrelated `pycoral`). Build for arm64:
#   docker buildx build --platform linux/arm64 -f docker/rpi.Dockerfile -t mllib-rpi .
#   docker run -d -p 2222:22 --device /dev/apex_0 \
#     -v ~/.ssh/mllib.pub:/home/mllib/.ssh/authorized_keys:ro mllib-rpi
FROM debian:bookworm-slim

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian and Coral move point releases under pinned versions: follow the base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl gnupg openssh-server \
       python3 python3-venv \
    && curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg \
       | gpg --dearmor -o /usr/share/keyrings/coral.gpg \
    && echo "deb [signed-by=/usr/share/keyrings/coral.gpg] https://packages.cloud.google.com/apt coral-edgetpu-stable main" \
       > /etc/apt/sources.list.d/coral.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends libedgetpu1-std \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /run/sshd \
    && useradd -m -s /bin/bash mllib && usermod -p '*' mllib \
    && printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\n' \
       > /etc/ssh/sshd_config.d/mllib.conf

# tflite-runtime 2.14 is built against numpy 1.x.
RUN python3 -m venv /opt/board \
    && /opt/board/bin/pip install --no-cache-dir "numpy<2" tflite-runtime==2.14.0
ENV PATH=/opt/board/bin:$PATH

EXPOSE 22
CMD ["/usr/sbin/sshd", "-D", "-e"]
