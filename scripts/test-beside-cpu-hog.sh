#!/usr/bin/env bash
# Runs the whole test suite several times in a row beside a CPU hog, as a newcomer's busy machine
# or a shared CI host runs it: the suite must pass there too, not only on an idle machine.
#   scripts/test-beside-cpu-hog.sh [runs (default 3)] [hog processes (default 2)]
# Each hog is a busy loop at normal priority; they stop when the script ends, however it ends.
# Extra arguments after `--` go to vitest (for example a single test file).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=${1:-3}
hogs=${2:-2}
shift $(( $# < 2 ? $# : 2 ))
[ "${1:-}" = "--" ] && shift

pids=()
stop_hogs() { [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null; }
trap stop_hogs EXIT
for _ in $(seq "$hogs"); do
  node -e 'for (;;) {}' &
  pids+=($!)
done
echo "started $hogs CPU hog(s): ${pids[*]}"

failed_runs=0
for run in $(seq "$runs"); do
  started=$(date +%s)
  if npx vitest run "$@"; then result=passed; else result=failed; failed_runs=$((failed_runs + 1)); fi
  echo "run $run of $runs beside $hogs hog(s): $result in $(( $(date +%s) - started )) s"
done
echo "$((runs - failed_runs)) passed, $failed_runs failed (whole-suite runs beside $hogs CPU hogs)"
exit $(( failed_runs > 0 ))
