#!/usr/bin/env bash
# Runs the bundled leaky program under leaktrace and shows the report.
# Installs what it needs itself: a C compiler from Debian's packages if there is
# none, and a venv in .venv/demo with leaktrace built from here.
set -eu
cd "$(dirname "$0")/.."
if ! command -v gcc >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
    echo "== installing gcc with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null
fi
python=${PYTHON:-python3}
venv=.venv/demo
if [ ! -x "$venv/bin/python" ]; then
    echo "== setting up $venv (one time)"
    "$python" -m venv "$venv"
fi
# Built from this checkout each time, so the demo shows the code as it is now.
rm -rf build/lib.* build/bdist.*
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps .
echo "== $venv/bin/leaktrace run -f -o leaky_app.ltc examples/leaky_app.py"
"$venv/bin/leaktrace" run -f -o leaky_app.ltc examples/leaky_app.py
echo
echo "== the same capture as JSON for CI: $venv/bin/leaktrace report leaky_app.ltc --format json"
"$venv/bin/leaktrace" report leaky_app.ltc --format json | head -n 24
echo "   ..."
