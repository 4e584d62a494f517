// The learner's program, the pure half: observations in, socket lives and findings out.
#include "socklab/program.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <map>
#include <set>

#include "socklab/i18n.hpp"
#include "socklab/state.hpp"
#include "socklab/tracer.hpp"

namespace socklab::program {
namespace {

constexpr std::uint64_t kS = 1'000'000'000;

constexpr std::uint8_t st(TcpState s) noexcept { return static_cast<std::uint8_t>(s); }

double seconds_between(std::uint64_t from_ns, std::uint64_t to_ns) noexcept {
    return to_ns > from_ns ? static_cast<double>(to_ns - from_ns) / 1e9 : 0.0;
}

bool has_tuple(const SocketKey& k) noexcept { return k.local_port != 0; }

// Polls and traced transitions both report states, at their own times: collected first,
// put in time order at the end.
using Samples = std::map<std::uint64_t, std::vector<std::pair<std::uint64_t, std::uint8_t>>>;

void see_state(Samples& samples, SocketLife& life, std::uint8_t state, std::uint64_t time_ns) {
    samples[life.inode].emplace_back(time_ns, state);
    if (life.first_ns == 0 || time_ns < life.first_ns) life.first_ns = time_ns;
    life.last_ns = std::max(life.last_ns, time_ns);
}

// States in time order without repeats; when CLOSE_WAIT began and when it ended (0: not).
std::uint64_t settle_states(SocketLife& life, std::vector<std::pair<std::uint64_t, std::uint8_t>>& v) {
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    life.states.clear();
    std::uint64_t left_close_wait = 0;
    for (const auto& [t, state] : v) {
        if (life.states.empty() || life.states.back() != state) {
            if (!life.states.empty() && life.states.back() == st(TcpState::close_wait) &&
                left_close_wait == 0)
                left_close_wait = t;
            life.states.push_back(state);
        }
        if (state == st(TcpState::close_wait) && !life.close_wait_ns) life.close_wait_ns = t;
    }
    return left_close_wait;
}

std::string endpoint(const IpAddr& a, std::uint16_t port) {
    if (port == 0) return "*";
    return fmt::format("{}:{}", a.to_string(), port);
}

Finding finding_for(FindingKind kind, const SocketLife& life) {
    Finding f;
    f.kind = kind;
    f.pid = life.pid;
    f.fd = life.fd;
    f.local_port = life.key.local_port;
    f.remote_port = life.key.remote_port;
    return f;
}

// Lives known only by their 4-tuple (see name_accepts) are kept under ids from here up;
// the report says their inode is unknown (0).
constexpr std::uint64_t kTupleOnly = std::uint64_t{1} << 63;

// Accepts the tracer could not name — the program had ended, or closed the descriptor,
// before its calls were read, so /proc no longer had the link — are named by the accept
// queue the transitions show: each takes the oldest connection established on its
// listener's port before it returned, as trace::CallSocketHints does live.
std::vector<SyscallEvent> name_accepts(const Input& in) {
    std::vector<SyscallEvent> calls = in.calls;
    std::map<std::pair<std::int32_t, std::int32_t>, std::uint16_t> listeners;  // (pid, fd) -> port
    for (const auto& poll : in.polls)
        for (const auto& h : poll.sockets)
            if (h.record.state == st(TcpState::listen)) listeners[{h.pid, h.fd}] = h.record.local_port;
    for (const auto& c : calls)
        if (c.call == SyscallKind::listen && c.result == 0 && c.key && c.key->local_port != 0)
            listeners[{c.pid, c.fd}] = c.key->local_port;
    // Both are in time order (Input): the queue sees what happened before each accept().
    trace::CallSocketHints queue;
    std::size_t next = 0;
    for (auto& c : calls) {
        if ((c.call != SyscallKind::accept && c.call != SyscallKind::accept4) || c.result < 0) continue;
        while (next < in.transitions.size() && in.transitions[next].time_ns <= c.time_ns)
            queue.observe(in.transitions[next++]);
        if (c.key && c.key->remote_port != 0) {
            queue.accepted(*c.key);
            continue;
        }
        const auto port = listeners.find({c.pid, c.fd});
        if (port == listeners.end()) continue;
        if (auto k = queue.take_accepted(port->second, c.time_ns)) c.key = k;
    }
    return calls;
}

}  // namespace

std::string_view kind_name(FindingKind k) noexcept {
    static constexpr std::string_view names[kFindingKinds] = {
        "close_wait_leak", "recv_zero_loop", "framing_hint", "bind_in_use", "rst_sent",
        "rst_received",    "sigpipe",        "refused",      "open_at_exit", "fd_growth"};
    const auto i = static_cast<std::size_t>(k);
    return i < kFindingKinds ? names[i] : std::string_view("unknown");
}

std::string rebuild_stream(std::span<const StreamChunk> chunks) {
    std::vector<const StreamChunk*> order;
    order.reserve(chunks.size());
    for (const auto& c : chunks)
        if (!c.bytes.empty()) order.push_back(&c);
    std::stable_sort(order.begin(), order.end(), [](const StreamChunk* a, const StreamChunk* b) {
        return a->offset < b->offset;
    });
    std::string out;
    for (const auto* c : order) {
        if (c->offset > out.size()) break;  // a gap: nothing after it is known
        const auto end = c->offset + c->bytes.size();
        if (end <= out.size()) continue;  // a retransmission of bytes already placed
        out.append(c->bytes, static_cast<std::size_t>(out.size() - c->offset), std::string::npos);
    }
    return out;
}

namespace {

void escape_into(std::string& out, std::string_view bytes) {
    for (const char ch : bytes) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        default:
            if (c < 0x20 || c >= 0x7f) out += fmt::format("\\x{:02x}", c);
            else out += ch;
        }
    }
}

}  // namespace

std::string split_excerpt(std::string_view bytes, std::size_t at, std::size_t max) {
    at = std::min(at, bytes.size());
    // The line's start: after the last '\n' before `at`; its end: the first '\n' at or after.
    const auto nl_before = at == 0 ? std::string_view::npos : bytes.rfind('\n', at - 1);
    const std::size_t start = nl_before == std::string_view::npos ? 0 : nl_before + 1;
    const auto nl_after = bytes.find('\n', at);
    const std::size_t end = nl_after == std::string_view::npos ? bytes.size() : nl_after + 1;
    std::string out = "\"";
    if (at - start > max) {
        out += "...";
        escape_into(out, bytes.substr(at - max, max));
    } else {
        escape_into(out, bytes.substr(start, at - start));
    }
    out += "\" + \"";
    if (end - at > max) {
        escape_into(out, bytes.substr(at, max));
        out += "...";
    } else {
        escape_into(out, bytes.substr(at, end - at));
    }
    out += '"';
    return out;
}

std::string merged_excerpt(std::string_view bytes, std::size_t start, std::size_t end,
                           std::size_t newline, std::size_t max) {
    end = std::min(end, bytes.size());
    if (start >= end || newline < start || newline + 1 >= end) return R"("" + "")";
    // The first line the read holds (from the read's start) and the one after it, inside it.
    const auto next_nl = bytes.find('\n', newline + 1);
    const std::size_t next_end = next_nl == std::string_view::npos ? end : std::min(end, next_nl + 1);
    std::string out = "\"";
    if (newline + 1 - start > max) {
        out += "...";
        escape_into(out, bytes.substr(newline + 1 - max, max));
    } else {
        escape_into(out, bytes.substr(start, newline + 1 - start));
    }
    out += "\" + \"";
    if (next_end - (newline + 1) > max) {
        escape_into(out, bytes.substr(newline + 1, max));
        out += "...";
    } else {
        escape_into(out, bytes.substr(newline + 1, next_end - (newline + 1)));
    }
    out += '"';
    return out;
}

std::vector<Finding> framing_hints(std::span<const ReceivedStream> streams) {
    std::vector<Finding> out;
    for (const auto& s : streams) {
        const auto finding = [&s](std::uint64_t count, std::string evidence) {
            Finding f;
            f.kind = FindingKind::framing_hint;
            f.pid = s.pid;
            f.tid = s.tid;
            f.fd = s.fd;
            f.local_port = s.key.local_port;
            f.remote_port = s.key.remote_port;
            f.count = count;
            f.evidence = std::move(evidence);
            return f;
        };
        // Split: a read ended mid-line and the next read continued the line.
        std::uint64_t offset = 0, splits = 0, first_at = 0, first_read = 0;
        for (std::size_t i = 0; i + 1 < s.reads.size(); ++i) {
            const auto n = s.reads[i];
            if (n == 0) break;  // end of stream
            offset += n;
            // Judged only where the bytes of this read and of the start of the next are known.
            if (offset >= s.bytes.size()) break;
            if (s.reads[i + 1] == 0) break;
            if (s.bytes[static_cast<std::size_t>(offset - 1)] == '\n') continue;
            if (splits++ == 0) {
                first_at = offset;
                first_read = i + 1;
            }
        }
        if (splits != 0)
            out.push_back(finding(
                splits,
                i18n::format(
                    _("receive {} on fd {} ended mid-line at byte {} of the stream and the next "
                      "receive continued the line ({}): TCP is a byte stream and one recv() is "
                      "not one message, so a program that compares whole reads with a command "
                      "misses it; collect bytes up to the newline (a hint: a peer that sends no "
                      "newlines looks the same)"),
                    first_read, s.fd, first_at,
                    split_excerpt(s.bytes, static_cast<std::size_t>(first_at)))));
        // Merged: one read returned a whole line and more bytes after it.
        std::uint64_t start = 0, merged = 0, merged_read = 0;
        std::size_t merged_start = 0, merged_end = 0, merged_nl = 0;
        for (std::size_t i = 0; i < s.reads.size(); ++i) {
            const auto n = s.reads[i];
            if (n == 0 || start >= s.bytes.size()) break;  // end of stream, or bytes not known
            const auto from = static_cast<std::size_t>(start);
            const auto end = static_cast<std::size_t>(std::min<std::uint64_t>(start + n, s.bytes.size()));
            // A whole line inside this read — it starts in the read (at the read's start on a
            // line boundary, or after a newline in it) — with a byte after it, also in the read.
            const std::string_view known = std::string_view(s.bytes).substr(0, end - 1);
            std::size_t line = from;
            if (from != 0 && s.bytes[from - 1] != '\n') {
                const auto first = known.find('\n', from);
                line = first == std::string_view::npos ? end : first + 1;
            }
            const auto nl = line < end ? known.find('\n', line) : std::string_view::npos;
            if (nl != std::string_view::npos && merged++ == 0) {
                merged_read = i + 1;
                merged_start = line;
                merged_end = end;
                merged_nl = nl;
            }
            start += n;
        }
        if (merged != 0)
            out.push_back(finding(
                merged,
                i18n::format(
                    _("receive {} on fd {} returned more than one line ({}): one recv() can "
                      "return several lines, so a program that compares whole reads with a "
                      "command misses it; split the bytes at each newline (a hint: a careful "
                      "program that splits them reads the same)"),
                    merged_read, s.fd,
                    merged_excerpt(s.bytes, merged_start, merged_end, merged_nl))));
    }
    return out;
}

Report analyse(const Input& in, const Thresholds& t) {
    Report r;
    Samples samples;
    std::map<std::uint64_t, SocketLife> lives;  // by inode: ordered, so the report is stable
    auto life_of = [&](std::uint64_t inode) -> SocketLife& {
        auto& l = lives[inode];
        l.inode = inode;
        return l;
    };

    // Polls: every socket the program held, its states, when it went away.
    std::set<std::uint64_t> previous;
    const std::uint64_t last_poll_ns = in.polls.empty() ? 0 : in.polls.back().time_ns;
    for (const auto& poll : in.polls) {
        std::set<std::uint64_t> now;
        for (const auto& h : poll.sockets) {
            if (h.record.inode == 0) continue;
            now.insert(h.record.inode);
            auto& life = life_of(h.record.inode);
            life.pid = h.pid;
            life.fd = h.fd;
            const auto k = key_of(h.record);
            if (!has_tuple(life.key) || k.remote_port != 0) life.key = k;
            see_state(samples, life, h.record.state, poll.time_ns);
            life.held_state = h.record.state;
        }
        // Gone between two polls while the program ran: it closed the descriptor.
        for (const auto inode : previous)
            if (!now.count(inode)) lives[inode].closed_by_program = true;
        previous = std::move(now);
    }
    for (const auto inode : previous) lives[inode].open_at_end = true;

    // Traced calls: sockets too short-lived for a poll, and every close().
    const auto calls = name_accepts(in);
    std::map<SocketKey, std::uint64_t> tuple_only;
    std::vector<const SyscallEvent*> closes;
    for (const auto& c : calls) {
        std::uint64_t id = c.inode;
        if (id == 0) {
            // Known by its 4-tuple alone: one life per connection, its inode unknown.
            if (!c.key || c.key->remote_port == 0) continue;
            id = tuple_only.try_emplace(*c.key, kTupleOnly + tuple_only.size()).first->second;
        }
        auto& life = life_of(id);
        if (life.pid == 0) life.pid = c.pid;
        if (life.fd < 0) life.fd = call_descriptor(c);
        if (c.key && (!has_tuple(life.key) || c.key->remote_port != 0)) life.key = *c.key;
        if (life.first_ns == 0 || c.time_ns < life.first_ns) life.first_ns = c.time_ns;
        life.last_ns = std::max(life.last_ns, c.time_ns);
        if (c.call == SyscallKind::close) {
            life.closed_at_ns = c.time_ns;
            life.closed_by_program = true;
            life.open_at_end = false;
            closes.push_back(&c);
        }
    }

    // Transitions, joined on the 4-tuple (the tracepoint knows no inode).
    std::map<SocketKey, std::uint64_t> by_key;
    for (const auto& [inode, life] : lives)
        if (has_tuple(life.key) && life.key.remote_port != 0) by_key[life.key] = inode;
    for (const auto& e : in.transitions) {
        const auto k = trace::key_of(e);
        const auto it = by_key.find(k);
        if (it == by_key.end()) continue;
        auto& life = lives[it->second];
        see_state(samples, life, e.new_state, e.time_ns);
        if (e.new_state != st(TcpState::close)) continue;
        // An abort: straight from a synchronised state to CLOSE, without the FIN handshake
        // (RFC 9293 §3.10.7.4: a reset; FIN_WAIT2 -> CLOSE is the tracepoint's ordinary end
        // of an active close, LAST_ACK -> CLOSE of a passive one).
        if (e.old_state != st(TcpState::established) && e.old_state != st(TcpState::close_wait))
            continue;
        bool by_close = false;
        for (const auto* c : closes)
            if (c->inode == it->second && c->enter_ns <= e.time_ns && e.time_ns <= c->time_ns)
                by_close = true;
        // Without a close() around it, an abort after the last poll of an ended program is
        // the kernel closing its descriptors at exit (unread data: RFC 2525 §2.17).
        // It ran in the program's task then; a peer's RST is handled in the peer's (on
        // loopback) or in a softirq, never in the program's exit.
        const bool own_task = e.pid != 0 && (e.pid == in.root_pid ||
                                             std::find(in.tasks.begin(), in.tasks.end(), e.pid) != in.tasks.end());
        const bool at_exit = !by_close && (in.ending.exited || in.ending.stopped_by_us) &&
                             e.time_ns > last_poll_ns && life.open_at_end && own_task;
        auto f = finding_for(by_close || at_exit ? FindingKind::rst_sent : FindingKind::rst_received, life);
        if (by_close)
            f.evidence = i18n::format(
                _("close() of fd {} reset the connection to {} ({} -> CLOSE without a FIN "
                  "exchange): unread data in the receive buffer, or SO_LINGER with a zero "
                  "timeout, makes close() send RST"),
                life.fd, endpoint(life.key.remote_addr, life.key.remote_port), state_name(e.old_state));
        else if (at_exit)
            f.evidence = i18n::format(
                _("the connection to {} was reset when the program ended ({} -> CLOSE): the "
                  "kernel closed fd {} with unread data, which sends RST"),
                endpoint(life.key.remote_addr, life.key.remote_port), state_name(e.old_state),
                life.fd);
        else
            f.evidence = i18n::format(
                _("the peer {} reset the connection on fd {} ({} -> CLOSE without a close() "
                  "by the program): the next send() fails with EPIPE, a recv() with ECONNRESET"),
                endpoint(life.key.remote_addr, life.key.remote_port), life.fd, state_name(e.old_state));
        r.findings.push_back(std::move(f));
    }

    // Data calls: recv() == 0 over and over on one socket.
    for (const auto& d : in.data) {
        auto& life = life_of(d.inode);
        life.data = d.counts;
        if (life.pid == 0) life.pid = d.pid;
        if (life.fd < 0) life.fd = d.fd;
        if (d.counts.receive_zero < t.recv_zero_loop) continue;
        auto f = finding_for(FindingKind::recv_zero_loop, life);
        f.pid = d.pid != 0 ? d.pid : life.pid;
        f.tid = d.tid;
        f.fd = d.fd >= 0 ? d.fd : life.fd;
        f.count = d.counts.receive_zero;
        f.evidence = i18n::format(
            _("recv() returned 0 {} times on fd {} (pid {}, thread {}): 0 means the peer closed "
              "its end (end of stream), yet the program kept calling recv() instead of closing"),
            d.counts.receive_zero, f.fd, f.pid, d.tid);
        r.findings.push_back(std::move(f));
    }

    // CLOSE_WAIT held: the peer closed, the program did not.
    std::set<std::uint64_t> leaked;
    for (auto& [inode, life] : lives) {
        const auto left = settle_states(life, samples[inode]);
        if (!life.close_wait_ns) continue;
        const bool still = !life.closed_by_program;
        // Until the program closed it, or the kernel did when the program ended (the state
        // left CLOSE_WAIT then), or the end of the watch.
        std::uint64_t until = life.closed_at_ns ? life.closed_at_ns : left ? left : in.end_ns;
        if (!life.closed_at_ns && life.closed_by_program && !left) until = life.last_ns;
        const double held = seconds_between(*life.close_wait_ns, until);
        if (until < *life.close_wait_ns + t.close_wait_ns) continue;
        leaked.insert(inode);
        auto f = finding_for(FindingKind::close_wait_leak, life);
        f.seconds = held;
        f.evidence = still ? i18n::format(
                                 _("fd {} of pid {} stayed in CLOSE_WAIT for {:.1f} s after the "
                                   "peer {} closed, and the program never closed it"),
                                 life.fd, life.pid, held,
                                 endpoint(life.key.remote_addr, life.key.remote_port))
                           : i18n::format(
                                 _("fd {} of pid {} stayed in CLOSE_WAIT for {:.1f} s after the "
                                   "peer {} closed before the program closed it"),
                                 life.fd, life.pid, held,
                                 endpoint(life.key.remote_addr, life.key.remote_port));
        r.findings.push_back(std::move(f));
    }

    // Failed calls.
    for (const auto& c : in.calls) {
        if (c.call == SyscallKind::bind && c.error == EADDRINUSE) {
            Finding f;
            f.kind = FindingKind::bind_in_use;
            f.pid = c.pid;
            f.tid = c.tid;
            f.fd = c.fd;
            f.local_port = in.port_hint.value_or(0);
            f.evidence = in.port_hint
                             ? i18n::format(_("bind() of fd {} to port {} failed with EADDRINUSE "
                                              "(Address already in use); the port doctor then: {}"),
                                            c.fd, *in.port_hint,
                                            in.bind_diagnosis.empty() ? std::string("-") : in.bind_diagnosis)
                             : i18n::format(_("bind() of fd {} failed with EADDRINUSE (Address "
                                              "already in use); give --port P for the port "
                                              "doctor's diagnosis of that port"),
                                            c.fd);
            r.findings.push_back(std::move(f));
        } else if (c.call == SyscallKind::connect && c.error == ECONNREFUSED) {
            Finding f;
            f.kind = FindingKind::refused;
            f.pid = c.pid;
            f.tid = c.tid;
            f.fd = c.fd;
            if (c.key) {
                f.local_port = c.key->local_port;
                f.remote_port = c.key->remote_port;
            }
            f.evidence = i18n::format(
                _("connect() on fd {} failed with ECONNREFUSED: nothing listened on that "
                  "address and port, so the kernel answered the SYN with RST"),
                c.fd);
            r.findings.push_back(std::move(f));
        }
    }

    // A connect() that did not say ECONNREFUSED itself (non-blocking: EINPROGRESS, the error
    // comes later from SO_ERROR or the next call): SYN_SENT -> CLOSE in the program's own task
    // within a second is the RST answer to its SYN; a timeout takes the SYN retries (seconds).
    for (const auto& e : in.transitions) {
        if (e.old_state != st(TcpState::syn_sent) || e.new_state != st(TcpState::close)) continue;
        if (e.old_state_ns >= kS) continue;
        bool told = false;
        for (const auto& c : in.calls)
            if (c.call == SyscallKind::connect && c.error == ECONNREFUSED && c.tid == e.pid &&
                c.time_ns + kS >= e.time_ns && e.time_ns + kS >= c.time_ns)
                told = true;
        if (told) continue;
        Finding f;
        f.kind = FindingKind::refused;
        f.pid = e.pid;
        f.tid = e.pid;
        f.local_port = e.local_port;
        f.remote_port = e.remote_port;
        f.evidence = i18n::format(
            _("the connection from port {} to {} was refused: its SYN was answered with RST "
              "(SYN_SENT -> CLOSE): nothing listened there"),
            e.local_port, endpoint(e.remote_addr, e.remote_port));
        r.findings.push_back(std::move(f));
    }

    // How the program ended.
    if (in.ending.exited && in.ending.signal == SIGPIPE) {
        Finding f;
        f.kind = FindingKind::sigpipe;
        f.pid = in.root_pid;
        // The socket it most likely wrote to: a send that failed, latest first.
        for (const auto& [inode, life] : lives)
            if (life.data.errors > 0 && life.pid == in.root_pid) {
                f.fd = life.fd;
                f.local_port = life.key.local_port;
                f.remote_port = life.key.remote_port;
            }
        f.evidence = i18n::format(
            _("pid {} was killed by SIGPIPE: it wrote to a connection the peer had closed or "
              "reset (send() would fail with EPIPE); ignore SIGPIPE or use MSG_NOSIGNAL and "
              "handle the error"),
            in.root_pid);
        r.findings.push_back(std::move(f));
    }
    if (in.ending.exited || in.ending.stopped_by_us) {
        for (const auto& [inode, life] : lives) {
            if (!life.open_at_end || life.closed_by_program || leaked.count(inode)) continue;
            auto f = finding_for(FindingKind::open_at_exit, life);
            const auto state = life.held_state ? state_name(*life.held_state) : std::string_view("?");
            f.evidence = life.held_state != st(TcpState::listen)
                             ? i18n::format(_("fd {} of pid {} ({} {}) was still open when the "
                                              "program ended; the kernel closed it"),
                                            life.fd, life.pid, state,
                                            endpoint(life.key.local_addr, life.key.local_port))
                             : i18n::format(_("the listener fd {} of pid {} on {} was still "
                                              "open when the program ended; the kernel closed it"),
                                            life.fd, life.pid,
                                            endpoint(life.key.local_addr, life.key.local_port));
            r.findings.push_back(std::move(f));
        }
    }

    // Descriptor growth: more sockets held at the end than at the start, by a margin.
    if (in.polls.size() >= 2) {
        const auto first = in.polls.front().sockets.size();
        const auto last = in.polls.back().sockets.size();
        if (last >= first + t.fd_growth) {
            Finding f;
            f.kind = FindingKind::fd_growth;
            f.pid = in.root_pid;
            f.count = last - first;
            f.seconds = seconds_between(in.polls.front().time_ns, in.polls.back().time_ns);
            f.evidence = i18n::format(
                _("the program held {} sockets at the first look and {} at the last, {:.1f} s "
                  "later: descriptors that are never closed pile up until accept() fails "
                  "with EMFILE"),
                first, last, *f.seconds);
            r.findings.push_back(std::move(f));
        }
    }

    for (auto& f : framing_hints(in.streams)) r.findings.push_back(std::move(f));

    for (auto& [inode, life] : lives) {
        if (life.inode >= kTupleOnly) life.inode = 0;
        r.sockets.push_back(std::move(life));
    }
    std::stable_sort(r.findings.begin(), r.findings.end(),
                     [](const Finding& a, const Finding& b) { return a.kind < b.kind; });
    if (!in.traced) {
        r.missing.emplace_back(_("polling only: sockets, their states and CLOSE_WAIT held "
                                 "longer than a poll are seen; recv() == 0 loops, failed "
                                 "bind()/connect(), resets and states shorter than a poll are "
                                 "not (run as root, or with socklab-helper, for the tracer)"));
    } else if (!in.streams_seen) {
        r.missing.emplace_back(_("framing hints: the bytes of the program's reads were not "
                                 "captured (they need the capture of its connections' payload)"));
    }
    return r;
}

std::string life_line(const SocketLife& life) {
    std::string states;
    for (const auto s : life.states) {
        if (!states.empty()) states += " -> ";
        states += state_name(s);
    }
    const std::string where = life.key.remote_port != 0
                                  ? fmt::format("{} <-> {}", endpoint(life.key.local_addr, life.key.local_port),
                                                endpoint(life.key.remote_addr, life.key.remote_port))
                                  : endpoint(life.key.local_addr, life.key.local_port);
    const std::string end = life.closed_by_program ? _("closed by the program")
                            : life.open_at_end     ? _("open at the end")
                                                   : _("gone");
    return i18n::format(_("pid {} fd {}  {}  {}  ({}; {} receives, {} returned 0)"), life.pid,
                        life.fd, where, states.empty() ? std::string("?") : states, end,
                        life.data.receives, life.data.receive_zero);
}

nlohmann::json to_json(const Finding& f) {
    nlohmann::json j = {{"kind", kind_name(f.kind)}, {"pid", f.pid},
                        {"fd", f.fd},                {"local_port", f.local_port},
                        {"remote_port", f.remote_port}};
    if (f.tid != 0) j["tid"] = f.tid;
    if (f.seconds) j["seconds"] = *f.seconds;
    if (f.count) j["count"] = *f.count;
    j["evidence"] = f.evidence;
    return j;
}

nlohmann::json to_json(const SocketLife& life) {
    nlohmann::json states = nlohmann::json::array();
    for (const auto s : life.states) states.push_back(state_name(s));
    nlohmann::json j = {{"inode", life.inode},
                        {"pid", life.pid},
                        {"fd", life.fd},
                        {"local_addr", life.key.local_addr.to_string()},
                        {"local_port", life.key.local_port},
                        {"remote_addr", life.key.remote_addr.to_string()},
                        {"remote_port", life.key.remote_port},
                        {"states", states},
                        {"closed_by_program", life.closed_by_program},
                        {"open_at_end", life.open_at_end},
                        {"receives", life.data.receives},
                        {"receive_zero", life.data.receive_zero},
                        {"sends", life.data.sends}};
    if (life.close_wait_ns) j["close_wait_ns"] = *life.close_wait_ns;
    return j;
}

nlohmann::json report_json(std::span<const std::string> command, int exit_code, const Report& r) {
    nlohmann::json sockets = nlohmann::json::array(), findings = nlohmann::json::array();
    for (const auto& l : r.sockets) sockets.push_back(to_json(l));
    for (const auto& f : r.findings) findings.push_back(to_json(f));
    return {{"command", std::vector<std::string>(command.begin(), command.end())},
            {"exit_code", exit_code},
            {"sockets", sockets},
            {"findings", findings},
            {"missing", r.missing}};
}

std::string_view lab_for(std::string_view s) noexcept {
    if (s == "peer-closes-first" || s == "server-closes-first") return "close-wait-leak";
    if (s == "half-close") return "half-close";
    if (s == "peer-reset" || s == "server-resets") return "abort";
    if (s == "two-clients") return "backlog";
    if (s == "quit-split" || s == "quit-merged" || s == "exchange" || s == "server-silent")
        return "send-recv";
    if (s == "restart-within-60s") return "address-in-use";
    return {};
}

ScenarioResult judge(const ScenarioObservation& o, const Thresholds& t) {
    ScenarioResult r;
    r.id = o.id;
    r.lab = std::string(lab_for(o.id));
    const auto& id = o.id;
    if (!o.server_started) {
        r.evidence = _("the program did not listen on a TCP port within 5 s (give --port P if it "
                       "listens on one socklab cannot see)");
        return r;
    }
    auto add = [&](FindingKind k, std::string evidence) {
        Finding f;
        f.kind = k;
        f.evidence = std::move(evidence);
        r.findings.push_back(std::move(f));
    };
    if (id == "exchange") {
        r.ok = o.line_delivered;
        r.evidence = r.ok ? _("a line sent by one client came back to a client")
                          : _("a line sent by one client came back to no client within 2 s");
    } else if (id == "peer-closes-first" || id == "server-closes-first") {
        const bool leak = o.close_wait_s && *o.close_wait_s * 1e9 >= static_cast<double>(t.close_wait_ns);
        const bool spin = o.recv_zero >= t.recv_zero_loop;
        r.ok = !leak && !spin && (o.peer_got_eof || id == "server-closes-first");
        if (leak) add(FindingKind::close_wait_leak,
                      i18n::format(_("the program's end stayed in CLOSE_WAIT for {:.1f} s after the "
                                     "peer closed"), *o.close_wait_s));
        if (spin) add(FindingKind::recv_zero_loop,
                      i18n::format(_("recv() returned 0 {} times on that connection"), o.recv_zero));
        if (r.ok)
            r.evidence = id == "server-closes-first"
                             ? _("the server closed first and the program closed its end too (no "
                                 "CLOSE_WAIT left)")
                             : _("the peer closed first and the program closed its end too (no "
                                 "CLOSE_WAIT left)");
        else if (!r.findings.empty())
            r.evidence = r.findings.front().evidence;
        else
            r.evidence = _("the peer closed first and the program never closed its end");
        if (spin && leak) r.evidence += "; " + r.findings.back().evidence;
    } else if (id == "half-close") {
        r.ok = o.line_delivered && o.peer_got_eof && !o.peer_got_reset;
        r.evidence = r.ok ? _("after the peer's shutdown(SHUT_WR) its last line was served and "
                              "the program closed its end")
                     : o.peer_got_reset ? _("after the peer's shutdown(SHUT_WR) the program reset "
                                            "the connection")
                     : !o.line_delivered ? _("the line sent just before the peer's "
                                             "shutdown(SHUT_WR) was not served")
                                         : _("after the peer's shutdown(SHUT_WR) the program "
                                             "never closed its end (recv() == 0 ignored)");
    } else if (id == "peer-reset" || id == "server-resets") {
        // A client may end when its server resets it; dying of a signal is the failure.
        r.ok = id == "server-resets" ? o.program_signal == 0
                                     : o.program_alive && o.line_delivered && o.program_signal == 0;
        if (o.program_signal == SIGPIPE)
            add(FindingKind::sigpipe, _("the program was killed by SIGPIPE after a peer reset "
                                        "its connection"));
        r.evidence = r.ok ? (id == "server-resets"
                                 ? _("the server reset the connection (RST); the program was not "
                                     "killed by a signal")
                                 : _("a peer reset its connection (RST); the program survived and "
                                     "served the next client"))
                     : o.program_signal == SIGPIPE ? r.findings.back().evidence
                     : !o.program_alive ? _("the program ended after a peer reset its connection")
                                        : _("after a peer reset its connection the program "
                                            "served no other client");
    } else if (id == "two-clients") {
        r.ok = o.second_client_served || o.second_client_refused;
        r.evidence = o.second_client_served ? _("two clients at once: both were served")
                     : o.second_client_refused
                         ? _("two clients at once: the second was refused cleanly (closed)")
                         : _("two clients at once: the second was neither served nor refused "
                             "within 2 s (it waits in the accept queue)");
    } else if (id == "quit-split" || id == "quit-merged") {
        r.ok = o.peer_got_eof;
        if (!r.ok)
            add(FindingKind::framing_hint,
                id == "quit-split"
                    ? _("\"/quit\" sent in two segments (\"/qu\", \"it\\n\") was not understood: "
                        "TCP is a byte stream and one recv() is not one message; collect bytes "
                        "up to the newline")
                    : _("\"/quit\" merged with the next line in one segment was not understood: "
                        "one recv() can return several lines; split on the newline"));
        r.evidence = r.ok ? (id == "quit-split" ? _("\"/quit\" in two segments: the program closed the connection")
                                                : _("\"/quit\" merged with the next line: the program closed the connection"))
                          : r.findings.back().evidence;
    } else if (id == "restart-within-60s") {
        r.ok = o.restarted_listening;
        if (!r.ok && o.bind_failed_in_use)
            add(FindingKind::bind_in_use,
                i18n::format(_("restarted at once, bind() failed with EADDRINUSE: {}; set "
                               "SO_REUSEADDR before bind()"),
                             o.diagnosis.empty() ? std::string("-") : o.diagnosis));
        r.evidence = r.ok ? _("stopped and restarted at once, the program listened on the same port again")
                     : !r.findings.empty() ? r.findings.back().evidence
                                           : i18n::format(_("stopped and restarted at once, the "
                                                            "program did not listen again within "
                                                            "5 s: {}"),
                                                          o.diagnosis.empty() ? std::string("-") : o.diagnosis);
    } else if (id == "server-silent") {
        r.ok = o.program_alive || o.program_signal == 0;
        r.evidence = r.ok ? _("the server never answered; the program did not crash")
                          : _("the server never answered and the program was killed by a signal");
    } else {
        r.evidence = _("unknown scenario");
    }
    return r;
}

nlohmann::json check_json(std::string_view role, std::uint16_t port,
                          std::span<const ScenarioResult> results) {
    nlohmann::json scenarios = nlohmann::json::array();
    int passed = 0;
    for (const auto& s : results) {
        nlohmann::json findings = nlohmann::json::array();
        for (const auto& f : s.findings) findings.push_back(kind_name(f.kind));
        scenarios.push_back({{"id", s.id}, {"ok", s.ok}, {"evidence", s.evidence}, {"lab", s.lab},
                             {"findings", findings}});
        passed += s.ok ? 1 : 0;
    }
    return {{"role", role}, {"port", port}, {"scenarios", scenarios}, {"passed", passed},
            {"total", results.size()}};
}

}  // namespace socklab::program
