# netpol's container image: the node agent that `kubectl netpol deploy` runs as the netpol-agent
# DaemonSet (deploy/base/daemonset.yaml), docker.io/netpol/netpol:v<package.json version>.
#   docker build -t docker.io/netpol/netpol:v0.1.0 .
# Not built in this project's CI: no registry is reachable there. The tests build the same
# contents from local files with test/node/netpol-image.sh (node, libbpf and its libraries, dist/,
# bpf/*.o, production node_modules; entrypoint `node /app/dist/cli/main.js agent`) and push that
# to the test node's registry. Keep the two in step.
#
# The image runs as root (capabilities are granted to root; a non-root user would lose them on
# exec), and is meant to run with every capability dropped but BPF, PERFMON, NET_ADMIN and
# DAC_READ_SEARCH, a read-only root filesystem and read-only host paths: see deploy/base.

# --- build: TypeScript → dist/ (and dist/bundle/agent.js, the agent command alone bundled by esbuild,
# which `netpol agent` runs: ≈ 35 MiB less RSS than loading @kubernetes/client-node's modules), the
# CO-RE BPF object, then production dependencies only.
FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/chmod-bin.mjs scripts/
COPY src src
COPY bpf bpf
# bpf/vmlinux.h is generated from the build machine's kernel BTF (/sys/kernel/btf/vmlinux, readable
# in a build container); CO-RE relocates the object to whichever kernel later loads it.
RUN npm run build && make -C bpf && npm prune --omit=dev \
 && find dist -name '*.map' -delete \
 && rm -rf node_modules/@koromix/koffi-linux-*/musl_* \
 && find node_modules -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' -o -name '*.md' \) \
      ! -iname 'licen[cs]e*' -delete

# --- runtime: Node and libbpf, nothing to build with.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/dist dist
COPY --from=build /src/bpf/tcpconnect.bpf.o bpf/
COPY --from=build /src/node_modules node_modules
ENV NODE_ENV=production
USER root
EXPOSE 9809
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["agent"]
