#!/usr/bin/env bash
# Mitten performance harness: bash bench/run.sh
#
# Builds bench/ in release (nice -n 19, shared target dir ./target), starts
# one bench server per mode (each on its own port, all pinned to core 0; an
# idle server costs nothing), logs SESSIONS sessions into each with curl,
# then for ROUNDS rounds, for each workload, runs wrk pinned to core 1
# against every mode in turn (order rotated each round) for WARMUP s
# (discarded) and DURATION s (measured). The runs that a ratio compares
# are minutes apart at most, seconds apart usually, and each ratio is the
# median of the per-round ratios: these machines drift by 20% and more
# within a minute, so pairing beats averaging.
# Then: memory per session at 100,000 sessions (bench/src/bin/memsize.rs),
# the Criterion micro-benchmarks (bench/benches/hot_paths.rs), and one
# markdown table with medians over the rounds.
#
# Load generator: wrk (Debian package `wrk`, installed with apt-get if
# missing). Traffic goes to 127.0.0.1 only; every run is bounded by -d.
#
# Redis modes: `mitten-redis` is enabled once crates/mitten has
# `stores::RedisStore` (feature `redis`); `peer-redis`
# (tower-sessions-redis-store) whenever redis-server is installed. A private
# redis-server is started on REDIS_PORT (no persistence) and stopped at the
# end; round trips are counted exactly with MONITOR (client commands only:
# not the commands a Lua script runs inside Redis, not health-check PINGs).
#
# Knobs (environment): ROUNDS=3 DURATION=5 WARMUP=1 CONNS=16 SESSIONS=48
# PORT=18080 REDIS_PORT=16399 MODES="bare mitten peer ..." SKIP_CRITERION=0
# SKIP_BUILD=0 SKIP_MEM=0 OUT=target/bench-results
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET="$ROOT/target"
OUT=${OUT:-$TARGET/bench-results}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-16}
SESSIONS=${SESSIONS:-48}
PORT=${PORT:-18080}
REDIS_PORT=${REDIS_PORT:-16399}
WORKLOADS=${WORKLOADS:-"plain read form_get form_post login"}
BIN="$TARGET/release/mitten-bench"
MEMBIN="$TARGET/release/memsize"
mkdir -p "$OUT"
rm -f "$OUT"/results.tsv "$OUT"/redis.tsv "$OUT"/mem.txt "$OUT"/server.log
log() { echo "[bench] $*" >&2; }

# ------------------------------------------------------------------ tools
if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian package) with apt-get"
  apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
command -v taskset >/dev/null || { log "taskset (util-linux) is required"; exit 1; }
CORES=$(nproc)
if [ "$CORES" -ge 2 ]; then SRV_CPU=0; LOAD_CPU=1; else SRV_CPU=0; LOAD_CPU=0; fi

FEATURES=()
HAVE_MITTEN_REDIS=0
HAVE_REDIS=0
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  HAVE_REDIS=1
  FEATURES+=(peer-redis)
  if grep -qs "pub struct RedisStore" crates/mitten/src/stores/*.rs; then
    HAVE_MITTEN_REDIS=1
    FEATURES+=(redis)
  fi
fi

# ------------------------------------------------------------------ build
build() {
  local feats
  feats=$(IFS=,; echo "${FEATURES[*]:-}")
  log "building (release, nice -n 19, features: ${feats:-none})"
  nice -n 19 cargo build --release --manifest-path bench/Cargo.toml \
    --target-dir "$TARGET" --bins ${feats:+--features "$feats"}
}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  if ! build; then
    log "build with features failed; retrying without the Redis modes"
    FEATURES=(); HAVE_MITTEN_REDIS=0; HAVE_REDIS=0
    build
  fi
fi

if [ -z "${MODES:-}" ]; then
  MODES="bare mitten peer"
  [ "$HAVE_MITTEN_REDIS" = 1 ] && MODES="$MODES mitten-redis"
  [ "$HAVE_REDIS" = 1 ] && MODES="$MODES peer-redis"
fi
NEEDS_REDIS=0
case " $MODES " in *-redis*) NEEDS_REDIS=1 ;; esac

# ------------------------------------------------------------------ processes
declare -A SERVER_PID=() MODE_PORT=()
REDIS_PID=""
cleanup() {
  local p
  for p in "${SERVER_PID[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
}
trap cleanup EXIT

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
if [ "$NEEDS_REDIS" = 1 ]; then
  # Shares the load generator's core: the server's core stays its own.
  taskset -c "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
    --save "" --appendonly no --protected-mode yes >"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 50); do rcli ping >/dev/null 2>&1 && break; sleep 0.1; done
  rcli ping >/dev/null
fi

# The two Redis modes use different databases of the one redis-server.
start_server() { # mode port
  local mode=$1 port=$2 db=0
  [ "$mode" = peer-redis ] && db=1
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/plain" 2>/dev/null; then
    log "port $port is already serving; stop it or set PORT"; exit 1
  fi
  taskset -c "$SRV_CPU" "$BIN" --mode "$mode" --port "$port" \
    --redis "redis://127.0.0.1:$REDIS_PORT/$db" 2>>"$OUT/server.log" &
  SERVER_PID[$mode]=$!
  MODE_PORT[$mode]=$port
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/plain" 2>/dev/null && return 0
    kill -0 "${SERVER_PID[$mode]}" 2>/dev/null || { log "server ($mode) died; see $OUT/server.log"; exit 1; }
    sleep 0.05
  done
  log "server ($mode) did not come up"; exit 1
}

# ------------------------------------------------------------------ setup
# Cookie header from a curl jar (Netscape format; HttpOnly cookies are the
# lines prefixed "#HttpOnly_").
jar_header() {
  awk -F'\t' '(!/^#/ || /^#HttpOnly_/) && NF >= 7 { printf "%s%s=%s", sep, $6, $7; sep = "; " }' "$1"
}
page_token() { sed -n 's/.*name="_csrf_token" value="\([^"]*\)".*/\1/p' | head -n1; }

# Per session: a pre-login cookie + token (for POST /login), then a logged-in
# cookie + a token minted for it (for GET /read, GET/POST /form).
setup_sessions() { # mode
  local base="http://127.0.0.1:${MODE_PORT[$1]}" jar="$OUT/jar" page tok i
  local login="$OUT/login-$1.tsv" user="$OUT/user-$1.tsv"
  : >"$login"; : >"$user"
  for i in $(seq "$SESSIONS"); do
    rm -f "$jar"
    page=$(curl -fsS -c "$jar" -b "$jar" "$base/form")
    tok=$(page_token <<<"$page")
    printf '%s\t%s\n' "$(jar_header "$jar")" "$tok" >>"$login"
    curl -fsS -o /dev/null -c "$jar" -b "$jar" -H "Origin: $base" \
      --data-urlencode "user=user$i" --data-urlencode "_csrf_token=$tok" "$base/login"
    page=$(curl -fsS -c "$jar" -b "$jar" "$base/form")
    tok=$(page_token <<<"$page")
    printf '%s\t%s\n' "$(jar_header "$jar")" "$tok" >>"$user"
  done
  # Sanity: the logged-in session is really logged in, the form post passes.
  local c t
  IFS=$'\t' read -r c t <"$user"
  if [ "$1" != bare ]; then
    curl -fsS -H "Cookie: $c" "$base/read" | grep -q "user: user1" \
      || { log "$1: GET /read does not see the login"; exit 1; }
  fi
  curl -fsS -o /dev/null -H "Cookie: $c" -H "Origin: $base" \
    --data-urlencode "_csrf_token=$t" --data-urlencode "note=x" "$base/form" \
    || { log "$1: POST /form refused"; exit 1; }
}

# ------------------------------------------------------------------ load
to_ms() { # wrk prints 812.00us / 1.23ms / 1.01s
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
# Redis round trips per request, counted exactly: MONITOR lists every
# command a client sends (one line each, "[db ip:port]"), and the commands a
# Lua script runs inside Redis as "[db lua]", which are not round trips.
# RT_REQS sequential curl requests per workload, each on its own session.
RT_REQS=${RT_REQS:-20}
count_round_trips() { # mode
  local mode=$1 base="http://127.0.0.1:${MODE_PORT[$1]}" wl mon f c t i total names
  for wl in $WORKLOADS; do
    f="$OUT/monitor-$mode-$wl.txt"
    # redis-cli itself in the background (not through the rcli function,
    # whose subshell would be killed and leave MONITOR running, which slows
    # Redis down for every later run).
    redis-cli -p "$REDIS_PORT" monitor >"$f" 2>/dev/null &
    mon=$!
    sleep 0.3
    for i in $(seq "$RT_REQS"); do
      if [ "$wl" = login ]; then IFS=$'\t' read -r c t < <(sed -n "${i}p" "$OUT/login-$mode.tsv")
      else IFS=$'\t' read -r c t < <(sed -n "${i}p" "$OUT/user-$mode.tsv"); fi
      case $wl in
        plain) curl -fsS -o /dev/null "$base/plain" ;;
        read) curl -fsS -o /dev/null -H "Cookie: $c" "$base/read" ;;
        form_get) curl -fsS -o /dev/null -H "Cookie: $c" "$base/form" ;;
        form_post) curl -fsS -o /dev/null -H "Cookie: $c" -H "Origin: $base" \
          --data-urlencode "_csrf_token=$t" --data-urlencode "note=x" "$base/form" ;;
        login) curl -fsS -o /dev/null -H "Cookie: $c" -H "Origin: $base" \
          --data-urlencode "user=rt$i" --data-urlencode "_csrf_token=$t" "$base/login" ;;
      esac
    done
    sleep 0.3
    kill "$mon" 2>/dev/null; wait "$mon" 2>/dev/null || true
    # Client commands only; health-check PINGs are not part of a request.
    total=$(awk '$2 ~ /^\[/ && $3 != "lua]" && tolower($4) != "\"ping\"" { n++ } END { print n + 0 }' "$f")
    names=$(awk '$2 ~ /^\[/ && $3 != "lua]" && tolower($4) != "\"ping\"" { gsub(/"/, "", $4); c[tolower($4)]++ } END { for (k in c) printf "%s:%d ", k, c[k] }' "$f")
    printf '%s\t%s\t%s\t%s\t%s\n' "$mode" "$wl" "$RT_REQS" "$total" "${names:--}" >>"$OUT/redis.tsv"
    log "$mode $wl: $total redis round trips for $RT_REQS requests (${names:-none})"
  done
}

run_wrk() { # port workload file seconds
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$4"s --timeout 5s --latency \
    -s bench/wrk.lua "http://127.0.0.1:$1" -- "$2" "$3"
}

measure() { # round mode workload
  local round=$1 mode=$2 wl=$3 file out port=${MODE_PORT[$2]}
  case $wl in login) file="$OUT/login-$mode.tsv" ;; *) file="$OUT/user-$mode.tsv" ;; esac
  run_wrk "$port" "$wl" "$file" "$WARMUP" >/dev/null
  out=$(run_wrk "$port" "$wl" "$file" "$DURATION")
  echo "$out" >"$OUT/wrk-$round-$mode-$wl.txt"
  local rps p50 p99 n non2xx errs
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  n=$(awk '/requests in/ { print $1 }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out"); non2xx=${non2xx:-0}
  errs=$(awk '/Socket errors/ { print $0 }' <<<"$out" | tr -s ' ' | sed 's/^ //'); errs=${errs:--}
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$round" "$mode" "$wl" "$rps" "$p50" "$p99" "$n" "$non2xx" "$errs" >>"$OUT/results.tsv"
  log "round $round $mode $wl: $rps req/s p50 ${p50}ms p99 ${p99}ms non2xx $non2xx"
  [ "$non2xx" = 0 ] || log "WARNING: $mode $wl had $non2xx non-2xx responses"
}

# ------------------------------------------------------------------ rounds
read -r -a MODE_ARR <<<"$MODES"
log "modes: $MODES; $ROUNDS rounds x ${DURATION}s (+${WARMUP}s warmup); wrk -t1 -c$CONNS; servers on CPU $SRV_CPU, wrk on CPU $LOAD_CPU"
next_port=$PORT
for mode in "${MODE_ARR[@]}"; do
  start_server "$mode" "$next_port"
  setup_sessions "$mode"
  next_port=$((next_port + 1))
done
for mode in "${MODE_ARR[@]}"; do
  case $mode in *-redis) count_round_trips "$mode" ;; esac
done
for round in $(seq "$ROUNDS"); do
  k=$(( (round - 1) % ${#MODE_ARR[@]} ))
  ordered=("${MODE_ARR[@]:$k}" "${MODE_ARR[@]:0:$k}")
  # Fresh sessions each round: the previous round's POST /login flood
  # filled the stores, and Mitten's memory store (bounded, 100,000 by
  # default) evicts the sessions nearest expiry, which would otherwise be
  # these. (tower-sessions' memory store is unbounded and evicts nothing.)
  if [ "$round" -gt 1 ]; then
    for mode in "${MODE_ARR[@]}"; do setup_sessions "$mode"; done
  fi
  for wl in $WORKLOADS; do
    for mode in "${ordered[@]}"; do measure "$round" "$mode" "$wl"; done
  done
done
for mode in "${MODE_ARR[@]}"; do
  kill "${SERVER_PID[$mode]}" 2>/dev/null || true
  wait "${SERVER_PID[$mode]}" 2>/dev/null || true
  unset "SERVER_PID[$mode]"
done

# ------------------------------------------------------------------ memory
if [ "${SKIP_MEM:-0}" != 1 ]; then
  for m in mitten peer; do "$MEMBIN" "$m" 100000 >>"$OUT/mem.txt"; done
fi

# ------------------------------------------------------------------ criterion
if [ "${SKIP_CRITERION:-0}" != 1 ]; then
  log "criterion micro-benchmarks (build at nice 19, run on CPU $SRV_CPU)"
  rm -rf "$TARGET"/criterion/{plain,headers,token_mint,token_verify,primitives}
  # The same features as the servers' build: cargo builds the package's
  # binaries for a bench too, and would otherwise replace them.
  feats=$(IFS=,; echo "${FEATURES[*]:-}")
  (cd bench && CARGO_TARGET_DIR="$TARGET" nice -n 19 cargo bench --bench hot_paths --no-run ${feats:+--features "$feats"} >/dev/null 2>&1)
  (cd bench && CARGO_TARGET_DIR="$TARGET" taskset -c "$SRV_CPU" cargo bench --bench hot_paths ${feats:+--features "$feats"} -- \
    --warm-up-time 1 --measurement-time 3 --noplot) >"$OUT/criterion.txt" 2>&1 \
    || log "criterion failed; see $OUT/criterion.txt"
fi

# ------------------------------------------------------------------ report
python3 - "$OUT" "$TARGET/criterion" <<'PY'
import json, os, statistics, sys
out, crit = sys.argv[1], sys.argv[2]
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "results.tsv"))]
order_w = ["plain", "read", "form_get", "form_post", "login"]
label = {"plain": "GET /plain", "read": "GET /read", "form_get": "GET /form",
         "form_post": "POST /form", "login": "POST /login"}
modes = []
for r in rows:
    if r[1] not in modes:
        modes.append(r[1])
pref = ["bare", "mitten", "peer", "mitten-redis", "peer-redis"]
modes.sort(key=lambda m: pref.index(m) if m in pref else 99)
agg = {}
for r in rows:
    agg.setdefault((r[1], r[2]), []).append(r)
def med(m, w, i):
    v = [float(r[i]) for r in agg.get((m, w), [])]
    return statistics.median(v) if v else None
rt = {}
rt_file = os.path.join(out, "redis.tsv")
if os.path.exists(rt_file):
    for l in open(rt_file):
        m, w, reqs, total, names = l.rstrip("\n").split("\t")
        per = {k: int(v) / int(reqs) for k, v in (x.split(":") for x in names.split() if ":" in x)}
        rt[(m, w)] = (int(total) / int(reqs), per)
def redis_rt(m, w):
    if (m, w) not in rt:
        return ""
    total, per = rt[(m, w)]
    mix = ", ".join(f"{k} {v:g}" for k, v in sorted(per.items()))
    return f"{total:g}" + (f" ({mix})" if mix else "")
def paired(m, base, w):
    """Median over rounds of the ratio of two modes' req/s in the same round."""
    a = {r[0]: float(r[3]) for r in agg.get((m, w), [])}
    b = {r[0]: float(r[3]) for r in agg.get((base, w), [])}
    v = [a[k] / b[k] for k in a if k in b and b[k]]
    return statistics.median(v) if v else None
def ratio(m, base, w):
    v = paired(m, base, w)
    return f"{v:.2f}x" if v else ""
has_redis = any(m.endswith("-redis") for m in modes)
hdr = "| workload | mode | req/s | p50 ms | p99 ms | mitten/bare | mitten/peer |"
sep = "|---|---|---:|---:|---:|---:|---:|"
if has_redis:
    hdr += " Redis round trips/req |"; sep += "---|"
print(hdr); print(sep)
for w in order_w:
    for m in modes:
        if (m, w) not in agg:
            continue
        rps, p50, p99 = med(m, w, 3), med(m, w, 4), med(m, w, 5)
        mb = mp = ""
        if m == "mitten":
            mb, mp = ratio(m, "bare", w), ratio(m, "peer", w)
        if m == "mitten-redis":
            mb, mp = ratio(m, "bare", w), ratio(m, "peer-redis", w)
        bad = sum(int(r[7]) for r in agg[(m, w)])
        note = f" ({bad} non-2xx!)" if bad else ""
        line = f"| {label[w]} | {m} | {rps:,.0f}{note} | {p50:.2f} | {p99:.2f} | {mb} | {mp} |"
        if has_redis:
            line += f" {redis_rt(m, w)} |"
        print(line)
print()
print(f"req/s and latencies: medians of {len(set(r[0] for r in rows))} rounds. Ratios: the median "
      "over rounds of the ratio of req/s measured back to back in the same round "
      "(mitten-redis rows: vs bare and vs peer-redis).")
def r(m, w):
    a = med(m, w, 3)
    return a
targets = []
def tgt(name, val, goal):
    if val is None:
        targets.append(f"- {name}: not measured")
    else:
        targets.append(f"- {name}: {val:.2f}x (target >= {goal}x) -> {'MET' if val >= goal else 'MISSED'}")
for m, base, w, goal in [("mitten", "bare", "plain", 0.90), ("mitten", "peer", "read", 1.3),
                         ("mitten-redis", "peer-redis", "read", 1.3),
                         ("mitten", "peer", "form_post", 1.2)]:
    v = paired(m, base, w)
    if v is not None:
        tgt(f"{label[w]} {m}/{base}", v, goal)
for w, goal, txt in [("plain", 0, "= 0"), ("read", 1, "= 1"), ("form_post", 2, "<= 2"), ("login", 2, "<= 2")]:
    if ("mitten-redis", w) in rt:
        v = rt[("mitten-redis", w)][0]
        ok = v == goal if txt.startswith("=") else v <= goal
        targets.append(f"- Redis round trips, {label[w]} (mitten-redis): {v:g} (target {txt}) -> {'MET' if ok else 'MISSED'}")
print("\nTargets:"); print("\n".join(targets))
mem = os.path.join(out, "mem.txt")
if os.path.exists(mem):
    print("\nMemory per session (VmRSS delta / sessions, 100,000 sessions, created through the layer):")
    for l in open(mem):
        m, n, b, a, per = l.split()
        print(f"- {m}: {per} bytes/session (RSS {int(b)/1024:.1f} -> {int(a)/1024:.1f} MiB)")
names = [("plain/bare", "GET /plain, bare router"), ("plain/mitten", "GET /plain, mitten layer"),
         ("headers/bare", "response with Set-Cookie + CSP, bare"),
         ("headers/mitten", "same, mitten (cookie hardening + CSP merge)"),
         ("token_mint", "GET, CsrfToken::token() with a valid cookie"),
         ("token_verify", "POST with cookie + X-CSRF-Token (origin + cookie + token checks)"),
         ("primitives/cookie_sign", "sign a session id (HMAC-SHA256, base64)"),
         ("primitives/cookie_verify", "verify a signed cookie value"),
         ("primitives/cookie_verify_forged", "reject a forged cookie value"),
         ("primitives/token_mint", "mint a masked CSRF token (32 random bytes + HMAC)"),
         ("primitives/token_verify", "verify a masked CSRF token (constant time)")]
lines = []
for path, desc in names:
    f = os.path.join(crit, path, "new", "estimates.json")
    if os.path.exists(f):
        ns = json.load(open(f))["median"]["point_estimate"]
        lines.append(f"- `{path}`: {ns/1000:.3f} µs — {desc}")
if lines:
    print("\nCriterion (median; whole requests via tower::ServiceExt::oneshot, primitives alone):")
    print("\n".join(lines))
PY
