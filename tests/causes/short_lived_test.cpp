// Calls of connections that end before the tracer reads the calls' descriptors (the common
// case under churn: /proc and the table no longer have them) are still named: connect() by the
// SYN_SENT its own thread reported, accept() by the listener's first-in-first-out queue. The
// listener here was made before the trace began, as a running server's is: socklab finds it
// through /proc while it listens.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "child.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

TEST(ShortLivedCalls, EveryConnectAndAcceptIsNamedInQueueOrder) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;
    auto listener = test::tcp_listen("127.0.0.1", 0, 64);
    const auto port = test::local_port(listener.get());
    const std::string p = std::to_string(port);
    test::Child trace({test::bin("socklab"), "trace", "--syscalls", "--port", p, "--json"});
    // Ready once it shows a probe connection's transitions (a few until the tracer is on).
    bool ready = false;
    for (int i = 0; i < 100 && !ready; ++i) {
        auto c = test::tcp_connect("127.0.0.1", port);
        auto s = test::tcp_accept(listener.get());
        c.reset();
        s.reset();
        ready = trace.read_until([](const std::string& out) {
            return out.find(R"("new_state":"CLOSE")") != std::string::npos;
        }, 300ms);
    }
    ASSERT_TRUE(ready) << trace.err();
    // The probes' own lines end here; let their last calls come out, then count from here.
    trace.read_until([](const std::string&) { return false; }, 300ms);
    const std::size_t start = trace.out().size();

    // 60 connections, each gone within microseconds: a forked client connects and closes at
    // once, this thread accepts and closes. Descriptor numbers are reused by the next one.
    constexpr int kConnections = 60;
    const pid_t client = ::fork();
    if (client == 0) {
        for (int i = 0; i < kConnections; ++i) {
            auto c = test::tcp_connect("127.0.0.1", port);
        }
        ::_exit(0);
    }
    for (int i = 0; i < kConnections; ++i) {
        auto s = test::tcp_accept(listener.get());
        ASSERT_TRUE(s) << "accept " << i;
    }
    int st = 0;
    ASSERT_EQ(::waitpid(client, &st, 0), client);

    std::vector<json> lines;
    const auto count = [&](const char* call) {
        return std::count_if(lines.begin(), lines.end(), [&](const json& j) { return j.value("call", "") == call; });
    };
    // Until every call is out (bounded), then stop it like Ctrl-C.
    const bool all = trace.read_until([&](const std::string& out) {
        lines.clear();
        const auto end = out.rfind('\n');  // whole lines only: the last may still be coming
        std::istringstream in(end == std::string::npos || end < start ? std::string()
                                                                      : out.substr(start, end + 1 - start));
        for (std::string l; std::getline(in, l);) lines.push_back(json::parse(l));
        return count("connect") == kConnections && count("accept4") + count("accept") == kConnections;
    }, 20s);
    trace.signal(SIGINT);
    trace.wait(10s);
    ASSERT_TRUE(all) << count("connect") << " connects, " << count("accept4") + count("accept")
                     << " accepts of " << kConnections << " shown (with --port, an unnamed call is "
                     << "not shown); stderr: " << trace.err();

    // Each call names its connection: the client port of a connect is the one whose SYN_SENT ->
    // ESTABLISHED followed, and the k-th accept returns the k-th SYN_RECV -> ESTABLISHED.
    std::vector<int> connect_ports, client_established, accept_peers, server_established;
    for (const auto& j : lines) {
        const std::string call = j.value("call", "");
        if (call == "connect") connect_ports.push_back(j.at("local_port"));
        if (call == "accept" || call == "accept4") accept_peers.push_back(j.at("remote_port"));
        if (j.value("kind", "") != "transition") continue;
        if (j["old_state"] == "SYN_SENT" && j["new_state"] == "ESTABLISHED")
            client_established.push_back(j.at("local_port"));
        if (j["old_state"] == "SYN_RECV" && j["new_state"] == "ESTABLISHED")
            server_established.push_back(j.at("remote_port"));
    }
    EXPECT_EQ(connect_ports, client_established);
    EXPECT_EQ(accept_peers, server_established);
}

}  // namespace
}  // namespace socklab
