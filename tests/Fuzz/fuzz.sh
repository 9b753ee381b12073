#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that face the network (SharpFuzz + AFL++), time-boxed. Not in the default
# test run.
#
#   bash tests/Fuzz/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 120 s; targets token-response jwt-exp ingest-body)
#
# For each target: runs afl-fuzz for the given time from tests/Fuzz/corpus/TARGET, with a 1 s limit per input (a
# slower input is a hang) and the .NET heap capped at 512 MB (more is a crash). Prints executions, coverage and
# findings, copies each crashing or hanging input to tests/Fuzz/regressions/TARGET/ (the unit tests replay that folder:
# commit the file with the fix), and exits 1 if any target found anything.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
seconds=${1:-120}
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(token-response jwt-exp ingest-body)
work="$root/artifacts/fuzz"
mkdir -p "$work"

if ! command -v afl-fuzz >/dev/null 2>&1; then
  echo "afl-fuzz is missing: installing afl++ (apt-get)"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq afl++ >/dev/null
fi
if [ ! -x "$work/tools/sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$work/tools" >/dev/null
fi

# A copy of the program whose M3ter.Auth assemblies (only those) are instrumented for coverage.
rm -rf "$work/bin"
dotnet publish tests/Fuzz/M3ter.Auth.Fuzz -c Release -o "$work/bin" -nologo -v:q -clp:ErrorsOnly
for assembly in M3ter.Auth.dll M3ter.Auth.Testing.dll; do
  "$work/tools/sharpfuzz" "$work/bin/$assembly" >/dev/null
done

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export DOTNET_GCHeapHardLimit=0x20000000 DOTNET_TieredPGO=0
found=0
for target in "${targets[@]}"; do
  out="$work/findings/$target"
  rm -rf "$out"; mkdir -p "$work/findings"
  echo "=== $target: ${seconds} s"
  afl-fuzz -i "tests/Fuzz/corpus/$target" -o "$out" -x tests/Fuzz/json.dict -t 1000 -m none -V "$seconds" -- dotnet "$work/bin/M3ter.Auth.Fuzz.dll" "$target" >"$work/$target.log" 2>&1 || {
    tail -30 "$work/$target.log"; echo "afl-fuzz failed for $target" >&2; exit 2; }
  stats="$out/default/fuzzer_stats"
  value() { sed -n "s/^$1 *: *//p" "$stats"; }
  crashes=$(value saved_crashes); hangs=$(value saved_hangs)
  echo "  executions $(value execs_done), $(value execs_per_sec)/s; paths $(value corpus_count); coverage $(value bitmap_cvg); crashes $crashes; hangs $hangs"
  for kind in crashes hangs; do
    for input in "$out/default/$kind"/id:*; do
      [ -f "$input" ] || continue
      name="$kind-$(sha256sum "$input" | cut -c1-16)"
      cp "$input" "tests/Fuzz/regressions/$target/$name"
      echo "  finding: tests/Fuzz/regressions/$target/$name"
      found=1
    done
  done
done
if [ "$found" -ne 0 ]; then
  echo "fuzzing found inputs that break an invariant: they replay in dotnet test (FuzzRegressionTests), or one by one with dotnet tests/Fuzz/M3ter.Auth.Fuzz/bin/Release/net10.0/M3ter.Auth.Fuzz.dll TARGET FILE (not the instrumented copy)" >&2
  exit 1
fi
echo "no findings"
