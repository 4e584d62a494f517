#pragma once
// A Source takes one snapshot of the kernel's socket table. The primary source is a
// NETLINK_SOCK_DIAG dump; /proc/net/{tcp,tcp6,udp,udp6} is the fallback. Both produce the
// same SocketRecord. Parsers are exposed so tests can replay recorded bytes and lines.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "socklab/record.hpp"

struct tcp_info;  // <linux/tcp.h>

namespace socklab {

struct Query {
    bool tcp = true;
    bool udp = true;
    bool ipv4 = true;
    bool ipv6 = true;
    std::uint32_t states = kAllStates;   // mask of state_bit()s
    std::optional<std::uint16_t> port;  // local OR remote port; netlink applies it in the kernel
    bool tcp_info = false;              // ask for TCP_INFO (netlink only)
};

struct Snapshot {
    std::vector<SocketRecord> sockets;
    std::uint64_t taken_ns = 0;      // CLOCK_MONOTONIC when the dump started
    std::chrono::nanoseconds cost{};  // how long the dump took
    std::string source;              // "netlink" or "proc"
};

class Source {
public:
    virtual ~Source() = default;
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
    // The sockets that pass `q`. Throws socklab::Error when the table cannot be read at all.
    [[nodiscard]] Snapshot snapshot(const Query& q);
    // Same, into `out` (cleared first) so a poller can reuse its buffers. What each source
    // implements; snapshot() is this into a fresh Snapshot.
    virtual void snapshot_into(const Query& q, Snapshot& out) = 0;
};

// NETLINK_SOCK_DIAG via libmnl. Throws socklab::Error if the netlink socket cannot be opened.
[[nodiscard]] std::unique_ptr<Source> make_netlink_source();
// /proc/net/* below `proc_root` (default "/proc"), for tests pointing at a fixture tree.
[[nodiscard]] std::unique_ptr<Source> make_proc_source(std::filesystem::path proc_root = "/proc");
// Netlink if it can be opened, /proc otherwise.
[[nodiscard]] std::unique_ptr<Source> make_default_source();

// CLOCK_MONOTONIC in nanoseconds: the clock of snapshots and of the tracer's events.
[[nodiscard]] std::uint64_t monotonic_ns() noexcept;

namespace parse {

// Walk a buffer of netlink messages as read from a SOCK_DIAG dump socket (one or more
// nlmsghdr), appending one record per SOCK_DIAG_BY_FAMILY message. Returns true when
// NLMSG_DONE was seen. Throws ParseError on truncated/malformed messages and Error on NLMSG_ERROR.
bool netlink_dump(std::span<const std::byte> bytes, Proto proto, std::vector<SocketRecord>& out);

// One read of the kernel's answer to a request about one exact socket (a SOCK_DIAG_BY_FAMILY
// look-up or a SOCK_DESTROY, as the port doctor sends them). Returns the verdict, 0 (found,
// done, acknowledged) or the kernel's positive errno; nullopt when this read decides nothing
// (read on). `info`, when not null, receives the TCP_INFO of a found socket (zero-filled where
// the kernel's struct is shorter). Throws ParseError on a truncated or malformed answer.
std::optional<int> exact_answer(std::span<const std::byte> bytes, ::tcp_info* info);

// One data line of /proc/net/{tcp,tcp6,udp,udp6}. Returns nullopt for the header line.
// Throws ParseError on a malformed line.
std::optional<SocketRecord> proc_net_line(std::string_view line, Proto proto, std::uint8_t family);

}  // namespace parse

// Bound-only TCP sockets (bind() without listen() or connect()) appear in a sock_diag dump
// only on Linux >= 6.9, and only when the request sets state bit 13 (BOUND_INACTIVE); older
// kernels ignore the bit and leave such sockets out. Given the records of a dump that asked
// for bit 13 while a socket was only bound to `port`: is it there (state BOUND_INACTIVE)?
[[nodiscard]] bool dump_lists_bound_socket(std::span<const SocketRecord> dump,
                                           std::uint16_t port) noexcept;
// Ask the running kernel through `src`: bind a TCP socket to 127.0.0.1 port 0 (never listened
// on) and look for it with bit 13. False for the /proc source (it never lists them); throws
// socklab::Error when the probe socket cannot be made.
[[nodiscard]] bool kernel_lists_bound_sockets(Source& src);

// Does the record pass the query (protocol, family, state mask, port)? The sources use it
// where the kernel cannot filter; front ends use it on cached snapshots.
[[nodiscard]] bool matches(const Query& q, const SocketRecord& r) noexcept;

}  // namespace socklab
