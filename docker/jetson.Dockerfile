# A Jetson board as mllib sees it: sshd, Python 3 with numpy, and TensorRT from JetPack.
# Only what the board agent needs; mllib uploads the agent itself. Build on the Jetson:
#   docker build -f docker/jetson.Dockerfile -t mllib-jetson .
#   docker run -d --runtime nvidia -p 2222:22 \
#     -v ~/.ssh/mllib.pub:/home/mllib/.ssh/authorized_keys:ro mllib-jetson
# then add host = "JETSON", port = 2222, user = "mllib" to devices.toml.
FROM nvcr.io/nvidia/l4t-jetpack:r36.2.0

# JetPack pins the CUDA/TensorRT stack; apt packages follow the base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-server python3-numpy \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /run/sshd \
    && useradd -m -s /bin/bash mllib && usermod -p '*' mllib \
    && printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\n' \
       > /etc/ssh/sshd_config.d/mllib.conf

EXPOSE 22
CMD ["/usr/sbin/sshd", "-D", "-e"]
