#!/usr/bin/env bash
# Measures the handler cases against the constant header in paired runs.
#
# usage: bench/handler-ratio.sh [runs]   (default 10; about 95 s per run on the 2-core CI machine)
#
# One run is the whole HandlerBenchmarks class with one launch per case, so every case is measured within the same
# minute or two as the constant header it is compared with. On a shared virtual machine a case's mean drifts by
# several percent over minutes, and BenchmarkDotNet runs all launches of one case before the next case: with many
# launches per case, that drift falls between the cases and into their ratio. Repeating short runs back to back spreads
# it over every case instead. The script prints each run's means and their ratios to the baseline (the constant header's
# mean in the same run) as they come, then per case the median, lowest and highest ratio and the median mean. The
# benchmark starts and stops its own redis-server when one is installed.
set -euo pipefail

runs=${1:-10}
case $runs in
  '' | *[!0-9]* | 0) echo "usage: $0 [runs]  (runs: a positive number)" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
project="$root/bench/M3ter.Auth.Benchmarks"
out=$(mktemp -d)
table="$out/ratios.tsv"
baseline='constant AuthenticationHeaderValue' # the [Benchmark(Baseline = true)] case's description
: > "$table"

dotnet build -c Release "$project" > "$out/build.log" 2>&1 || { cat "$out/build.log" >&2; exit 1; }

for i in $(seq "$runs"); do
  if ! dotnet run -c Release --no-build --project "$project" -- --filter '*HandlerBenchmarks*' \
      --launchCount 1 --warmupCount 6 --iterationCount 15 --artifacts "$out/run$i" > "$out/run$i.log" 2>&1; then
    echo "run $i failed: see $out/run$i.log" >&2
    exit 1
  fi

  csv="$out/run$i/results/M3ter.Auth.Benchmarks.HandlerBenchmarks-report.csv"
  # A case name with a comma is quoted, so the columns are found by their names in the header and counted from the
  # end of each line. Means are in ns (every case here takes about 100 ns).
  awk -F, -v run="$i" -v baseline="$baseline" '
    NR == 1 { for (c = 1; c <= NF; c++) { fromEnd[$c] = NF - c }; next }
    {
      name = $0
      if (substr(name, 1, 1) == "\"") { name = substr(name, 2); sub(/",.*/, "", name) } else { sub(/,.*/, "", name) }
      gsub(/\x27/, "", name)
      mean = $(NF - fromEnd["Mean"]); sub(/ ns$/, "", mean)
      names[++n] = name; means[n] = mean; bytes[n] = $(NF - fromEnd["Allocated"])
      if (name == baseline) { base = mean }
    }
    END {
      if (base == "") { exit 1 }
      for (k = 1; k <= n; k++) { printf "%s\t%s\t%s\t%.3f\t%s\n", run, names[k], means[k], means[k] / base, bytes[k] }
    }' "$csv" > "$out/run$i.tsv" || true
  if [ ! -s "$out/run$i.tsv" ]; then
    echo "run $i produced no results: see $out/run$i.log" >&2
    exit 1
  fi

  cat "$out/run$i.tsv" >> "$table"
  echo "run $i of $runs:"
  awk -F'\t' '{ printf "  %-75s %8s ns  ratio %s  %s\n", $2, $3, $4, $5 }' "$out/run$i.tsv"
done

median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.3f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "over $runs runs: median ratio (lowest-highest), median mean"
cut -f2 "$table" | awk '!seen[$0]++' | while IFS= read -r name; do
  ratios=$(awk -F'\t' -v n="$name" '$2 == n { print $4 }' "$table")
  means=$(awk -F'\t' -v n="$name" '$2 == n { print $3 }' "$table")
  printf "  %-75s %s (%s-%s)  %s ns\n" "$name" "$(median <<< "$ratios")" \
    "$(sort -n <<< "$ratios" | sed -n 1p)" "$(sort -n <<< "$ratios" | sed -n '$p')" "$(median <<< "$means")"
done
echo "(per-run logs and reports: $out)"
