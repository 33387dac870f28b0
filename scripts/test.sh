#!/usr/bin/env bash
# Runs every test: installs missing packages, builds quail (plain and
# ASan+UBSan), builds the cached test guest, runs all meson test suites in both
# builds (the ASan build runs the 'unit' and 'guest' suites; a clang build runs
# the bounded libFuzzer targets of the 'fuzz' suite), and ends with
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
scripts/build.sh --asan || { echo "0 passed, 1 failed"; exit 1; }
if [ -x guest/build.sh ]; then
    guest/build.sh >/dev/null || { echo "guest build failed"; echo "0 passed, 1 failed"; exit 1; }
fi
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1
status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=1
meson test -C build-asan --print-errorlogs --num-processes 2 --suite unit --suite guest || status=1
meson test -C build-fuzz --print-errorlogs --num-processes 2 --suite fuzz || status=1
python3 scripts/summarize.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
    build-fuzz/meson-logs/testlog.json
exit $status
