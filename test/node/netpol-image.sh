#!/usr/bin/env bash
# Builds netpol's own container image as an OCI image layout, from this machine's files only (no
# registry, no docker daemon): the image the test node runs as the netpol-agent DaemonSet. Usage:
#   test/node/netpol-image.sh OUT_DIR     (run `npm run build` and `make -C bpf` first)
# OUT_DIR becomes the layout of docker.io/netpol/netpol:v<package.json version>; push it to a test
# node with test/node/push-image.sh. The root filesystem holds only what the agent runs:
#   /usr/bin/node and the shared libraries ldd names for it, libbpf.so.1 and its own (libelf, libz),
#     koffi's native module's (libstdc++), with an ld.so.cache made for this root by ldconfig -r
#   /app: package.json, dist/ (no source maps), bpf/*.o, and the production node_modules (the
#     paths of `npm ls --omit=dev --parseable`, copied as installed: nothing is fetched; without
#     type declarations, sources, source maps and READMEs)
#   /etc/passwd, /etc/group naming root and nobody; an empty /tmp
# Entrypoint: node /app/dist/cli/main.js agent (which runs dist/bundle/agent.js). The Dockerfile at the repository's root builds the
# same image for users, from an official Node base.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
[ $# -eq 1 ] || { echo "usage: test/node/netpol-image.sh OUT_DIR" >&2; exit 2; }
out="$(realpath -m "$1")"
fail() { echo "test/node/netpol-image.sh: $*" >&2; exit 1; }
[ -f "$repo/dist/cli/main.js" ] || fail "$repo/dist/cli/main.js is missing: run npm run build first"
# `netpol agent` runs from its bundle (scripts/bundle-agent.mjs, part of npm run build).
[ -f "$repo/dist/bundle/agent.js" ] || fail "$repo/dist/bundle/agent.js is missing: run npm run build first"
ls "$repo"/bpf/*.bpf.o > /dev/null 2>&1 || fail "no BPF object in $repo/bpf: run make -C bpf first"
. "$here/oci.sh"

version="$(node -p 'require(process.argv[1]).version' "$repo/package.json")"
ref="docker.io/netpol/netpol:v$version"
node_bin="$(readlink -f "$(command -v node)")"
libbpf="$(ldconfig -p | awk '$1 == "libbpf.so.1" && /x86-64/ { print $NF; exit }')"
[ -n "$libbpf" ] || fail "libbpf.so.1 not found (apt-get install libbpf1)"
koffi_native="$(find "$repo/node_modules/@koromix" -path '*linux_x64/koffi.node' | head -n1)"
[ -n "$koffi_native" ] || fail "koffi's linux_x64 native module is not installed under node_modules/@koromix"

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root/usr/bin" "$root/usr/lib/x86_64-linux-gnu" "$root/usr/lib64" "$root/etc" "$root/app" "$root/tmp"
chmod 1777 "$root/tmp"   # node's os.tmpdir(); read-only under the DaemonSet, like the rest of the root
ln -s usr/bin "$root/bin"; ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"   # Debian's merged /usr
cp "$node_bin" "$root/usr/bin/node"

# Shared libraries: what ldd names for node, libbpf and koffi's native module, each copied (links
# resolved) to the path ldd names, under /usr since /lib is a link to usr/lib in the image.
for lib in $(ldd "$node_bin" "$libbpf" "$koffi_native" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u) "$libbpf"; do
  dest="$root/usr${lib#/usr}"
  mkdir -p "$(dirname "$dest")"
  cp -L "$lib" "$dest"
done
printf '/usr/lib/x86_64-linux-gnu\n' > "$root/etc/ld.so.conf"
ldconfig -r "$root"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"

# The application: the built JavaScript (no source maps), the BPF objects, production dependencies.
cp "$repo/package.json" "$root/app/"
(cd "$repo" && find dist -name '*.js' -print0 | tar --null -T - -cf -) | tar -C "$root/app" -xf -
mkdir -p "$root/app/bpf"; cp "$repo"/bpf/*.bpf.o "$root/app/bpf/"
# `npm ls --parseable` lists every production package's directory; a package nested inside one
# already copied came with it.
copied=""
while read -r path; do
  rel="${path#"$repo"/}"
  [ "$rel" = "$path" ] || [ "$rel" = "$repo" ] && continue
  skip=0
  for c in $copied; do case "$rel/" in "$c"/*) skip=1; break;; esac; done
  [ $skip -eq 1 ] && continue
  mkdir -p "$root/app/$(dirname "$rel")"
  cp -a "$repo/$rel" "$root/app/$rel"
  copied="$copied $rel"
done < <(cd "$repo" && npm ls --omit=dev --all --parseable 2>/dev/null | sort)
# koffi ships a musl build beside glibc's; this image is glibc. Type declarations, TypeScript
# sources, source maps and READMEs are never loaded at run time (half of node_modules' bytes:
# @kubernetes/client-node's generated API); licence files stay.
rm -rf "$root/app/node_modules/@koromix/koffi-linux-x64/musl_x64"
find "$root/app/node_modules" -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' -o -name '*.md' \) \
  ! -iname 'licen[cs]e*' -delete

rm -rf "$out"
oci_image "$out" "$ref" "$root" \
  '"User":"0","WorkingDir":"/app","Env":["PATH=/usr/bin","NODE_ENV=production"],"Entrypoint":["/usr/bin/node","/app/dist/cli/main.js"],"Cmd":["agent"]'
echo "$ref"
