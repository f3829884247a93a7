# forge container build ada   -- the ada training image (L4, L40S, RTX 40xx: compute capability 8.9).
# Built on a real CUDA PyTorch base (its CUDA torch is kept), plus Forge's training pins, Unsloth
# and bitsandbytes. Forge assembles the context: this file, requirements.txt (Forge's pins without
# torch) and bootstrap/. The forge package is mounted read-only by the runtime, not baked in.
# It cannot be built where no registry can be pulled from; override BASE_IMAGE with a mirror.
#   BASE_IMAGE             the CUDA/PyTorch base
#   TORCH_CUDA_ARCH_LIST   compute capabilities that any source-built kernel targets
#   UNSLOTH_VERSION, BITSANDBYTES_VERSION   their own pins (Unsloth is kept out of the CPU stack)
ARG BASE_IMAGE=pytorch/pytorch:2.9.0-cuda12.8-cudnn9-devel
FROM ${BASE_IMAGE}

ARG TORCH_CUDA_ARCH_LIST="8.9"
ARG UNSLOTH_VERSION=2026.10.9
ARG BITSANDBYTES_VERSION=0.50.2
ARG WHEELS_URL=
ENV TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HF_HOME=/hf-cache \
    PYTHONPATH=/opt/forge

COPY requirements.txt /tmp/forge-build/requirements.txt
COPY bootstrap/ /tmp/forge-build/bootstrap/
# Forge's pins go in under the base's CUDA torch. Unsloth then brings its own pins (2026.10.9
# wants transformers<=5.17, trl<=1.15, datasets<5, older than Forge's): in this image they win,
# and only the base's CUDA torch is held fixed. The versions that result are printed.
RUN set -eu; cd /tmp/forge-build; \
    find_links=""; [ -z "$WHEELS_URL" ] || find_links="--find-links $WHEELS_URL"; \
    python3 -m pip freeze | grep -E '^torch==' > torch.txt; \
    cat torch.txt requirements.txt > constraints.txt; \
    python3 -m pip install $find_links -c constraints.txt -r requirements.txt; \
    python3 -m pip install $find_links -c torch.txt \
      "unsloth==${UNSLOTH_VERSION}" "bitsandbytes==${BITSANDBYTES_VERSION}"; \
    python3 -c "import torch, bitsandbytes, transformers, trl, peft; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'trl', trl.__version__)"; \
    mkdir -p /opt/forge /hf-cache && chmod 1777 /hf-cache; \
    rm -rf /tmp/forge-build

CMD ["sleep", "infinity"]
