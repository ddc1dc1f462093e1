#!/usr/bin/env bash
# Installs the Debian packages the local stack and the book's checks need, only where missing:
#   rabbitmq-server (the broker; started as private nodes by lib/streamlab/stack, never as a service),
#   chromium (headless checks of the built HTML), graphviz (the component diagram),
#   podman + runc + catatonit + netavark + aardvark-dns (STACK=podman: the compose files in real
#   containers; runc because crun fails here, catatonit for --init, aardvark-dns so containers find
#   each other by name) and debootstrap (`make images` builds the base image with it),
#   iptables and iproute2 (chapter 06 cuts a Kafka broker off from its peers on loopback; `ss` finds
#   the broker's connections; a minimal Debian image has neither).
# Idempotent and quiet when everything is there.
set -euo pipefail

wanted=(rabbitmq-server mosquitto chromium graphviz podman runc catatonit netavark aardvark-dns debootstrap iptables iproute2)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "error: Debian packages missing (${missing[*]}): run as root or install them with apt-get" >&2
    exit 2
  fi
else SUDO=""; fi

echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The package's own service must not start: our nodes use private ports and data dirs.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && created_policy=1
fi
trap '[ $created_policy -eq 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq >/dev/null || { echo "error: apt-get update failed: is the Debian mirror reachable?" >&2; exit 2; }
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { echo "error: apt-get install ${missing[*]} failed" >&2; exit 2; }
