# Driftline's services in two images from one file; docker-compose.yml builds both.
#   worker   producer and processor workers: the base install only, no TensorFlow (workers run LiteRT alone)
#   trainer  training, the retrain webhook, the registry commands: base + the ml extra
# Dependencies come from the hashed locks under requirements/ (make lock), so an image builds what the tests ran.
# The locks are universal: on ARM Linux the trainer gets tensorflow instead of tensorflow-cpu, and faust-streaming
# (no ARM Linux wheel) builds from its hashed sdist, without its optional C speedups when no compiler is present.
FROM python:3.11.14-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends procps \
    && rm -rf /var/lib/apt/lists/*
# the registry volume's mount point, owned by the user the services run as (a new named volume takes this owner)
RUN useradd --create-home driftline && mkdir /registry && chown driftline /registry

FROM base AS source
WORKDIR /src
COPY pyproject.toml README.md ./
COPY driftline ./driftline
COPY producers ./producers
COPY processors ./processors
COPY trainer ./trainer
COPY monitoring ./monitoring
COPY stack ./stack
COPY demo ./demo
COPY harness ./harness

FROM base AS worker
COPY requirements/worker.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY --from=source /src /tmp/driftline
RUN pip install --no-deps /tmp/driftline && rm -rf /tmp/driftline
USER driftline
# relative data paths (.driftline/...) land in the user's home
WORKDIR /home/driftline
EXPOSE 6066
CMD ["driftline", "--help"]

FROM base AS trainer
COPY requirements/trainer.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY --from=source /src /tmp/driftline
RUN pip install --no-deps /tmp/driftline && rm -rf /tmp/driftline
USER driftline
WORKDIR /home/driftline
EXPOSE 8088
CMD ["driftline", "--help"]
