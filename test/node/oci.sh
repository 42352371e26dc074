# Sourced, not run: the OCI image helpers the node's scripts share, from local files only (no
# registry and no docker daemon needed).
#   oci_image LAYOUT REF ROOTFS EXEC_CONFIG   writes LAYOUT as an OCI image layout: one layer (a
#                                             reproducible tar of ROOTFS), a config whose "config"
#                                             object is EXEC_CONFIG (Entrypoint/Cmd/Env/User JSON
#                                             members), a manifest, and index.json naming REF
#   oci_push REGISTRY LAYOUT                  pushes LAYOUT to the plain-HTTP registry at
#                                             REGISTRY (host:port) under the reference its
#                                             index.json names: blobs, then the manifest by tag
# test/node/images.sh keeps its own copy of oci_image's steps: it is part of build.sh's cache stamp,
# and editing it would make every worktree rebuild the node's Go programs.

oci_sha() { sha256sum "$1" | cut -d' ' -f1; }

oci_blob() { # layout file → moves the file into the layout's blobs, prints "digest size"
  local layout="$1" file="$2" d s
  d="$(oci_sha "$file")"; s="$(stat -c %s "$file")"
  mkdir -p "$layout/blobs/sha256"; mv "$file" "$layout/blobs/sha256/$d"
  echo "$d $s"
}

oci_image() { # layout ref rootfs exec-config-json-members
  local layout="$1" ref="$2" root="$3" exec_config="$4" work
  work="$(mktemp -d)"
  mkdir -p "$layout"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$work/layer.tar" .
  local diff_id; diff_id="$(oci_sha "$work/layer.tar")"
  gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
  rm -f "$work/layer.tar"
  local layer; layer="$(oci_blob "$layout" "$work/layer.tar.gz")"
  printf '{"architecture":"amd64","os":"linux","config":{%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$exec_config" "$diff_id" > "$work/config.json"
  local config; config="$(oci_blob "$layout" "$work/config.json")"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    ${config% *} ${config#* } ${layer% *} ${layer#* } > "$work/manifest.json"
  local manifest; manifest="$(oci_blob "$layout" "$work/manifest.json")"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    ${manifest% *} ${manifest#* } "$ref" > "$layout/index.json"
  rm -rf "$work"
}

oci_push() { # registry layout
  local registry="$1" layout="$2" ref repo tag manifest d loc
  ref="$(grep -o '"org.opencontainers.image.ref.name":"[^"]*"' "$layout/index.json" | cut -d'"' -f4)"
  repo="${ref#*/}"; repo="${repo%:*}"; tag="${ref##*:}"
  manifest="$(grep -o '"digest":"sha256:[0-9a-f]*"' "$layout/index.json" | cut -d: -f3 | tr -d '"')"
  for d in $(ls "$layout/blobs/sha256"); do
    [ "$d" = "$manifest" ] && continue
    loc="$(curl -fsS -X POST -D - -o /dev/null "http://$registry/v2/$repo/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')"
    case "$loc" in http*) ;; *) loc="http://$registry$loc";; esac
    case "$loc" in *\?*) loc="$loc&digest=sha256:$d";; *) loc="$loc?digest=sha256:$d";; esac
    curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$layout/blobs/sha256/$d" "$loc" > /dev/null
  done
  curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$layout/blobs/sha256/$manifest" "http://$registry/v2/$repo/manifests/$tag" > /dev/null
}
