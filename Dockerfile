# EventSep on a CUDA 12.8 GPU host:
#   docker build -t eventsep .                                  # code + pins
#   docker build -t eventsep --build-arg DOWNLOAD_WEIGHTS=1 .   # also bake in the weights both
#       protocols use (`eventsep download --all`: no fallback copies)
#   docker run --gpus all -v $PWD/figures:/app/figures -v /data:/data \
#       -e EVENTSEP_DATA=/data eventsep                         # make reproduce (paper profile)
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ARG DOWNLOAD_WEIGHTS=0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    EVENTSEP_CACHE=/opt/eventsep-cache \
    HF_HOME=/opt/eventsep-cache/hf

RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev build-essential libsndfile1 make git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml constraints.txt README.md Makefile ./
COPY eventsep ./eventsep
# The CUDA build of the pinned torch version, then everything else from the same pins.
RUN python3 -m venv .venv \
    && .venv/bin/pip install --upgrade pip \
    && .venv/bin/pip install --index-url ${TORCH_INDEX} "$(grep '^torch==' constraints.txt)" \
    && .venv/bin/pip install -c constraints.txt -e ".[notebooks,dev,data,demo]" \
    && touch .venv/.eventsep-installed
COPY . .
RUN touch .venv/.eventsep-installed \
    && if [ "$DOWNLOAD_WEIGHTS" = "1" ]; then .venv/bin/eventsep download --all; fi

ENV PATH=/app/.venv/bin:$PATH
CMD ["make", "reproduce", "PROFILE=paper"]
