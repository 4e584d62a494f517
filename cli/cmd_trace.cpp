// socklab trace: every TCP state transition the kernel reports, one line each, live.
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <atomic>
#include <iterator>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "command.hpp"
#include "socklab/address.hpp"
#include "socklab/json.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/tracer.hpp"

namespace socklab::cli {
namespace {

std::atomic<bool> g_stop{false};
constexpr int kReaderNice = -10;

extern "C" void on_stop_signal(int) { g_stop.store(true); }

// Handlers without SA_RESTART, so a waiting poll() returns at once; the Tracer then sees a
// handler in place and leaves the cleanup to its destructor.
struct StopSignals {
    struct sigaction old_int {}, old_term {}, old_hup {}, old_pipe {};
    StopSignals() {
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGINT, &sa, &old_int);
        ::sigaction(SIGTERM, &sa, &old_term);
        ::sigaction(SIGHUP, &sa, &old_hup);
        // A closed pipe (socklab trace | head) is seen as a failed write, not a silent death
        // that would leave the instance behind.
        struct sigaction ign {};
        ign.sa_handler = SIG_IGN;
        ::sigaction(SIGPIPE, &ign, &old_pipe);
    }
    ~StopSignals() {
        ::sigaction(SIGINT, &old_int, nullptr);
        ::sigaction(SIGTERM, &old_term, nullptr);
        ::sigaction(SIGHUP, &old_hup, nullptr);
        ::sigaction(SIGPIPE, &old_pipe, nullptr);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;
};

struct TraceArgs {
    std::optional<std::uint16_t> port;
    bool json = false;
    std::optional<double> duration_s;
    bool no_trace = false;
    std::size_t buffer_kb = TracerOptions{}.buffer_kb_per_cpu;
};

std::string format_duration(std::uint64_t ns) {
    if (ns == 0) return "-";
    if (ns < 1'000) return fmt::format("{} ns", ns);
    if (ns < 1'000'000) return fmt::format("{:.1f} us", static_cast<double>(ns) / 1e3);
    if (ns < 1'000'000'000) return fmt::format("{:.2f} ms", static_cast<double>(ns) / 1e6);
    return fmt::format("{:.3f} s", static_cast<double>(ns) / 1e9);
}

// Wall-clock time of day for a CLOCK_MONOTONIC stamp, with microseconds.
std::string format_time(std::uint64_t mono_ns, std::int64_t wall_minus_mono_ns) {
    const std::int64_t wall = static_cast<std::int64_t>(mono_ns) + wall_minus_mono_ns;
    const time_t secs = static_cast<time_t>(wall / 1'000'000'000);
    // Thousands of lines share a second: convert it to local time once.
    static time_t cached_secs = -1;
    static struct tm tm {};
    if (secs != cached_secs) {
        ::localtime_r(&secs, &tm);
        cached_secs = secs;
    }
    return fmt::format("{:02}:{:02}:{:02}.{:06}", tm.tm_hour, tm.tm_min, tm.tm_sec,
                       (wall % 1'000'000'000) / 1'000);
}

std::int64_t wall_minus_mono() {
    timespec wall{}, mono{};
    ::clock_gettime(CLOCK_REALTIME, &wall);
    ::clock_gettime(CLOCK_MONOTONIC, &mono);
    return (static_cast<std::int64_t>(wall.tv_sec) - mono.tv_sec) * 1'000'000'000 +
           (wall.tv_nsec - mono.tv_nsec);
}

constexpr const char* kLineFormat = "{:<15} {:>7} {:<15} {:<25} {:<25} {:<26} {:>10}\n";

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c >= 0x7f) {
            // comm is whatever a program named itself: keep the line valid JSON whatever it is.
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        } else {
            out += ch;
        }
    }
    out += '"';
}

// The same object as socklab::to_json(TransitionEvent) (the CLI test holds them to the same
// keys), written straight into a string: building an nlohmann::json per event cost more than
// everything else the tracer does, and under churn that decides whether events are lost.
std::string json_line(const TransitionEvent& e) {
    std::string out;
    out.reserve(320);
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"time_ns\":{},\"pid\":{},\"comm\":", e.time_ns, e.pid);
    append_json_string(out, e.comm_view());
    fmt::format_to(std::back_inserter(out),
                   ",\"family\":\"{}\",\"local_addr\":\"{}\",\"local_port\":{},"
                   "\"remote_addr\":\"{}\",\"remote_port\":{},\"old_state\":\"{}\","
                   "\"new_state\":\"{}\",\"old_state_ns\":{},\"skaddr\":{},\"cpu\":{}}}\n",
                   family_name(e.family), e.local_addr.to_string(), e.local_port,
                   e.remote_addr.to_string(), e.remote_port, state_name(e.old_state),
                   state_name(e.new_state), e.old_state_ns, e.skaddr, e.cpu);
    return out;
}

std::string text_line(const TransitionEvent& e, std::int64_t offset) {
    return fmt::format(kLineFormat, format_time(e.time_ns, offset), e.pid, e.comm_view(),
                       format_endpoint(e.local_addr, e.local_port),
                       format_endpoint(e.remote_addr, e.remote_port),
                       fmt::format("{} -> {}", state_name(e.old_state), state_name(e.new_state)),
                       format_duration(e.old_state_ns));
}

// The end of a trace: what is still owed to the reader, and the kernel's lost count.
std::uint64_t finish(Tracer& t, std::vector<TransitionEvent>& tail) {
    t.poll(tail, std::chrono::milliseconds(0));
    return t.lost_events();
}
std::uint64_t finish(HelperTracer& t, std::vector<TransitionEvent>& tail) { return t.finish(tail); }
std::uint64_t malformed_of(const Tracer& t) { return t.malformed_records(); }
std::uint64_t malformed_of(const HelperTracer&) { return 0; }  // counted inside the helper

template <class AnyTracer>
int trace_loop(AnyTracer& tracer, const TraceArgs& args) {
    if (!tracer.status().active) {
        std::fprintf(stderr, "socklab: %s\n", tracer.status().message.c_str());
        return kExitNothing;
    }
    // The kernel buffer holds a few seconds of churn; a reader starved by a busy machine for
    // longer loses events. Reading costs ~2 us per transition, so running ahead of ordinary
    // work costs the others little. Best effort: without the privilege, stay as we are.
    if (::getpriority(PRIO_PROCESS, 0) > kReaderNice) ::setpriority(PRIO_PROCESS, 0, kReaderNice);

    const auto offset = wall_minus_mono();
    const auto start = std::chrono::steady_clock::now();
    const std::optional<std::chrono::steady_clock::time_point> until =
        args.duration_s ? std::optional(start + std::chrono::duration_cast<
                                                    std::chrono::steady_clock::duration>(
                                                    std::chrono::duration<double>(*args.duration_s)))
                        : std::nullopt;
    if (!args.json) {
        std::fputs(fmt::format(kLineFormat, "TIME", "PID", "COMM", "LOCAL", "REMOTE",
                               "OLD -> NEW", "IN OLD")
                       .c_str(),
                   stdout);
        std::fflush(stdout);
    }

    std::vector<TransitionEvent> events;
    std::uint64_t shown = 0;
    bool output_ok = true;
    while (!g_stop.load() && output_ok) {
        auto wait = std::chrono::milliseconds(200);
        if (until) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                *until - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            wait = std::min(wait, left);
        }
        events.clear();
        tracer.poll(events, wait);
        for (const auto& e : events) {
            const std::string line =
                args.json ? json_line(e) : text_line(e, offset);
            if (std::fputs(line.c_str(), stdout) == EOF) {
                output_ok = false;
                break;
            }
            ++shown;
        }
        if (!events.empty() && std::fflush(stdout) == EOF) output_ok = false;
    }

    // What was read but held back for ordering is still owed to the reader.
    events.clear();
    const std::uint64_t lost = finish(tracer, events);
    if (output_ok) {
        for (const auto& e : events) {
            const std::string line = args.json ? json_line(e) : text_line(e, offset);
            if (std::fputs(line.c_str(), stdout) == EOF) break;
            ++shown;
        }
        std::fflush(stdout);
    }

    const std::uint64_t malformed = malformed_of(tracer);
    std::fprintf(stderr, "socklab: %llu transitions shown, %llu lost",
                 static_cast<unsigned long long>(shown), static_cast<unsigned long long>(lost));
    if (malformed) std::fprintf(stderr, ", %llu unreadable", static_cast<unsigned long long>(malformed));
    std::fputc('\n', stderr);
    if (lost)
        std::fprintf(stderr,
                     "socklab: the kernel dropped %llu transitions because the trace buffer was "
                     "full; narrow it with --port or use --buffer-kb to enlarge it\n",
                     static_cast<unsigned long long>(lost));
    return kExitOk;
}

int run_trace(const TraceArgs& args) {
    StopSignals signals;
    TracerOptions opts;
    opts.port = args.port;
    opts.force_unprivileged = args.no_trace;
    opts.buffer_kb_per_cpu = args.buffer_kb;
    // Not root, but in group socklab with the helper installed: the helper traces for us.
    if (!args.no_trace && privilege_path() == PrivilegePath::helper) {
        HelperTracer tracer(*find_helper(), opts);
        if (tracer.status().active)
            std::fprintf(stderr, "socklab: %s\n", tracer.status().message.c_str());
        return trace_loop(tracer, args);
    }
    Tracer tracer(opts);
    return trace_loop(tracer, args);
}

}  // namespace

void register_trace(CLI::App& root, Runner& run) {
    auto args = std::make_shared<TraceArgs>();
    auto* sub = root.add_subcommand(
        "trace",
        "Show every TCP state transition as the kernel makes it (needs root, or group "
        "socklab with socklab-helper installed)");
    sub->add_option("--port", args->port,
                    "Only connections with this local or remote port (filtered in the kernel)")
        ->check(port_validator());
    sub->add_flag("--json", args->json,
                  "One JSON object per transition: time_ns, pid, comm, family, local_addr, "
                  "local_port, remote_addr, remote_port, old_state, new_state, old_state_ns");
    sub->add_option("--duration", args->duration_s, "Stop after SECONDS (default: until Ctrl-C)")
        ->check(decimal_number(0.001, 31'536'000, "seconds"));
    sub->add_option("--buffer-kb", args->buffer_kb, "Kernel trace buffer per cpu, in KiB")
        ->check(whole_number(64, 1 << 20, "KiB"));
    // Hidden: behave as without privileges (tests, and showing what non-root users see).
    sub->add_flag("--no-trace", args->no_trace, "Do not trace (as without privileges)")
        ->group("");
    set_examples(*sub,
                 "  socklab trace                         every transition on this machine\n"
                 "  socklab trace --port 8080             only connections to/from port 8080\n"
                 "  socklab trace --json --duration 10    ten seconds as JSON lines\n");
    sub->footer([] { return "\nPRIVILEGES\n  in use now: " + privilege_path_text(); });
    sub->callback([&run, args] { run = [args] { return run_trace(*args); }; });
}

}  // namespace socklab::cli
