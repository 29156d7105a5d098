FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY eventlog eventlog
COPY projections projections
COPY blobs blobs
COPY api api
COPY annolog annolog
# The server probes uploaded videos (frame count, rate) with PyAV: the video extra.
RUN pip install --no-cache-dir ".[video]"
