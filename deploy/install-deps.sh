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
  gstreamer1.0-plugins-ugly                # x264enc: the CLI's first choice for --output *.mp4
  gir1.2-gst-rtsp-server-1.0 python3-gi    # the RTSP server the reconnect tests start (tests/support/rtsp_server.py)
  mosquitto mosquitto-clients openssl
  python3-venv g++
  gcc-aarch64-linux-gnu                    # C cross compiler for ring's build script in `make check-aarch64`
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

# The aarch64 (Jetson) type check of the workspace needs the target's standard library.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "install-deps: rustup target add aarch64-unknown-linux-gnu"
  rustup target add aarch64-unknown-linux-gnu
fi

# Python: a project virtual environment made from deploy/requirements.txt alone, so nothing
# installed on the host by hand can stand in for a missing requirement. Recreated from scratch
# when the requirements file changes (its hash is kept inside the venv).
venv="${SEGSTREAM_VENV:-$(dirname "$here")/.venv}"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
have="$(cat "$venv/requirements.sha256" 2>/dev/null || true)"
if [ "$want" = "$have" ] && [ -x "$venv/bin/python" ]; then
  echo "install-deps: venv $venv is current"
else
  echo "install-deps: creating venv $venv from deploy/requirements.txt"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$venv/requirements.sha256"
fi

# Real test media any fresh machine can get by package name: vtest.avi (768x576 MS-MPEG4v3,
# pedestrians) from Debian's opencv-doc. Only that file is kept (the package is ~96 MB of
# documentation, and Debian container images exclude /usr/share/doc from installs).
# Tests find it in $SEGSTREAM_MEDIA_DIR (default ~/.cache/segstream/media).
media="${SEGSTREAM_MEDIA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/segstream/media}"
if [ -s "$media/vtest.avi" ]; then
  echo "install-deps: $media/vtest.avi is present"
else
  echo "install-deps: fetching vtest.avi (Debian opencv-doc) into $media"
  scratch="$(mktemp -d)"
  (cd "$scratch" && apt-get download -qq opencv-doc 2>/dev/null && dpkg-deb --fsys-tarfile opencv-doc_*.deb \
    | tar -x ./usr/share/doc/opencv-doc/examples/data/vtest.avi)
  mkdir -p "$media"
  mv "$scratch/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$media/vtest.avi"
  rm -rf "$scratch"
fi
