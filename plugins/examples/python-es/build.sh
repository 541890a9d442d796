#!/bin/sh
# Builds py-es.wasm from app.py with the SDK and contract of this repository.
# Needs componentize-py 0.25.x (pip install 'componentize-py==0.25.*').
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
api="$here/../../../plugin-api"
out="${1:-$here/py-es.wasm}"
componentize-py -d "$api/wit" -w hpo-plugin componentize app -p "$here" -p "$api/python" -o "$out"
