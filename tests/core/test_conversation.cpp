// The conversation merge, pure: roles, ISNs, relative numbers and time order from records
// shaped as the kernel gives them (a SYN_SENT transition with local port 0, a v4-mapped
// IPv6 socket whose segments are IPv4 on the wire, sources arriving out of order).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "socklab/conversation.hpp"
#include "socklab/state.hpp"

namespace socklab {
namespace {

IpAddr ip(const char* text) { return *parse_ip(text); }

constexpr std::uint16_t kClientPort = 41000;
constexpr std::uint16_t kServerPort = 9005;
constexpr std::uint32_t kClientIsn = 0xfffffff0;  // wraps: relative numbers are modulo 2^32
constexpr std::uint32_t kServerIsn = 777;

Segment seg(std::uint64_t t, bool from_client, std::uint8_t flags, std::uint32_t seq,
            std::uint32_t ack, std::uint32_t len = 0) {
    Segment s;
    s.time_ns = t;
    s.family = AF_INET;
    s.src_addr = s.dst_addr = ip("127.0.0.1");
    s.src_port = from_client ? kClientPort : kServerPort;
    s.dst_port = from_client ? kServerPort : kClientPort;
    s.flags = flags;
    s.seq = seq;
    s.ack = ack;
    s.len = len;
    return s;
}

TransitionEvent tr(std::uint64_t t, bool client, TcpState from, TcpState to,
                   std::uint16_t local_port_override = 1) {
    TransitionEvent e;
    e.time_ns = t;
    e.family = AF_INET;
    e.skaddr = client ? 0x1000 : 0x2000;
    e.local_addr = e.remote_addr = ip("127.0.0.1");
    e.local_port = local_port_override == 0 ? 0 : (client ? kClientPort : kServerPort);
    e.remote_port = client ? kServerPort : kClientPort;
    e.old_state = static_cast<std::uint8_t>(from);
    e.new_state = static_cast<std::uint8_t>(to);
    return e;
}

SyscallEvent call(std::uint64_t t, bool client, SyscallKind k, int fd, std::int64_t result) {
    SyscallEvent c;
    c.time_ns = t;
    c.pid = client ? 100 : 200;
    c.tid = c.pid;
    c.call = k;
    c.fd = fd;
    c.result = result;
    SocketKey key;
    key.family = AF_INET;
    key.local_addr = key.remote_addr = ip("127.0.0.1");
    key.local_port = client ? kClientPort : kServerPort;
    key.remote_port = client ? kServerPort : kClientPort;
    c.key = key;
    return c;
}

using F = std::uint8_t;
constexpr F SYN = tcp_flag::SYN, ACK = tcp_flag::ACK, FIN = tcp_flag::FIN, PSH = tcp_flag::PSH;

std::vector<Segment> normal_close() {
    const auto c = kClientIsn, s = kServerIsn;
    return {
        seg(100, true, SYN, c, 0),
        seg(110, false, SYN | ACK, s, c + 1),
        seg(120, true, ACK, c + 1, s + 1),
        seg(200, true, PSH | ACK, c + 1, s + 1, 5),
        seg(210, false, ACK, s + 1, c + 6),
        seg(300, true, FIN | ACK, c + 6, s + 1),
        seg(310, false, ACK, s + 1, c + 7),
        seg(400, false, FIN | ACK, s + 1, c + 7),
        seg(410, true, ACK, c + 7, s + 2),
    };
}

TEST(Conversation, HandshakeDataCloseRelativeToEachIsn) {
    const auto segs = normal_close();
    const auto convs = conversation::build(segs, {}, {});
    ASSERT_EQ(convs.size(), 1u);
    const auto& c = convs[0];
    EXPECT_TRUE(c.roles_known);
    EXPECT_EQ(c.client.port, kClientPort);
    EXPECT_EQ(c.server.port, kServerPort);
    ASSERT_EQ(c.items.size(), segs.size());
    // (rel seq, rel ack, sender) as tshark prints them.
    const std::vector<std::tuple<std::uint32_t, std::uint32_t, Side>> want{
        {0, 0, Side::client}, {0, 1, Side::server}, {1, 1, Side::client},
        {1, 1, Side::client}, {1, 6, Side::server}, {6, 1, Side::client},
        {1, 7, Side::server}, {1, 7, Side::server}, {7, 2, Side::client},
    };
    for (std::size_t i = 0; i < want.size(); ++i) {
        const auto* s = c.items[i].segment();
        ASSERT_NE(s, nullptr);
        EXPECT_TRUE(s->relative);
        EXPECT_EQ(s->rel_seq, std::get<0>(want[i])) << i;
        EXPECT_EQ(s->rel_ack, std::get<1>(want[i])) << i;
        EXPECT_EQ(c.items[i].side, std::get<2>(want[i])) << i;
        EXPECT_EQ(s->seq, segs[i].seq) << "raw numbers are kept";
    }
}

TEST(Conversation, MergesTransitionsAndCallsInTimeOrder) {
    const auto segs = normal_close();
    std::vector<TransitionEvent> trs{
        // SYN_SENT is reported before the port is chosen (local port 0): it must still join.
        tr(95, true, TcpState::close, TcpState::syn_sent, 0),
        tr(111, false, TcpState::listen, TcpState::syn_recv),
        tr(112, true, TcpState::syn_sent, TcpState::established),
        tr(121, false, TcpState::syn_recv, TcpState::established),
        tr(299, true, TcpState::established, TcpState::fin_wait1),
        tr(301, false, TcpState::established, TcpState::close_wait),
        tr(311, true, TcpState::fin_wait1, TcpState::fin_wait2),
        tr(399, false, TcpState::close_wait, TcpState::last_ack),
        tr(401, true, TcpState::fin_wait2, TcpState::close),
        tr(411, false, TcpState::last_ack, TcpState::close),
    };
    std::vector<SyscallEvent> calls{
        call(90, true, SyscallKind::connect, 3, 0),  // exit after the SYN_SENT: its time is the
        call(130, false, SyscallKind::accept4, 4, 4),
        call(298, true, SyscallKind::close, 3, 0),
        call(398, false, SyscallKind::close, 4, 0),
    };
    const auto convs = conversation::build(segs, trs, calls);
    ASSERT_EQ(convs.size(), 1u);
    const auto& c = convs[0];
    ASSERT_EQ(c.items.size(), segs.size() + trs.size() + calls.size());
    for (std::size_t i = 1; i < c.items.size(); ++i)
        EXPECT_LE(c.items[i - 1].time_ns, c.items[i].time_ns);
    // The held SYN_SENT joined with its own time and the port filled in.
    const auto* first_tr = c.items[1].transition();
    ASSERT_NE(first_tr, nullptr);
    EXPECT_EQ(first_tr->time_ns, 95u);
    EXPECT_EQ(first_tr->local_port, kClientPort);
    EXPECT_EQ(c.items[1].side, Side::client);
    EXPECT_EQ(c.client_pid, 100);
    EXPECT_EQ(c.server_pid, 200);
    for (const auto& item : c.items) EXPECT_NE(item.side, Side::unknown);
}

TEST(Conversation, RolesFromTheSynEvenWhenTheServerSpeaksFirstInTheInput) {
    // Only the SYN-ACK and later were captured: the SYN-ACK's sender is the server.
    auto segs = normal_close();
    segs.erase(segs.begin());
    const auto convs = conversation::build(segs, {}, {});
    ASSERT_EQ(convs.size(), 1u);
    EXPECT_TRUE(convs[0].roles_known);
    EXPECT_EQ(convs[0].server.port, kServerPort);
    EXPECT_FALSE(convs[0].client_isn.has_value() &&
                 *convs[0].client_isn == kClientIsn) << "no SYN: the client ISN is a guess";
}

TEST(Conversation, MidStreamCaptureUsesFirstSeenSequenceNumbers) {
    auto segs = normal_close();
    segs.erase(segs.begin(), segs.begin() + 3);  // no handshake
    const auto convs = conversation::build(segs, {}, {});
    ASSERT_EQ(convs.size(), 1u);
    const auto* first = convs[0].items[0].segment();
    EXPECT_EQ(first->rel_seq, 0u);
    EXPECT_TRUE(first->relative);
}

TEST(Conversation, V4MappedSocketJoinsItsIpv4Segments) {
    auto e = tr(111, false, TcpState::listen, TcpState::syn_recv);
    e.family = AF_INET6;
    e.local_addr = e.remote_addr = ip("::ffff:127.0.0.1");
    const auto segs = normal_close();
    const auto convs = conversation::build(segs, std::vector{e}, {});
    ASSERT_EQ(convs.size(), 1u);
    EXPECT_EQ(convs[0].items.size(), segs.size() + 1);
}

TEST(Conversation, SetEvictsTheLeastRecentlyActive) {
    conversation::ConversationSet set(4);
    for (std::uint16_t i = 0; i < 10; ++i) {
        auto s = seg(1000 + i, true, SYN, 1, 0);
        s.src_port = static_cast<std::uint16_t>(50000 + i);
        set.add(s);
    }
    EXPECT_LE(set.size(), 4u);
    EXPECT_EQ(set.dropped(), 10u - set.size());
    // The newest is always kept.
    auto last = seg(0, true, SYN, 1, 0);
    last.src_port = 50009;
    EXPECT_NE(set.find(*conversation::id_of(last)), nullptr);
}

// The kernel frees a socket and gives its address to the next one: a SYN_SENT held for a
// socket whose later events never came must not become the new socket's. Seen live: an
// accepted socket at a connecting socket's old address drew a SYN_SENT badge on the server.
TEST(Conversation, AHeldSynSentJoinsOnlyItsOwnSocketTowardsItsPeer) {
    conversation::ConversationSet set;
    auto elsewhere = tr(50, false, TcpState::close, TcpState::syn_sent, 0);  // at 0x2000
    elsewhere.remote_addr = ip("127.0.0.9");
    elsewhere.remote_port = 80;
    EXPECT_EQ(set.add(elsewhere), nullptr);  // held
    // The server's accepted socket, now at 0x2000 (its LISTEN -> SYN_RECV not seen): its
    // SYN_RECV -> ESTABLISHED places nothing, and says it is the server's end.
    const auto* c = set.add(tr(120, false, TcpState::syn_recv, TcpState::established));
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(c->items.size(), 1u);
    EXPECT_EQ(c->items[0].transition()->new_state, static_cast<std::uint8_t>(TcpState::established));
    EXPECT_EQ(c->items[0].side, Side::server);

    // A held SYN_SENT of the right peer but later than the placing event is another socket's.
    auto late = tr(500, true, TcpState::close, TcpState::syn_sent, 0);  // at 0x1000
    EXPECT_EQ(set.add(late), nullptr);
    c = set.add(tr(400, true, TcpState::established, TcpState::fin_wait1));
    ASSERT_NE(c, nullptr);
    for (const auto& item : c->items) {
        if (const auto* t = item.transition()) {
            EXPECT_NE(t->new_state, static_cast<std::uint8_t>(TcpState::syn_sent));
        }
    }

    // A new socket's life starts from CLOSE: an older socket's hold at the address (even one
    // towards the same peer) is dropped, and only the new SYN_SENT joins the connection.
    EXPECT_EQ(set.add(tr(600, true, TcpState::close, TcpState::syn_sent, 0)), nullptr);
    EXPECT_EQ(set.add(tr(700, true, TcpState::close, TcpState::syn_sent, 0)), nullptr);
    c = set.add(tr(800, true, TcpState::syn_sent, TcpState::established));
    ASSERT_NE(c, nullptr);
    int syn_sent = 0;
    for (const auto& item : c->items) {
        const auto* t = item.transition();
        if (t == nullptr || t->new_state != static_cast<std::uint8_t>(TcpState::syn_sent)) continue;
        ++syn_sent;
        EXPECT_EQ(item.time_ns, 700u);
        EXPECT_EQ(t->local_port, kClientPort);
        EXPECT_EQ(t->remote_port, kServerPort);
        EXPECT_EQ(item.side, Side::client);
    }
    EXPECT_EQ(syn_sent, 1);
}

TEST(Conversation, CallsWithoutAConnectionBelongToNone) {
    auto c = call(1, false, SyscallKind::listen, 3, 0);
    c.key->remote_port = 0;
    EXPECT_FALSE(conversation::id_of(c).has_value());
    c.key.reset();
    EXPECT_FALSE(conversation::id_of(c).has_value());
    conversation::ConversationSet set;
    EXPECT_EQ(set.add(c), nullptr);
}

}  // namespace
}  // namespace socklab
