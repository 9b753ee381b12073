#!/usr/bin/env bash
# Measures the handler cases against the constant header in paired runs.
#
# usage: bench/handler-ratio.sh [runs]          (default 10; about 95 s per run on the 2-core CI machine)
#        BENCH_CLASS=TenantBenchmarks BENCH_BASELINE='constant AuthenticationHeaderValue, tenant option set' \
#          bench/handler-ratio.sh [runs]         (another class, against its own baseline case, the same way)
#        bench/handler-ratio.sh --parse <csv>   (one HandlerBenchmarks CSV report as tab-separated rows; .ci/run
#                                                checks it on the dry run's report)
#
# One run is the whole HandlerBenchmarks class with one launch per case, so every case is measured within the same
# minute or two as the constant header it is compared with. On a shared virtual machine a case's mean moves by several
# percent between process launches and over minutes, and BenchmarkDotNet runs all launches of one case before the next
# case. Repeating short runs back to back compares each case with a baseline measured next to it, many times. The
# script prints each run's means and their ratios to the baseline (the constant header's mean in the same run) as they
# come, then per case the median, lowest and highest ratio and the median mean. The benchmark starts and stops its own
# redis-server when one is installed. Logs and reports stay in a temporary directory, printed at the end.
set -euo pipefail

baseline=${BENCH_BASELINE:-'constant AuthenticationHeaderValue'} # the [Benchmark(Baseline = true)] case's description
class=${BENCH_CLASS:-HandlerBenchmarks}
case $class in
  '' | *[!A-Za-z0-9_]*) echo "BENCH_CLASS must be a benchmark class name" >&2; exit 2 ;;
esac

# Prints "name<TAB>mean in ns<TAB>ratio to the baseline<TAB>allocated" per case of a BenchmarkDotNet CSV report.
# Fields are split on commas outside double quotes (a case name with a comma is quoted, and so is a mean of 1,000 or
# more), columns are found by their header names, and a mean in any unit is converted to ns. Anything unexpected is an
# error on stderr and exit status 1, never a wrong number.
parse_report() {
  BASELINE="$baseline" awk '
    function split_csv(line, out,    n, i, c, field, quoted) {
      n = 0; field = ""; quoted = 0
      for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (quoted) {
          if (c == "\"" && substr(line, i + 1, 1) == "\"") { field = field c; i++ }
          else if (c == "\"") { quoted = 0 }
          else { field = field c }
        } else if (c == "\"") { quoted = 1 }
        else if (c == ",") { out[++n] = field; field = "" }
        else { field = field c }
      }
      out[++n] = field
      return n
    }
    function fail(message) { print FILENAME ": " message > "/dev/stderr"; failed = 1; exit 1 }
    function to_ns(text,    parts, value) {
      gsub(/,/, "", text)
      if (split(text, parts, " ") != 2 || parts[1] !~ /^[0-9]+(\.[0-9]+)?$/) { fail("not a duration: \"" text "\"") }
      value = parts[1] + 0
      if (parts[2] == "ns") { return value }
      if (parts[2] == "us" || parts[2] == "μs") { return value * 1000 }
      if (parts[2] == "ms") { return value * 1000000 }
      if (parts[2] == "s") { return value * 1000000000 }
      fail("unknown unit in \"" text "\"")
    }
    NR == 1 {
      split_csv($0, header)
      for (c in header) { column[header[c]] = c }
      if (!("Method" in column) || !("Mean" in column) || !("Allocated" in column)) { fail("no Method, Mean or Allocated column") }
      next
    }
    {
      split_csv($0, field)
      name = field[column["Method"]]
      gsub(/\047/, "", name)
      rows++; names[rows] = name; means[rows] = to_ns(field[column["Mean"]]); bytes[rows] = field[column["Allocated"]]
      if (name == ENVIRON["BASELINE"]) { base = means[rows] }
    }
    END {
      if (failed) { exit 1 }
      if (rows == 0) { fail("no cases") }
      if (base == "" || base <= 0) { fail("no baseline case \"" ENVIRON["BASELINE"] "\"") }
      for (k = 1; k <= rows; k++) { printf "%s\t%.1f\t%.3f\t%s\n", names[k], means[k], means[k] / base, bytes[k] }
    }' "$1"
}

if [ "${1:-}" = "--parse" ]; then
  [ $# -eq 2 ] || { echo "usage: $0 --parse <csv>" >&2; exit 2; }
  parse_report "$2"
  exit
fi

runs=${1:-10}
case $runs in
  '' | *[!0-9]*) echo "usage: $0 [runs]  (runs: a positive number)" >&2; exit 2 ;;
esac
runs=$((10#$runs))
[ "$runs" -gt 0 ] || { echo "usage: $0 [runs]  (runs: a positive number)" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
project="$root/bench/M3ter.Auth.Benchmarks"
out=$(mktemp -d)
table="$out/ratios.tsv"
: > "$table"

# Each run is its own process group (the benchmark's child processes and its redis-server included), so that an
# interrupted script stops it instead of leaving it running.
child=
trap '[ -n "$child" ] && kill -TERM -- "-$child" 2>/dev/null; exit 130' INT TERM

dotnet build -c Release --disable-build-servers "$project" > "$out/build.log" 2>&1 || { cat "$out/build.log" >&2; exit 1; }

failed=0
for i in $(seq "$runs"); do
  # The invariant culture: BenchmarkDotNet writes the CSV with the current culture's list and decimal separators.
  LC_ALL=C setsid dotnet run -c Release --no-build --project "$project" -- --filter "*.$class*" \
    --launchCount 1 --warmupCount 6 --iterationCount 15 --artifacts "$out/run$i" > "$out/run$i.log" 2>&1 &
  child=$!
  status=0
  wait "$child" || status=$?
  child=

  csv="$out/run$i/results/M3ter.Auth.Benchmarks.$class-report.csv"
  if [ "$status" -ne 0 ] || ! parse_report "$csv" > "$out/run$i.tsv"; then
    echo "run $i of $runs failed (exit $status): see $out/run$i.log" >&2
    failed=$((failed + 1))
    continue
  fi

  awk -v run="$i" 'BEGIN { FS = OFS = "\t" } { print run, $0 }' "$out/run$i.tsv" >> "$table"
  echo "run $i of $runs:"
  awk -F'\t' '{ printf "  %-75s %8s ns  ratio %s  %s\n", $1, $2, $3, $4 }' "$out/run$i.tsv"
done

median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.3f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "over $((runs - failed)) runs: median ratio (lowest-highest), median mean"
echo "(the median of the per-run ratios, which is not the ratio of the median means)"
cut -f2 "$table" | awk '!seen[$0]++' | while IFS= read -r name; do
  ratios=$(NAME="$name" awk -F'\t' '$2 == ENVIRON["NAME"] { print $4 }' "$table")
  means=$(NAME="$name" awk -F'\t' '$2 == ENVIRON["NAME"] { print $3 }' "$table")
  printf "  %-75s %s (%s-%s)  %.1f ns\n" "$name" "$(median <<< "$ratios")" \
    "$(sort -n <<< "$ratios" | sed -n 1p)" "$(sort -n <<< "$ratios" | sed -n '$p')" "$(median <<< "$means")"
done
echo "(per-run logs and reports: $out)"
if [ "$failed" -gt 0 ]; then
  echo "$failed of $runs runs failed" >&2
  exit 1
fi
