// CallSocketHints on constructed event sequences: the connection a connect() made, found by
// its task and time; a listener's accept() queue, first in first out.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "socklab/state.hpp"
#include "socklab/tracer.hpp"

namespace socklab::trace {
namespace {

IpAddr loopback() {
    const in_addr a{htonl(INADDR_LOOPBACK)};
    return IpAddr::v4(&a);
}

TransitionEvent ev(std::uint64_t t, std::int32_t tid, std::uint64_t skaddr, std::uint16_t lport,
                   std::uint16_t rport, TcpState from, TcpState to) {
    TransitionEvent e;
    e.time_ns = t;
    e.pid = tid;
    e.skaddr = skaddr;
    e.family = AF_INET;
    e.protocol = 6;
    e.local_addr = e.remote_addr = loopback();
    e.local_port = lport;
    e.remote_port = rport;
    e.old_state = static_cast<std::uint8_t>(from);
    e.new_state = static_cast<std::uint8_t>(to);
    return e;
}

using S = TcpState;

TEST(CallSocketHints, ConnectIsNamedByItsTaskAndTime) {
    CallSocketHints h;
    // Task 7 connects (SYN_SENT has no port yet); the SYN-ACK names it. Task 8 connects later.
    h.observe(ev(100, 7, 0xA, 0, 80, S::close, S::syn_sent));
    h.observe(ev(120, 0, 0xA, 40000, 80, S::syn_sent, S::established));
    h.observe(ev(200, 8, 0xB, 0, 80, S::close, S::syn_sent));
    h.observe(ev(230, 8, 0xB, 40002, 80, S::syn_sent, S::established));
    const auto a = h.connected_by(7, 90, 130);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->local_port, 40000);
    EXPECT_EQ(a->remote_port, 80);
    ASSERT_TRUE(h.connected_by(8, 190, 240));
    EXPECT_EQ(h.connected_by(8, 190, 240)->local_port, 40002);
    EXPECT_FALSE(h.connected_by(9, 90, 240)) << "another task's connect";
    EXPECT_FALSE(h.connected_by(7, 150, 240)) << "task 7's SYN_SENT came before this call";
    EXPECT_FALSE(h.connected_by(7, 50, 90)) << "and after this one";
}

TEST(CallSocketHints, ThreadsNamedOutOfOrderAreStillFound) {
    CallSocketHints h;
    // Thread 5 sends its SYN first but is named last: thread 6's entry comes after it.
    h.observe(ev(100, 5, 0xA, 0, 80, S::close, S::syn_sent));
    h.observe(ev(150, 6, 0xB, 0, 80, S::close, S::syn_sent));
    h.observe(ev(170, 6, 0xB, 40006, 80, S::syn_sent, S::established));
    h.observe(ev(180, 5, 0xA, 40005, 80, S::syn_sent, S::established));
    ASSERT_TRUE(h.connected_by(6, 140, 175));
    EXPECT_EQ(h.connected_by(6, 140, 175)->local_port, 40006);
    ASSERT_TRUE(h.connected_by(5, 90, 190));
    EXPECT_EQ(h.connected_by(5, 90, 190)->local_port, 40005);
}

TEST(CallSocketHints, ARefusedConnectIsNamedByItsClose) {
    CallSocketHints h;
    h.observe(ev(100, 7, 0xA, 0, 81, S::close, S::syn_sent));
    h.observe(ev(110, 7, 0xA, 40010, 81, S::syn_sent, S::close));  // RST: ECONNREFUSED
    const auto k = h.connected_by(7, 90, 120);
    ASSERT_TRUE(k);
    EXPECT_EQ(k->local_port, 40010);
}

TEST(CallSocketHints, AcceptTakesTheOldestReadyConnection) {
    CallSocketHints h;
    for (std::uint16_t i = 0; i < 3; ++i) {
        const std::uint64_t sk = 0x100 + i;
        h.observe(ev(100 + 10 * i, 0, sk, 80, 50000 + i, S::listen, S::syn_recv));
        h.observe(ev(101 + 10 * i, 0, sk, 80, 50000 + i, S::syn_recv, S::established));
    }
    EXPECT_EQ(h.waiting(80), 3u);
    // A connection that ends while it waits stays in the queue: accept() returns it.
    h.observe(ev(140, 0, 0x101, 80, 50001, S::established, S::close));
    EXPECT_FALSE(h.take_accepted(80, 100)) << "nothing was ready before t=101";
    EXPECT_EQ(h.take_accepted(80, 200)->remote_port, 50000);
    EXPECT_EQ(h.take_accepted(80, 200)->remote_port, 50001);
    EXPECT_EQ(h.take_accepted(80, 200)->remote_port, 50002);
    EXPECT_FALSE(h.take_accepted(80, 200));
    EXPECT_FALSE(h.take_accepted(81, 200)) << "another port's queue";
}

TEST(CallSocketHints, AKnownAcceptLeavesTheQueueAndAClosedListenerEmptiesIt) {
    CallSocketHints h;
    h.observe(ev(10, 0, 0x1, 80, 50000, S::syn_recv, S::established));
    h.observe(ev(20, 0, 0x2, 80, 50001, S::syn_recv, S::established));
    h.observe(ev(30, 0, 0x3, 80, 50002, S::syn_recv, S::established));
    // accept() named the second through its descriptor: the first is still the next one.
    SocketKey second = key_of(ev(20, 0, 0x2, 80, 50001, S::syn_recv, S::established));
    h.accepted(second);
    EXPECT_EQ(h.take_accepted(80, 100)->remote_port, 50000);
    EXPECT_EQ(h.waiting(80), 1u);
    h.observe(ev(40, 0, 0x9, 80, 0, S::listen, S::close));
    EXPECT_EQ(h.waiting(80), 0u) << "closing the listener resets what waited";
    EXPECT_FALSE(h.take_accepted(80, 100));
}

}  // namespace
}  // namespace socklab::trace
