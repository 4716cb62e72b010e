# syntax=docker/dockerfile:1
# Build stage: compile the wheel and its dependencies once.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cartera cartera
COPY schema schema
COPY resolvers resolvers
COPY subscriptions subscriptions
COPY services services
COPY db db
RUN python -m venv /opt/cartera \
 && /opt/cartera/bin/pip install --upgrade pip \
 && /opt/cartera/bin/pip install .

# Runtime stage: the virtualenv only, run by an unprivileged user.
FROM python:3.11-slim
ENV PATH=/opt/cartera/bin:$PATH PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --home-dir /var/lib/cartera --create-home cartera
COPY --from=build /opt/cartera /opt/cartera
USER cartera
WORKDIR /var/lib/cartera
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
CMD ["cartera", "serve", "--host", "0.0.0.0", "--port", "8000"]
