#!/usr/bin/env bash
# Create the reference installations that bench/ compares heitu with (gitignored: bench/.anchors/).
#
#   bench/.anchors/datatrove   datatrove 0.10.1 with spaCy (English/Chinese word tokenisation goes
#                              through spaCy's blank pipelines: nothing is downloaded) and jieba.
#
# Usage: bash bench/setup_anchors.sh
#   PYTHON=python3.11          interpreter for the venv (default: python3)
#   DATATROVE_VENV=/some/venv  reuse an existing venv that already has datatrove (symlinked)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ANCHORS="$HERE/.anchors"
DEST="$ANCHORS/datatrove"
PY="${PYTHON:-python3}"
VERSION="${DATATROVE_VERSION:-0.10.1}"
mkdir -p "$ANCHORS"

ok() { [ -x "$1/bin/python" ] && "$1/bin/python" -c "import datatrove, spacy; spacy.blank('en')" >/dev/null 2>&1; }

if ok "$DEST"; then
  echo "datatrove anchor ready: $DEST"; exit 0
fi
if [ -n "${DATATROVE_VENV:-}" ]; then
  ok "$DATATROVE_VENV" || { echo "DATATROVE_VENV=$DATATROVE_VENV has no working datatrove" >&2; exit 1; }
  rm -rf "$DEST"; ln -s "$DATATROVE_VENV" "$DEST"
  echo "datatrove anchor: $DEST -> $DATATROVE_VENV"; exit 0
fi

rm -rf "$DEST"
"$PY" -m venv "$DEST"
"$DEST/bin/python" -m pip install --quiet --upgrade pip
"$DEST/bin/python" -m pip install --quiet "datatrove[processing,io]==$VERSION" spacy jieba psutil
ok "$DEST" || { echo "datatrove anchor install failed" >&2; exit 1; }
echo "datatrove anchor ready: $DEST ($("$DEST/bin/python" -c 'import importlib.metadata as m; print(m.version("datatrove"))'))"
