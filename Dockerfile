# Driftline's services (producer, processor, trainer) in one image; docker-compose.yml runs them.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY driftline ./driftline
COPY producers ./producers
COPY processors ./processors
COPY trainer ./trainer
COPY monitoring ./monitoring
COPY stack ./stack
COPY demo ./demo
COPY harness ./harness
RUN pip install '.[ml]'

RUN useradd --create-home driftline && mkdir /registry && chown driftline /registry
USER driftline
EXPOSE 6066 8088
CMD ["driftline", "--help"]
