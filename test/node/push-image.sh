#!/usr/bin/env bash
# Pushes an OCI image layout (test/node/netpol-image.sh, images.sh) to the registry of a running
# test node, under the reference its index.json names; the node's containerd resolves docker.io and
# registry.k8s.io through that registry, so the reference then pulls as written. Usage:
#   test/node/push-image.sh NODE_DIR LAYOUT    (NODE_DIR: the DIR given to test/node/up.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -eq 2 ] || { echo "usage: test/node/push-image.sh NODE_DIR LAYOUT" >&2; exit 2; }
[ -f "$1/env" ] || { echo "test/node/push-image.sh: $1/env is missing: is a node running there (test/node/up.sh $1)?" >&2; exit 1; }
[ -f "$2/index.json" ] || { echo "test/node/push-image.sh: $2 is not an OCI image layout (no index.json)" >&2; exit 1; }
registry="$(awk -F= '$1 == "NETPOL_NODE_REGISTRY" { print $2 }' "$1/env")"
. "$here/oci.sh"
oci_push "$registry" "$2"
grep -o '"org.opencontainers.image.ref.name":"[^"]*"' "$2/index.json" | cut -d'"' -f4
