#!/usr/bin/env bash
# Runs the whole test suite on every CPython 3.10-3.13 on this machine, then once
# more with the C engine built under AddressSanitizer and UndefinedBehaviorSanitizer.
# Installs what it needs itself: one venv per version under .venv/, the package
# built with -Werror, pytest from PyPI, and Debian's valgrind if it is missing.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -k pattern      extra arguments go to pytest
#   LEAKTRACE_PYTHONS="3.12" scripts/test.sh     only these versions
#   LEAKTRACE_NO_SANITIZE=1 scripts/test.sh      skip the sanitizer run
#   LEAKTRACE_FUZZ_SECONDS=600 scripts/test.sh   fuzz the reader longer (default 60)
#   LEAKTRACE_NO_FUZZ=1 scripts/test.sh          skip fuzzing
#   LEAKTRACE_NO_LINT=1 scripts/test.sh          skip ruff, mypy and clang-format
#   LEAKTRACE_JOBS=1 scripts/test.sh             one pytest worker (default 2)
#
# The C unit tests (pure C) run plain and under valgrind in the first pass only.
# The last line counts every test of every run: "total: N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
reports="$root/.venv/reports"
rm -rf "$reports"
mkdir -p "$reports"

need_apt=()
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
command -v addr2line >/dev/null 2>&1 || need_apt+=(binutils)  # names of native frames
if [ -z "${LEAKTRACE_NO_FUZZ:-}" ] && ! command -v clang >/dev/null 2>&1; then
    need_apt+=(clang libclang-rt-dev)  # libFuzzer, for the reader's fuzz target
fi
if [ -z "${LEAKTRACE_NO_LINT:-}" ] && ! command -v clang-format >/dev/null 2>&1; then
    need_apt+=(clang-format)  # the C style check (.clang-format)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "== installing ${need_apt[*]} with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}") >/dev/null ||
        echo "warning: could not install ${need_apt[*]}"
fi

# The report tests need the real pprof, built offline from Debian's Go source of it, and
# a browser: Debian's chromium, driven by Playwright (from PyPI, in the test extra).
need_apt=()
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/github.com/google/pprof ] || need_apt+=(golang-github-google-pprof-dev)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "== installing ${need_apt[*]} with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}") >/dev/null ||
        echo "warning: could not install ${need_apt[*]}"
fi
export LEAKTRACE_PPROF="$root/.venv/tools/pprof"
if [ ! -x "$LEAKTRACE_PPROF" ]; then
    echo "== building pprof from golang-github-google-pprof-dev"
    mkdir -p "$root/.venv/tools"
    GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$root/.venv/tools/go-cache" \
        go build -o "$LEAKTRACE_PPROF" github.com/google/pprof ||
        echo "warning: could not build pprof"
fi
export LEAKTRACE_CHROMIUM=/usr/bin/chromium

find_python() {  # prints the path of CPython $1 (e.g. 3.12), or nothing
    local v=$1 candidate
    for candidate in "$(command -v "python$v" 2>/dev/null)" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] &&
            "$candidate" -c 'import sys, sysconfig; assert sys.implementation.name == "cpython"; assert sysconfig.get_paths()["include"]' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
}

versions=${LEAKTRACE_PYTHONS:-"3.10 3.11 3.12 3.13"}
runs=()
failed_setup=0
for v in $versions; do
    py=$(find_python "$v")
    if [ -z "$py" ]; then
        echo "== Python $v: not on this machine, skipped"
        continue
    fi
    runs+=("$v:$py")
done
if [ ${#runs[@]} -eq 0 ]; then
    echo "no CPython 3.10-3.13 found" >&2
    echo "total: 0 passed, 1 failed"
    exit 1
fi

setup_venv() {  # venv-dir python [env assignments for the build...]
    local venv=$1 py=$2
    shift 2
    if [ ! -x "$venv/bin/python" ]; then
        "$py" -m venv "$venv" || return 1
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1
    # setuptools builds in build/lib.* and never deletes from it: a module that was moved
    # or removed would still be installed from there.
    rm -rf "$root"/build/lib.* "$root"/build/bdist.*
    env "$@" "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        --force-reinstall --no-deps "$root" || return 1
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$root[test]" || return 1
}

run_pytest() {  # label venv-dir [env assignments...] -- pytest args
    local label=$1 venv=$2
    shift 2
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    echo "== $label: pytest"
    # Two workers (pytest-xdist, in the test extra): the tests are processes of their own
    # and wait on them, so two run well side by side on CI's two cores.
    (cd "$root" && env "${envs[@]}" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        -n "${LEAKTRACE_JOBS:-2}" --junitxml="$reports/$label.xml" "$@")
}

status=0
c_units_done=LEAKTRACE_WERROR=1  # a no-op assignment until the first pass ran the C units
for run in "${runs[@]}"; do
    v=${run%%:*}
    py=${run#*:}
    venv="$root/.venv/py$v"
    echo "== Python $v ($py): building with -Werror"
    if ! setup_venv "$venv" "$py" LEAKTRACE_WERROR=1; then
        echo "== Python $v: build or install FAILED"
        failed_setup=$((failed_setup + 1))
        status=1
        continue
    fi
    run_pytest "py$v" "$venv" LEAKTRACE_WERROR=1 $c_units_done -- "$@" || status=1
    c_units_done=LEAKTRACE_C_UNITS_DONE=1  # pure C: once is enough (tests/c/test_c_units.py)
done

run_check() {  # name command...: one static check, counted as one test in the totals
    local name=$1 log="$reports/$1.log" failures=0
    shift
    echo "== $name"
    if ! (cd "$root" && "$@") >"$log" 2>&1; then
        failures=1
        tail -n 40 "$log"
        status=1
    fi
    printf '<testsuite name="%s" tests="1" failures="%s" errors="0" skipped="0"/>\n' \
        "$name" "$failures" >"$reports/$name.xml"
}

if [ -z "${LEAKTRACE_NO_LINT:-}" ]; then
    # ruff and mypy (the dev extra, config in pyproject.toml), once, with the first version's venv.
    first=${runs[0]}
    venv="$root/.venv/py${first%%:*}"
    if "$venv/bin/python" -m pip install -q --disable-pip-version-check "$root[dev]"; then
        run_check ruff-check "$venv/bin/ruff" check src tests bench
        run_check ruff-format "$venv/bin/ruff" format --check src tests bench
        run_check mypy "$venv/bin/mypy"
        run_check clang-format make --no-print-directory -C tests/c format-check
    else
        echo "== could not install the dev extra (ruff, mypy)"
        failed_setup=$((failed_setup + 1))
        status=1
    fi
fi

if [ -z "${LEAKTRACE_NO_SANITIZE:-}" ]; then
    # One more run with ASan and UBSan in the C engine, on the newest version here.
    last=${runs[${#runs[@]}-1]}
    v=${last%%:*}
    py=${last#*:}
    venv="$root/.venv/asan$v"
    libasan=$(gcc -print-file-name=libasan.so)
    echo "== Python $v: building with AddressSanitizer and UndefinedBehaviorSanitizer"
    if setup_venv "$venv" "$py" LEAKTRACE_WERROR=1 LEAKTRACE_SANITIZE=address,undefined; then
        # CPython itself is not instrumented: preload the runtime, and leave leak
        # checking off (the interpreter keeps memory until exit on purpose).
        run_pytest "asan$v" "$venv" LD_PRELOAD="$libasan" LEAKTRACE_SANITIZE=address,undefined \
            LEAKTRACE_C_UNITS_DONE=1 \
            ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 -- "$@" || status=1
    else
        echo "== sanitizer build FAILED"
        failed_setup=$((failed_setup + 1))
        status=1
    fi
fi

if [ -z "${LEAKTRACE_NO_FUZZ:-}" ]; then
    # The capture reader fuzzed with libFuzzer (ASan+UBSan) for a bounded time, after
    # replaying every input that once crashed it, from real captures of the newest
    # version's run. Counted as one test in the totals.
    last=${runs[${#runs[@]}-1]}
    v=${last%%:*}
    seeds="$root/.venv/fuzz-seeds"
    rm -rf "$seeds"
    mkdir -p "$seeds"
    for program in "$root"/tests/programs/*.py; do
        name=$(basename "$program" .py)
        "$root/.venv/py$v/bin/python" -m leaktrace run -q -o "$seeds/$name.ltc" "$program" \
            >/dev/null 2>&1 || echo "warning: no seed capture from $name"
    done
    fuzz_seconds=${LEAKTRACE_FUZZ_SECONDS:-60}
    echo "== fuzzing the capture reader for $fuzz_seconds s"
    fuzz_log="$reports/fuzz.log"
    if env -u LD_PRELOAD make --no-print-directory -C "$root/tests/c" fuzz \
        FUZZ_SECONDS="$fuzz_seconds" FUZZ_SEEDS="$seeds" >"$fuzz_log" 2>&1; then
        fuzz_failures=0
    else
        fuzz_failures=1
        tail -n 40 "$fuzz_log"
        status=1
    fi
    grep -E '^Done [0-9]+ runs' "$fuzz_log" || echo "   (the fuzzer did not run: see $fuzz_log)"
    printf '<testsuite name="fuzz" tests="1" failures="%s" errors="0" skipped="0"/>\n' \
        "$fuzz_failures" >"$reports/fuzz.xml"
fi

python3 - "$reports" "$failed_setup" <<'EOF'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.xml")):
    for suite in ET.parse(path).getroot().iter("testsuite"):
        tests, fails = int(suite.get("tests", 0)), int(suite.get("failures", 0))
        errors, skips = int(suite.get("errors", 0)), int(suite.get("skipped", 0))
        print(f"   {path.rsplit('/', 1)[-1][:-4]:>10}: {tests - fails - errors - skips} passed,"
              f" {fails + errors} failed, {skips} skipped")
        passed += tests - fails - errors - skips
        failed += fails + errors
        skipped += skips
failed += int(sys.argv[2])
print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
EOF
exit $status
