#!/usr/bin/env bash
# Makes sure `nats-server` (Debian package) is on the machine for the NATS JetStream bus tests.
# Installs it with apt-get when missing; does nothing when it is already there.
set -euo pipefail

if command -v nats-server >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  echo "ensure-nats: nats-server is missing and this user cannot run apt-get" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "ensure-nats: installing nats-server with apt-get" >&2
# A fresh machine may have no package lists yet: update first when the package is unknown.
if ! apt-cache show nats-server >/dev/null 2>&1; then
  "${SUDO[@]}" apt-get update -qq
fi
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends nats-server >/dev/null; then
  # Stale lists can name a version the mirror no longer has: refresh and try once more.
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends nats-server >/dev/null
fi
command -v nats-server >/dev/null 2>&1 || {
  echo "ensure-nats: nats-server is still not on PATH after apt-get install" >&2
  exit 1
}
echo "ensure-nats: $(nats-server --version)" >&2
