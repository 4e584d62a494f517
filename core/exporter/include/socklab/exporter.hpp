#pragma once
// The exporter's model: a snapshot of the socket table (plus owners, first-seen times and the
// tracer's transition counts) turned into Prometheus metric families. Pure functions of their
// inputs, so they are tested on synthetic snapshots; `socklab export` only collects the
// inputs at scrape time and hands the families to prometheus-cpp's HTTP exposer.
//
// Every metric, label and bound is described in docs/exporter.md.
#include <prometheus/metric_family.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "socklab/event.hpp"
#include "socklab/owners.hpp"
#include "socklab/record.hpp"
#include "socklab/source.hpp"

namespace socklab::exporter {

inline constexpr std::string_view kDefaultListen = "127.0.0.1:9469";
// TIME_WAIT lasts TCP_TIMEWAIT_LEN (60 s, not tunable): its age is 60 s minus the time left.
inline constexpr std::uint32_t kTimeWaitMs = 60'000;
inline constexpr std::size_t kDefaultTop = 20;
inline constexpr std::size_t kMaxTop = 1000;

// How many ports, listeners and processes get series of their own; the rest are summed under
// the label value "other".
struct Limits {
    std::size_t ports = kDefaultTop;
    std::size_t listeners = kDefaultTop;
    std::size_t processes = kDefaultTop;
};

// The ephemeral range (net.ipv4.ip_local_port_range): a port outside it is more likely a
// service's port. Used only when neither end of a connection listens on this host.
struct PortRange {
    std::uint16_t low = 32768;
    std::uint16_t high = 60999;
    [[nodiscard]] bool contains(std::uint16_t p) const noexcept { return p >= low && p <= high; }
};
// Read /proc/sys/net/ipv4/ip_local_port_range below `proc_root`; the kernel's default when
// it cannot be read.
[[nodiscard]] PortRange read_ephemeral_range(std::string_view proc_root = "/proc");

// When the exporter first saw each socket in one state (CLOSE_WAIT): the kernel keeps no
// timestamp and runs no timer for it, so the age is "seen since", a lower bound measured
// across scrapes.
class FirstSeen {
public:
    explicit FirstSeen(std::uint8_t state) : state_(state) {}
    // Remember the sockets in the state at `now_ns` (kept if already known); forget the ones
    // no longer in it.
    void update(std::span<const SocketRecord> sockets, std::uint64_t now_ns);
    [[nodiscard]] std::optional<std::uint64_t> since(const SocketRecord& r) const;
    [[nodiscard]] std::size_t size() const noexcept { return seen_.size(); }

private:
    std::uint8_t state_;
    std::unordered_map<SocketKey, std::uint64_t, SocketKeyHash> seen_;
};

// Transitions counted by state pair (kernel state numbers, bounds-checked).
class TransitionCounts {
public:
    void add(const TransitionEvent& e) noexcept;
    [[nodiscard]] std::uint64_t count(std::uint8_t from, std::uint8_t to) const noexcept;
    [[nodiscard]] std::uint64_t out_of_range() const noexcept { return out_of_range_; }

private:
    static constexpr std::size_t kStates = kMaxKernelState + 1;
    std::array<std::array<std::uint64_t, kStates>, kStates> n_{};
    std::uint64_t out_of_range_ = 0;
};

// What the tracer contributed: whether it runs, its counts, the events the kernel dropped.
struct TracerView {
    bool active = false;
    const TransitionCounts* counts = nullptr;  // null when not active
    std::uint64_t lost = 0;
};

// The scrape's own cost.
struct ScrapeCost {
    double dump_seconds = 0;    // the socket table dump
    double owners_seconds = 0;  // the owner walk (/proc or BPF iterator), run beside the dump
    double map_seconds = 0;     // turning them into metric families
    std::size_t sockets = 0;    // sockets in the dump
    std::size_t unreadable_processes = 0;
    bool ok = true;  // false: the socket table could not be read, no socket metrics
};

// Owners of a socket inode (empty span: none). An empty function: no per-process metrics.
using OwnersOf = std::function<std::span<const ProcessRef>(std::uint64_t inode)>;

struct SocketInputs {
    std::span<const SocketRecord> sockets;  // TCP and UDP, every state `ss -a` shows
    OwnersOf owners;
    const FirstSeen* close_wait = nullptr;  // null: no CLOSE_WAIT ages
    std::uint64_t now_ns = 0;               // the snapshot's time (CLOCK_MONOTONIC)
    PortRange ephemeral;
    Limits limits;
};

// socklab_sockets, socklab_port_sockets, socklab_port_oldest_seconds, socklab_listener_*,
// socklab_process_sockets (when owners is set).
[[nodiscard]] std::vector<prometheus::MetricFamily> socket_families(const SocketInputs& in);
// socklab_tracer_active, socklab_transitions_total, socklab_tracer_lost_events_total.
[[nodiscard]] std::vector<prometheus::MetricFamily> tracer_families(const TracerView& t);
// socklab_scrape_ok, socklab_scrape_duration_seconds{phase}, socklab_scrape_sockets,
// socklab_scrape_unreadable_processes.
[[nodiscard]] std::vector<prometheus::MetricFamily> cost_families(const ScrapeCost& c);

// The port label of a TCP socket: its service port and which end of it this socket is.
struct PortKey {
    std::uint16_t port = 0;
    bool local = true;  // side="local": this host serves the port; "remote": it is a client
    friend auto operator<=>(const PortKey&, const PortKey&) = default;
};
// `listening`: sorted local ports of the TCP listeners in the same snapshot.
[[nodiscard]] PortKey port_key(const SocketRecord& r, std::span<const std::uint16_t> listening,
                               const PortRange& ephemeral) noexcept;

// --listen ADDR:PORT: a numeric IPv4 address or a bracketed IPv6 one, and a port 0-65535
// (0: the kernel chooses). No names, nothing else: the text is handed to the HTTP server.
struct ListenAddress {
    IpAddr addr;
    std::uint16_t port = 0;
    // "127.0.0.1:9469", "[::1]:9469": the form the HTTP server (civetweb) takes.
    [[nodiscard]] std::string to_string() const;
};
// nullopt and `why` set (one line, no value quoted) when the text is not such an address.
[[nodiscard]] std::optional<ListenAddress> parse_listen_address(std::string_view text,
                                                                std::string* why = nullptr);

}  // namespace socklab::exporter
