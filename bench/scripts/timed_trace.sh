# timed_trace.sh — sourced by the tracer and causes benchmarks: run `socklab trace` under
# /usr/bin/time (its CPU cost is the number), wait until its tracing instance is on, stop it
# as Ctrl-C would. Callers define die() and $socklab.
#   trace_start OUT ERR TIMEFILE [socklab trace options...]   sets trace_pid, time_pid
#   trace_stop ERR                                             SIGINT, wait, clears both
#   trace_cleanup                                              for an EXIT trap
#   churn_option OPTION VALUE   the options both take: --duration --port --threads --build-dir
trace_pid=""
time_pid=""

trace_start() {
    local out=$1 err=$2 timefile=$3 i f ready=0
    shift 3
    /usr/bin/time -f '%U %S %e' -o "$timefile" "$socklab" trace "$@" >"$out" 2>"$err" &
    time_pid=$!
    trace_pid=""
    for ((i = 0; i < 500; i++)); do
        trace_pid=$(pgrep -P "$time_pid" -x socklab || true)
        [[ -z $trace_pid ]] || break
        sleep 0.01
    done
    [[ -n $trace_pid ]] || die "socklab trace did not start: $(cat "$err")"
    # Ready when its own instance (socklab-<pid>-*) traces: tracing_on and the event enabled
    # (a new instance starts with tracing_on = 1, before socklab has set it up).
    for ((i = 0; i < 1000 && !ready; i++)); do
        for f in /sys/kernel/tracing/instances/socklab-"$trace_pid"-*/tracing_on; do
            [[ -e $f && $(cat "$f") == 1 && $(cat "${f%/tracing_on}/events/sock/inet_sock_set_state/enable") == 1 ]] && ready=1
        done
        ((ready)) || sleep 0.01
    done
    ((ready)) || die "socklab trace did not get ready: $(cat "$err")"
}

trace_stop() {
    kill -INT "$trace_pid"
    wait "$time_pid" || die "socklab trace failed: $(cat "$1")"
    trace_pid=""
    time_pid=""
}

trace_cleanup() {
    # Only what this script started: the trace (ends cleanly on SIGINT) and its time wrapper.
    if [[ -n $trace_pid ]] && kill -0 "$trace_pid" 2>/dev/null; then kill -INT "$trace_pid" 2>/dev/null || true; fi
    if [[ -n $time_pid ]]; then wait "$time_pid" 2>/dev/null || true; fi
}

churn_option() {
    [[ -n ${2:-} ]] || { echo "$(basename "$0"): $1 needs a value" >&2; exit 2; }
    case $1 in
        --duration) duration=$2 ;;
        --port) port=$2 ;;
        --threads) threads=$2 ;;
        --build-dir) build_dir=$2 ;;
        *) echo "$(basename "$0"): churn_option: unknown option $1" >&2; exit 2 ;;
    esac
}
