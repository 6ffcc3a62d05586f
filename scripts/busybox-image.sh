#!/usr/bin/env bash
# Builds a busybox image offline from Debian's busybox-static, as a docker-archive tar
# (`docker load` / `berth load`) and an oci-archive tar, tagged busybox:latest.
# Usage: scripts/busybox-image.sh OUTDIR   -> OUTDIR/busybox-docker.tar, OUTDIR/busybox-oci.tar
set -euo pipefail
out=${1:?usage: $0 OUTDIR}
mkdir -p "$out"
[ -f "$out/busybox-docker.tar" ] && [ -f "$out/busybox-oci.tar" ] && exit 0
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,etc,root,home,var,run}
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$rootfs/etc/group"

umoci init --layout "$work/oci"
umoci new --image "$work/oci:latest"
umoci unpack --rootless=false --image "$work/oci:latest" "$work/bundle" >/dev/null
cp -a "$rootfs/." "$work/bundle/rootfs/"
umoci repack --image "$work/oci:latest" "$work/bundle"
umoci config --image "$work/oci:latest" --config.cmd=sh --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --architecture=amd64 --os=linux
umoci gc --layout "$work/oci"
skopeo copy -q "oci:$work/oci:latest" "docker-archive:$out/busybox-docker.tar:busybox:latest"
skopeo copy -q "oci:$work/oci:latest" "oci-archive:$out/busybox-oci.tar:busybox:latest"
