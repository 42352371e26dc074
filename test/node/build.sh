#!/usr/bin/env bash
# Builds the test node's programs and images once per machine, cached by version outside the
# repository under ${NETPOL_CLUSTER_CACHE:-/var/cache/netpol}/node-<versions>/ (a later run only
# checks its stamp). Prints that directory on stdout; it holds:
#   kubelet kube-controller-manager kube-scheduler kube-proxy kubectl   k8s.io/kubernetes (k8s/go.mod)
#   kube-network-policies   sigs.k8s.io/kube-network-policies, patched (patches/, see the patch's header)
#   coredns registry        github.com/coredns/coredns, github.com/distribution/distribution/v3
#   pause tcpserver         images/cmd/*: what the pause and tcpserver images run
#   webserver               images/cmd/webserver: the "internet" namespace's HTTP and HTTPS servers
#   images/<name>/          OCI image layouts (images.sh) pushed to the node's registry by up.sh
# The API server and etcd come from test/cluster/build.sh (its own cache). containerd, runc and the
# CNI plugins are Debian's (scripts/setup.sh). A cold build takes many minutes on 2 cores; see
# /work/notes or the README for measured times.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

k8s_version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$here/k8s/go.mod")"
KNP=v0.8.0 COREDNS=v1.15.0 REGISTRY=v3.1.2
cache_root="${NETPOL_CLUSTER_CACHE:-/var/cache/netpol}"
out="$cache_root/node-k8s-$k8s_version-knp-$KNP-coredns-$COREDNS-registry-$REGISTRY"

# The stamp covers everything that decides the output; bump RECIPE when a command line below changes.
RECIPE=1
stamp="$( { echo "recipe=$RECIPE $KNP $COREDNS $REGISTRY"; cat "$here/build.sh" "$here/images.sh" "$here"/k8s/go.* "$here"/k8s/cmd/*/main.go \
  "$here"/images/go.mod "$here"/images/cmd/*/main.go "$here"/patches/*; dpkg-query -W busybox-static 2>/dev/null; } | sha256sum | cut -c1-16)"
fresh() { [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; }
if fresh; then echo "$out"; exit 0; fi

go="$(command -v go || true)"
[ -n "$go" ] || go=/usr/local/go/bin/go
if [ ! -x "$go" ]; then
  echo "test/node/build.sh: Go is needed (not found in PATH or /usr/local/go/bin)" >&2
  exit 1
fi
export GOTOOLCHAIN=local CGO_ENABLED=0  # the installed Go, never a downloaded toolchain; static binaries

mkdir -p "$cache_root"
exec 9>"$cache_root/.build-node.lock"   # one builder at a time; a second caller finds the cache filled
flock 9
if fresh; then echo "$out"; exit 0; fi

echo "test/node/build.sh: building the node's programs into $out (first time only; takes minutes)" >&2
start=$(date +%s)
tmp="$(mktemp -d "$cache_root/.build-node.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
build() { nice -n 10 "$go" build -trimpath "$@"; }

minor="${k8s_version#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
(cd "$here/k8s" && GOFLAGS="-mod=readonly -buildvcs=false" build -ldflags "$ldflags" -o "$tmp/" \
  ./cmd/kubelet ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kube-proxy ./cmd/kubectl)
echo "test/node/build.sh: Kubernetes $k8s_version built at +$(( $(date +%s) - start ))s" >&2

# kube-network-policies: its released source from the module proxy, patched, built in its own module.
src="$(cd "$tmp" && GOFLAGS=-mod=mod "$go" mod download -json "sigs.k8s.io/kube-network-policies@$KNP" | awk -F'"' '$2 == "Dir" { print $4 }')"
cp -r "$src" "$tmp/knp"; chmod -R u+w "$tmp/knp"
patch -s -d "$tmp/knp" -p1 < "$here/patches/kube-network-policies-$KNP.patch"
# -mod=mod: the patch imports client-go's clientcmd, whose dependencies the released go.sum lacks.
(cd "$tmp/knp" && GOFLAGS="-mod=mod -buildvcs=false" build -ldflags "-s -w" -o "$tmp/kube-network-policies" ./cmd)
rm -rf "$tmp/knp"
echo "test/node/build.sh: kube-network-policies $KNP built at +$(( $(date +%s) - start ))s" >&2

# CoreDNS and the registry as released (their go.mod files have no replace directives).
(cd "$tmp" && GOBIN="$tmp" GOFLAGS=-buildvcs=false nice -n 10 "$go" install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS")
(cd "$tmp" && GOBIN="$tmp" GOFLAGS=-buildvcs=false nice -n 10 "$go" install -trimpath -ldflags "-s -w" "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY")
(cd "$here/images" && GOFLAGS="-mod=readonly -buildvcs=false" build -ldflags "-s -w" -o "$tmp/" ./cmd/pause ./cmd/tcpserver ./cmd/webserver)
echo "test/node/build.sh: CoreDNS, registry, pause, tcpserver, webserver built at +$(( $(date +%s) - start ))s" >&2

bash "$here/images.sh" "$tmp" "$tmp/images"

echo "$stamp" > "$tmp/.stamp"
rm -rf "$out"
mv "$tmp" "$out"
chmod 755 "$out"
trap - EXIT
echo "test/node/build.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$out"
