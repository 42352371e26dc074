#!/usr/bin/env bash
# Writes the test node's container images as OCI image layouts, from local files only (no registry
# is reachable here and no docker daemon is needed): one layer of a reproducible tar, a config, a
# manifest and an index.json naming the reference the node's registry serves it under. Usage:
#   test/node/images.sh BIN_DIR OUT_DIR     (BIN_DIR: pause, coredns, tcpserver from build.sh)
# Images (the references kubelet and `kubectl run` ask for, resolved through the registry mirror):
#   docker.io/library/busybox:latest         Debian's busybox-static with every applet linked
#   registry.k8s.io/pause:3.10               the sandbox's pause process (images/cmd/pause)
#   registry.k8s.io/coredns/coredns:v1.15.0  CoreDNS as built by build.sh
#   docker.io/netpol/tcpserver:latest        images/cmd/tcpserver, plus busybox for probes (nc, wget)
set -euo pipefail
bin="$1" out="$2"
rm -rf "$out"; mkdir -p "$out"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

busybox_root() { # dir: busybox and its applets at the paths busybox names
  local root="$1" applet
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done < <(/bin/busybox --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
blob() { # file → moves it into the layout's blobs, prints "digest size"
  local layout="$1" file="$2" d s
  d="$(sha "$file")"; s="$(stat -c %s "$file")"
  mkdir -p "$layout/blobs/sha256"; mv "$file" "$layout/blobs/sha256/$d"
  echo "$d $s"
}

image() { # name ref rootfs config-json-fragment (Entrypoint/Cmd/Env)
  local name="$1" ref="$2" root="$3" exec_config="$4" layout="$out/$1"
  mkdir -p "$layout"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$work/layer.tar" .
  local diff_id; diff_id="$(sha "$work/layer.tar")"
  gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
  local layer; layer="$(blob "$layout" "$work/layer.tar.gz")"
  printf '{"architecture":"amd64","os":"linux","config":{%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$exec_config" "$diff_id" > "$work/config.json"
  local config; config="$(blob "$layout" "$work/config.json")"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    ${config% *} ${config#* } ${layer% *} ${layer#* } > "$work/manifest.json"
  local manifest; manifest="$(blob "$layout" "$work/manifest.json")"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    ${manifest% *} ${manifest#* } "$ref" > "$layout/index.json"
  rm -f "$work/layer.tar"
}

env_path='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
busybox_root "$work/busybox"
image busybox docker.io/library/busybox:latest "$work/busybox" "$env_path,\"Cmd\":[\"sh\"]"

mkdir -p "$work/pause"; cp "$bin/pause" "$work/pause/pause"
image pause registry.k8s.io/pause:3.10 "$work/pause" '"Entrypoint":["/pause"]'

mkdir -p "$work/coredns"; cp "$bin/coredns" "$work/coredns/coredns"
image coredns registry.k8s.io/coredns/coredns:v1.15.0 "$work/coredns" '"Entrypoint":["/coredns"]'

busybox_root "$work/tcpserver"; cp "$bin/tcpserver" "$work/tcpserver/tcpserver"
image tcpserver docker.io/netpol/tcpserver:latest "$work/tcpserver" "$env_path,\"Entrypoint\":[\"/tcpserver\"]"
