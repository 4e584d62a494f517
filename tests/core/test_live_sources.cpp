// Every holdable state made real on loopback, seen by both sources (netlink and /proc) with
// the right endpoints. Ports are chosen by the kernel and every query is filtered by port,
// so other tests running on the machine at the same time do not matter.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "socklab/error.hpp"
#include "socklab/source.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace socklab::test;
using namespace std::chrono_literals;

constexpr auto u8 = [](TcpState s) { return static_cast<std::uint8_t>(s); };

std::uint64_t inode_of(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw sys_error("fstat", errno);
    return st.st_ino;
}

struct Want {
    Proto proto = Proto::tcp;
    TcpState state = TcpState::established;
    std::string local;  // address as IpAddr::to_string prints it
    std::uint16_t local_port = 0;
    std::string remote;
    std::uint16_t remote_port = 0;
    std::optional<std::uint64_t> inode;  // checked when set
};

std::string describe(const Want& w) {
    return std::string(proto_name(w.proto)) + " " + std::string(state_name(u8(w.state), w.proto)) +
           " " + w.local + ":" + std::to_string(w.local_port) + " -> " + w.remote + ":" +
           std::to_string(w.remote_port);
}

std::string describe(const std::vector<SocketRecord>& recs) {
    std::string s;
    for (const auto& r : recs)
        s += "  " + std::string(proto_name(r.proto)) + " " + std::string(r.state_name()) + " " +
             format_endpoint(r.local_addr, r.local_port) + " -> " +
             format_endpoint(r.remote_addr, r.remote_port) + " inode " +
             std::to_string(r.inode) + "\n";
    return s;
}

bool is(const SocketRecord& r, const Want& w) {
    return r.proto == w.proto && r.state == u8(w.state) && r.local_addr.to_string() == w.local &&
           r.local_port == w.local_port && r.remote_addr.to_string() == w.remote &&
           r.remote_port == w.remote_port && (!w.inode || r.inode == *w.inode);
}

class LiveSource : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        src_ = GetParam() == "netlink" ? make_netlink_source() : make_proc_source();
        ASSERT_EQ(src_->name(), GetParam());
    }

    std::vector<SocketRecord> on_port(std::uint16_t port, std::uint32_t states = kAllStates) {
        Query q;
        q.port = port;
        q.states = states;
        return src_->snapshot(q).sockets;
    }

    // Someone else's connection to an earlier listener on the same port number may linger
    // in TIME_WAIT (inode 0, remote port == port): it is rightly in a port-filtered answer,
    // but counts in these tests are about our sockets only.
    static std::vector<SocketRecord> drop_foreign(std::vector<SocketRecord> recs,
                                                  std::uint16_t port) {
        std::erase_if(recs, [&](const SocketRecord& r) {
            return r.inode == 0 && r.local_port != port &&
                   (r.state == u8(TcpState::time_wait) || r.state == u8(TcpState::fin_wait2));
        });
        return recs;
    }
    std::vector<SocketRecord> own(std::uint16_t port, std::uint32_t states = kAllStates) {
        return drop_foreign(on_port(port, states), port);
    }

    // Wait (bounded) until the source shows exactly this socket; returns it.
    SocketRecord expect(const Want& w, std::uint16_t port) {
        std::vector<SocketRecord> last;
        const bool seen = wait_until([&] {
            last = on_port(port);
            return std::count_if(last.begin(), last.end(),
                                 [&](const SocketRecord& r) { return is(r, w); }) == 1;
        });
        EXPECT_TRUE(seen) << GetParam() << " did not show " << describe(w) << "\nit showed:\n"
                          << describe(last);
        for (const auto& r : last)
            if (is(r, w)) return r;
        return {};
    }

    std::unique_ptr<Source> src_;
};

INSTANTIATE_TEST_SUITE_P(BothSources, LiveSource, ::testing::Values("netlink", "proc"),
                         [](const auto& param_info) { return param_info.param; });

TEST_P(LiveSource, Listen) {
    auto l = tcp_listen("127.0.0.1", 0, 7);
    const auto p = local_port(l.get());
    const auto r = expect({Proto::tcp, TcpState::listen, "127.0.0.1", p, "0.0.0.0", 0,
                           inode_of(l.get())},
                          p);
    EXPECT_EQ(r.family, AF_INET);
    EXPECT_EQ(r.recv_q, 0u);
    if (GetParam() == "netlink") {
        EXPECT_EQ(r.send_q, 7u) << "Send-Q of a listener: backlog";
    }
    EXPECT_EQ(r.uid, ::geteuid());
    EXPECT_EQ(own(p).size(), 1u) << describe(on_port(p));
}

TEST_P(LiveSource, EstablishedBothEnds) {
    auto l = tcp_listen("127.0.0.1");
    const auto p = local_port(l.get());
    auto c = tcp_connect("127.0.0.1", p);
    auto s = tcp_accept(l.get());
    const auto cp = local_port(c.get());
    expect({Proto::tcp, TcpState::established, "127.0.0.1", cp, "127.0.0.1", p, inode_of(c.get())},
           p);
    expect({Proto::tcp, TcpState::established, "127.0.0.1", p, "127.0.0.1", cp, inode_of(s.get())},
           p);
    // Unread bytes show in Recv-Q.
    ASSERT_EQ(::send(c.get(), "hello", 5, 0), 5);
    EXPECT_TRUE(wait_until([&] {
        for (const auto& r : on_port(p))
            if (r.local_port == p && r.state == u8(TcpState::established) && r.recv_q == 5)
                return true;
        return false;
    })) << describe(on_port(p));
}

TEST_P(LiveSource, SynSentBehindAFullAcceptQueue) {
    auto l = tcp_listen("127.0.0.1", 0, /*backlog=*/0);
    const auto p = local_port(l.get());
    auto first = tcp_connect("127.0.0.1", p);  // fills the queue (backlog + 1 = 1)
    ASSERT_TRUE(wait_until([&] {
        for (const auto& r : on_port(p))
            if (r.state == u8(TcpState::listen) && r.recv_q == 1) return true;
        return false;
    })) << describe(on_port(p));
    auto c = tcp_connect("127.0.0.1", p, /*nonblocking=*/true);
    const auto r = expect({Proto::tcp, TcpState::syn_sent, "127.0.0.1", local_port(c.get()),
                           "127.0.0.1", p, inode_of(c.get())},
                          p);
    EXPECT_EQ(r.timer, TimerKind::retransmit);
    EXPECT_GT(r.timer_ms, 0u);
}

TEST_P(LiveSource, SynRecvWithDeferAccept) {
    auto l = tcp_listen("127.0.0.1");
    const int secs = 30;
    ASSERT_EQ(::setsockopt(l.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs), 0);
    const auto p = local_port(l.get());
    auto c = tcp_connect("127.0.0.1", p);
    const auto cp = local_port(c.get());
    const auto r = expect({Proto::tcp, TcpState::syn_recv, "127.0.0.1", p, "127.0.0.1", cp, 0}, p);
    EXPECT_EQ(r.timer, TimerKind::retransmit);
    expect({Proto::tcp, TcpState::established, "127.0.0.1", cp, "127.0.0.1", p, std::nullopt}, p);
    // Asking for SYN_RECV by either of its kernel bits finds the request socket.
    for (auto bit : {TcpState::syn_recv, TcpState::new_syn_recv}) {
        const auto only = own(p, state_bit(bit));
        ASSERT_EQ(only.size(), 1u) << describe(only);
        EXPECT_EQ(only[0].local_port, p);
    }
}

TEST_P(LiveSource, CloseWaitAndOrphanedFinWait2) {
    auto l = tcp_listen("127.0.0.1");
    const auto p = local_port(l.get());
    auto c = tcp_connect("127.0.0.1", p);
    auto s = tcp_accept(l.get());
    const auto cp = local_port(c.get());
    c.reset();  // we close, the peer does not
    const auto cw = expect(
        {Proto::tcp, TcpState::close_wait, "127.0.0.1", p, "127.0.0.1", cp, inode_of(s.get())}, p);
    EXPECT_EQ(cw.recv_q, 1u) << "the FIN counts as one unread byte";
    const auto fw2 =
        expect({Proto::tcp, TcpState::fin_wait2, "127.0.0.1", cp, "127.0.0.1", p, 0}, p);
    EXPECT_EQ(fw2.timer, TimerKind::time_wait) << "an orphan FIN_WAIT2 is a timewait mini-socket";
}

TEST_P(LiveSource, OwnedFinWait2AfterShutdown) {
    auto l = tcp_listen("127.0.0.1");
    const auto p = local_port(l.get());
    auto c = tcp_connect("127.0.0.1", p);
    auto s = tcp_accept(l.get());
    ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
    expect({Proto::tcp, TcpState::fin_wait2, "127.0.0.1", local_port(c.get()), "127.0.0.1", p,
            inode_of(c.get())},
           p);
}

TEST_P(LiveSource, TimeWaitOnTheSideThatClosesFirst) {
    auto l = tcp_listen("127.0.0.1");
    const auto p = local_port(l.get());
    auto c = tcp_connect("127.0.0.1", p);
    auto s = tcp_accept(l.get());
    const auto cp = local_port(c.get());
    c.reset();
    ASSERT_TRUE(wait_for_state(*src_, p, cp, u8(TcpState::close_wait)));
    s.reset();
    const auto tw =
        expect({Proto::tcp, TcpState::time_wait, "127.0.0.1", cp, "127.0.0.1", p, 0}, p);
    EXPECT_EQ(tw.timer, TimerKind::time_wait);
    EXPECT_GT(tw.timer_ms, 50'000u);
    EXPECT_LE(tw.timer_ms, 60'000u);
    // The passive closer leaves nothing behind (LAST_ACK lasts microseconds).
    EXPECT_TRUE(wait_until([&] {
        const auto recs = on_port(p);
        return std::none_of(recs.begin(), recs.end(),
                            [&](const SocketRecord& r) { return r.local_port == p && r.remote_port == cp; });
    }));
}

TEST_P(LiveSource, UdpUnconnectedAndConnected) {
    auto a = udp_bind("127.0.0.1");
    const auto ap = local_port(a.get());
    auto b = udp_bind("127.0.0.1");
    const auto bp = local_port(b.get());
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(ap);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(b.get(), reinterpret_cast<const sockaddr*>(&to), sizeof to), 0);
    const auto un = expect(
        {Proto::udp, TcpState::close, "127.0.0.1", ap, "0.0.0.0", 0, inode_of(a.get())}, ap);
    EXPECT_EQ(un.state_name(), "UNCONN");
    expect({Proto::udp, TcpState::established, "127.0.0.1", bp, "127.0.0.1", ap, inode_of(b.get())},
           ap);
    // A datagram waiting to be read shows in Recv-Q (bytes including the kernel's overhead).
    ASSERT_EQ(::send(b.get(), "x", 1, 0), 1);
    EXPECT_TRUE(wait_until([&] {
        for (const auto& r : on_port(ap))
            if (r.local_port == ap && r.proto == Proto::udp && r.recv_q > 0) return true;
        return false;
    }));
}

TEST_P(LiveSource, Ipv6Loopback) {
    auto l = tcp_listen("::1");
    const auto p = local_port(l.get());
    auto c = tcp_connect("::1", p);
    auto s = tcp_accept(l.get());
    const auto cp = local_port(c.get());
    const auto r = expect({Proto::tcp, TcpState::listen, "::1", p, "::", 0, inode_of(l.get())}, p);
    EXPECT_EQ(r.family, AF_INET6);
    expect({Proto::tcp, TcpState::established, "::1", cp, "::1", p, inode_of(c.get())}, p);
    expect({Proto::tcp, TcpState::established, "::1", p, "::1", cp, inode_of(s.get())}, p);
    auto u = udp_bind("::1");
    const auto up = local_port(u.get());
    expect({Proto::udp, TcpState::close, "::1", up, "::", 0, inode_of(u.get())}, up);
}

TEST_P(LiveSource, V4MappedToADualStackListener) {
    auto l = tcp_listen("::");
    const auto p = local_port(l.get());
    auto c = tcp_connect("127.0.0.1", p);
    auto s = tcp_accept(l.get());
    const auto cp = local_port(c.get());
    expect({Proto::tcp, TcpState::listen, "::", p, "::", 0, inode_of(l.get())}, p);
    const auto srv = expect({Proto::tcp, TcpState::established, "::ffff:127.0.0.1", p,
                             "::ffff:127.0.0.1", cp, inode_of(s.get())},
                            p);
    EXPECT_EQ(srv.family, AF_INET6);
    EXPECT_TRUE(srv.remote_addr.is_v4_mapped());
    const auto cli = expect(
        {Proto::tcp, TcpState::established, "127.0.0.1", cp, "127.0.0.1", p, inode_of(c.get())}, p);
    EXPECT_EQ(cli.family, AF_INET);
    EXPECT_EQ(cli.local_addr, srv.remote_addr.unmapped());
}

TEST_P(LiveSource, PortFilterReturnsExactlyThatPort) {
    auto l = tcp_listen("127.0.0.1");
    const auto p = local_port(l.get());
    auto c = tcp_connect("127.0.0.1", p);
    auto s = tcp_accept(l.get());
    auto other = tcp_listen("127.0.0.1");
    auto other_c = tcp_connect("127.0.0.1", local_port(other.get()));
    // The same number as a UDP port: a port filter is about the number, in every protocol.
    std::optional<UniqueFd> u;
    try {
        u = udp_bind("127.0.0.1", p);
    } catch (const Error&) {
        // Someone else holds that UDP port; the TCP part of the check still stands.
    }
    const std::size_t want = 3 + (u ? 1 : 0);
    // No port filtering in user space on the netlink path: this is the kernel's bytecode.
    ASSERT_TRUE(wait_until([&] { return own(p).size() == want; })) << describe(on_port(p));
    for (const auto& r : on_port(p)) EXPECT_TRUE(r.local_port == p || r.remote_port == p);
    std::vector<std::uint64_t> inodes;
    for (const auto& r : own(p)) inodes.push_back(r.inode);
    std::sort(inodes.begin(), inodes.end());
    std::vector<std::uint64_t> expected{inode_of(l.get()), inode_of(c.get()), inode_of(s.get())};
    if (u) expected.push_back(inode_of(u->get()));
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(inodes, expected);
    Query tcp_only;
    tcp_only.port = p;
    tcp_only.udp = false;
    EXPECT_EQ(drop_foreign(src_->snapshot(tcp_only).sockets, p).size(), 3u);
}

TEST_P(LiveSource, BoundInactiveOnlyWhenAskedFor) {
    UniqueFd b(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(b.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
    const auto p = local_port(b.get());
    EXPECT_TRUE(own(p).empty()) << "like ss -tan, the default query leaves it out";
    const auto only = own(p, state_bit(TcpState::bound_inactive));
    if (GetParam() == "proc") {
        EXPECT_TRUE(only.empty()) << "/proc/net/tcp never lists bound, inactive sockets";
        return;
    }
    ASSERT_EQ(only.size(), 1u) << describe(only);
    EXPECT_EQ(only[0].state_name(), "BOUND_INACTIVE");
    EXPECT_EQ(only[0].inode, inode_of(b.get()));
    EXPECT_EQ(own(p, kAllStates | state_bit(TcpState::bound_inactive)).size(), 1u);
    EXPECT_TRUE(own(p, state_bit(TcpState::close)).empty())
        << "CLOSE does not stand for BOUND_INACTIVE in a query";
}

TEST_P(LiveSource, TcpInfoWhenAsked) {
    auto l = tcp_listen("127.0.0.1");
    const auto p = local_port(l.get());
    auto c = tcp_connect("127.0.0.1", p);
    auto s = tcp_accept(l.get());
    ASSERT_EQ(::send(c.get(), "ping", 4, 0), 4);
    char buf[4];
    ASSERT_EQ(::recv(s.get(), buf, sizeof buf, MSG_WAITALL), 4);
    Query q;
    q.port = p;
    q.tcp_info = true;
    const auto recs = drop_foreign(src_->snapshot(q).sockets, p);
    ASSERT_EQ(recs.size(), 3u) << describe(recs);
    for (const auto& r : recs) {
        if (GetParam() == "proc") {
            EXPECT_FALSE(r.tcp_info) << "TCP_INFO is netlink only";
            continue;
        }
        ASSERT_TRUE(r.tcp_info);
        EXPECT_EQ(r.tcp_info->state, r.state);
        if (r.state == u8(TcpState::established)) {
            EXPECT_GT(r.tcp_info->rtt_us, 0u);
            EXPECT_GT(r.tcp_info->snd_cwnd, 0u);
        }
    }
    Query plain;
    plain.port = p;
    for (const auto& r : src_->snapshot(plain).sockets) EXPECT_FALSE(r.tcp_info);
}

TEST_P(LiveSource, SnapshotIntoReusesTheBuffer) {
    auto l = tcp_listen("127.0.0.1");
    Query q;
    q.port = local_port(l.get());
    q.states = state_bit(TcpState::listen);
    Snapshot snap;
    snap.sockets.reserve(64);
    const auto* data = snap.sockets.data();
    src_->snapshot_into(q, snap);
    EXPECT_EQ(snap.sockets.size(), 1u) << describe(snap.sockets);
    src_->snapshot_into(q, snap);
    EXPECT_EQ(snap.sockets.size(), 1u) << "cleared first, not appended\n" << describe(snap.sockets);
    EXPECT_EQ(snap.sockets.data(), data);
    EXPECT_EQ(snap.source, GetParam());
    EXPECT_GT(snap.taken_ns, 0u);
}

TEST(LiveNetlink, FinWait1BehindFullBuffers) {
    auto src = make_netlink_source();
    auto l = tcp_listen("127.0.0.1");
    const int small = 4096;
    ASSERT_EQ(::setsockopt(l.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    const auto p = local_port(l.get());
    auto c = tcp_connect("127.0.0.1", p, /*nonblocking=*/true);
    ASSERT_EQ(::setsockopt(c.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    auto s = tcp_accept(l.get());
    static const char chunk[4096] = {};
    bool full = false;
    for (int i = 0; i < 10000 && !full; ++i)
        if (::send(c.get(), chunk, sizeof chunk, MSG_NOSIGNAL) < 0) {
            ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
            full = true;
        }
    ASSERT_TRUE(full);
    ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
    EXPECT_TRUE(wait_for_state(*src, local_port(c.get()), p, u8(TcpState::fin_wait1)));
    auto proc = make_proc_source();
    EXPECT_TRUE(wait_for_state(*proc, local_port(c.get()), p, u8(TcpState::fin_wait1)));
}

// The probe the labs use. This kernel (>= 6.9) lists bound-only sockets when asked for bit 13;
// /proc/net/tcp never does, like a kernel before 6.9.
TEST(LiveNetlink, BoundInactiveProbeMatchesTheRunningKernel) {
    auto nl = make_netlink_source();
    auto proc = make_proc_source();
    EXPECT_FALSE(kernel_lists_bound_sockets(*proc));
    // What the kernel itself says: a bound socket, asked for with bit 13 alone.
    UniqueFd b(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(b.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    Query q;
    q.states = state_bit(TcpState::bound_inactive);
    q.port = local_port(b.get());
    const bool listed = !nl->snapshot(q).sockets.empty();
    EXPECT_EQ(kernel_lists_bound_sockets(*nl), listed);
    EXPECT_TRUE(listed) << "Linux >= 6.9 lists bound-only sockets; this suite runs on 6.18";
}

TEST(LiveNetlink, DefaultSourceIsNetlink) {
    EXPECT_EQ(make_default_source()->name(), "netlink");
}

}  // namespace
}  // namespace socklab
