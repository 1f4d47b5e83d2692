#!/usr/bin/env bash
# One-time, idempotent set-up on a fresh Debian machine: native libraries, then a Release build.
#   - ONNX Runtime 1.30 (libonnxruntime.so.1) from the npm package onnxruntime-node@1.30.0, into .native/
#     (taken with `npm pack`; the package's postinstall, which downloads CUDA pieces, never runs)
#   - no image codec libraries: the imaging code decodes through SkiaSharp, whose NuGet package
#     (SkiaSharp.NativeAssets.Linux.NoDependencies) brings its own native library with the codecs built in
#   - Debian's chromium, which the chat page's browser test drives through Microsoft.Playwright (restored by NuGet;
#     Playwright is pointed at /usr/bin/chromium, so it downloads no browser)
# Re-running it does nothing that is already done, except the (incremental) build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ORT_VERSION=1.30.0
ORT_LIB="$root/.native/libonnxruntime.so.1"
case "$(uname -m)" in
  x86_64) ORT_ARCH=x64 ;;
  aarch64 | arm64) ORT_ARCH=arm64 ;;
  *) printf '[setup] no ONNX Runtime build in onnxruntime-node for %s\n' "$(uname -m)" >&2; exit 1 ;;
esac

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

# 2. ONNX Runtime native library from the npm package (npm pack, no install scripts).
if [ ! -s "$ORT_LIB" ]; then
  need npm "install Node.js/npm (Debian: apt-get install npm); it fetches the ONNX Runtime package"
  log "fetching onnxruntime-node@$ORT_VERSION with npm pack (about 113 MB)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
  tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" package/bin/napi-v6/linux/$ORT_ARCH/libonnxruntime.so.1
  mkdir -p "$root/.native"
  mv "$tmp/package/bin/napi-v6/linux/$ORT_ARCH/libonnxruntime.so.1" "$ORT_LIB.partial"
  mv "$ORT_LIB.partial" "$ORT_LIB"
  log "ONNX Runtime library at $ORT_LIB"
fi

# 3. Build (Release). Restores from the configured NuGet source.
log "building"
dotnet build "$root/InternVit.SK.sln" -c Release -nologo -clp:ErrorsOnly -v:quiet
log "ready: ./internvl --help"
