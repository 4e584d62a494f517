#include "population.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "socklab/error.hpp"
#include "socklab/source.hpp"
#include "testsupport.hpp"

namespace socklab::test::population {
namespace {

void expect_state(Source& src, std::uint16_t local, std::uint16_t remote, TcpState s,
                  const char* what) {
    if (!wait_for_state(src, local, remote, static_cast<std::uint8_t>(s)))
        throw Error(std::string("failed to build the population: ") + what +
                    " did not appear within 5 s");
}

void set_int(int fd, int level, int opt, int value, const char* what) {
    if (::setsockopt(fd, level, opt, &value, sizeof value) != 0)
        throw sys_error(std::string("set ") + what, errno);
}

// [::]:port with IPV6_V6ONLY, listening: only IPv6 clients can reach it.
UniqueFd listen_v6only(std::uint16_t port) {
    UniqueFd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw sys_error("create a TCP socket", errno);
    set_int(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_any;
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd.get(), 16) != 0)
        throw sys_error("bind and listen on [::]:" + std::to_string(port), errno);
    return fd;
}

void connect_udp(int fd, const std::string& addr, std::uint16_t port) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (addr.find(':') == std::string::npos) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    }
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0)
        throw sys_error("connect a UDP socket to " + addr, errno);
}

}  // namespace

Population build() {
    Population p;
    auto src = make_netlink_source();
    auto keep = [&p](UniqueFd fd) -> int {
        const int raw = fd.get();
        p.fds.push_back(std::move(fd));
        return raw;
    };

    // LISTEN and an ESTABLISHED pair, IPv4.
    const int l4 = keep(tcp_listen("127.0.0.1", kListen4));
    keep(tcp_connect("127.0.0.1", kListen4));
    keep(tcp_accept(l4));

    // The client closes, the server does not: orphaned FIN_WAIT2 (a timewait mini-socket,
    // inode 0) and CLOSE_WAIT.
    {
        const int l = keep(tcp_listen("127.0.0.1", kFinWait2Orphan));
        UniqueFd c = tcp_connect("127.0.0.1", kFinWait2Orphan);
        p.orphan_client_port = local_port(c.get());
        keep(tcp_accept(l));
        c.reset();
        expect_state(*src, kFinWait2Orphan, p.orphan_client_port, TcpState::close_wait,
                     "CLOSE_WAIT");
        expect_state(*src, p.orphan_client_port, kFinWait2Orphan, TcpState::fin_wait2,
                     "orphaned FIN_WAIT2");
    }

    // The client closes first, then the server: the client's end waits out TIME_WAIT.
    {
        UniqueFd l = tcp_listen("127.0.0.1", kTimeWait);
        UniqueFd c = tcp_connect("127.0.0.1", kTimeWait);
        p.time_wait_client_port = local_port(c.get());
        UniqueFd s = tcp_accept(l.get());
        c.reset();
        expect_state(*src, kTimeWait, p.time_wait_client_port, TcpState::close_wait,
                     "CLOSE_WAIT before TIME_WAIT");
        s.reset();
        expect_state(*src, p.time_wait_client_port, kTimeWait, TcpState::time_wait, "TIME_WAIT");
        keep(std::move(l));
    }

    // Backlog 0: the accept queue holds one connection; the next SYN is dropped and its
    // client stays in SYN_SENT, retransmitting.
    {
        const int l = keep(tcp_listen("127.0.0.1", kSynSent, 0));
        keep(tcp_connect("127.0.0.1", kSynSent));
        expect_state(*src, kSynSent, 0, TcpState::listen, "the backlog-0 listener");
        if (!wait_until([&] {
                for (const auto& r : sockets_on_port(*src, kSynSent))
                    if (r.state == static_cast<std::uint8_t>(TcpState::listen) && r.recv_q == 1)
                        return true;
                return false;
            }))
            throw Error("failed to build the population: the accept queue did not fill");
        (void)l;
        const int c = keep(tcp_connect("127.0.0.1", kSynSent, /*nonblocking=*/true));
        p.syn_sent_client_port = local_port(c);
        expect_state(*src, p.syn_sent_client_port, kSynSent, TcpState::syn_sent, "SYN_SENT");
    }

    // TCP_DEFER_ACCEPT: the handshake's last ACK carries no data, so the server keeps the
    // request socket in SYN_RECV while the client says ESTABLISHED.
    {
        const int l = keep(tcp_listen("127.0.0.1", kSynRecv));
        set_int(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, 30, "TCP_DEFER_ACCEPT");
        const int c = keep(tcp_connect("127.0.0.1", kSynRecv));
        p.syn_recv_client_port = local_port(c);
        expect_state(*src, kSynRecv, p.syn_recv_client_port, TcpState::syn_recv, "SYN_RECV");
    }

    // bind() without listen(): BOUND_INACTIVE, dumped only when asked for by its bit.
    {
        UniqueFd b(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(kBound);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (!b || ::bind(b.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
            throw sys_error("bind 127.0.0.1:" + std::to_string(kBound), errno);
        keep(std::move(b));
    }

    // shutdown(SHUT_WR) keeps the descriptor: FIN_WAIT2 with an inode and an owner.
    {
        const int l = keep(tcp_listen("127.0.0.1", kFinWait2Owned));
        const int c = keep(tcp_connect("127.0.0.1", kFinWait2Owned));
        keep(tcp_accept(l));
        if (::shutdown(c, SHUT_WR) != 0) throw sys_error("shutdown(SHUT_WR)", errno);
        expect_state(*src, local_port(c), kFinWait2Owned, TcpState::fin_wait2, "owned FIN_WAIT2");
    }

    // Small buffers filled on both sides, then shutdown(SHUT_WR): the FIN waits behind data
    // the peer has no window for, so the client holds FIN_WAIT1.
    {
        const int l = keep(tcp_listen("127.0.0.1", kFinWait1));
        set_int(l, SOL_SOCKET, SO_RCVBUF, 4096, "SO_RCVBUF");
        UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!c) throw sys_error("create a TCP socket", errno);
        set_int(c.get(), SOL_SOCKET, SO_SNDBUF, 4096, "SO_SNDBUF");
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(kFinWait1);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(c.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 &&
            errno != EINPROGRESS)
            throw sys_error("connect to 127.0.0.1:" + std::to_string(kFinWait1), errno);
        pollfd pfd{c.get(), POLLOUT, 0};
        if (::poll(&pfd, 1, 5000) != 1) throw Error("failed to connect for FIN_WAIT1: timeout");
        keep(tcp_accept(l));
        static const char chunk[4096] = {};
        // Bounded: the buffers are a few KiB, so a few hundred writes fill them many times over.
        bool full = false;
        for (int i = 0; i < 10000 && !full; ++i) {
            if (::send(c.get(), chunk, sizeof chunk, MSG_NOSIGNAL) < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK) throw sys_error("send", errno);
                full = true;
            }
        }
        if (!full) throw Error("failed to fill the send buffer for FIN_WAIT1");
        if (::shutdown(c.get(), SHUT_WR) != 0) throw sys_error("shutdown(SHUT_WR)", errno);
        const std::uint16_t cp = local_port(c.get());
        keep(std::move(c));
        expect_state(*src, cp, kFinWait1, TcpState::fin_wait1, "FIN_WAIT1");
    }

    keep(tcp_listen("0.0.0.0", kListenAny4));

    // IPv6: LISTEN and an ESTABLISHED pair on ::1.
    {
        const int l = keep(tcp_listen("::1", kListen6));
        keep(tcp_connect("::1", kListen6));
        keep(tcp_accept(l));
    }
    // A dual-stack listener reached over IPv4: its accepted end has v4-mapped addresses.
    {
        const int l = keep(tcp_listen("::", kDualStack));
        const int c = keep(tcp_connect("127.0.0.1", kDualStack));
        p.mapped_client_port = local_port(c);
        keep(tcp_accept(l));
    }
    keep(listen_v6only(kV6Only));

    // UDP: unconnected and connected, both families, specific and wildcard addresses.
    keep(udp_bind("127.0.0.1", kUdp4));
    connect_udp(keep(udp_bind("127.0.0.1", kUdp4Conn)), "127.0.0.1", kUdp4);
    keep(udp_bind("::1", kUdp6));
    connect_udp(keep(udp_bind("::1", kUdp6Conn)), "::1", kUdp6);
    keep(udp_bind("0.0.0.0", kUdpAny4));
    keep(udp_bind("::", kUdpAny6));

    expect_state(*src, kListen6, 0, TcpState::established, "the IPv6 pair");
    expect_state(*src, kDualStack, p.mapped_client_port, TcpState::established,
                 "the v4-mapped connection");
    return p;
}

}  // namespace socklab::test::population
