#!/usr/bin/env bash
# Build the agentvisor base image without a container registry.
#
#   usage: build-offline.sh [IMAGE]        (default IMAGE: agentvisor/base:latest)
#
# Produces the equivalent of images/base/Dockerfile: Debian bookworm (minbase)
# + git + ca-certificates + the host's node binary, user agent 1000:1000 with
# HOME /home/agent, WORKDIR /workspace, USER 1000:1000,
# LABEL org.agentvisor.image=base.
#
# Needs root (debootstrap, chroot, preserving file ownership), the docker CLI
# and a Debian mirror reachable over apt (read from
# /etc/apt/sources.list.d/debian.sources, first "URIs:" line).
#
# Caching: the debootstrapped rootfs — already cleaned and with the agent user
# and /workspace — is cached WITHOUT node at
#   ${AGENTVISOR_HOME:-$HOME/.agentvisor}/cache/base-rootfs-bookworm.tar
# A later build (e.g. after `docker rmi`) extracts that tarball into a temp
# dir instead of running debootstrap, then copies in the host's *current* node
# binary, so upgrading node on the host is picked up without a new debootstrap.
# Delete the tarball or set AGENTVISOR_BASE_REBUILD=1 to force a fresh
# debootstrap. AGENTVISOR_DEBIAN_MIRROR overrides the mirror.
set -euo pipefail

IMAGE="${1:-agentvisor/base:latest}"
SUITE=bookworm
CACHE_DIR="${AGENTVISOR_HOME:-$HOME/.agentvisor}/cache"
CACHE_TAR="$CACHE_DIR/base-rootfs-$SUITE.tar"
IMAGE_PATH='/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin'

log() { printf '[build-offline] %s\n' "$*"; }
die() { printf '[build-offline] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot and file ownership need it)"
command -v docker >/dev/null 2>&1 || die "docker CLI not found on PATH"
NODE_BIN="$(command -v node || true)"
[ -n "$NODE_BIN" ] || die "no node binary on PATH to copy into the image"
NODE_BIN="$(readlink -f "$NODE_BIN")"

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/agentvisor-base.XXXXXX")"
# A subdirectory, not $WORK itself: mktemp makes $WORK mode 0700, and the mode
# of the rootfs top directory becomes the mode of "/" in the image.
ROOTFS="$WORK/rootfs"

cleanup() {
  # debootstrap can leave proc/sys mounted in the target when it dies midway:
  # unmount anything below $WORK first, and never let rm cross filesystems.
  local m
  for m in $(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$WORK"
}

# Long steps run through `run`: in the background, in their own process group, with this
# shell waiting for them. Bash defers traps while a foreground child runs, so without this a
# TERM would only take effect once debootstrap had finished; this way the trap fires at once
# and stops the whole group (debootstrap's dpkg, tar | docker import).
CHILD=
run() {
  setsid -w "$@" &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=
  return "$rc"
}
on_signal() {
  if [ -n "$CHILD" ]; then
    kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

mirror_from_sources() {
  local f=/etc/apt/sources.list.d/debian.sources
  [ -r "$f" ] && awk '/^URIs:/ { print $2; exit }' "$f"
}

build_rootfs() {
  local mirror="${AGENTVISOR_DEBIAN_MIRROR:-$(mirror_from_sources || true)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    run apt-get update
    DEBIAN_FRONTEND=noninteractive run apt-get install -y --no-install-recommends debootstrap
  fi
  log "debootstrap $SUITE from $mirror"
  mkdir -m 0755 "$ROOTFS"
  run debootstrap --variant=minbase --include=git,ca-certificates "$SUITE" "$ROOTFS" "$mirror"
  rm -f "$ROOTFS"/var/cache/apt/archives/*.deb
  rm -rf "$ROOTFS"/var/lib/apt/lists/*

  log "adding user agent (1000:1000) and /workspace"
  chroot "$ROOTFS" groupadd --gid 1000 agent
  chroot "$ROOTFS" useradd --uid 1000 --gid 1000 --create-home --home-dir /home/agent \
    --shell /bin/bash agent
  chown 1000:1000 "$ROOTFS/home/agent"
  install -d -o 1000 -g 1000 -m 0755 "$ROOTFS/workspace"

  log "caching rootfs (without node) at $CACHE_TAR"
  run tar -C "$ROOTFS" --numeric-owner -cf "$CACHE_TAR.tmp.$$" .
  mv -f "$CACHE_TAR.tmp.$$" "$CACHE_TAR"
}

mkdir -p "$CACHE_DIR"
# Serialise concurrent builds (e.g. parallel test workers) on this cache.
exec 9>"$CACHE_DIR/.base-rootfs-$SUITE.lock"
flock 9

if [ -s "$CACHE_TAR" ] && [ "${AGENTVISOR_BASE_REBUILD:-0}" != 1 ]; then
  log "using cached rootfs $CACHE_TAR (skipping debootstrap)"
  mkdir -m 0755 "$ROOTFS"
  run tar -C "$ROOTFS" --numeric-owner -xpf "$CACHE_TAR"
else
  build_rootfs
fi
chmod 0755 "$ROOTFS"

log "copying node from $NODE_BIN"
install -D -m 0755 "$NODE_BIN" "$ROOTFS/usr/local/bin/node"
if ! node_version="$(chroot "$ROOTFS" /usr/local/bin/node --version 2>&1)"; then
  die "the host's node ($NODE_BIN) does not run inside the $SUITE rootfs (missing shared libraries?): $node_version"
fi
log "node $node_version runs inside the rootfs"

log "importing rootfs as $IMAGE"
import_args=(
  -c "ENV PATH=$IMAGE_PATH"
  -c 'ENV HOME=/home/agent'
  -c 'WORKDIR /workspace'
  -c 'USER 1000:1000'
  -c 'LABEL org.agentvisor.image=base'
  -c 'CMD ["/bin/bash"]'
  -m "agentvisor base image (offline build, $SUITE + node $node_version)"
)
# i.e. tar -C "$ROOTFS" -c . | docker import "${import_args[@]}" - "$IMAGE", as one process group
run bash -o pipefail -c 'rootfs=$1 image=$2; shift 2
  tar -C "$rootfs" --numeric-owner -c . | docker import "$@" - "$image"' \
  import "$ROOTFS" "$IMAGE" "${import_args[@]}"
log "built $IMAGE in ${SECONDS}s"
