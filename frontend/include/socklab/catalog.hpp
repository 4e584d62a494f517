#pragma once
// The list of labs, in lesson order: id, number, title, summary, default port. Part of
// socklab::frontend, so `socklab lab` (cli/), the lab programs (labs/) and the viewer's lab
// panel read one table.
#include <array>
#include <charconv>
#include <cstdint>
#include <ostream>
#include <string_view>

#include "socklab/i18n.hpp"  // N_(): the titles and summaries are translated where shown

namespace socklab::lab {

struct LabEntry {
    std::string_view id;
    int number = 0;
    std::string_view title;
    std::string_view summary;
    bool two_roles = false;  // --role server|client split it across processes or machines
};

inline constexpr std::array<LabEntry, 23> kLabs{{
    {"bind", 1, N_("socket + bind"),
     N_("A bound socket is not yet listening: TCP_INFO says CLOSE and nobody can connect."), false},
    {"listen", 2, N_("listen"),
     N_("listen() makes a LISTEN socket; its Send-Q is the backlog, its Recv-Q the accept queue."),
     false},
    {"accept", 3, N_("connect and accept"),
     N_("Both ends are ESTABLISHED before accept(): the kernel does the handshake, accept() only "
     "hands over the socket."),
     false},
    {"send-recv", 4, N_("send and recv"),
     N_("TCP is a byte stream: sends merge, queues fill while the reader pauses; send_all and "
     "length-prefixed framing."),
     false},
    {"active-close", 5, N_("active close"),
     N_("The closer goes FIN_WAIT1, FIN_WAIT2, TIME_WAIT; the peer waits in CLOSE_WAIT, then "
     "LAST_ACK."),
     false},
    {"address-in-use", 6, N_("Address already in use"),
     N_("TIME_WAIT holds the port: EADDRINUSE, unless the old and the new server both set "
     "SO_REUSEADDR."),
     false},
    {"close-wait-leak", 7, N_("the CLOSE_WAIT leak"),
     N_("A peer that ignores recv() == 0 stays in CLOSE_WAIT forever; the fix; EPIPE on a closed "
     "peer."),
     false},
    {"half-close", 8, N_("half-close"),
     N_("shutdown(SHUT_WR): FIN_WAIT2 on one side, CLOSE_WAIT on the other, which can still send."),
     false},
    {"abort", 9, N_("abort with RST"),
     N_("SO_LINGER {1, 0} or close() with unread data sends RST: ECONNRESET and no TIME_WAIT."),
     false},
    {"backlog", 10, N_("listen backlog"),
     N_("listen(fd, 1) without accept: backlog + 1 connections ESTABLISHED, the rest wait in "
     "SYN_SENT."),
     false},
    {"syn-recv", 11, N_("SYN_RECV"),
     N_("TCP_DEFER_ACCEPT keeps the server side in SYN_RECV while the client says ESTABLISHED."),
     false},
    {"fin-wait1", 12, N_("FIN_WAIT1"),
     N_("The peer never reads: fill both buffers, then shutdown(SHUT_WR) is held in FIN_WAIT1."),
     false},
    {"udp", 13, N_("UDP"),
     N_("UNCONN vs connect()ed UDP, message boundaries, ICMP port unreachable as ECONNREFUSED."),
     false},
    {"reuseport", 14, N_("SO_REUSEPORT"),
     N_("Two listeners share one port and the kernel spreads connections between them."), false},
    {"chat", 15, N_("chat"),
     N_("A two-way chat done right: a keyboard thread and a socket thread, both sides close."), true},
    {"shared-close", 16, N_("close vs shutdown"),
     N_("close() sends no FIN while a forked child or a dup holds the socket; shutdown() does."),
     false},
    {"closing", 17, N_("CLOSING and LAST_ACK"),
     N_("A FIN stuck behind unread data holds LAST_ACK, and CLOSING when both ends close at once."),
     false},
    {"self-connect", 18, N_("simultaneous open and self-connect"),
     N_("A socket that connects to itself gets its own SYN: simultaneous open, SYN_RECV, "
        "ESTABLISHED; the client that connects to itself by accident."),
     false},
    {"dead-peer", 19, N_("the dead peer"),
     N_("The peer loses its link: no FIN, no RST. Keepalive probes and TCP_USER_TIMEOUT end the "
        "connection with ETIMEDOUT."),
     false},
    {"connect-fail", 20, N_("connect failures"),
     N_("ECONNREFUSED, a SYN nobody answers (ETIMEDOUT), non-blocking connect with poll and "
        "SO_ERROR."),
     false},
    {"poll-server", 21, N_("a poll() server for many clients"),
     N_("One thread, a non-blocking listener and poll(): broadcast, a slow reader's EAGAIN, and "
        "a per-client queue drained on POLLOUT."),
     false},
    {"ephemeral-ports", 22, N_("out of ephemeral ports"),
     N_("A client that closes first keeps TIME_WAIT on its port: EADDRNOTAVAIL in a narrow port "
        "range, and tcp_tw_reuse."),
     false},
    {"dual-stack", 23, N_("dual stack"),
     N_("An IPv6 listener on [::] takes IPv4 too, as ::ffff:a.b.c.d, unless IPV6_V6ONLY is set."),
     false},
}};

[[nodiscard]] constexpr std::uint16_t default_port(int number) noexcept {
    return static_cast<std::uint16_t>(9000 + number);
}

// gtest and debuggers print a lab by its id.
inline std::ostream& operator<<(std::ostream& os, const LabEntry& e) { return os << e.id; }

// A lab by id ("close-wait-leak") or number ("7"); nullptr when there is none.
[[nodiscard]] inline const LabEntry* find_lab(std::string_view id_or_number) noexcept {
    int n = 0;
    const auto* end = id_or_number.data() + id_or_number.size();
    const auto [p, ec] = std::from_chars(id_or_number.data(), end, n);
    const bool numeric = !id_or_number.empty() && ec == std::errc{} && p == end;
    for (const auto& e : kLabs)
        if (numeric ? e.number == n : e.id == id_or_number) return &e;
    return nullptr;
}

}  // namespace socklab::lab
