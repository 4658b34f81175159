#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, test and demo segstream.
# Idempotent: skips apt/pip when everything is already there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

apt_pkgs=(
  pkg-config
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-libav
  mosquitto mosquitto-clients openssl
)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # mosquitto's Debian service is not wanted: tests start their own brokers.
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi

if ! python3 -m pip install --disable-pip-version-check -r "$here/requirements.txt" \
     --dry-run 2>/dev/null | grep -q "Would install"; then
  echo "install-deps: python packages present"
else
  echo "install-deps: pip install -r deploy/requirements.txt"
  python3 -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
fi
