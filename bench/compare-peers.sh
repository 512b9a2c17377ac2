#!/usr/bin/env bash
# Unroll vs the TorchSharp peer (libtorch 2.10, MKL + oneDNN) on the same training workloads, ALTERNATELY in one
# invocation: for each round, for each config, Unroll then TorchSharp (one fresh process each), 2 threads by default.
# TorchSharp runs in its best configuration: --flush-denormal 1 for the adding problem (5x faster there).
#
# usage: bench/compare-peers.sh [--rounds 3] [--configs "C1 C2 C4 ADD-RNN ADD-LSTM"] [--threads 2]
#                               [--iters N] [--warmup N] [--bptt T] [--peer PATH] [--out results.jsonl] [--pytorch]
#                               [--probe] [--gate GFLOPS [--gate-wait SECONDS]] [--build-peer [DIR]]
#        --build-peer: copy $PEERS_DIR/torchsharp (default ../shared/peers, which may be read-only) to DIR (default
#                   /tmp/unroll-torchsharp-peer), build it there (dotnet build -c Release: restores ~1 GB of NuGet
#                   packages the first time) unless its tsbench is already built, and run that peer
#        --pytorch: also run the PyTorch peer (Debian python3-torch, OPENBLAS_CORETYPE=SkylakeX, flush-denormal on ADD)
#                   from a scratch copy of ../shared/peers/pytorch, after TorchSharp in every round
#        --probe:   before the first run and after every run, measure the host's FMA rate now (Unroll.Bench hostpeak:
#                   the microkernel on both cores at once for 1 s) and record it with each run (host_before,
#                   host_after, and per thread: host_before_threads, host_after_threads — one core is often slowed
#                   alone); a second table then shows each config's ratio in the rounds on a faster and a slower host
#        --gate G:  (implies --probe) before each config's pair of runs, wait until the host probe reaches G GFLOP/s
#                   (re-probing every 5 s, at most --gate-wait seconds, default 300; then it runs anyway), so that
#                   the pairs run on a host at full speed — the "idle machine" the issue asks for. A third table then
#                   lists each config's ratio over the "clean" rounds: all three probes of the pair (before, between
#                   and after its two runs) ≥ G. With --table-only, --gate G prints that table for earlier files.
#        bench/compare-peers.sh --table-only results.jsonl [more.jsonl ...]
#                   (re-print the table of earlier runs; the rounds of each further file are numbered after the
#                   previous file's, so runs are paired only within their own invocation)
# env:   TSBENCH=path/to/tsbench (same as --peer)
#
# Prints, per run, the medians and the load average (/proc/loadavg) before and after it, then a table: median
# ms/iteration of each implementation (median over rounds), throughput, peak RSS, and the speed ratio
# Unroll/TorchSharp = (Unroll tokens/s) / (TorchSharp tokens/s) (> 1: Unroll is faster) of the two runs of the same
# round (they ran back to back), listed per round; the headline is the median of these paired ratios.
# Every RESULT line goes to --out (JSON lines). Needs jq.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEER=${TSBENCH:-/work/peer-build/torchsharp/bin/Release/net10.0/linux-x64/tsbench}
ROUNDS=3
CONFIGS="C1 C2 C4 ADD-RNN ADD-LSTM"
THREADS=2
ITERS=""; WARMUP=""; BPTT=""
OUT=""; TABLE_ONLY=(); PYTORCH=""; PROBE=""; GATE=""; GATE_WAIT=300; BUILD_PEER=""
PEERS_DIR=${PEERS_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/shared/peers}
while [ $# -gt 0 ]; do
  case "$1" in   # every option that takes a value needs one: one line on stderr and exit 2, not bash's "unbound variable"
    --rounds|--configs|--threads|--iters|--warmup|--bptt|--peer|--out|--gate|--gate-wait)
      [ $# -ge 2 ] || { echo "compare-peers.sh: $1 needs a value (see --help)" >&2; exit 2; } ;;
  esac
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --configs) CONFIGS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --bptt) BPTT=$2; shift 2 ;;
    --peer) PEER=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --table-only) shift; TABLE_ONLY=()
                  while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do TABLE_ONLY+=("$1"); shift; done
                  [ ${#TABLE_ONLY[@]} -gt 0 ] || { echo "compare-peers.sh: --table-only needs a results file" >&2; exit 2; } ;;
    --pytorch) PYTORCH=1; shift ;;
    --probe) PROBE=1; shift ;;
    --gate) GATE=$2; PROBE=1; shift 2 ;;
    --gate-wait) GATE_WAIT=$2; shift 2 ;;
    --build-peer) BUILD_PEER=/tmp/unroll-torchsharp-peer; shift
                  if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD_PEER=$1; shift; fi ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "compare-peers.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v jq >/dev/null || { echo "compare-peers.sh: needs jq" >&2; exit 2; }
if [ -n "$GATE" ] && ! [[ "$GATE" =~ ^[0-9]+([.][0-9]+)?$ ]]; then echo "compare-peers.sh: --gate needs a number of GFLOP/s, not '$GATE'" >&2; exit 2; fi
if ! [[ "$GATE_WAIT" =~ ^[0-9]+$ ]]; then echo "compare-peers.sh: --gate-wait needs a whole number of seconds, not '$GATE_WAIT'" >&2; exit 2; fi
# jq helpers of the tables: median (null for none), numbers rounded to 1 or 2 decimals ("–" for null), and the
# Unroll/TorchSharp pairs of a config's rows (the two runs of the same round: {u, t})
JQ_DEFS='
  def pairs: . as $rows | [ $rows[] | select(.impl == "unroll") as $x | $rows[] | select(.impl == "torchsharp" and .round == $x.round) | {u: $x, t: .} ];
  def med: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
  def r1: if . == null then "–" else (. * 10 | round / 10 | tostring) end;
  def r2: if . == null then "–" else (. * 100 | round / 100 | tostring) end;
'
table() {  # the summary table of a results file
echo "| config | Unroll ms/iter | TorchSharp ms/iter | Unroll /s | TorchSharp /s | unit | Unroll/TorchSharp (median of rounds) | per-round ratios | Unroll peak RSS MiB | TorchSharp peak RSS MiB | PyTorch ms/iter | Unroll/PyTorch speed | PyTorch peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|"
jq -s -r --arg configs "$CONFIGS" "$JQ_DEFS"'
  . as $all
  | ($configs | split(" ") | map(select(length > 0)))[] as $c
  | ($all | map(select(.config == $c))) as $rows
  | ($rows | map(select(.impl == "unroll"))) as $u
  | ($rows | map(select(.impl == "torchsharp"))) as $p
  | ($rows | map(select(.impl == "pytorch"))) as $y
  | ($y | map(.median_ms) | med) as $ym
  | ($u | map(.median_ms) | med) as $um | ($p | map(.median_ms) | med) as $pm
  | ($rows | pairs | map(.t.median_ms / .u.median_ms)) as $pairs
  | ($pairs | map(r2) | join(", ")) as $rr
  | (if ($c | startswith("ADD")) then "seqs/s" else "tokens/s" end) as $unit
  | "| \($c) | \($um|r1) | \($pm|r1) | \(if $um then ($u[0].tokens_per_s_median // $u[0].seqs_per_s_median | . as $x | ($x * $u[0].median_ms / $um) | r1) else "–" end) | \(if $pm then ($p[0].tokens_per_s_median // $p[0].seqs_per_s_median | . as $x | ($x * $p[0].median_ms / $pm) | r1) else "–" end) | \($unit) | **\(if ($pairs | length) > 0 then ($pairs | med | r2) else "–" end)×** | \($rr) | \($u | map(.peak_rss_mib) | max | r1) | \($p | map(.peak_rss_mib) | max | r1) | \($ym|r1) | \(if $um and $ym then ($ym / $um | r2 | . + "×") else "–" end) | \($y | map(.peak_rss_mib) | max | r1) |"
' "$OUT"
jq -e -s 'any(.[]; .host_before != null)' "$OUT" >/dev/null || return 0
echo
echo "Host speed (--probe; GFLOP/s of the microkernel on both cores at once, the mean of the probes before, between and after a round's two runs) and the ratio in the rounds on the faster and the slower half of the host's speeds:"
echo
echo "| config | rounds | host GFLOP/s (min–median–max) | Unroll/TorchSharp, faster-host half | Unroll/TorchSharp, slower-host half |"
echo "|---|---:|---|---:|---:|"
jq -s -r --arg configs "$CONFIGS" "$JQ_DEFS"'
  . as $all
  | ($configs | split(" ") | map(select(length > 0)))[] as $c
  | ($all | map(select(.config == $c and .host_before != null))) as $rows
  | [ $rows | pairs[] | select(.u.host_after != null and .t.host_after != null)
      | {host: ((.u.host_before + .u.host_after + .t.host_after) / 3), ratio: (.t.median_ms / .u.median_ms)} ]
  | sort_by(.host) as $p | ($p | length) as $n | select($n > 0)
  | ($n / 2 | floor) as $h
  | def rx: if . == null then "–" else r2 + "×" end;
  "| \($c) | \($n) | \($p[0].host | round)–\($p | map(.host) | med | round)–\($p[-1].host | round) | \($p[($n - $h):] | map(.ratio) | med | rx) | \($p[:$h] | map(.ratio) | med | rx) |"
' "$OUT"
[ -n "$GATE" ] || return 0
echo
echo "Clean rounds (--gate $GATE): the pairs whose three probes (before, between and after the two runs) were all ≥ $GATE GFLOP/s — the host at full speed:"
echo
echo "| config | clean rounds | of all probed | Unroll ms/iter | TorchSharp ms/iter | Unroll/TorchSharp (median of clean rounds) | per-round ratios |"
echo "|---|---:|---:|---:|---:|---:|---|"
jq -s -r --arg configs "$CONFIGS" --argjson g "$GATE" "$JQ_DEFS"'
  . as $all
  | ($configs | split(" ") | map(select(length > 0)))[] as $c
  | ($all | map(select(.config == $c and .host_before != null))) as $rows
  | [ $rows | pairs[] | {clean: ([.u.host_before, .u.host_after, .t.host_after] | all(. != null and . >= $g)), u: .u.median_ms, t: .t.median_ms} ] as $all_pairs
  | ($all_pairs | map(select(.clean))) as $p
  | "| \($c) | \($p | length) | \($all_pairs | length) | \($p | map(.u) | med | r1) | \($p | map(.t) | med | r1) | \($p | map(.t / .u) | med | if . == null then "–" else "**" + r2 + "×**" end) | \($p | map(.t / .u | r2) | join(", ")) |"
' "$OUT"
}
if [ ${#TABLE_ONLY[@]} -gt 0 ]; then
  for f in "${TABLE_ONLY[@]}"; do [ -r "$f" ] || { echo "compare-peers.sh: cannot read $f" >&2; exit 2; }; done
  OUT=$(mktemp); trap 'rm -f "$OUT"' EXIT
  off=0
  for f in "${TABLE_ONLY[@]}"; do
    jq -c --argjson off "$off" '.round = (.round + $off)' "$f" >> "$OUT"
    off=$(jq -s 'map(.round) | max // 0' "$OUT")
  done
  CONFIGS=$(jq -r .config "$OUT" | awk '!s[$0]++' | tr "\n" " "); table; exit 0
fi
if [ -n "$BUILD_PEER" ]; then
  PEER="$BUILD_PEER/bin/Release/net10.0/linux-x64/tsbench"
  if [ ! -x "$PEER" ]; then
    [ -f "$PEERS_DIR/torchsharp/TorchSharpBench.csproj" ] || { echo "compare-peers.sh: --build-peer needs $PEERS_DIR/torchsharp (set PEERS_DIR)" >&2; exit 2; }
    echo "# building the TorchSharp peer in $BUILD_PEER (a copy of $PEERS_DIR/torchsharp)"
    mkdir -p "$BUILD_PEER" && cp -r "$PEERS_DIR/torchsharp/." "$BUILD_PEER/"
    blog=$(cd "$BUILD_PEER" && dotnet build -c Release -nologo 2>&1) || {
      echo "compare-peers.sh: building the TorchSharp peer in $BUILD_PEER failed:" >&2; echo "$blog" | tail -5 >&2; exit 2; }
  fi
fi
if [ ! -x "$PEER" ]; then
  cat >&2 <<EOF
compare-peers.sh: the TorchSharp peer binary was not found at
  $PEER
Build it from a scratch copy of the peers (the shared folder may be read-only; ~1 GB of NuGet packages):
  cp -r /work/shared/peers/torchsharp /tmp/torchsharp-peer && cd /tmp/torchsharp-peer && dotnet build -c Release
then pass --peer /tmp/torchsharp-peer/bin/Release/net10.0/linux-x64/tsbench (or set TSBENCH), or let --build-peer do it.
EOF
  exit 2
fi
if [ -n "$PYTORCH" ]; then
  [ -f "$PEERS_DIR/pytorch/torch_lm.py" ] || { echo "compare-peers.sh: --pytorch needs $PEERS_DIR/pytorch (set PEERS_DIR)" >&2; exit 2; }
  /usr/bin/python3 -c "import torch" 2>/dev/null || { echo "compare-peers.sh: --pytorch needs Debian's python3-torch (apt-get install python3-torch python3-numpy)" >&2; exit 2; }
  PYDIR=$(mktemp -d /tmp/pytorch-peer.XXXXXX)
  cp -r "$PEERS_DIR/pytorch/." "$PYDIR/"
fi
[ -n "$OUT" ] || OUT=$(mktemp /tmp/compare-peers.XXXXXX.jsonl)
: > "$OUT"

echo "# building bench/Unroll.Bench (Release)"
dotnet build "$ROOT/bench/Unroll.Bench" -c Release -v q -nologo >/dev/null
UNROLL="$ROOT/bench/Unroll.Bench/bin/Release/net10.0/Unroll.Bench"

common=(--threads "$THREADS")
[ -n "$ITERS" ] && common+=(--iters "$ITERS")
[ -n "$WARMUP" ] && common+=(--warmup "$WARMUP")
[ -n "$BPTT" ] && common+=(--bptt "$BPTT")

echo "# $(date -u +%FT%TZ)  cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "# unroll: $UNROLL"
echo "# peer:   $PEER"
echo "# rounds $ROUNDS, configs: $CONFIGS, args: ${common[*]}; results: $OUT"

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

probe() {  # the host's FMA rate now: {"gflops_total": …, "gflops_per_thread": […]} (hostpeak's RESULT), or null (no --probe, or it failed)
  if [ -z "$PROBE" ]; then echo null; return; fi
  local r
  r=$("$UNROLL" hostpeak --threads "$THREADS" --ms 1000 2>/dev/null | sed -n 's/^RESULT //p') || true
  if [ -n "$r" ]; then echo "$r" | jq -c '{gflops_total, gflops_per_thread}'; else echo null; fi
}
LAST_PROBE=""
if [ -n "$PROBE" ] && [ "$(probe)" = null ]; then
  msg=$("$UNROLL" hostpeak --threads "$THREADS" --ms 10 2>&1 >/dev/null | head -1) || true
  echo "compare-peers.sh: --probe: ${msg:-Unroll.Bench hostpeak printed no result}" >&2
  exit 2
fi

gate() {  # with --gate: wait (re-probing) until the host reaches $GATE GFLOP/s or $GATE_WAIT s have passed; leaves the last probe in LAST_PROBE
  [ -n "$GATE" ] || return 0
  local start=$SECONDS p
  p=${LAST_PROBE:-$(probe)}
  while ! echo "$p" | jq -e --argjson g "$GATE" '. != null and .gflops_total >= $g' >/dev/null; do
    if [ $((SECONDS - start)) -ge "$GATE_WAIT" ]; then
      echo "# gate: host at $(echo "$p" | jq -r '.gflops_total // "?"') GFLOP/s after ${GATE_WAIT} s of waiting; running anyway"
      break
    fi
    sleep 5; p=$(probe)
  done
  [ $((SECONDS - start)) -gt 0 ] && echo "# gate: waited $((SECONDS - start)) s for the host to reach $GATE GFLOP/s (now $(echo "$p" | jq -r '.gflops_total // "?"'))"
  LAST_PROBE=$p
}

run_one() {  # impl round config cmd...
  local impl=$1 round=$2 cfg=$3; shift 3
  local before after log res hb ha
  hb=${LAST_PROBE:-$(probe)}
  before=$(loadavg)
  log=$("$@" 2>&1) || { echo "FAILED: $*" >&2; echo "$log" | tail -5 >&2; return 1; }
  after=$(loadavg)
  ha=$(probe); LAST_PROBE=$ha
  res=$(echo "$log" | sed -n 's/^RESULT //p' | tail -1)
  echo "$res" | jq -c --arg impl "$impl" --arg round "$round" --arg lb "$before" --arg la "$after" --arg cfg "$cfg" \
    --argjson hb "$hb" --argjson ha "$ha" \
    '. + {impl: $impl, config: $cfg, round: ($round|tonumber), load_before: $lb, load_after: $la}
       + (if $hb != null then {host_before: $hb.gflops_total, host_after: $ha.gflops_total,
                                host_before_threads: $hb.gflops_per_thread, host_after_threads: $ha.gflops_per_thread} else {} end)' >> "$OUT"
  echo "$res" | jq -r --arg impl "$impl" --arg round "$round" --arg lb "$before" --arg la "$after" --arg cfg "$cfg" \
    --argjson hb "$hb" --argjson ha "$ha" \
    '"round \($round) \($cfg) \($impl): median \(.median_ms*10|round/10) ms/iter, \((.tokens_per_s_median // .seqs_per_s_median)*10|round/10) \(if .tokens_per_s_median then "tokens" else "seqs" end)/s, peak RSS \(.peak_rss_mib) MiB   load \($lb) -> \($la)\(if $hb != null then "   host \($hb.gflops_total) -> \($ha.gflops_total) GFLOP/s (per thread \($hb.gflops_per_thread | map(tostring) | join("/")) -> \($ha.gflops_per_thread | map(tostring) | join("/")))" else "" end)"'
}

for r in $(seq 1 "$ROUNDS"); do
  for c in $CONFIGS; do
    peerx=()
    case "$c" in ADD-*) peerx=(--flush-denormal 1) ;; esac
    gate
    run_one unroll "$r" "$c" "$UNROLL" train --config "$c" "${common[@]}" --tag "round$r"
    run_one torchsharp "$r" "$c" "$PEER" --config "$c" "${common[@]}" "${peerx[@]}" --idle-wait 0 --tag "round$r"
    if [ -n "$PYTORCH" ]; then
      pyx=(--threads "$THREADS")
      case "$c" in C1|C4) pyx+=(--warmup "${WARMUP:-5}" --iters "${ITERS:-30}") ;; *) pyx+=(--warmup "${WARMUP:-3}" --iters "${ITERS:-12}") ;; esac
      case "$c" in
        ADD-RNN) run_one pytorch "$r" "$c" env OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 "$PYDIR/torch_adding.py" --cell rnn "${pyx[@]}" --flush-denormal 1 --tag "round$r" ;;
        ADD-LSTM) run_one pytorch "$r" "$c" env OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 "$PYDIR/torch_adding.py" --cell lstm "${pyx[@]}" --flush-denormal 1 --tag "round$r" ;;
        *) run_one pytorch "$r" "$c" env OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 "$PYDIR/torch_lm.py" --config "$c" "${pyx[@]}" ${BPTT:+--bptt "$BPTT"} --tag "round$r" ;;
      esac
    fi
  done
done

echo
table
echo
echo "# load average now: $(loadavg)  ($(date -u +%FT%TZ))"
