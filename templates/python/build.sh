#!/bin/sh
# Builds {{name}}.wasm, a sandboxed WebAssembly component, from app.py and the vendored
# hpo_plugin package, against the plugin contract in wit/. Needs componentize-py 0.25.x:
#   pip install 'componentize-py==0.25.*'
set -eu
cd "$(dirname "$0")"
componentize-py -d wit -w hpo-plugin componentize app -p . -o {{name}}.wasm
echo "built {{name}}.wasm; install it with: hpo plugin install {{name}}.wasm"
