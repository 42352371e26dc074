#!/usr/bin/env bash
# Builds the test cluster's kube-apiserver and etcd from the Go module proxy at the versions pinned in
# test/cluster/go.mod, once per machine: the binaries are cached outside the repository under
# ${NETPOL_CLUSTER_CACHE:-/var/cache/netpol}/k8s-<version>-etcd-<version>/ and a later run only checks.
# Prints the directory holding the binaries on stdout. A first build takes minutes on 2 cores (see
# README, "The test cluster", for the measured time); later runs take well under a second.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

k8s_version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$here/go.mod")"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$here/go.mod")"
cache_root="${NETPOL_CLUSTER_CACHE:-/var/cache/netpol}"
out="$cache_root/k8s-$k8s_version-etcd-$etcd_version"

# The stamp covers what decides the binaries: sources, pinned versions and this recipe's revision
# (bump RECIPE when the go build command line below changes).
RECIPE=1
stamp="$( { echo "recipe=$RECIPE"; cat "$here/go.mod" "$here/go.sum" "$here"/cmd/*/main.go; } | sha256sum | cut -c1-16)"
if [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$out"
  exit 0
fi

go="$(command -v go || true)"
[ -n "$go" ] || go=/usr/local/go/bin/go
if [ ! -x "$go" ]; then
  echo "test/cluster/build.sh: Go is needed to build kube-apiserver and etcd (not found in PATH or /usr/local/go/bin)" >&2
  exit 1
fi

mkdir -p "$cache_root"
# One builder at a time; a second caller waits and then finds the cache filled.
exec 9>"$cache_root/.build.lock"
flock 9
if [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$out"
  exit 0
fi

echo "test/cluster/build.sh: building kube-apiserver $k8s_version and etcd $etcd_version into $out (first time only; takes minutes)" >&2
start=$(date +%s)
tmp="$(mktemp -d "$cache_root/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
(
  cd "$here"
  # GOTOOLCHAIN=local: use the installed Go, never download another toolchain.
  GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 nice -n 10 "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/" ./cmd/kube-apiserver ./cmd/etcd
)
echo "$stamp" > "$tmp/.stamp"
rm -rf "$out"
mv "$tmp" "$out"
chmod 755 "$out"
trap - EXIT
echo "test/cluster/build.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$out"
