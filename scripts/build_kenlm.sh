#!/usr/bin/env bash
# Build KenLM's training tools (lmplz, build_binary) from the kenlm sdist on PyPI into $1/bin.
# No Debian or PyPI package ships them. Needs cmake, a C++ compiler and Boost/Eigen headers;
# installs the Debian packages when missing and running as root, otherwise names them.
set -euo pipefail
PREFIX="$(cd "$1" && pwd)"
PIP="$PREFIX/bin/pip"
if [[ -x "$PREFIX/bin/lmplz" && -x "$PREFIX/bin/build_binary" ]]; then exit 0; fi

APT_PACKAGES=(cmake libboost-program-options-dev libboost-system-dev libboost-thread-dev
              libboost-test-dev libeigen3-dev zlib1g-dev libbz2-dev liblzma-dev)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing build dependencies of KenLM: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "KenLM's lmplz needs these Debian packages; install them and rerun: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PIP" download -q --no-deps --no-binary kenlm -d "$work" kenlm==0.3.0
tar -xzf "$work"/kenlm-*.tar.gz -C "$work"
src="$(find "$work" -maxdepth 1 -type d -name 'kenlm-*' | head -1)"
log="$work/build.log"
echo "building KenLM's lmplz and build_binary (about a minute)"
{ cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 &&
  make -C "$work/build" -j"$(nproc)" lmplz build_binary; } >"$log" 2>&1 || { tail -50 "$log" >&2; exit 1; }
install -m 0755 "$work/build/bin/lmplz" "$work/build/bin/build_binary" "$PREFIX/bin/"
echo "built lmplz and build_binary into $PREFIX/bin"
