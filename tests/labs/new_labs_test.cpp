// The labs that hold or provoke what other labs cannot (labs 16 onwards), checked from outside
// with real tools: `ss` with its own state filters, asked while the lab holds each step.
#include <poll.h>

#include <csignal>

#include <algorithm>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lab_child.hpp"
#include "testsupport.hpp"

namespace socklab::test {
namespace {

using namespace std::chrono_literals;

// Lines of `ss -tanH state <state>` that involve `port`, asked independently of socklab.
int ss_state_rows(const std::string& state, std::uint16_t port) {
    const auto res = run_command({"ss", "-tanH", "state", state}, {}, 10s);
    EXPECT_EQ(res.exit_code, 0) << res.err;
    int n = 0;
    std::size_t pos = 0;
    const std::string needle = ":" + std::to_string(port) + " ";
    std::string text = res.out;
    for (char& c : text)
        if (c == '\n') c = ' ';
    while ((pos = text.find(needle, pos)) != std::string::npos) {
        ++n;
        pos += needle.size();
    }
    return n;
}

void pause_for(std::chrono::milliseconds ms) {
    pollfd none{-1, 0, 0};
    (void)::poll(&none, 1, static_cast<int>(ms.count()));
}

// Drive a lab started with --json one step at a time. At each "waiting" — the lab holds still
// after step `step` (0 before the first) — `at_wait(step)` looks from outside; it returns false
// to stop driving there, and the lab is left waiting. Otherwise "next" goes on until "done",
// whose "ok" must be true. Returns whether "done" was reached.
template <typename AtWait>
bool step_through(Child& lab, AtWait&& at_wait) {
    int step = 0;
    for (;;) {
        const auto line = lab.next_line(30s);
        if (!line) {
            ADD_FAILURE() << "no output from the lab; stderr:\n" << lab.err();
            return false;
        }
        const auto ev = test::read_lab_line(*line);
        if (ev.kind == LabEventKind::step) step = ev.step;
        if (ev.kind == LabEventKind::waiting) {
            if (!at_wait(step)) return false;
            lab.write("next\n");
        } else if (ev.kind == LabEventKind::done) {
            EXPECT_EQ(ev.ok, true) << *line;
            return true;
        }
    }
}

// Lab 17 in step mode: while the lab waits, `ss state last-ack` and `ss state closing` see the
// lab's sockets, and still see them a second later: each state is held, not a flash.
TEST(LabClosing, SsStateFiltersSeeLastAckAndClosingHeld) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    Child lab({bin("socklab-lab-closing"), "--json"});
    int last_ack_waits = 0, closing_waits = 0;
    ASSERT_TRUE(step_through(lab, [&](int) {
        for (const std::string state : {"last-ack", "closing"}) {
            if (ss_state_rows(state, 9017) == 0) continue;
            (state == "last-ack" ? last_ack_waits : closing_waits)++;
            pause_for(1000ms);
            EXPECT_EQ(ss_state_rows(state, 9017), 1) << state << " was not held for 1 s";
        }
        return true;
    }));
    EXPECT_EQ(lab.wait(20s), 0) << lab.err();
    // Held across two steps each: after the step that enters it and after "look again".
    EXPECT_EQ(last_ack_waits, 2);
    EXPECT_EQ(closing_waits, 2);
}


bool has(const std::vector<std::string>& v, const std::string& t) {
    return std::find(v.begin(), v.end(), t) != v.end();
}

// Lab 18: connecting to itself is a simultaneous open (SYN_SENT -> SYN_RECV, a full socket in
// SYN_RECV), and its close a simultaneous close (FIN_WAIT1 -> CLOSING), as the tracepoint saw.
TEST(LabSelfConnect, TracerSeesSimultaneousOpenAndClose) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto open = transitions_of("self-connect", 2);
    if (!open) GTEST_SKIP() << "the tracer is not active here; labs run on polling alone";
    EXPECT_TRUE(has(*open, "SYN_SENT>SYN_RECV")) << ::testing::PrintToString(*open);
    EXPECT_TRUE(has(*open, "SYN_RECV>ESTABLISHED")) << ::testing::PrintToString(*open);
    EXPECT_FALSE(has(*open, "SYN_SENT>ESTABLISHED")) << ::testing::PrintToString(*open);
    PrivateNetns again;
    const auto close = transitions_of("self-connect", 4);
    ASSERT_TRUE(close);
    EXPECT_TRUE(has(*close, "FIN_WAIT1>CLOSING")) << ::testing::PrintToString(*close);
}

// Lab 21 in step mode, with `ss` as the oracle: after the slow reader's step, exactly one
// connection of the lab has a non-zero Send-Q on the server's side and a non-zero Recv-Q on
// the client's; both still hold, unchanged, a second later and after the next step (nothing
// moves to a client that does not read, while the other client gets its line); after the
// queue is drained both are 0. Then the server's close of a departed client is seen by the
// tracer as CLOSE_WAIT -> LAST_ACK -> CLOSE.
TEST(LabPollServer, SsSeesTheSlowReaderHeldThenDrained) {
    SOCKLAB_REQUIRE_ROOT();
    constexpr std::uint16_t port = 9021;
    struct Queues {
        std::uint16_t client_port = 0;
        std::uint32_t server_send_q = 0, client_recv_q = 0;
        int full = 0;  // connections with a non-zero server Send-Q
    };
    auto look = [&] {
        Queues q;
        const auto rows = ss_rows();
        for (const auto& r : rows)
            if (r.state == "ESTABLISHED" && r.local_port == port && r.send_q > 0) {
                ++q.full;
                q.client_port = r.remote_port;
                q.server_send_q = r.send_q;
            }
        for (const auto& r : rows)
            if (r.state == "ESTABLISHED" && q.client_port && r.local_port == q.client_port &&
                r.remote_port == port)
                q.client_recv_q = r.recv_q;
        return q;
    };
    {
        PrivateNetns ns;
        Child lab({bin("socklab-lab-poll-server"), "--json"});
        bool held = false, drained = false;
        Queues slow;
        ASSERT_TRUE(step_through(lab, [&](int step) {
            if (step == 10) {
                slow = look();
                EXPECT_EQ(slow.full, 1) << "one connection, the slow reader's, is full";
                if (slow.full != 1) return false;
                EXPECT_GT(slow.server_send_q, 0u);
                EXPECT_GT(slow.client_recv_q, 0u);
                pause_for(1000ms);
                const auto later = look();
                EXPECT_EQ(later.client_port, slow.client_port);
                EXPECT_EQ(later.server_send_q, slow.server_send_q) << "Send-Q moved in 1 s";
                EXPECT_EQ(later.client_recv_q, slow.client_recv_q) << "Recv-Q moved in 1 s";
            }
            if (step == 11) {
                const auto after = look();
                EXPECT_EQ(after.client_port, slow.client_port);
                EXPECT_EQ(after.server_send_q, slow.server_send_q);
                EXPECT_EQ(after.client_recv_q, slow.client_recv_q);
                // Meanwhile another client's line is waiting for it to read: 15 bytes.
                int others = 0;
                for (const auto& r : ss_rows())
                    if (r.state == "ESTABLISHED" && r.remote_port == port &&
                        r.local_port != slow.client_port && r.recv_q == 15)
                        ++others;
                EXPECT_EQ(others, 1) << "B's line did not arrive while C was stuck";
                held = true;
            }
            if (step == 15) {
                const auto after = look();
                EXPECT_EQ(after.full, 0) << "a Send-Q is still not 0 after the drain";
                for (const auto& r : ss_rows()) {
                    if (r.local_port == slow.client_port && r.remote_port == port) {
                        EXPECT_EQ(r.recv_q, 0u) << r.line;
                    }
                }
                drained = true;
            }
            return true;
        }));
        EXPECT_EQ(lab.wait(20s), 0) << lab.err();
        EXPECT_TRUE(held);
        EXPECT_TRUE(drained);
    }
    PrivateNetns again;
    const auto close = transitions_of("poll-server", 18);
    if (!close) GTEST_SKIP() << "the tracer is not active here; labs run on polling alone";
    EXPECT_TRUE(has(*close, "CLOSE_WAIT>LAST_ACK")) << ::testing::PrintToString(*close);
    EXPECT_TRUE(has(*close, "LAST_ACK>CLOSE")) << ::testing::PrintToString(*close);
}

// Lab 19 in step mode, with `ss -tno` and `ip link` as the oracles: after the peer's link goes
// down the client's row is still ESTAB with a keepalive timer; with unacknowledged data it
// shows Send-Q 1000 and the timer the kernel armed (persist: with no carrier the segment never
// leaves); and after the lab no veth of it is left.
TEST(LabDeadPeer, SsSeesTheTimersThenNothingIsLeft) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    auto client_row = [] {
        const auto res = run_command({"ss", "-tnoH", "dst", "10.19.0.2"}, {}, 10s);
        EXPECT_EQ(res.exit_code, 0) << res.err;
        return res.out;
    };
    auto links = [] { return run_command({"ip", "-o", "link"}, {}, 10s).out; };
    Child lab({bin("socklab-lab-dead-peer"), "--json"});
    bool saw_keepalive = false, saw_pending = false;
    ASSERT_TRUE(step_through(lab, [&](int step) {
        if (step == 1) {
            EXPECT_NE(links().find("sl19-lab"), std::string::npos) << links();
        }
        if (step == 5) {
            const auto row = client_row();
            EXPECT_NE(row.find("ESTAB"), std::string::npos) << row;
            EXPECT_NE(row.find("timer:(keepalive,"), std::string::npos) << row;
            // Our end lost its carrier with the peer's end: up, but no LOWER_UP.
            const auto l = links();
            const auto at = l.find("sl19-lab");
            EXPECT_NE(at, std::string::npos) << l;
            if (at == std::string::npos) return false;
            const auto line_of_it = l.substr(at, l.find('\n', at) - at);
            EXPECT_NE(line_of_it.find(",UP>"), std::string::npos) << line_of_it;
            EXPECT_EQ(line_of_it.find("LOWER_UP"), std::string::npos) << line_of_it;
            saw_keepalive = true;
        }
        if (step == 6) {
            EXPECT_EQ(client_row(), "") << "the first connection is gone";
        }
        if (step == 10) {
            const auto row = client_row();
            EXPECT_TRUE(std::regex_search(row, std::regex(R"(ESTAB\s+0\s+1000\s)"))) << row;
            EXPECT_NE(row.find("timer:(persist,"), std::string::npos) << row;
            saw_pending = true;
        }
        return true;
    }));
    EXPECT_EQ(lab.wait(20s), 0) << lab.err();
    EXPECT_TRUE(saw_keepalive);
    EXPECT_TRUE(saw_pending);
    EXPECT_EQ(links().find("sl19-"), std::string::npos) << links();
    EXPECT_EQ(client_row(), "");
}

// Ctrl-C in the middle (the link down, keepalive running): the lab exits 130 and still
// removes its veth pair.
TEST(LabDeadPeer, CtrlCStillRemovesTheVeth) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    Child lab({bin("socklab-lab-dead-peer"), "--json"});
    bool at_five = false;
    step_through(lab, [&](int step) { return !(at_five = step == 5); });
    ASSERT_TRUE(at_five) << "the lab never waited after step 5";
    const auto before = run_command({"ip", "-o", "link"}, {}, 10s).out;
    EXPECT_NE(before.find("sl19-lab"), std::string::npos) << before;
    lab.signal(SIGINT);
    EXPECT_EQ(lab.wait(20s), 130) << lab.err();
    const auto after = run_command({"ip", "-o", "link"}, {}, 10s).out;
    EXPECT_EQ(after.find("sl19-"), std::string::npos) << after;
}

// Lab 22 asks the running kernel: with net.ipv4.tcp_tw_reuse = 0 (in this test's own namespace)
// no TIME_WAIT port is taken over, so the connect() a second later fails too — and the lab,
// which read the sysctl, expects exactly that and passes.
TEST(LabEphemeralPorts, TwReuseOffKeepsEaddrnotavail) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    {
        std::ofstream("/proc/sys/net/ipv4/tcp_tw_reuse") << "0\n";
    }
    std::ifstream check("/proc/sys/net/ipv4/tcp_tw_reuse");
    int value = -1;
    check >> value;
    ASSERT_EQ(value, 0);
    const auto res = run_command({bin("socklab-lab-ephemeral-ports"), "--auto", "--json"}, {}, 60s);
    ASSERT_EQ(res.exit_code, 0) << res.out << res.err;
    std::istringstream in(res.out);
    std::string line;
    int refused_steps = 0;
    while (std::getline(in, line)) {
        const auto ev = test::read_lab_line(line);
        if (ev.kind == LabEventKind::step && ev.result.find("EADDRNOTAVAIL") != std::string::npos)
            ++refused_steps;
    }
    EXPECT_EQ(refused_steps, 2) << res.out;  // the fifth client, and the sixth a second later
}

// Lab 23: while the lab waits after its IPv4 client reached the dual-stack listener, `ss` shows
// the accepted socket with v4-mapped addresses on both sides, and the client as plain IPv4.
TEST(LabDualStack, SsShowsTheV4MappedServerSide) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    Child lab({bin("socklab-lab-dual-stack"), "--json"});
    bool mapped = false, plain = false;
    ASSERT_TRUE(step_through(lab, [&](int step) {
        if (step == 3) {
            for (const auto& r : ss_rows()) {
                if (r.state != "ESTABLISHED") continue;
                if (r.local == "[::ffff:127.0.0.1]:9023" &&
                    r.peer.rfind("[::ffff:127.0.0.1]:", 0) == 0)
                    mapped = true;
                if (r.peer == "127.0.0.1:9023" && r.local.rfind("127.0.0.1:", 0) == 0)
                    plain = true;
            }
        }
        return true;
    }));
    EXPECT_EQ(lab.wait(20s), 0) << lab.err();
    EXPECT_TRUE(mapped) << "no [::ffff:127.0.0.1]:9023 row after step 3";
    EXPECT_TRUE(plain) << "no plain IPv4 client row after step 3";
}

}  // namespace
}  // namespace socklab::test
