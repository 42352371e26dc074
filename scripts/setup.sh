#!/usr/bin/env bash
# Installs everything netpol's build, demo and tests need on a fresh Debian machine, then builds.
# Idempotent: a second run only checks. Needs root for the Debian packages (the tests need root anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(clang llvm libbpf-dev bpftool docker.io iproute2 busybox-static nftables tmux chromium make openssl curl libbpf-tools zsh fish graphviz containerd runc containernetworking-plugins)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Lockfile installs are reproducible; koffi ships prebuilt binaries so no install scripts are needed.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
if [ -f bpf/Makefile ]; then make -s -C bpf; fi
bash test/cluster/build.sh > /dev/null  # kube-apiserver + etcd for the e2e tests, cached by version (minutes the first time)
bash test/node/build.sh > /dev/null     # the real node (kubelet, kube-proxy, CoreDNS, kube-network-policies, registry) and its images, cached by version (about 20 min the first time)
