// Lab 22 — out of ephemeral ports: a client that closes first keeps a TIME_WAIT per
// connection on its own port; with a narrow port range the next connect() to the same server
// fails with EADDRNOTAVAIL — until tcp_tw_reuse lets the kernel take over a TIME_WAIT port.
#include <netinet/tcp.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {
constexpr int kClients = 4;

double monotonic_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Sleep until CLOCK_MONOTONIC reaches `t` (bounded by the caller's t).
void wait_until_clock(double t) {
    for (double now = monotonic_seconds(); now < t; now = monotonic_seconds()) {
        pollfd p{Lab::interrupt_fd(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>((t - now) * 1000) + 1) > 0) return;
    }
}

UniqueFd client_socket(const Endpoint& ep, std::uint16_t lo, std::uint16_t hi) {
    UniqueFd fd(::socket(ep.family, SOCK_STREAM, 0));
    if (!fd) return fd;
    const std::uint32_t range = (std::uint32_t{hi} << 16) | lo;
    if (::setsockopt(fd.get(), IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof range) != 0)
        return UniqueFd();
    return fd;
}
}  // namespace

int main(int argc, char** argv) {
    Lab runner("ephemeral-ports", argc, argv);
    return runner.run(5, [](Lab& lab) {
        const auto port = lab.port();
        const Endpoint ep = lab.endpoint();
        // Four ephemeral ports inside net.ipv4.ip_local_port_range.
        const auto lo = port_in_local_range(port, 2000);
        const auto hi = static_cast<std::uint16_t>(lo + kClients - 1);
        for (int p = lo; p <= hi; ++p) lab.watch(static_cast<std::uint16_t>(p));
        const int tw_reuse = sysctl_int("/proc/sys/net/ipv4/tcp_tw_reuse", 2);
        const int timestamps = sysctl_int("/proc/sys/net/ipv4/tcp_timestamps", 1);
        // How long after the last timestamp a TIME_WAIT received connect() may take it over:
        // net.ipv4.tcp_tw_reuse_delay (ms) where the kernel has it; before, once the kernel's
        // seconds clock has moved on (up to 1 s).
        const int reuse_delay_ms = sysctl_int("/proc/sys/net/ipv4/tcp_tw_reuse_delay", -1);
        UniqueFd listener, fifth, sixth;
        std::array<UniqueFd, kClients> clients, servers;
        std::array<std::uint16_t, kClients> cports{};
        std::uint16_t sixth_port = 0;
        double closed_at = 0;

        lab.step({.title = _("A server"),
                  .call = fmt::format("socket(); setsockopt(SO_REUSEADDR); bind({}); listen(fd, 16)",
                                      ep.str()),
                  .explain = _("One server; every client of this lab connects to this same "
                               "address and port."),
                  .expect = {{.local_port = port, .state = "LISTEN"}}},
                 [&] {
                     listener.reset(::socket(ep.family, SOCK_STREAM, 0));
                     if (!listener) return Result::of(-1);
                     set_int_option(listener.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     if (::bind(listener.get(), ep.sa(), ep.len) != 0) return Result::of(-1);
                     return Result::of(::listen(listener.get(), 16));
                 });

        lab.step({.title = i18n::format(_("{} clients, with ephemeral ports {} to {} only"),
                                        kClients, lo, hi),
                  .call = fmt::format("{} × (socket(); setsockopt(IP_LOCAL_PORT_RANGE, {}-{}); "
                                      "connect({}); accept())",
                                      kClients, lo, hi, ep.str()),
                  .explain = _("A client does not bind: connect() picks its local port from the "
                               "ephemeral range (net.ipv4.ip_local_port_range; here narrowed per "
                               "socket with IP_LOCAL_PORT_RANGE, ip(7)). A connection is the four "
                               "numbers (client address, client port, server address, server "
                               "port); with one server, each connection needs a port of its "
                               "own: the four ports are used up."),
                  .expect = {},
                  .expect_after = [&] {
                      std::vector<Expect> e;
                      for (auto p : cports)
                          e.push_back({.local_port = p, .remote_port = port, .state = "ESTABLISHED"});
                      return e;
                  }},
                 [&] {
                     for (int i = 0; i < kClients; ++i) {
                         clients[i] = client_socket(ep, lo, hi);
                         if (!clients[i] || ::connect(clients[i].get(), ep.sa(), ep.len) != 0)
                             return Result::of(-1);
                         servers[i].reset(::accept(listener.get(), nullptr, nullptr));
                         if (!servers[i]) return Result::of(-1);
                         cports[i] = local_port_of(clients[i].get());
                     }
                     return Result::of(0, fmt::format("{}", fmt::join(cports, ", ")));
                 });

        lab.step({.title = _("The clients close first; a fifth client: EADDRNOTAVAIL"),
                  .call = fmt::format("close() × {0} clients, then × {0} servers; socket(); "
                                      "setsockopt(IP_LOCAL_PORT_RANGE, {1}-{2}); connect({3})",
                                      kClients, lo, hi, ep.str()),
                  .explain = _("The side that sends the first FIN keeps the TIME_WAIT: here the "
                               "clients, on their own ports. Each port is still tied up with this "
                               "server for 60 s, so connect() found no free port: EADDRNOTAVAIL "
                               "(connect(2): all port numbers in the ephemeral port range are "
                               "in use). A client that opens "
                               "and closes many short connections to one server meets this."),
                  .expect = {},
                  .fails_with = EADDRNOTAVAIL,
                  .expect_after = [&] {
                      std::vector<Expect> e;
                      for (auto p : cports)
                          e.push_back({.local_port = p, .remote_port = port, .state = "TIME_WAIT",
                                       .kernel_only = true});
                      return e;
                  }},
                 [&] {
                     // Without tcp_tw_reuse_delay, TIME_WAIT reuse is allowed once the kernel's
                     // seconds clock has moved past the time of the last timestamp received;
                     // start early in a second so that it has not when the fifth client
                     // connects, microseconds later.
                     if (reuse_delay_ms < 0 && std::fmod(monotonic_seconds(), 1.0) > 0.5)
                         wait_until_clock(std::ceil(monotonic_seconds()) + 0.01);
                     for (auto& c : clients) c.reset();
                     for (auto& s : servers) s.reset();
                     closed_at = monotonic_seconds();
                     fifth = client_socket(ep, lo, hi);
                     if (!fifth) return Result::of(-1);
                     return Result::of(::connect(fifth.get(), ep.sa(), ep.len));
                 });

        const bool reuse = tw_reuse != 0 && timestamps != 0;
        lab.step({.title = reuse ? _("A second later: tcp_tw_reuse takes over a TIME_WAIT port")
                                 : _("A second later: still EADDRNOTAVAIL (no TIME_WAIT reuse)"),
                  .call = fmt::format("socket(); setsockopt(IP_LOCAL_PORT_RANGE, {}-{}); "
                                      "connect({})",
                                      lo, hi, ep.str()),
                  .explain = i18n::format(
                      _("net.ipv4.tcp_tw_reuse is {} here (0 off, 1 on, 2 on for loopback "
                        "only — the default), tcp_timestamps {}. With reuse on, connect() may "
                        "take over the port of a TIME_WAIT to the same server once "
                        "net.ipv4.tcp_tw_reuse_delay ({} ms here; one second on kernels without "
                        "it) has passed since the last timestamp it received: the timestamps "
                        "tell old segments from new ones (RFC 7323 PAWS). The TIME_WAIT row is "
                        "replaced by the new connection. A server's TIME_WAIT is not helped by "
                        "this option: for a server, SO_REUSEADDR (lab 6)."),
                      tw_reuse, timestamps, reuse_delay_ms),
                  .expect = {},
                  .fails_with = reuse ? 0 : EADDRNOTAVAIL,
                  .expect_after = [&] {
                      if (!reuse) return std::vector<Expect>{};
                      return std::vector<Expect>{
                          {.local_port = sixth_port, .remote_port = port, .state = "ESTABLISHED"},
                          {.local_port = sixth_port, .remote_port = port, .state = "TIME_WAIT",
                           .absent = true}};
                  }},
                 [&] {
                     wait_until_clock(reuse_delay_ms >= 0 ? closed_at + reuse_delay_ms / 1000.0 + 0.1
                                                          : std::floor(closed_at) + 1.05);
                     sixth = client_socket(ep, lo, hi);
                     if (!sixth) return Result::of(-1);
                     const int r = ::connect(sixth.get(), ep.sa(), ep.len);
                     const int saved = errno;
                     sixth_port = local_port_of(sixth.get());
                     errno = saved;
                     return Result::of(r, r == 0 ? i18n::format(_("local port {}"), sixth_port)
                                                 : std::string());
                 });

        lab.step({.title = _("Close everything"),
                  .call = _("close() every descriptor"),
                  .explain = _("The listener's close resets the connection it never accepted "
                               "(lab 2)."),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true}}},
                 [&] {
                     sixth.reset();
                     fifth.reset();
                     listener.reset();
                     return Result::of(0);
                 });
    });
}
