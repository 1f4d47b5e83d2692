#!/usr/bin/env bash
# One-time, idempotent set-up on a fresh Debian machine: the one system package the tests need, then a Release build.
#   - no ONNX Runtime or image codec libraries: Microsoft.ML.OnnxRuntime and SkiaSharp
#     (SkiaSharp.NativeAssets.Linux.NoDependencies) bring their native libraries as NuGet packages
#   - Debian's chromium, which the chat page's browser test drives through Microsoft.Playwright (restored by NuGet;
#     Playwright is pointed at /usr/bin/chromium, so it downloads no browser)
# Re-running it does nothing that is already done, except the (incremental) build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '[setup] %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null || { log "$1 is required: $2"; exit 1; }; }
need dotnet "install the .NET 10 SDK"

# 1. Debian packages (only when something is missing).
apt_packages=(chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Build (Release). Restores from the configured NuGet source.
log "building"
dotnet build "$root/InternVit.SK.sln" -c Release -nologo -clp:ErrorsOnly -v:quiet
log "ready: ./internvl --help"
