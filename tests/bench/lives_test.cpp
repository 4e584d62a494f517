// bench/scripts/lives.sh, the reader causes.sh runs on a mismatch: it must join transitions to
// their socket lives by skaddr (a 64-bit kernel address, compared as text), cut a life where a
// socket's life starts, leave listeners and other lines out, and name the lives whose path is
// rare — here a client whose close was not seen.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;

std::string transition(std::uint64_t t, const char* skaddr, int lport, int rport, const char* from, const char* to) {
    return "{\"time_ns\":" + std::to_string(t) + ",\"pid\":1,\"comm\":\"churn\",\"family\":\"ipv4\","
           "\"local_addr\":\"127.0.0.1\",\"local_port\":" + std::to_string(lport) +
           ",\"remote_addr\":\"127.0.0.1\",\"remote_port\":" + std::to_string(rport) + ",\"old_state\":\"" + from +
           "\",\"new_state\":\"" + to + "\",\"old_state_ns\":0,\"skaddr\":" + skaddr + ",\"cpu\":0}\n";
}

// A client life (port `c`) and its server life, closed by the client first.
std::string connection(std::uint64_t t, const char* client_sk, const char* server_sk, int c, bool closed = true) {
    std::string s = transition(t, client_sk, 0, 9000, "CLOSE", "SYN_SENT") +
                    transition(t + 1, client_sk, c, 9000, "SYN_SENT", "ESTABLISHED") +
                    transition(t + 2, server_sk, 9000, c, "LISTEN", "SYN_RECV") +
                    transition(t + 3, server_sk, 9000, c, "SYN_RECV", "ESTABLISHED") +
                    transition(t + 4, client_sk, c, 9000, "ESTABLISHED", "FIN_WAIT1") +
                    transition(t + 5, server_sk, 9000, c, "ESTABLISHED", "CLOSE_WAIT") +
                    transition(t + 6, server_sk, 9000, c, "CLOSE_WAIT", "LAST_ACK");
    if (closed)
        s += transition(t + 7, client_sk, c, 9000, "FIN_WAIT1", "FIN_WAIT2") +
             transition(t + 8, client_sk, c, 9000, "FIN_WAIT2", "CLOSE");
    return s + transition(t + 9, server_sk, 9000, c, "LAST_ACK", "CLOSE");
}

TEST(BenchLives, JoinsTransitionsToSocketLivesAndNamesTheRareOnes) {
    test::TempDir dir;
    const auto file = (dir.path / "trace.jsonl").string();
    {
        std::ofstream out(file);
        out << transition(1, "18446612686507479680", 9000, 0, "CLOSE", "LISTEN");
        out << "{\"kind\":\"segment\",\"time_ns\":2,\"flags\":[\"SYN\"]}\n";
        // Three connections; the sockets' addresses (differing in the last digits only, past
        // what a double holds) are reused by the next connection.
        for (int i = 0; i < 3; ++i)
            out << connection(100 + 100 * i, "18446612686507503360", "18446612686507503361", 40000 + i);
        out << connection(500, "18446612686507503360", "18446612686507503361", 40009, false);
        out << transition(900, "18446612686507479680", 9000, 0, "LISTEN", "CLOSE");
    }
    const auto r = test::run_command({"bash", SOCKLAB_SOURCE_DIR "/bench/scripts/lives.sh", file, "--rare", "2"}, {}, 30s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("38 transitions in 8 socket lives (listeners left out)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("       4  LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT "
                         "CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("       3  CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 "
                         "FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE\n"),
              std::string::npos)
        << r.out;
    // The one rare life: the client whose FIN_WAIT1 never ended, with its ports and times.
    EXPECT_NE(r.out.find("lives whose path fewer than 2 took:\n"
                         "  40009<->9000  500..504  CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1\n"),
              std::string::npos)
        << r.out;
}

TEST(BenchLives, BadInputIsOneLineAndExitTwo) {
    for (const auto& [args, want] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{}, "lives.sh: give the trace's JSON lines file; see --help\n"},
             {{"/dev/null", "--rare", "x"}, "lives.sh: --rare must be a whole number\n"},
             {{"/dev/null", "--bogus"}, "lives.sh: unknown argument '--bogus'; see --help\n"}}) {
        std::vector<std::string> argv{"bash", SOCKLAB_SOURCE_DIR "/bench/scripts/lives.sh"};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = test::run_command(argv, {}, 30s);
        EXPECT_EQ(r.exit_code, 2);
        EXPECT_EQ(r.err, want);
    }
}

}  // namespace
}  // namespace socklab
