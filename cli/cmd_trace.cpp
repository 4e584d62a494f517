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
#include <variant>
#include <vector>

#include "command.hpp"
#include "socklab/address.hpp"
#include "socklab/capture.hpp"
#include "socklab/conversation.hpp"
#include "socklab/json.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/tracer.hpp"
#include "socklab/i18n.hpp"

namespace socklab::cli {
namespace {

constexpr int kReaderNice = -10;

struct TraceArgs {
    std::optional<std::uint16_t> port;
    bool json = false;
    std::optional<double> duration_s;
    bool no_trace = false;
    std::size_t buffer_kb = TracerOptions{}.buffer_kb_per_cpu;
    bool packets = false;
    bool syscalls = false;
    std::string interface = "lo";
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

std::string json_line(const TransitionEvent& e) {
    std::string out;
    out.reserve(320);
    append_json(out, e);
    out += '\n';
    return out;
}

std::string text_line(const TransitionEvent& e, std::int64_t offset) {
    return fmt::format(kLineFormat, format_time(e.time_ns, offset), e.pid, e.comm_view(),
                       format_endpoint(e.local_addr, e.local_port),
                       format_endpoint(e.remote_addr, e.remote_port),
                       fmt::format("{} -> {}", state_name(e.old_state), state_name(e.new_state)),
                       format_duration(e.old_state_ns));
}

// --duration as a deadline: how long the next wait may last, never past it; nullopt once it
// has passed. Without --duration, always `longest`.
class Deadline {
public:
    explicit Deadline(std::optional<double> seconds) {
        if (seconds)
            until_ = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(*seconds));
    }
    [[nodiscard]] std::optional<std::chrono::milliseconds> next_wait(
        std::chrono::milliseconds longest) const {
        if (!until_) return longest;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            *until_ - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        return std::min(longest, left);
    }

private:
    std::optional<std::chrono::steady_clock::time_point> until_;
};

// --- trace --packets --syscalls: segments, transitions and calls in one stream ---------------

// "127.0.0.1:41000 → :9005" (the address is left out on the right when it is the same).
std::string arrow(const IpAddr& a, std::uint16_t ap, const IpAddr& b, std::uint16_t bp) {
    const std::string right = a == b ? fmt::format(":{}", bp) : format_endpoint(b, bp);
    return format_endpoint(a, ap) + " \u2192 " + right;
}

std::string segment_text(const Segment& s) {
    std::string out = arrow(s.src_addr, s.src_port, s.dst_addr, s.dst_port) + "  " +
                      flags_label(s.flags) + fmt::format(" seq {}", s.rel_seq);
    if (s.has(tcp_flag::ACK)) out += fmt::format(" ack {}", s.rel_ack);
    if (s.len) out += fmt::format(" len {}", s.len);
    out += fmt::format(" win {}", s.win);
    if (s.options.mss) out += fmt::format(" mss {}", *s.options.mss);
    if (s.options.wscale) out += fmt::format(" wscale {}", *s.options.wscale);
    if (s.options.sack_permitted) out += " sackOK";
    return out;
}

std::string transition_text(const TransitionEvent& e, Side side) {
    const std::string who = side == Side::unknown
                                ? format_endpoint(e.local_addr, e.local_port)
                                : std::string(side_name(side));
    return fmt::format("{} {}  (was {}, {}; {} {}:{})", who, state_name(e.new_state),
                       state_name(e.old_state), format_duration(e.old_state_ns),
                       format_endpoint(e.local_addr, e.local_port), e.comm_view(), e.pid);
}

std::string syscall_text(const SyscallEvent& c, Side side) {
    std::string out;
    if (side != Side::unknown) out = std::string(side_name(side)) + " ";
    out += fmt::format("{}(fd {}) = {}", syscall_name(c.call), c.fd, c.result);
    if (c.error) out += " " + errno_name(c.error);
    out += fmt::format(" by {}[{}]", c.comm_view(), c.pid);
    if (c.key && c.key->local_port)
        out += "  " + (c.key->remote_port ? arrow(c.key->local_addr, c.key->local_port,
                                                  c.key->remote_addr, c.key->remote_port)
                                          : format_endpoint(c.key->local_addr, c.key->local_port));
    return out;
}

struct CauseLine {
    std::uint64_t time_ns = 0;
    std::variant<Segment, TransitionEvent, SyscallEvent> what;
};

bool on_port(const SyscallEvent& c, std::optional<std::uint16_t> port) {
    if (!port) return true;
    return c.key && (c.key->local_port == *port || c.key->remote_port == *port);
}

int run_causes(const TraceArgs& args) {
    StopSignals signals;
    TracerOptions topts;
    topts.port = args.port;
    topts.force_unprivileged = args.no_trace;
    topts.buffer_kb_per_cpu = args.buffer_kb;
    topts.syscalls = args.syscalls;
    // The capture opens first: once the tracer's instance is on, both sources are live.
    std::optional<Capture> capture;
    if (args.packets) {
        CaptureOptions copts;
        copts.interface = args.interface;
        if (args.port) copts.ports = {*args.port};
        capture.emplace(copts);
    }
    TransitionTracer tracer(topts);
    const StopTracerAtEnd stop_at_end(tracer);
    if (tracer.through_helper() && tracer.status().active)
        std::fprintf(stderr, "socklab: %s\n", tracer.status().message.c_str());
    if (capture && capture->status().active && privilege_path() == PrivilegePath::helper)
        std::fprintf(stderr, "socklab: %s\n", capture->status().message.c_str());
    // One clear line per source that is missing; the others carry on.
    if (!tracer.status().active) {
        // Transitions and calls share the tracing instance: one reason for both.
        std::string msg = tracer.status().message;
        // core's message (English): replaced by the translated, longer sentence
        const std::string lead = "state transitions are not traced";  // i18n: allow
        if (args.syscalls && msg.rfind(lead, 0) == 0)
            msg.replace(0, lead.size(), _("state transitions and system calls are not traced"));
        std::fprintf(stderr, "socklab: %s\n", msg.c_str());
    }
    else if (args.syscalls && !tracer.syscall_status().active)
        std::fprintf(stderr, "socklab: %s\n", tracer.syscall_status().message.c_str());
    if (capture && !capture->status().active)
        std::fprintf(stderr, "socklab: %s\n", capture->status().message.c_str());
    const bool capturing = capture && capture->status().active;
    if (!tracer.status().active && !capturing) return kExitNothing;
    if (::getpriority(PRIO_PROCESS, 0) > kReaderNice) ::setpriority(PRIO_PROCESS, 0, kReaderNice);

    const Deadline deadline(args.duration_s);

    conversation::ConversationSet convs;
    std::vector<CauseLine> held;  // read, waiting until the other sources have caught up
    std::vector<Segment> segs;
    std::vector<TransitionEvent> trans;
    std::vector<SyscallEvent> calls;
    std::uint64_t first_ns = 0;
    std::uint64_t shown_segments = 0, shown_transitions = 0, shown_calls = 0;
    bool output_ok = true;
    // Sources are read one after the other: hold each record back this long so an earlier
    // one from another source can still sort before it.
    constexpr std::uint64_t kHoldNs = 50'000'000;

    const auto emit = [&](const CauseLine& line) {
        std::string text;
        if (const auto* s = std::get_if<Segment>(&line.what)) {
            const ConversationItem* item = nullptr;
            convs.add(*s, &item);
            const Segment& rel = *item->segment();
            if (args.json) append_json(text, rel);
            else text = segment_text(rel);
            ++shown_segments;
        } else if (const auto* e = std::get_if<TransitionEvent>(&line.what)) {
            const ConversationItem* item = nullptr;
            convs.add(*e, &item);
            if (args.json) {
                append_json(text, *e, true);
            } else {
                const Side side = item ? item->side
                                  : e->new_state == static_cast<std::uint8_t>(TcpState::syn_sent)
                                      ? Side::client  // only a client sends a SYN
                                      : Side::unknown;
                text = transition_text(*e, side);
            }
            ++shown_transitions;
        } else if (const auto* c = std::get_if<SyscallEvent>(&line.what)) {
            if (!on_port(*c, args.port)) return;
            const ConversationItem* item = nullptr;
            convs.add(*c, &item);
            if (args.json) append_json(text, *c);
            else text = syscall_text(*c, item ? item->side : Side::unknown);
            ++shown_calls;
        }
        if (first_ns == 0) first_ns = line.time_ns;
        if (!args.json) {
            const auto since = line.time_ns >= first_ns ? line.time_ns - first_ns : 0;
            text = fmt::format("+{}.{:06} ", since / 1'000'000'000, (since % 1'000'000'000) / 1'000) + text;
        }
        text += '\n';
        if (std::fputs(text.c_str(), stdout) == EOF) output_ok = false;
    };
    const auto flush = [&](std::uint64_t before_ns) {
        std::stable_sort(held.begin(), held.end(),
                         [](const CauseLine& a, const CauseLine& b) { return a.time_ns < b.time_ns; });
        std::size_t n = 0;
        while (n < held.size() && held[n].time_ns < before_ns && output_ok) emit(held[n++]);
        held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(n));
        if (n && std::fflush(stdout) == EOF) output_ok = false;
    };
    const auto gather = [&](std::chrono::milliseconds wait) {
        segs.clear();
        trans.clear();
        calls.clear();
        if (capturing) capture->poll(segs, tracer.status().active ? std::chrono::milliseconds(0) : wait);
        if (tracer.status().active) tracer.poll(trans, calls, wait);
        if (capturing) capture->poll(segs, std::chrono::milliseconds(0));
        for (auto& s : segs) held.push_back({s.time_ns, s});
        for (auto& e : trans) held.push_back({e.time_ns, e});
        for (auto& c : calls) held.push_back({c.time_ns, c});
    };

    while (!stop_requested() && output_ok) {
        const auto next = deadline.next_wait(std::chrono::milliseconds(20));
        if (!next) break;
        const auto wait = *next;
        gather(wait);
        const std::uint64_t now = monotonic_ns();
        flush(now > kHoldNs ? now - kHoldNs : 0);
    }
    if (output_ok) gather(std::chrono::milliseconds(0));
    std::vector<TransitionEvent> tail;  // read by the helper but not yet sent when it stopped
    std::vector<SyscallEvent> calls_tail;
    const std::uint64_t lost = tracer.finish(tail, &calls_tail);
    if (output_ok) {
        for (auto& e : tail) held.push_back({e.time_ns, e});
        for (auto& c : calls_tail) held.push_back({c.time_ns, c});
        flush(~std::uint64_t{0});
    }

    std::fprintf(stderr, _("socklab: %llu segments, %llu transitions, %llu system calls shown"),
                 static_cast<unsigned long long>(shown_segments),
                 static_cast<unsigned long long>(shown_transitions),
                 static_cast<unsigned long long>(shown_calls));
    const std::uint64_t dropped = capturing ? capture->stats().lost() : 0;
    std::fprintf(stderr, _("; %llu trace events lost, %llu segments dropped by the capture\n"),
                 static_cast<unsigned long long>(lost), static_cast<unsigned long long>(dropped));
    if (lost || dropped)
        std::fputs(_("socklab: records were lost (buffers full); narrow it with --port "
                     "or enlarge --buffer-kb\n"),
                   stderr);
    return kExitOk;
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
    const Deadline deadline(args.duration_s);
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
    while (!stop_requested() && output_ok) {
        const auto next = deadline.next_wait(std::chrono::milliseconds(200));
        if (!next) break;
        const auto wait = *next;
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
    std::fprintf(stderr, _("socklab: %llu transitions shown, %llu lost"),
                 static_cast<unsigned long long>(shown), static_cast<unsigned long long>(lost));
    if (malformed) std::fprintf(stderr, _(", %llu unreadable"), static_cast<unsigned long long>(malformed));
    std::fputc('\n', stderr);
    if (lost)
        std::fprintf(stderr,
                     _("socklab: the kernel dropped %llu transitions because the trace buffer was "
                     "full; narrow it with --port or use --buffer-kb to enlarge it\n"),
                     static_cast<unsigned long long>(lost));
    return kExitOk;
}

int run_trace(const TraceArgs& args) {
    if (args.packets || args.syscalls) return run_causes(args);
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
    const StopTracerAtEnd stop_at_end(tracer);
    return trace_loop(tracer, args);
}

}  // namespace

void register_trace(CLI::App& root, Runner& run) {
    auto args = std::make_shared<TraceArgs>();
    auto* sub = root.add_subcommand(
        "trace",
        _("Show every TCP state transition as the kernel makes it (needs root, or group "
        "socklab with socklab-helper installed)"));
    sub->add_option("--port", args->port,
                    _("Only connections with this local or remote port (filtered in the kernel)"))
        ->check(port_validator());
    sub->add_flag("--json", args->json,
                  _("One JSON object per transition: time_ns, pid, comm, family, local_addr, "
                  "local_port, remote_addr, remote_port, old_state, new_state, old_state_ns"));
    sub->add_option("--duration", args->duration_s, _("Stop after SECONDS (default: until Ctrl-C)"))
        ->check(decimal_number(0.001, 31'536'000, "seconds"));
    sub->add_option("--buffer-kb", args->buffer_kb, _("Kernel trace buffer per cpu, in KiB"))
        ->check(whole_number(64, 1 << 20, "KiB"));
    sub->add_flag("--packets", args->packets,
                  _("Also show the TCP segments (libpcap on --interface, needs CAP_NET_RAW): "
                  "flags, seq/ack relative to each side's first sequence number, length, window"));
    sub->add_flag("--syscalls", args->syscalls,
                  _("Also show the lifecycle system calls (socket, bind, listen, accept, connect, "
                  "shutdown, close, setsockopt) and who made them"));
    sub->add_option("--interface", args->interface, _("Interface to capture on (default: lo)"));
    // Hidden: behave as without privileges (tests, and showing what non-root users see).
    sub->add_flag("--no-trace", args->no_trace, _("Do not trace (as without privileges)"))
        ->group("");
    set_examples(*sub,
                 _("  socklab trace                         every transition on this machine\n"
                 "  socklab trace --port 8080             only connections to/from port 8080\n"
                 "  socklab trace --json --duration 10    ten seconds as JSON lines\n"
                 "  socklab trace --packets --syscalls --port 9005\n"
                 "                                        segments, states and calls of port 9005\n"));
    sub->footer([] { return _("\nPRIVILEGES\n  in use now: ") + privilege_path_text(); });
    sub->callback([&run, args] { run = [args] { return run_trace(*args); }; });
}

}  // namespace socklab::cli
