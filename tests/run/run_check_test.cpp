// `socklab run` and `socklab check` on real programs written for these tests
// (tests/run/programs): a careful threaded Python chat server and a careful C one pass every
// scenario; each broken Python server fails exactly the scenarios of its one mistake, with the
// finding that names it; `socklab run` reports what `ss` sees (the CLOSE_WAIT's pid and fd).
// Each test runs in a network namespace of its own, so the fixed port cannot collide.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "child.hpp"
#include "confined.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
using test::bin;
using test::run_command;

constexpr std::uint16_t kPort = 9301;
const std::string kPython = "/usr/bin/python3";

std::string program(const std::string& name) { return std::string(SOCKLAB_RUN_PROGRAMS) + "/" + name; }

class RunCheck : public ::testing::Test {
protected:
    void SetUp() override {
        SOCKLAB_REQUIRE_ROOT();
        netns_ = std::make_unique<test::PrivateNetns>();
    }
    void TearDown() override { netns_.reset(); }

    // socklab check --json on a command; the parsed score card.
    nlohmann::json check(const std::vector<std::string>& command) {
        std::vector<std::string> argv{bin("socklab"), "check", "--json", "--"};
        argv.insert(argv.end(), command.begin(), command.end());
        const auto res = run_command(argv, {}, 90s);
        EXPECT_FALSE(res.timed_out);
        EXPECT_EQ(res.exit_code == 0, res.out.find("\"passed\":8") != std::string::npos) << res.out;
        return nlohmann::json::parse(res.out);
    }

    static std::set<std::string> failed(const nlohmann::json& card) {
        std::set<std::string> ids;
        for (const auto& s : card["scenarios"])
            if (!s["ok"].get<bool>()) ids.insert(s["id"].get<std::string>());
        return ids;
    }
    static std::set<std::string> findings_of(const nlohmann::json& card, const std::string& id) {
        std::set<std::string> kinds;
        for (const auto& s : card["scenarios"])
            if (s["id"] == id)
                for (const auto& f : s["findings"]) kinds.insert(f.get<std::string>());
        return kinds;
    }

    std::unique_ptr<test::PrivateNetns> netns_;
};

void expect_all_passed(const nlohmann::json& card) {
    EXPECT_EQ(card["role"], "server");
    EXPECT_EQ(card["port"], kPort);  // found by itself: no --port given
    EXPECT_EQ(card["total"], 8);
    EXPECT_EQ(card["passed"], 8) << card.dump(2);
}

TEST_F(RunCheck, CarefulPythonChatPassesEveryScenario) {
    expect_all_passed(check({kPython, program("chat_threaded.py"), std::to_string(kPort)}));
}

TEST_F(RunCheck, CarefulCChatPassesEveryScenario) {
    expect_all_passed(check({bin("socklab_test_chat_server"), std::to_string(kPort)}));
}

TEST_F(RunCheck, IgnoringEndOfStreamFailsTheCloseScenarios) {
    const auto card = check({kPython, program("chat_threaded.py"), std::to_string(kPort), "ignores-eof"});
    EXPECT_EQ(failed(card), (std::set<std::string>{"peer-closes-first", "half-close"})) << card.dump(2);
    EXPECT_EQ(findings_of(card, "peer-closes-first"),
              (std::set<std::string>{"close_wait_leak", "recv_zero_loop"}));
}

TEST_F(RunCheck, WholeReadsFailTheFramingScenarios) {
    const auto card = check({kPython, program("chat_threaded.py"), std::to_string(kPort), "whole-reads"});
    EXPECT_EQ(failed(card), (std::set<std::string>{"quit-split", "quit-merged"})) << card.dump(2);
    EXPECT_EQ(findings_of(card, "quit-split"), (std::set<std::string>{"framing_hint"}));
    EXPECT_EQ(findings_of(card, "quit-merged"), (std::set<std::string>{"framing_hint"}));
}

TEST_F(RunCheck, NoReuseAddrFailsTheRestart) {
    const auto card = check({kPython, program("chat_threaded.py"), std::to_string(kPort), "no-reuse"});
    EXPECT_EQ(failed(card), (std::set<std::string>{"restart-within-60s"})) << card.dump(2);
    EXPECT_EQ(findings_of(card, "restart-within-60s"), (std::set<std::string>{"bind_in_use"}));
    // The kernel agrees: the first start's end of the connection waits in TIME_WAIT on the port.
    const auto ss = run_command({"ss", "-tanH", "state", "time-wait", "sport = :" + std::to_string(kPort)});
    EXPECT_NE(ss.out.find(":" + std::to_string(kPort)), std::string::npos) << ss.out;
    for (const auto& s : card["scenarios"])
        if (s["id"] == "restart-within-60s") {
            EXPECT_NE(s["evidence"].get<std::string>().find("TIME_WAIT"), std::string::npos) << s.dump();
        }
}

TEST_F(RunCheck, SigpipeDeathFailsPeerReset) {
    const auto card = check({kPython, program("chat_threaded.py"), std::to_string(kPort), "sigpipe"});
    EXPECT_EQ(failed(card), (std::set<std::string>{"peer-reset"})) << card.dump(2);
    EXPECT_EQ(findings_of(card, "peer-reset"), (std::set<std::string>{"sigpipe"}));
}

// socklab's own chat lab, graded as a learner's program: the room (--role server) passes every
// server scenario, and the lab's client every client scenario. --auto: no step pauses; with no
// keyboard (check gives the program /dev/null) the room stays open until it is stopped.
TEST_F(RunCheck, TheChatLabPassesAsServerAndAsClient) {
    const std::string port = std::to_string(kPort);
    expect_all_passed(check({bin("socklab-lab-chat"), "--role", "server", "--auto", "--port", port}));
    const auto res = run_command({bin("socklab"), "check", "--role", "client", "--port", port, "--json",
                                  "--", bin("socklab-lab-chat"), "--role", "client", "--auto",
                                  "--port", port},
                                 {}, 60s);
    ASSERT_FALSE(res.timed_out);
    const auto card = nlohmann::json::parse(res.out);
    EXPECT_EQ(card["passed"], 3) << card.dump(2);
    EXPECT_EQ(res.exit_code, 0) << res.err;
}

// --role client: socklab plays the server on --port.
TEST_F(RunCheck, ClientRoleCarefulPassesAndIgnoringEofFails) {
    auto card_of = [](const std::string& prog) {
        const auto res = run_command({bin("socklab"), "check", "--role", "client", "--port",
                                      std::to_string(kPort), "--json", "--", kPython, program(prog),
                                      std::to_string(kPort)},
                                     {}, 60s);
        return nlohmann::json::parse(res.out);
    };
    const auto good = card_of("client_careful.py");
    EXPECT_EQ(good["role"], "client");
    EXPECT_EQ(good["total"], 3);
    EXPECT_EQ(good["passed"], 3) << good.dump(2);
    const auto bad = card_of("client_ignores_eof.py");
    EXPECT_EQ(failed(bad), (std::set<std::string>{"server-closes-first"})) << bad.dump(2);
    EXPECT_EQ(findings_of(bad, "server-closes-first"),
              (std::set<std::string>{"close_wait_leak", "recv_zero_loop"}));
    // Without --port the client role cannot know where to listen: bad usage.
    EXPECT_EQ(run_command({bin("socklab"), "check", "--role", "client", "--", "true"}).exit_code, 2);
}

// ---- socklab run --------------------------------------------------------------------------


// Wait until something listens on the port (the program under `socklab run` is starting).
bool wait_listening(Source& src) {
    return test::wait_for_state(src, kPort, 0, static_cast<std::uint8_t>(TcpState::listen), 10s);
}

std::string read_some(int fd) {
    std::string got;
    test::wait_until([&] {
        char buf[256];
        const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        return got.find('\n') != std::string::npos;
    }, 3s, 5ms);
    return got;
}

// The live log `socklab run --log` wrote: shown beside a report that misses something.
std::string log_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    return "--- log ---\n" + std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

nlohmann::json read_report(const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

const nlohmann::json* finding(const nlohmann::json& report, const std::string& kind) {
    for (const auto& f : report["findings"])
        if (f["kind"] == kind) return &f;
    return nullptr;
}

// `ss -tanpH state close-wait sport = :PORT`: the pid and fd ss names for the CLOSE_WAIT.
std::pair<int, int> ss_close_wait_owner() {
    const auto ss = run_command({"ss", "-tanpH", "state", "close-wait", "sport = :" + std::to_string(kPort)});
    std::smatch m;
    if (!std::regex_search(ss.out, m, std::regex("pid=([0-9]+),fd=([0-9]+)"))) return {0, -1};
    return {std::stoi(m[1]), std::stoi(m[2])};
}

// A client says hello, reads the echo and closes first; the server (one that ignores EOF)
// leaves its end in CLOSE_WAIT, and ss — the oracle — names the pid and fd holding it.
// {0, -1}, with the failure said, when any of that does not happen.
std::pair<int, int> leave_a_close_wait(Source& src) {
    auto c = test::tcp_connect("127.0.0.1", kPort);
    const std::string hello = "hello\n";
    if (::send(c.get(), hello.data(), hello.size(), MSG_NOSIGNAL) != 6 ||
        read_some(c.get()).find("hello") == std::string::npos) {
        ADD_FAILURE() << "the server did not echo hello";
        return {0, -1};
    }
    const auto peer = test::local_port(c.get());
    c.reset();
    if (!test::wait_for_state(src, kPort, peer, static_cast<std::uint8_t>(TcpState::close_wait), 3s)) {
        ADD_FAILURE() << "the server's end never reached CLOSE_WAIT";
        return {0, -1};
    }
    return ss_close_wait_owner();
}

TEST_F(RunCheck, RunNamesTheCloseWaitLeakAndTheRecvZeroLoopWithPidAndFd) {
    test::TempDir dir;
    const auto report_path = (dir.path / "report.json").string();
    test::Child run({bin("socklab"), "run", "--duration", "3", "--report", report_path, "--log",
                     (dir.path / "log").string(), "--", kPython, program("chat_threaded.py"),
                     std::to_string(kPort), "ignores-eof"});
    auto src = make_default_source();
    ASSERT_TRUE(wait_listening(*src));
    const auto owner = leave_a_close_wait(*src);
    ASSERT_GT(owner.first, 0);
    ASSERT_TRUE(run.wait(20s).has_value()) << run.err();
    const auto report = read_report(report_path);
    EXPECT_EQ(report["exit_code"], 128 + SIGTERM);  // --duration ended it
    const auto* leak = finding(report, "close_wait_leak");
    ASSERT_NE(leak, nullptr) << report.dump(2);
    EXPECT_EQ((*leak)["pid"], owner.first);
    EXPECT_EQ((*leak)["fd"], owner.second);
    EXPECT_EQ((*leak)["local_port"], kPort);
    EXPECT_GE((*leak)["seconds"].get<double>(), 2.0);
    const auto* loop = finding(report, "recv_zero_loop");
    ASSERT_NE(loop, nullptr) << report.dump(2);
    EXPECT_EQ((*loop)["pid"], owner.first);
    EXPECT_EQ((*loop)["fd"], owner.second);
    EXPECT_GE((*loop)["count"].get<std::uint64_t>(), 10u);
    EXPECT_NE((*loop)["tid"], owner.first);  // a worker thread, followed from its creation
}

// Without root there is no tracer: what polling can see is still reported (the CLOSE_WAIT
// held, with the pid and fd), what it cannot is named as missing, never guessed.
TEST_F(RunCheck, RunWithoutRootReportsWhatPollingSees) {
    test::TempDir dir;
    std::filesystem::permissions(dir.path, std::filesystem::perms::all);
    const auto report_path = (dir.path / "report.json").string();
    test::Confinement nobody;
    nobody.uid = test::kNobodyUid;
    test::CommandResult res;
    std::thread runner([&] {
        res = test::run_confined({bin("socklab"), "run", "--duration", "3", "--report", report_path,
                                  "--log", (dir.path / "log").string(), "--", kPython,
                                  program("chat_threaded.py"), std::to_string(kPort), "ignores-eof"},
                                 nobody);
    });
    auto src = make_default_source();
    std::pair<int, int> owner{0, -1};
    if (wait_listening(*src)) owner = leave_a_close_wait(*src);
    runner.join();
    ASSERT_GT(owner.first, 0) << res.err;
    const auto report = read_report(report_path);
    const auto* leak = finding(report, "close_wait_leak");
    ASSERT_NE(leak, nullptr) << report.dump(2);
    EXPECT_EQ((*leak)["pid"], owner.first);
    EXPECT_EQ((*leak)["fd"], owner.second);
    EXPECT_EQ(finding(report, "recv_zero_loop"), nullptr);  // needs the tracer
    // The log's first line says so, with the tracer's own reason.
    const auto log = log_text(dir.path / "log");
    EXPECT_NE(log.find("socklab run: not tracing (state transitions are not traced: the tracepoint "
                       "sock:inet_sock_set_state needs root"),
              std::string::npos) << log;
    EXPECT_NE(log.find("); polling the socket table only\n"), std::string::npos) << log;
    ASSERT_EQ(report["missing"].size(), 1u);
    EXPECT_NE(report["missing"][0].get<std::string>().find("polling only"), std::string::npos);
}

TEST_F(RunCheck, RunOnTheCarefulServerFindsNoLeak) {
    test::TempDir dir;
    const auto report_path = (dir.path / "report.json").string();
    // 5 s: room, under a sanitizer on a loaded machine, for socklab to see the connection
    // before --duration stops the program (the wait below ends as soon as it has).
    test::Child run({bin("socklab"), "run", "--duration", "5", "--report", report_path, "--log",
                     (dir.path / "log").string(), "--", kPython, program("chat_threaded.py"),
                     std::to_string(kPort)});
    auto src = make_default_source();
    ASSERT_TRUE(wait_listening(*src));
    {
        auto c = test::tcp_connect("127.0.0.1", kPort);
        const std::string hello = "hello\n";
        ASSERT_EQ(::send(c.get(), hello.data(), hello.size(), MSG_NOSIGNAL), 6);
        ASSERT_NE(read_some(c.get()).find("hello"), std::string::npos);
        // Until socklab has seen the connection (its live log names the peer's port).
        const auto peer = ":" + std::to_string(test::local_port(c.get()));
        EXPECT_TRUE(test::wait_until([&] {
            std::ifstream log(dir.path / "log");
            const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
            return text.find("accept4") != std::string::npos && text.find(peer) != std::string::npos;
        }, 4500ms, 10ms));
    }
    ASSERT_TRUE(run.wait(20s).has_value()) << run.err();
    const auto report = read_report(report_path);
    EXPECT_EQ(finding(report, "close_wait_leak"), nullptr) << report.dump(2);
    EXPECT_EQ(finding(report, "recv_zero_loop"), nullptr) << report.dump(2);
    // Stopped by --duration with its listener open: said so.
    const auto* open = finding(report, "open_at_exit");
    ASSERT_NE(open, nullptr) << report.dump(2);
    EXPECT_EQ((*open)["local_port"], kPort);
    bool closed_connection = false;
    for (const auto& s : report["sockets"])
        closed_connection = closed_connection || (s["remote_port"] != 0 && s["closed_by_program"] == true);
    EXPECT_TRUE(closed_connection) << report.dump(2);
}

// `socklab run --json` on a server that compares whole reads with "/quit"
// (programs/whole_reads_once.py); `talk` plays its one client. Returns the report, the pid and
// fd ss names for the server's end of the connection (read while it is open), and the log.
struct WholeReadsRun {
    nlohmann::json report;
    std::pair<int, int> owner{0, -1};
    std::string log;
};
WholeReadsRun run_whole_reads(Source& src, const std::function<void(int fd)>& talk) {
    test::TempDir dir;
    test::Child run({bin("socklab"), "run", "--json", "--log", (dir.path / "log").string(), "--",
                     kPython, program("whole_reads_once.py"), std::to_string(kPort)});
    WholeReadsRun r;
    if (!wait_listening(src)) {
        ADD_FAILURE() << "the server never listened: " << run.err();
        return r;
    }
    {
        auto c = test::tcp_connect("127.0.0.1", kPort);
        // The tracer names a descriptor by its /proc link when it reads the call (every ~50 ms):
        // wait until the log shows the accept, while the server still holds the socket, so
        // a conversation quicker than that is not lost with the descriptor
        // (docs/your-program.md: a program that ends right after its reads may go uncounted).
        if (!test::wait_until([&] { return log_text(dir.path / "log").find("accept4(") != std::string::npos; },
                              10s))
            ADD_FAILURE() << "the accept never reached the log" << log_text(dir.path / "log");
        talk(c.get());
        const auto ss = run_command({"ss", "-tanpH", "state", "established", "sport = :" + std::to_string(kPort)});
        std::smatch m;
        if (std::regex_search(ss.out, m, std::regex("pid=([0-9]+),fd=([0-9]+)")))
            r.owner = {std::stoi(m[1]), std::stoi(m[2])};
        else
            ADD_FAILURE() << "ss names no owner: " << ss.out;
    }
    if (!run.wait(20s)) {
        ADD_FAILURE() << "socklab run did not end: " << run.err();
        return r;
    }
    r.report = nlohmann::json::parse(run.out());
    r.log = log_text(dir.path / "log");
    return r;
}

// The report's one framing hint, checked against ss's pid and fd; its evidence.
std::string framing_evidence(const WholeReadsRun& r) {
    EXPECT_EQ(r.report["exit_code"], 0);
    std::vector<const nlohmann::json*> hints;
    for (const auto& f : r.report["findings"])
        if (f["kind"] == "framing_hint") hints.push_back(&f);
    if (hints.size() != 1) {
        ADD_FAILURE() << hints.size() << " framing hints, not one:\n" << r.report.dump(2) << r.log;
        return {};
    }
    const auto& hint = *hints[0];
    EXPECT_EQ(hint["pid"], r.owner.first);
    EXPECT_EQ(hint["fd"], r.owner.second);
    EXPECT_EQ(hint["local_port"], kPort);
    EXPECT_EQ(hint["count"], 1);
    for (const auto& m : r.report["missing"]) EXPECT_EQ(m.get<std::string>().find("framing"), std::string::npos);
    return hint["evidence"].get<std::string>();
}

// "/qu" and "it\n" sent apart (the second only after the server answered the first, so they
// are two reads) are a split framing hint. The bytes come from the capture on lo.
TEST_F(RunCheck, RunGivesTheFramingHintForAQuitSplitAcrossReads) {
    auto src = make_default_source();
    const auto r = run_whole_reads(*src, [](int fd) {
        ASSERT_EQ(::send(fd, "/qu", 3, MSG_NOSIGNAL), 3);
        EXPECT_EQ(read_some(fd), "read 3 bytes\n");
        ASSERT_EQ(::send(fd, "it\n", 3, MSG_NOSIGNAL), 3);
        // Not recognised as "/quit": the server counts a read of 3 bytes again.
        EXPECT_EQ(read_some(fd), "read 3 bytes\n");
    });
    const auto evidence = framing_evidence(r);
    EXPECT_NE(evidence.find(R"("/qu" + "it\n")"), std::string::npos) << evidence;
    EXPECT_NE(evidence.find("byte 3"), std::string::npos) << evidence;
}

// "/quit\nhello\n" in one send (one segment on lo, one read): the read holds two lines, and
// the whole-read comparison misses "/quit". A merged framing hint, and no split one.
TEST_F(RunCheck, RunGivesTheFramingHintForAQuitMergedWithTheNextLine) {
    auto src = make_default_source();
    const auto r = run_whole_reads(*src, [](int fd) {
        ASSERT_EQ(::send(fd, "/quit\nhello\n", 12, MSG_NOSIGNAL), 12);
        // Not recognised as "/quit": the server counts one read of all 12 bytes.
        EXPECT_EQ(read_some(fd), "read 12 bytes\n");
    });
    const auto evidence = framing_evidence(r);
    EXPECT_NE(evidence.find(R"("/quit\n" + "hello\n")"), std::string::npos) << evidence;
    EXPECT_NE(evidence.find("more than one line"), std::string::npos) << evidence;
}

TEST_F(RunCheck, RunReportsTheSigpipeDeathAndTheResetBehindIt) {
    test::TempDir dir;
    const auto report_path = (dir.path / "report.json").string();
    test::Child run({bin("socklab"), "run", "--report", report_path, "--log",
                     (dir.path / "log").string(), "--", kPython, program("chat_threaded.py"),
                     std::to_string(kPort), "sigpipe"});
    auto src = make_default_source();
    ASSERT_TRUE(wait_listening(*src));
    auto a = test::tcp_connect("127.0.0.1", kPort);
    auto b = test::tcp_connect("127.0.0.1", kPort);
    // Both accepted (an accepted socket has an inode; one still in the accept queue has not).
    ASSERT_TRUE(test::wait_until([&] {
        int accepted = 0;
        for (const auto& r : test::sockets_on_port(*src, kPort))
            accepted += r.local_port == kPort && r.inode != 0 &&
                        r.state == static_cast<std::uint8_t>(TcpState::established);
        return accepted == 2;
    }, 3s));
    const std::string hello = "hello\n";
    ASSERT_EQ(::send(a.get(), hello.data(), hello.size(), MSG_NOSIGNAL), 6);
    ASSERT_NE(read_some(b.get()).find("hello"), std::string::npos);  // both are registered
    read_some(a.get());
    const auto a_port = test::local_port(a.get());
    const linger abort_now{1, 0};
    ASSERT_EQ(::setsockopt(a.get(), SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now), 0);
    a.reset();  // RST
    ASSERT_TRUE(test::wait_until([&] { return test::sockets_on_port(*src, a_port).empty(); }, 3s));
    ASSERT_EQ(::send(b.get(), hello.data(), hello.size(), MSG_NOSIGNAL), 6);
    const auto code = run.wait(20s);
    ASSERT_TRUE(code.has_value()) << run.err();
    EXPECT_EQ(*code, 128 + SIGPIPE);  // the program's own status, passed on
    const auto report = read_report(report_path);
    EXPECT_NE(finding(report, "sigpipe"), nullptr) << report.dump(2);
    const auto* reset = finding(report, "rst_received");
    ASSERT_NE(reset, nullptr) << report.dump(2) << log_text(dir.path / "log");
    EXPECT_EQ((*reset)["remote_port"], a_port);
}

TEST_F(RunCheck, RunFollowsAShellPipelineToRefusedConnect) {
    test::TempDir dir;
    const auto report_path = (dir.path / "report.json").string();
    // Nothing listens on the port: nc, a child of sh, is refused.
    const auto cmd = "printf 'hello\\n' | nc -N 127.0.0.1 " + std::to_string(kPort);
    auto res = run_command({bin("socklab"), "run", "--report", report_path, "--", "sh", "-c", cmd}, {}, 20s);
    EXPECT_EQ(res.exit_code, 1) << res.err;  // nc's status, through sh
    const auto report = read_report(report_path);
    const auto* refused = finding(report, "refused");
    ASSERT_NE(refused, nullptr) << report.dump(2) << res.err;
    EXPECT_NE(res.err.find("SYN_SENT -> CLOSE"), std::string::npos) << res.err;  // the live log
    EXPECT_NE((*refused)["pid"], 0);
    EXPECT_EQ((*refused)["remote_port"], kPort);
    // --strict: findings make it 3.
    res = run_command({bin("socklab"), "run", "--strict", "--", "sh", "-c", cmd}, {}, 20s);
    EXPECT_EQ(res.exit_code, 3) << res.err;
}

// A client that names its server "localhost" makes AF_UNIX sockets before its TCP one: glibc
// asks nscd's socket first (and fails, nscd is not running). This one also makes one itself,
// so the check does not hang on how glibc is set up. Only the TCP sockets are the program's
// to show: no call on the AF_UNIX ones. (Whether each is "closed by the program" is not
// asserted: under TSan the program's last close()s were once not read, see
// docs/your-program.md.)
TEST_F(RunCheck, RunShowsOnlyTheTcpSocketsOfAClientThatLooksUpLocalhost) {
    test::TempDir dir;
    const auto report_path = (dir.path / "report.json").string();
    const std::string port = std::to_string(kPort);
    const std::string code =
        "import socket, sys\n"
        "u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "try:\n"
        "    u.connect('/nonexistent-socklab/socket')\n"
        "    sys.exit(3)\n"
        "except FileNotFoundError:\n"
        "    u.close()\n"
        "srv = socket.create_server(('127.0.0.1', " + port + "))\n"
        "c = socket.create_connection(('localhost', " + port + "))\n"
        "a, _ = srv.accept()\n"
        "c.close(); a.close(); srv.close()\n";
    const auto res = run_command({bin("socklab"), "run", "--report", report_path, "--", kPython, "-c", code}, {}, 30s);
    ASSERT_EQ(res.exit_code, 0) << res.err;  // the program's: 3 if its AF_UNIX connect() did not fail
    EXPECT_EQ(res.err.find("ENOENT"), std::string::npos) << "an AF_UNIX connect() is shown:\n" << res.err;
    const auto report = read_report(report_path);
    // The listener and the two ends of the connection are there. (How many sockets in all is
    // not asserted: under TSan a socket read late was once shown twice, by its inode alone
    // and by its 4-tuple alone.)
    int listeners = 0, connections = 0;
    for (const auto& s : report["sockets"]) {
        if (s["local_port"] == kPort && s["remote_port"] == 0) ++listeners;
        if (s["remote_port"] != 0) ++connections;
    }
    EXPECT_EQ(listeners, 1) << report.dump(2);
    EXPECT_EQ(connections, 2) << report.dump(2);
}

TEST_F(RunCheck, BadUsageIsExitTwo) {
    EXPECT_EQ(run_command({bin("socklab"), "run"}).exit_code, 2);
    EXPECT_EQ(run_command({bin("socklab"), "check", "--role", "peer", "--", "true"}).exit_code, 2);
    const auto res = run_command({bin("socklab"), "run", "--", "/nonexistent/program"});
    EXPECT_EQ(res.exit_code, 1);
    EXPECT_NE(res.err.find("failed to start /nonexistent/program"), std::string::npos) << res.err;
}

// Each error of run and check is one line, says what to do where there is something, and
// exits 1 (2 for bad usage) — the rows of docs/errors.md section 11.
TEST_F(RunCheck, EachRunAndCheckErrorIsOneLine) {
    test::TempDir dir;
    const auto missing = (dir.path / "no-such-dir").string();
    auto res = run_command({bin("socklab"), "run", "--log", missing + "/log", "--", "true"});
    EXPECT_EQ(res.exit_code, 1);
    EXPECT_EQ(res.err, "socklab: failed to open " + missing + "/log: No such file or directory\n");
    res = run_command({bin("socklab"), "run", "--report", missing + "/r.json", "--", "true"});
    EXPECT_EQ(res.exit_code, 1);
    EXPECT_NE(res.err.find("socklab: failed to write " + missing + "/r.json: No such file or directory\n"),
              std::string::npos) << res.err;
    res = run_command({bin("socklab"), "check", "--role", "client", "--", "true"});
    EXPECT_EQ(res.exit_code, 2);
    EXPECT_EQ(res.err, "socklab: check --role client needs --port P: the port your client connects to\n");
    res = run_command({bin("socklab"), "check", "--", "/nonexistent/program"});
    EXPECT_EQ(res.exit_code, 1);
    EXPECT_EQ(res.err, "socklab: failed to start /nonexistent/program: No such file or directory\n");
    // The port a client check listens on is taken: the port doctor is named.
    auto taken = test::tcp_listen("127.0.0.1", kPort);
    res = run_command({bin("socklab"), "check", "--role", "client", "--port", std::to_string(kPort), "--", "true"});
    EXPECT_EQ(res.exit_code, 1);
    EXPECT_EQ(res.err, "socklab: failed to listen on 127.0.0.1:" + std::to_string(kPort) +
                           ": Address already in use: 'socklab why " + std::to_string(kPort) +
                           "' tells who holds the port; or give your client another with --port\n");
}

}  // namespace
}  // namespace socklab
