// Snapshot -> metric families. Everything here is a pure function of its inputs (the
// ephemeral-range reader aside), so tests feed synthetic records and compare numbers.
#include "socklab/exporter.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "socklab/state.hpp"
#include "socklab/utf8.hpp"

namespace socklab::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr auto kListen = static_cast<std::uint8_t>(TcpState::listen);
constexpr auto kTimeWait = static_cast<std::uint8_t>(TcpState::time_wait);
constexpr auto kCloseWait = static_cast<std::uint8_t>(TcpState::close_wait);
constexpr auto kSynRecv = static_cast<std::uint8_t>(TcpState::syn_recv);
constexpr auto kNewSynRecv = static_cast<std::uint8_t>(TcpState::new_syn_recv);
// The TCP states `ss -tan` can show (kernel numbers 1..11); a request socket (12) counts as
// SYN_RECV, as ss counts it.
constexpr std::uint8_t kFirstTcpState = 1;
constexpr std::uint8_t kLastTcpState = 11;
constexpr std::string_view kOther = "other";

std::uint8_t folded(std::uint8_t state) { return state == kNewSynRecv ? kSynRecv : state; }

MetricFamily family(std::string name, std::string help, MetricType type) {
    MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
    return f;
}

void add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
    ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter)
        m.counter.value = value;
    else
        m.gauge.value = value;
    f.metric.push_back(std::move(m));
}

std::string side_name(bool local) { return local ? "local" : "remote"; }

// Per (port, side): sockets per kernel state, oldest TIME_WAIT and CLOSE_WAIT.
struct PortStats {
    std::array<std::uint64_t, kMaxKernelState + 1> by_state{};
    std::uint64_t total = 0;
    std::optional<std::uint32_t> oldest_time_wait_ms;
    std::optional<std::uint64_t> oldest_close_wait_ns;

    void merge(const PortStats& o) {
        for (std::size_t i = 0; i < by_state.size(); ++i) by_state[i] += o.by_state[i];
        total += o.total;
        if (o.oldest_time_wait_ms)
            oldest_time_wait_ms = std::max(oldest_time_wait_ms.value_or(0), *o.oldest_time_wait_ms);
        if (o.oldest_close_wait_ns)
            oldest_close_wait_ns =
                std::max(oldest_close_wait_ns.value_or(0), *o.oldest_close_wait_ns);
    }
};

// The `limit` entries with the largest weight (ties: the smaller key first) stay; the others
// are merged into `other`. `weight(value)` and `merge(into, from)` are the caller's.
template <typename Key, typename Value, typename Weight, typename Merge>
std::vector<std::pair<Key, Value>> top(std::map<Key, Value> all, std::size_t limit,
                                       Weight weight, Merge merge,
                                       std::vector<std::pair<Key, Value>>& folded_into_other) {
    std::vector<std::pair<Key, Value>> items(std::make_move_iterator(all.begin()),
                                             std::make_move_iterator(all.end()));
    std::stable_sort(items.begin(), items.end(), [&](const auto& a, const auto& b) {
        return weight(a.second) > weight(b.second);
    });
    if (items.size() > limit) {
        for (std::size_t i = limit; i < items.size(); ++i) merge(folded_into_other, items[i]);
        items.resize(limit);
    }
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return items;
}

void port_families(const SocketInputs& in, std::vector<MetricFamily>& out) {
    std::vector<std::uint16_t> listening;
    for (const auto& r : in.sockets)
        if (r.proto == Proto::tcp && r.state == kListen) listening.push_back(r.local_port);
    std::sort(listening.begin(), listening.end());
    listening.erase(std::unique(listening.begin(), listening.end()), listening.end());

    std::map<PortKey, PortStats> ports;
    for (const auto& r : in.sockets) {
        if (r.proto != Proto::tcp || r.state > kMaxKernelState) continue;
        auto& s = ports[port_key(r, listening, in.ephemeral)];
        ++s.by_state[folded(r.state)];
        ++s.total;
        if (r.state == kTimeWait && r.timer == TimerKind::time_wait) {
            const std::uint32_t age = kTimeWaitMs - std::min(r.timer_ms, kTimeWaitMs);
            s.oldest_time_wait_ms = std::max(s.oldest_time_wait_ms.value_or(0), age);
        }
        if (r.state == kCloseWait && in.close_wait != nullptr) {
            if (const auto since = in.close_wait->since(r)) {
                const std::uint64_t age = in.now_ns > *since ? in.now_ns - *since : 0;
                s.oldest_close_wait_ns = std::max(s.oldest_close_wait_ns.value_or(0), age);
            }
        }
    }

    std::vector<std::pair<PortKey, PortStats>> others;  // port 0 / port 1 stand for the sides
    auto kept = top(
        std::move(ports), in.limits.ports, [](const PortStats& s) { return s.total; },
        [](auto& other, const auto& item) {
            for (auto& [k, v] : other)
                if (k.local == item.first.local) return v.merge(item.second);
            other.push_back({PortKey{0, item.first.local}, item.second});
        },
        others);
    std::sort(others.begin(), others.end(),
              [](const auto& a, const auto& b) { return a.first.local > b.first.local; });

    auto sockets = family("socklab_port_sockets",
                          "TCP sockets per service port and state. port: the local port when "
                          "this host listens on it (side=local, this host serves it), else the "
                          "remote port (side=remote, this host is its client); the top ports by "
                          "socket count (--top) get series, the rest are summed in port=\"other\"",
                          MetricType::Gauge);
    auto oldest = family("socklab_port_oldest_seconds",
                         "Age of the oldest socket per service port (labels as in "
                         "socklab_port_sockets) in state TIME_WAIT (exact: 60 s minus the "
                         "kernel's timer) or CLOSE_WAIT (the kernel keeps no time for it: how long "
                         "this exporter has seen it in CLOSE_WAIT across scrapes, a lower bound, 0 "
                         "at the first scrape that sees it); no series when the port has none",
                         MetricType::Gauge);
    const auto emit = [&](const std::string& port, bool local, const PortStats& s) {
        for (std::uint8_t st = kFirstTcpState; st <= kLastTcpState; ++st)
            add(sockets,
                {{"port", port}, {"side", side_name(local)}, {"state", std::string(state_name(st))}},
                static_cast<double>(s.by_state[st]));
        if (s.oldest_time_wait_ms)
            add(oldest, {{"port", port}, {"side", side_name(local)}, {"state", "TIME_WAIT"}},
                *s.oldest_time_wait_ms / 1e3);
        if (s.oldest_close_wait_ns)
            add(oldest, {{"port", port}, {"side", side_name(local)}, {"state", "CLOSE_WAIT"}},
                static_cast<double>(*s.oldest_close_wait_ns) / 1e9);
    };
    for (const auto& [k, s] : kept) emit(std::to_string(k.port), k.local, s);
    for (const auto& [k, s] : others) emit(std::string(kOther), k.local, s);
    out.push_back(std::move(sockets));
    out.push_back(std::move(oldest));
}

struct ListenerStats {
    std::uint64_t queue = 0;
    std::uint64_t backlog = 0;
    std::size_t sockets = 0;
};

void listener_families(const SocketInputs& in, std::vector<MetricFamily>& out) {
    // Key: address text and port. SO_REUSEPORT listeners on one address and port are summed.
    std::map<std::pair<std::uint16_t, std::string>, ListenerStats> listeners;
    for (const auto& r : in.sockets) {
        if (r.proto != Proto::tcp || r.state != kListen) continue;
        auto& l = listeners[{r.local_port, r.local_addr.to_string()}];
        l.queue += r.recv_q;
        l.backlog += r.send_q;
        ++l.sockets;
    }
    std::vector<std::pair<std::pair<std::uint16_t, std::string>, ListenerStats>> other;
    auto kept = top(
        std::move(listeners), in.limits.listeners,
        [](const ListenerStats& l) { return l.queue; },
        [](auto& o, const auto& item) {
            if (o.empty()) o.push_back({{0, std::string(kOther)}, {}});
            o.front().second.queue += item.second.queue;
            o.front().second.backlog += item.second.backlog;
            o.front().second.sockets += item.second.sockets;
        },
        other);
    auto queue = family("socklab_listener_accept_queue",
                        "Connections a TCP listener has completed and that wait for accept() "
                        "(ss Recv-Q); it can reach backlog + 1, then new SYNs are dropped",
                        MetricType::Gauge);
    auto backlog = family("socklab_listener_backlog",
                          "The accept queue's limit of a TCP listener: listen()'s backlog capped "
                          "by net.core.somaxconn (ss Send-Q)",
                          MetricType::Gauge);
    auto count = family("socklab_listener_sockets",
                        "Listening sockets on this address and port (more than 1 with "
                        "SO_REUSEPORT; queue and backlog are their sums)",
                        MetricType::Gauge);
    const auto emit = [&](const std::string& addr, const std::string& port,
                          const ListenerStats& l) {
        add(queue, {{"addr", addr}, {"port", port}}, static_cast<double>(l.queue));
        add(backlog, {{"addr", addr}, {"port", port}}, static_cast<double>(l.backlog));
        add(count, {{"addr", addr}, {"port", port}}, static_cast<double>(l.sockets));
    };
    for (const auto& [k, l] : kept) emit(k.second, std::to_string(k.first), l);
    for (const auto& [k, l] : other) emit(std::string(kOther), std::string(kOther), l);
    out.push_back(std::move(queue));
    out.push_back(std::move(backlog));
    out.push_back(std::move(count));
}

struct ProcessStats {
    std::string command;
    // (proto, state name) -> sockets
    std::map<std::pair<std::string_view, std::string_view>, std::uint64_t> by_state;
    std::uint64_t total = 0;
};

// While counting: per protocol and kernel state number, named once at the end.
struct ProcessCounts {
    std::string command;
    std::array<std::array<std::uint64_t, kMaxKernelState + 1>, 2> by_number{};
    std::map<std::pair<std::string_view, std::string_view>, std::uint64_t> by_name;  // odd states
    std::uint64_t total = 0;
};

void process_families(const SocketInputs& in, std::vector<MetricFamily>& out) {
    std::unordered_map<int, ProcessCounts> counting;
    std::vector<int> pids_of_socket;
    int last_pid = -1;
    ProcessCounts* last = nullptr;  // consecutive sockets mostly belong to one process
    for (const auto& r : in.sockets) {
        if (r.inode == 0) continue;
        const auto owners = in.owners(r.inode);
        pids_of_socket.clear();
        for (const auto& p : owners) {
            // One socket counts once per process, however many descriptors it has for it.
            if (std::find(pids_of_socket.begin(), pids_of_socket.end(), p.pid) !=
                pids_of_socket.end())
                continue;
            pids_of_socket.push_back(p.pid);
            if (p.pid != last_pid || last == nullptr) {
                last = &counting[p.pid];
                last_pid = p.pid;
                if (last->command.empty()) last->command = utf8::valid(p.command);
            }
            if (r.state <= kMaxKernelState)
                ++last->by_number[r.proto == Proto::udp ? 1 : 0][r.state];
            else
                ++last->by_name[{proto_name(r.proto), r.state_name()}];
            ++last->total;
        }
    }
    std::map<int, ProcessStats> procs;
    for (auto& [pid, c] : counting) {
        auto& s = procs[pid];
        s.command = std::move(c.command);
        s.by_state = std::move(c.by_name);
        s.total = c.total;
        for (std::size_t p = 0; p < c.by_number.size(); ++p) {
            const Proto proto = p == 1 ? Proto::udp : Proto::tcp;
            for (std::uint8_t st = 0; st <= kMaxKernelState; ++st)
                if (c.by_number[p][st] != 0)
                    s.by_state[{proto_name(proto), state_name(st, proto)}] += c.by_number[p][st];
        }
    }
    std::vector<std::pair<int, ProcessStats>> other;
    auto kept = top(
        std::move(procs), in.limits.processes, [](const ProcessStats& s) { return s.total; },
        [](auto& o, const auto& item) {
            if (o.empty()) o.push_back({0, ProcessStats{std::string(kOther), {}, 0}});
            for (const auto& [k, n] : item.second.by_state) o.front().second.by_state[k] += n;
            o.front().second.total += item.second.total;
        },
        other);
    auto f = family("socklab_process_sockets",
                    "Sockets a process holds, per protocol and state (a socket shared by "
                    "several processes counts for each); the top processes by socket count "
                    "(--top) get series, the rest are summed in pid=\"other\"; a series exists "
                    "only for states the process holds",
                    MetricType::Gauge);
    const auto emit = [&](const std::string& pid, const ProcessStats& s) {
        for (const auto& [k, n] : s.by_state)
            add(f,
                {{"pid", pid},
                 {"command", s.command},
                 {"proto", std::string(k.first)},
                 {"state", std::string(k.second)}},
                static_cast<double>(n));
    };
    for (const auto& [pid, s] : kept) emit(std::to_string(pid), s);
    for (const auto& [pid, s] : other) emit(std::string(kOther), s);
    out.push_back(std::move(f));
}

}  // namespace

PortRange read_ephemeral_range(std::string_view proc_root) {
    std::ifstream in(std::string(proc_root) + "/sys/net/ipv4/ip_local_port_range");
    unsigned low = 0, high = 0;
    if (in >> low >> high && low >= 1 && low <= high && high <= 65535)
        return {static_cast<std::uint16_t>(low), static_cast<std::uint16_t>(high)};
    return {};
}

void FirstSeen::update(std::span<const SocketRecord> sockets, std::uint64_t now_ns) {
    std::unordered_map<SocketKey, std::uint64_t, SocketKeyHash> next;
    for (const auto& r : sockets) {
        if (r.state != state_) continue;
        const auto key = key_of(r);
        const auto it = seen_.find(key);
        next.emplace(key, it != seen_.end() ? it->second : now_ns);
    }
    seen_ = std::move(next);
}

std::optional<std::uint64_t> FirstSeen::since(const SocketRecord& r) const {
    if (r.state != state_) return std::nullopt;
    const auto it = seen_.find(key_of(r));
    if (it == seen_.end()) return std::nullopt;
    return it->second;
}

void TransitionCounts::add(const TransitionEvent& e) noexcept {
    if (e.old_state >= kStates || e.new_state >= kStates) {
        ++out_of_range_;
        return;
    }
    ++n_[e.old_state][e.new_state];
}

std::uint64_t TransitionCounts::count(std::uint8_t from, std::uint8_t to) const noexcept {
    if (from >= kStates || to >= kStates) return 0;
    return n_[from][to];
}

PortKey port_key(const SocketRecord& r, std::span<const std::uint16_t> listening,
                 const PortRange& ephemeral) noexcept {
    const auto listens = [&](std::uint16_t p) {
        return std::binary_search(listening.begin(), listening.end(), p);
    };
    if (r.state == kListen || listens(r.local_port)) return {r.local_port, true};
    if (r.remote_port != 0 && listens(r.remote_port)) return {r.remote_port, false};
    const bool local_eph = ephemeral.contains(r.local_port);
    const bool remote_eph = ephemeral.contains(r.remote_port);
    if (r.remote_port != 0 && local_eph && !remote_eph) return {r.remote_port, false};
    return {r.local_port, true};
}

std::vector<MetricFamily> socket_families(const SocketInputs& in) {
    std::vector<MetricFamily> out;
    // socklab_sockets: every state ss can show, zeros included, so a state that empties
    // reads 0 rather than vanishing.
    std::map<std::pair<Proto, std::string_view>, std::uint64_t> counts;
    for (std::uint8_t st = kFirstTcpState; st <= kLastTcpState; ++st)
        counts[{Proto::tcp, state_name(st, Proto::tcp)}] = 0;
    counts[{Proto::udp, state_name(static_cast<std::uint8_t>(TcpState::close), Proto::udp)}] = 0;
    counts[{Proto::udp, state_name(static_cast<std::uint8_t>(TcpState::established), Proto::udp)}] = 0;
    // Counted by number first (a map lookup per socket was a tenth of a 100k-socket scrape),
    // then named: the names, not the numbers, are the labels.
    std::array<std::array<std::uint64_t, kMaxKernelState + 1>, 2> by_number{};
    for (const auto& r : in.sockets) {
        if (r.state <= kMaxKernelState)
            ++by_number[r.proto == Proto::udp ? 1 : 0][r.state];
        else
            ++counts[{r.proto, r.state_name()}];
    }
    for (std::size_t p = 0; p < by_number.size(); ++p) {
        const Proto proto = p == 1 ? Proto::udp : Proto::tcp;
        for (std::uint8_t st = 0; st <= kMaxKernelState; ++st)
            if (by_number[p][st] != 0) counts[{proto, state_name(st, proto)}] += by_number[p][st];
    }
    auto sockets = family("socklab_sockets",
                          "Sockets per protocol and state, IPv4 and IPv6 together, as ss -tan / "
                          "ss -uan count them (a half-open connection's request socket is SYN_RECV)",
                          MetricType::Gauge);
    for (const auto& [k, n] : counts)
        add(sockets, {{"proto", std::string(proto_name(k.first))}, {"state", std::string(k.second)}},
            static_cast<double>(n));
    out.push_back(std::move(sockets));

    port_families(in, out);
    listener_families(in, out);
    if (in.owners) process_families(in, out);
    return out;
}

std::vector<MetricFamily> tracer_families(const TracerView& t) {
    std::vector<MetricFamily> out;
    auto active = family("socklab_tracer_active",
                         "1 when the exporter traces TCP state changes (tracepoint "
                         "sock:inet_sock_set_state, needs root); 0: socklab_transitions_total is "
                         "absent",
                         MetricType::Gauge);
    add(active, {}, t.active ? 1 : 0);
    out.push_back(std::move(active));
    if (!t.active || t.counts == nullptr) return out;

    std::map<std::pair<std::string_view, std::string_view>, std::uint64_t> pairs;
    for (std::uint8_t from = 0; from <= kMaxKernelState; ++from)
        for (std::uint8_t to = 0; to <= kMaxKernelState; ++to)
            if (const auto n = t.counts->count(from, to); n > 0)
                pairs[{state_name(from), state_name(to)}] += n;
    auto transitions = family("socklab_transitions_total",
                              "TCP state changes since the exporter started, per old and new "
                              "state, as the kernel reports them: every network namespace of the "
                              "host; an active closer's TIME_WAIT is not reported, it shows as "
                              "FIN_WAIT2 -> CLOSE",
                              MetricType::Counter);
    for (const auto& [k, n] : pairs)
        add(transitions, {{"from", std::string(k.first)}, {"to", std::string(k.second)}},
            static_cast<double>(n));
    out.push_back(std::move(transitions));
    auto lost = family("socklab_tracer_lost_events_total",
                       "State changes the kernel dropped because the trace buffer was full "
                       "(not in socklab_transitions_total)",
                       MetricType::Counter);
    add(lost, {}, static_cast<double>(t.lost));
    out.push_back(std::move(lost));
    return out;
}

std::vector<MetricFamily> cost_families(const ScrapeCost& c) {
    std::vector<MetricFamily> out;
    auto ok = family("socklab_scrape_ok",
                     "1 when this scrape read the socket table; 0: it could not (the exporter's "
                     "stderr says why) and the socket metrics are missing",
                     MetricType::Gauge);
    add(ok, {}, c.ok ? 1 : 0);
    out.push_back(std::move(ok));
    auto duration = family("socklab_scrape_duration_seconds",
                           "Time this scrape spent per phase: dump (the kernel's socket table), "
                           "owners (finding each socket's processes, at the same time as the dump), "
                           "map (building the metrics)",
                           MetricType::Gauge);
    add(duration, {{"phase", "dump"}}, c.dump_seconds);
    add(duration, {{"phase", "owners"}}, c.owners_seconds);
    add(duration, {{"phase", "map"}}, c.map_seconds);
    out.push_back(std::move(duration));
    auto sockets = family("socklab_scrape_sockets", "Sockets this scrape read from the kernel",
                          MetricType::Gauge);
    add(sockets, {}, static_cast<double>(c.sockets));
    out.push_back(std::move(sockets));
    auto unreadable = family("socklab_scrape_unreadable_processes",
                             "Processes whose descriptors this scrape could not read (gone, or "
                             "not permitted: run the exporter as root to see every owner)",
                             MetricType::Gauge);
    add(unreadable, {}, static_cast<double>(c.unreadable_processes));
    out.push_back(std::move(unreadable));
    return out;
}

std::string ListenAddress::to_string() const { return format_endpoint(addr, port); }

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string* why) {
    const auto fail = [why](const char* reason) -> std::optional<ListenAddress> {
        if (why != nullptr) *why = reason;
        return std::nullopt;
    };
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("no ':PORT' at the end");
    const std::string_view host = text.substr(0, colon);
    const std::string_view port = text.substr(colon + 1);
    if (port.empty() || port.size() > 5) return fail("the port is not a number from 0 to 65535");
    unsigned value = 0;
    for (const char c : port) {
        if (c < '0' || c > '9') return fail("the port is not a number from 0 to 65535");
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return fail("the port is not a number from 0 to 65535");
    // Only address characters: the text reaches the HTTP server's option string, where ','
    // or a letter would mean something else.
    for (const char c : host)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == '.' || c == ':' || c == '[' || c == ']'))
            return fail("the address is not a numeric IPv4 address or a bracketed IPv6 one");
    std::optional<IpAddr> addr;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        const std::string_view inner = host.substr(1, host.size() - 2);
        if (inner.find_first_of("[]") == std::string_view::npos) {
            addr = parse_ip(inner);
            if (addr && addr->family != AF_INET6) addr.reset();
        }
    } else if (host.find_first_of(":[]") == std::string_view::npos) {
        addr = parse_ip(host);
        if (addr && addr->family != AF_INET) addr.reset();
    }
    if (!addr) return fail("the address is not a numeric IPv4 address or a bracketed IPv6 one");
    return ListenAddress{*addr, static_cast<std::uint16_t>(value)};
}

}  // namespace socklab::exporter
