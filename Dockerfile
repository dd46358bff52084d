# syntax=docker/dockerfile:1
# The one image of LOGOS PXL Core: `pxl serve` (API), `pxl worker`, `pxl flower`.
#   docker build --build-arg GIT_SHA=$(git rev-parse HEAD) -t pxl-core .
# GIT_SHA is recorded in api/build_info.json (api/provenance.py), which X-Build-SHA reports.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY api ./api
COPY workers ./workers
RUN python -m venv /opt/pxl && /opt/pxl/bin/pip install . -c constraints.txt
# The Coq kernel compiled and checked by coqchk at build time (docs/coq.md): the image gets the
# sources, .vo files and the stamp X-PXL-Coqchk reports; Coq itself stays in this stage.
COPY coq ./coq
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends coq >/dev/null \
 && /opt/pxl/bin/pxl coq-check --sources /src/coq --build-dir /opt/pxl/coq \
 && rm -rf /var/lib/apt/lists/*
ARG GIT_SHA=unknown
# run from / so that the installed package (not /src) is the one that gets the build info
RUN cd / && /opt/pxl/bin/python -m api.provenance write-build-info "${GIT_SHA}"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 pxl \
 && useradd --system --uid 10001 --gid pxl --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin pxl
COPY --from=build /opt/pxl /opt/pxl
ENV PATH=/opt/pxl/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PXL_HOST=0.0.0.0 \
    PXL_LOG_JSON=true \
    PXL_COQCHK_RESULT_FILE=/opt/pxl/coq/coqchk.json
USER 10001:10001
WORKDIR /opt/pxl
EXPOSE 8080
ENTRYPOINT ["pxl"]
CMD ["serve", "--port", "8080"]
