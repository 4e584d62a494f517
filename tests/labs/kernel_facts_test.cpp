// The kernel facts the course states (docs/kernel-facts.md) that no lab shows step by step,
// each made real on loopback in a private network namespace and read back with `ss`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "labkit.hpp"
#include "lab_child.hpp"
#include "socklab/error.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"

namespace socklab::test {
namespace {

using namespace std::chrono_literals;

// The state `ss` shows for the socket with this local and remote port ("" when none).
std::string ss_state(std::uint16_t local, std::uint16_t remote) {
    for (const auto& r : ss_rows())
        if (r.proto == "tcp" && r.local_port == local && r.remote_port == remote) return r.state;
    return "";
}

bool ss_shows(std::uint16_t local, std::uint16_t remote, const std::string& state,
              std::chrono::milliseconds timeout = 3s) {
    return wait_until([&] { return ss_state(local, remote) == state; }, timeout, 10ms);
}

void small_buffers(int fd) {
    lab::set_int_option(fd, SOL_SOCKET, SO_RCVBUF, 65536, "SO_RCVBUF");
    lab::set_int_option(fd, SOL_SOCKET, SO_SNDBUF, 65536, "SO_SNDBUF");
}

// Read until end of stream (bounded), so the window opens and queued FINs can go.
void drain(int fd) {
    char buf[65536];
    for (int i = 0; i < 100000; ++i) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return;
        if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
    }
}

struct Conn {
    UniqueFd listener, client, server;
    std::uint16_t lport = 0, cport = 0;
};
Conn connect_small() {
    Conn c;
    c.listener = tcp_listen("127.0.0.1", 0);
    small_buffers(c.listener.get());  // inherited by the accepted socket
    c.lport = local_port(c.listener.get());
    c.client.reset(::socket(AF_INET, SOCK_STREAM, 0));
    small_buffers(c.client.get());
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(c.lport);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c.client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw Error("failed to connect the client");
    c.server = tcp_accept(c.listener.get());
    c.cport = local_port(c.client.get());
    return c;
}

// LAST_ACK held without a dropped packet: the client half-closes and never reads; the server
// fills the client's receive buffer and its own send buffer, then shuts down. Its FIN waits
// behind the data, so it is never acknowledged while the client does not read.
TEST(KernelFacts, ZeroWindowHoldsLastAck) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    auto c = connect_small();
    ASSERT_EQ(::shutdown(c.client.get(), SHUT_WR), 0);
    ASSERT_TRUE(ss_shows(c.lport, c.cport, "CLOSE_WAIT"));
    ASSERT_GT(lab::fill_until_eagain(c.server.get()), 0);
    ASSERT_EQ(::shutdown(c.server.get(), SHUT_WR), 0);
    ASSERT_TRUE(ss_shows(c.lport, c.cport, "LAST_ACK"));
    // Held: still LAST_ACK a while later (zero-window probes are answered, nothing else moves).
    pollfd none{-1, 0, 0};
    (void)::poll(&none, 1, 1500);
    EXPECT_EQ(ss_state(c.lport, c.cport), "LAST_ACK");
    EXPECT_EQ(lab::tcp_info_state(c.server.get()), "LAST_ACK");
    // The client reads: the data and the FIN go through, the server's socket finishes.
    drain(c.client.get());
    EXPECT_TRUE(ss_shows(c.cport, c.lport, "TIME_WAIT"));
    EXPECT_EQ(lab::tcp_info_state(c.server.get()), "CLOSE");
}

// CLOSING held the same way, and "both sent FIN" means both end in TIME_WAIT: the client's FIN
// waits behind data the server does not read (FIN_WAIT1); the server shuts down too, so the
// client gets the server's FIN before the ACK of its own (CLOSING). When the server reads,
// both ends reach TIME_WAIT.
TEST(KernelFacts, ZeroWindowHoldsClosingAndBothEndInTimeWait) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    auto c = connect_small();
    ASSERT_GT(lab::fill_until_eagain(c.client.get()), 0);
    ASSERT_EQ(::shutdown(c.client.get(), SHUT_WR), 0);
    ASSERT_TRUE(ss_shows(c.cport, c.lport, "FIN_WAIT1"));
    ASSERT_EQ(::shutdown(c.server.get(), SHUT_WR), 0);
    ASSERT_TRUE(ss_shows(c.cport, c.lport, "CLOSING"));
    ASSERT_TRUE(ss_shows(c.lport, c.cport, "FIN_WAIT2"));
    pollfd none{-1, 0, 0};
    (void)::poll(&none, 1, 1500);
    EXPECT_EQ(ss_state(c.cport, c.lport), "CLOSING");
    drain(c.server.get());
    EXPECT_TRUE(ss_shows(c.cport, c.lport, "TIME_WAIT"));
    EXPECT_TRUE(ss_shows(c.lport, c.cport, "TIME_WAIT"));
}

}  // namespace
}  // namespace socklab::test
