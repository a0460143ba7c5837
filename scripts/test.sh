#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs the system libraries the tests use
# (Mesa's lavapipe gives wgpu a software GPU; fontconfig/EGL for the GUI tests), then
# `cargo test`. Safe to run again: installed packages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libfontconfig1
          libxkbcommon-x11-0 libx11-xcb1 libxcursor1 libxrandr2 libxi6)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Mesa complains without a private runtime dir.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
  export XDG_RUNTIME_DIR="$(mktemp -d)"
  chmod 700 "$XDG_RUNTIME_DIR"
fi

# Kernel autotuning on a software GPU costs minutes and tunes nothing worth keeping.
export CUBECL_AUTOTUNE_LEVEL="${CUBECL_AUTOTUNE_LEVEL:-minimal}"

exec cargo test --locked "$@"
