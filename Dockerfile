# gpuad on a CUDA host: `docker build -t gpuad .` then `docker run --rm --gpus all gpuad`
# runs the README's main job (`gpuad demo`: a batched kinetics Jacobian) on the GPU.
#
# The runtime image brings the CUDA 12 user-space libraries; the NVIDIA driver comes from
# the host through the NVIDIA Container Toolkit (`--gpus all`). CuPy (cupy-cuda12x) and
# Numba-CUDA with its NVVM/NVRTC wheels come from the `cuda12` extra of pyproject.toml.
FROM nvidia/cuda:12.6.3-runtime-ubuntu22.04

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A virtual environment owned by root: the user that runs gpuad cannot change it.
ENV VIRTUAL_ENV=/opt/gpuad \
    PATH=/opt/gpuad/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1
RUN python3.11 -m venv $VIRTUAL_ENV && pip install --upgrade pip

WORKDIR /src
COPY pyproject.toml README.md ./
COPY gpuad ./gpuad
COPY kernels ./kernels
RUN pip install ".[cuda12]"

# Run as a non-root user. Generated kernels and Numba's compiled-kernel cache go to the
# user's cache folder, so a container started with a volume there starts warm.
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin gpuad
USER gpuad
WORKDIR /home/gpuad
ENV GPUAD_DEVICE=cuda \
    GPUAD_CACHE_DIR=/home/gpuad/.cache/gpuad

CMD ["gpuad", "demo", "--device", "cuda"]
