#!/usr/bin/env bash
# Runs every fuzz target for SECONDS of wall time, JOBS at once, and prints a
# table: CPU-minutes (user + system), executions, coverage, crashes. Crashes,
# out-of-memory and time-outs are recorded (fuzz/artifacts/<target>/) and the
# run goes on. Memory: one allocation above 1 GiB or a resident size above
# 2 GiB counts as an out-of-memory finding (an input negstudy should have
# refused from its declared sizes). Usage: bash fuzz/run_all.sh [SECONDS] [JOBS] [TARGET...]
set -euo pipefail
secs=${1:-600}; jobs=${2:-2}; shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(dump_safetensors dump_npz dump_npy dump_parquet idx cifar image_entry image_preprocess hierarchy_xml wndb pairs toml_config filter_expr checkpoint torch_checkpoint safetensors_weights)
mkdir -p fuzz/logs
# Build once, then run the binaries: a source edit during the campaign does
# not trigger a rebuild whose CPU time would be counted as fuzzing.
(cd fuzz && cargo +nightly fuzz build -O -a -s none)
bin_dir=fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release
run_one() {
  t=$1; secs=$2
  mkdir -p "fuzz/artifacts/$t" "fuzz/corpus/$t"
  /usr/bin/time -f "cpu_seconds %U %S" -o "fuzz/logs/$t.time" \
    "$bin_dir/$t" "fuzz/corpus/$t" -artifact_prefix="fuzz/artifacts/$t/" \
      -max_total_time="$secs" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
      -malloc_limit_mb=1024 -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
      > "fuzz/logs/$t.log" 2>&1 || true
}
export -f run_one
export bin_dir
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c "run_one {} $secs"
printf '| target | CPU-minutes | executions | coverage (edges) | crashes / OOM / time-outs |\n|---|---|---|---|---|\n'
for t in "${targets[@]}"; do
  cpu=$(awk '/cpu_seconds/ {printf "%.1f", ($2 + $3) / 60}' "fuzz/logs/$t.time")
  last=$(grep -E '^#[0-9]+' "fuzz/logs/$t.log" | tail -1)
  execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  fails=$(sed -nE 's/.*oom\/timeout\/crash: ([0-9]+)\/([0-9]+)\/([0-9]+).*/\3 \/ \1 \/ \2/p' <<<"$last")
  printf '| %s | %s | %s | %s | %s |\n' "$t" "$cpu" "$execs" "$cov" "${fails:-0 / 0 / 0}"
done
