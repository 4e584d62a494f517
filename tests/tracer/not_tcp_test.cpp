// Only TCP sockets are socklab's to show. A program's name lookups make AF_UNIX sockets (glibc
// asks nscd's socket first) and UDP ones: their socket(), connect() and close() are left out,
// and nothing of the TCP socket made under the same descriptor number right after. The close()
// of a TCP socket a traced socket() made is reported even when the descriptor is gone by the
// time the calls are read (a short connection's usually is).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "socklab/program_tree.hpp"
#include "socklab/syscall_event.hpp"
#include "socklab/tracer.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;

TEST(TracerNotTcp, AfUnixAndUdpAreLeftOutAndAGoneTcpSocketsCloseIsNot) {
    SOCKLAB_REQUIRE_ROOT();
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    // Each socket is closed before the next is made, so the first three share one number (the
    // program checks, exit 5). It exits 3 unless the AF_UNIX connect() failed as a missing
    // socket file does. The fourth socket is made before the third is closed, and is kept
    // until the test ends it, so the program is still there (its descriptors can be read)
    // when the tracer reads its calls.
    const std::string to = "('127.0.0.1', " + std::to_string(port) + ")";
    program::Spawned prog({"/usr/bin/python3", "-c",
                           "import socket, sys\n"
                           "u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                           "n = u.fileno()\n"
                           "try:\n"
                           "    u.connect('/nonexistent-socklab/socket')\n"
                           "    sys.exit(3)\n"
                           "except FileNotFoundError:\n"
                           "    u.close()\n"
                           "d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                           "d.connect(" + to + ")\n"
                           "if d.fileno() != n: sys.exit(5)\n"
                           "d.close()\n"
                           "t = socket.create_connection(" + to + ")\n"
                           "if t.fileno() != n: sys.exit(5)\n"
                           "w = socket.create_connection(" + to + ")\n"
                           "t.close()\n"
                           "sys.exit(0 if w.recv(1) == b'' else 4)\n"});
    TracerOptions o;
    o.syscalls = true;
    o.pids = {prog.pid()};
    o.follow_children = true;
    Tracer tracer(o);
    ASSERT_TRUE(tracer.syscall_status().active) << tracer.syscall_status().message;
    ASSERT_EQ(prog.go(), 0);

    // Everything before the TCP socket's close() is read once that close() is.
    const auto tcp = [&](const SyscallEvent& c) { return c.key && c.key->remote_port == port; };
    std::vector<SyscallEvent> calls;
    std::vector<TransitionEvent> transitions;
    const auto closed = [&] {
        return std::find_if(calls.begin(), calls.end(), [&](const SyscallEvent& c) {
            return c.call == SyscallKind::close && tcp(c);
        });
    };
    test::wait_until([&] {
        tracer.poll(transitions, calls, 50ms);
        return closed() != calls.end();
    }, 5s, 1ms);
    calls.erase(closed() == calls.end() ? calls.end() : closed() + 1, calls.end());
    // Let the program end: its two connections wait in the listener's queue.
    for (int i = 0; i < 2; ++i) test::tcp_accept(listener.get());
    ASSERT_TRUE(prog.wait_exit(10'000));
    ASSERT_EQ(prog.ending().exit_code, 0) << "the program did not make the calls it should";

    std::vector<std::string> seen;
    for (const auto& c : calls)
        seen.push_back(std::string(syscall_name(c.call)) + "(" + std::to_string(c.fd) + ")=" +
                       std::to_string(c.result) + (c.key ? " :" + std::to_string(c.key->local_port) + "->:" +
                                                               std::to_string(c.key->remote_port)
                                                         : "") +
                       " inode " + std::to_string(c.inode) + " at " + std::to_string(c.time_ns / 1000 % 1'000'000));
    const auto described = testing::PrintToString(seen);
    const std::vector<SyscallKind> want{SyscallKind::socket, SyscallKind::connect, SyscallKind::socket,
                                        SyscallKind::connect, SyscallKind::close};
    ASSERT_EQ(calls.size(), want.size()) << "want two TCP sockets made and connected, the first closed: "
                                         << described;
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(calls[i].call, want[i]) << i << ": " << described;
        EXPECT_FALSE(calls[i].failed()) << i << ": " << described;
        if (calls[i].call == SyscallKind::socket) {
            EXPECT_EQ(calls[i].arg0, AF_INET) << i;
            EXPECT_EQ(calls[i].arg1 & 0xf, SOCK_STREAM) << i;
        } else {
            EXPECT_TRUE(tcp(calls[i])) << i << ": not named by the listener's port " << port;
        }
    }
    EXPECT_EQ(calls[4].fd, calls[0].fd) << "the first socket is the one closed";
    EXPECT_NE(calls[2].fd, calls[0].fd);
}

TEST(MakesTcpSocket, InetStreamOnly) {
    EXPECT_TRUE(makes_tcp_socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_TRUE(makes_tcp_socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
    EXPECT_FALSE(makes_tcp_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_FALSE(makes_tcp_socket(AF_INET, SOCK_DGRAM, 0));
    EXPECT_FALSE(makes_tcp_socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
    EXPECT_FALSE(makes_tcp_socket(AF_NETLINK, SOCK_RAW, 0));
    EXPECT_FALSE(makes_tcp_socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP));
    EXPECT_FALSE(makes_tcp_socket(AF_INET, SOCK_SEQPACKET, 0));
}

TEST(CallDescriptor, TheMadeDescriptorElseTheArgument) {
    SyscallEvent e;
    e.call = SyscallKind::accept4;
    e.fd = 3;  // the listener
    e.result = 7;
    EXPECT_EQ(call_descriptor(e), 7);
    e.result = -1;  // failed: the call is about the listener
    EXPECT_EQ(call_descriptor(e), 3);
    e.call = SyscallKind::socket;
    e.fd = -1;
    e.result = 5;
    EXPECT_EQ(call_descriptor(e), 5);
    e.call = SyscallKind::close;
    e.fd = 5;
    e.result = 0;  // a result that is not a descriptor
    EXPECT_EQ(call_descriptor(e), 5);
    e.call = SyscallKind::read;
    e.fd = 4;
    e.result = 9;  // bytes, not a descriptor
    EXPECT_EQ(call_descriptor(e), 4);
}

}  // namespace
}  // namespace socklab
