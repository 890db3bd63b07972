# syntax=docker/dockerfile:1
# The base image comes from a build argument, so the image can be built where
# Docker Hub is out of reach (any Debian-based image with python3 and venv works).
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ARG PIP_CERT=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data \
    ENVIRONMENT=production \
    PATH=/opt/venv/bin:$PATH

WORKDIR /srv/app
RUN python3 -m venv /opt/venv
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY web ./web
RUN if [ -n "$PIP_CERT" ]; then export PIP_CERT; fi; \
    pip install -e ".[postgres,redis]"

# The speech cache lives outside the data volume, so an empty volume still
# starts with every built-in line already spoken.
ENV SPEECH_CACHE_DIR=/srv/app/speech
RUN useradd --system --uid 10001 --home-dir /data rest \
    && mkdir -p /data /srv/app/speech && chown rest /data /srv/app/speech
USER rest

# Built-in routines rendered at build time (a new named volume starts with them).
RUN python -m app.prerender
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=2).status == 200 else 1)"
CMD ["uvicorn", "app.main:app", "--http", "app.server_protocol:TurnWritesProtocol", \
     "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
