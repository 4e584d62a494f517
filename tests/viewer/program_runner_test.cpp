// The viewer's "your program" model on the real kernel (root, a network namespace of its own):
// ProgramRunner runs a beginner's threaded chat server that ignores recv() == 0; a client
// connects, sends, closes. Its live findings must name the CLOSE_WAIT leak with the pid and fd
// `ss -p` names, and the table's program filter must keep its sockets and drop another
// process's socket on another port. Also: the program's output reaches the panel's log file.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <regex>
#include <string>

#include "model/command_line.hpp"
#include "model/ladder_feed.hpp"
#include "model/poller.hpp"
#include "model/program_runner.hpp"
#include "model/table_view.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"

namespace socklab::viewer {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kPort = 9321;       // the program's
constexpr std::uint16_t kOtherPort = 9322;  // another process's (this test's)
const std::string kPython = "/usr/bin/python3";

std::string chat_program() { return std::string(SOCKLAB_RUN_PROGRAMS) + "/chat_threaded.py"; }

const program::Finding* find_kind(const ProgramState& s, program::FindingKind k) {
    for (const auto& f : s.report.findings)
        if (f.kind == k) return &f;
    return nullptr;
}

// `ss -tanpH state close-wait sport = :PORT`: the pid and fd ss names for the CLOSE_WAIT.
std::pair<int, int> ss_close_wait_owner() {
    const auto ss = test::run_command({"ss", "-tanpH", "state", "close-wait", "sport = :" + std::to_string(kPort)});
    std::smatch m;
    if (!std::regex_search(ss.out, m, std::regex("pid=([0-9]+),fd=([0-9]+)"))) return {0, -1};
    return {std::stoi(m[1]), std::stoi(m[2])};
}

class ViewerProgram : public ::testing::Test {
protected:
    void SetUp() override {
        SOCKLAB_REQUIRE_ROOT();
        netns_ = std::make_unique<test::PrivateNetns>();
    }
    void TearDown() override {
        runner_.reset();  // stops the program before the namespace goes
        if (!log_.empty()) std::filesystem::remove(log_);
        netns_.reset();
    }
    ProgramRunner& start(std::vector<std::string> command) {
        ProgramRunnerOptions o;
        o.command = std::move(command);
        o.publish_every = 100ms;
        runner_ = std::make_unique<ProgramRunner>(std::move(o));
        return *runner_;
    }
    void remember_log(const ProgramState& s) { log_ = s.output_path; }

    std::unique_ptr<test::PrivateNetns> netns_;
    CallLog calls_;  // outlives runner_ (TearDown stops it), whose thread pushes into it
    std::unique_ptr<ProgramRunner> runner_;
    std::string log_;
};

TEST_F(ViewerProgram, LiveFindingsNameTheCloseWaitLeakAndTheFilterKeepsOnlyItsSockets) {
    auto& runner = start({kPython, chat_program(), std::to_string(kPort), "ignores-eof"});
    ASSERT_TRUE(runner.wait_until(
        [](const ProgramState& s) {
            return s.finished || std::find(s.ports.begin(), s.ports.end(), kPort) != s.ports.end();
        },
        10s));
    remember_log(*runner.state());
    ASSERT_TRUE(runner.state()->running) << runner.state()->error;
    EXPECT_EQ(runner.state()->not_traced, "");  // root: traced

    auto other = test::tcp_listen("127.0.0.1", kOtherPort);  // another process, another port
    auto src = make_default_source();
    std::pair<int, int> owner;
    {
        auto c = test::tcp_connect("127.0.0.1", kPort);
        const std::string hello = "hello\n";
        ASSERT_EQ(::send(c.get(), hello.data(), hello.size(), MSG_NOSIGNAL), 6);
        std::string got;
        test::wait_until([&] {
            char buf[256];
            const ssize_t n = ::recv(c.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) got.append(buf, static_cast<std::size_t>(n));
            return got.find('\n') != std::string::npos;
        }, 3s, 5ms);
        ASSERT_NE(got.find("hello"), std::string::npos);
        const auto peer = test::local_port(c.get());
        c.reset();
        ASSERT_TRUE(test::wait_for_state(*src, kPort, peer, static_cast<std::uint8_t>(TcpState::close_wait), 3s));
        owner = ss_close_wait_owner();
        ASSERT_GT(owner.first, 0);
    }

    // Live, while the program still runs: the leak (held >= 2 s) with ss's pid and fd.
    ASSERT_TRUE(runner.wait_until(
        [](const ProgramState& s) { return s.finished || find_kind(s, program::FindingKind::close_wait_leak); }, 15s));
    const auto live = runner.state();
    ASSERT_TRUE(live->running);
    const auto* leak = find_kind(*live, program::FindingKind::close_wait_leak);
    ASSERT_NE(leak, nullptr);
    EXPECT_EQ(leak->pid, owner.first);
    EXPECT_EQ(leak->fd, owner.second);
    EXPECT_EQ(leak->local_port, kPort);
    EXPECT_GE(leak->seconds.value_or(0), 2.0);
    EXPECT_NE(find_kind(*live, program::FindingKind::recv_zero_loop), nullptr);

    // The table under the program's filter: its listener and its CLOSE_WAIT, nothing else.
    Poller poller;
    poller.start();
    ASSERT_TRUE(poller.wait_for_frame(0, 10s));
    const auto seq = poller.latest()->seq;
    poller.poll_now();
    ASSERT_TRUE(poller.wait_for_frame(seq, 10s));
    const auto frame = poller.latest();
    TableView all, mine;
    all.update(frame, 0);
    mine.set_scope(live->scope);
    mine.update(frame, 0);
    auto shown = [&](const TableView& v, std::uint16_t local, std::uint8_t state) {
        for (const auto i : v.order())
            if (frame->rows[i].rec.local_port == local && frame->rows[i].rec.state == state) return true;
        return false;
    };
    const auto listen = static_cast<std::uint8_t>(TcpState::listen);
    const auto close_wait = static_cast<std::uint8_t>(TcpState::close_wait);
    ASSERT_TRUE(shown(all, kOtherPort, listen)) << "the other listener is not in the unfiltered table";
    EXPECT_FALSE(shown(mine, kOtherPort, listen)) << "another process's socket passed the program's filter";
    EXPECT_TRUE(shown(mine, kPort, listen));
    EXPECT_TRUE(shown(mine, kPort, close_wait));
    for (const auto i : mine.order()) {
        const Row& r = frame->rows[i];
        EXPECT_EQ(r.rec.local_port, kPort) << r.local_text << " " << r.remote_text << " pid " << r.pid;
        if (r.pid != 0) {
            EXPECT_EQ(r.pid, owner.first);
        }
    }
    poller.stop();

    // Stopped: the final report, the program ended by SIGTERM, the leak still named.
    runner.stop();
    ASSERT_TRUE(runner.wait_until([](const ProgramState& s) { return s.finished; }, 20s));
    const auto end = runner.state();
    EXPECT_FALSE(end->running);
    EXPECT_EQ(end->ending.signal, SIGTERM);
    ASSERT_NE(find_kind(*end, program::FindingKind::close_wait_leak), nullptr);
    EXPECT_EQ(find_kind(*end, program::FindingKind::close_wait_leak)->fd, owner.second);
}

TEST_F(ViewerProgram, ItsOutputGoesToTheLogFileTheFinalStateShows) {
    auto& runner = start({kPython, chat_program(), std::to_string(kPort), "no-such-mistake"});
    ASSERT_TRUE(runner.wait_until([](const ProgramState& s) { return s.finished; }, 20s));
    const auto s = runner.state();
    remember_log(*s);
    EXPECT_EQ(s->error, "");
    EXPECT_EQ(s->ending.exit_code, 1);  // sys.exit(message)
    EXPECT_TRUE(std::filesystem::exists(s->output_path)) << s->output_path;
    EXPECT_NE(s->output_tail.find("unknown mistake 'no-such-mistake'"), std::string::npos) << s->output_tail;
}

TEST_F(ViewerProgram, ACommandThatDoesNotExistIsOneClearError) {
    auto& runner = start({"/nonexistent/socklab-no-such-program"});
    ASSERT_TRUE(runner.wait_until([](const ProgramState& s) { return s.finished; }, 10s));
    const auto s = runner.state();
    remember_log(*s);
    EXPECT_EQ(s->error, "failed to start /nonexistent/socklab-no-such-program: No such file or directory");
}

TEST(CommandLine, SplitsWordsAndKeepsQuotedSpaces) {
    using V = std::vector<std::string>;
    EXPECT_EQ(split_command_line("python3  chat.py 9000 "), (V{"python3", "chat.py", "9000"}));
    EXPECT_EQ(split_command_line("sh -c 'echo a  b' \"x y\" z\\ w"), (V{"sh", "-c", "echo a  b", "x y", "z w"}));
    EXPECT_EQ(split_command_line("a '' b"), (V{"a", "", "b"}));
    EXPECT_EQ(split_command_line("   "), V{});
    EXPECT_FALSE(split_command_line("python3 'chat.py").has_value());
    EXPECT_FALSE(split_command_line("python3 chat.py\\").has_value());
}

// The Ladder of a watched program carries its system calls: the runner hands each traced call
// to a CallLog, the ladder's worker places it on its socket's side of the conversation.
TEST_F(ViewerProgram, TheProgramsCallsAppearOnItsLadder) {
    auto& calls = calls_;
    ProgramRunnerOptions o;
    o.command = {kPython, chat_program(), std::to_string(kPort), "ignores-eof"};
    o.publish_every = 100ms;
    o.on_call = [&calls](const SyscallEvent& e) { calls.push(e); };
    LadderFeedOptions lo;
    lo.capture.ports = {kPort};
    lo.calls = [&calls](std::uint64_t after, std::vector<SyscallEvent>& out) { return calls.since(after, out); };
    LadderFeed ladder(lo);
    LadderSelection sel;
    sel.mode = LadderSelection::Mode::latest;
    sel.ports = {kPort};
    ladder.select(sel);  // capturing from here on
    runner_ = std::make_unique<ProgramRunner>(std::move(o));
    ASSERT_TRUE(runner_->wait_until(
        [](const ProgramState& s) {
            return s.finished || std::find(s.ports.begin(), s.ports.end(), kPort) != s.ports.end();
        },
        10s));
    remember_log(*runner_->state());
    ASSERT_TRUE(runner_->state()->running) << runner_->state()->error;

    auto c = test::tcp_connect("127.0.0.1", kPort);
    const auto cport = test::local_port(c.get());
    const std::string hello = "hello\n";
    ASSERT_EQ(::send(c.get(), hello.data(), hello.size(), MSG_NOSIGNAL), 6);

    // The server's accept() of this connection, on the server's side of its ladder.
    const auto accepted = [&](const Conversation& conv) {
        for (const auto& item : conv.items)
            if (const auto* k = item.syscall();
                k != nullptr && (k->call == SyscallKind::accept || k->call == SyscallKind::accept4) &&
                item.side == Side::server)
                return true;
        return false;
    };
    const auto snap = ladder.wait_until(
        [&](const LadderSnapshot& s) {
            return s.selected && s.selected->client.port == cport && accepted(*s.selected);
        },
        10s);
    ASSERT_TRUE(snap && snap->selected) << "no conversation on port " << kPort;
    EXPECT_EQ(snap->selected->client.port, cport);
    EXPECT_TRUE(accepted(*snap->selected)) << "the program's accept() is not on its ladder";
    ladder.stop();
}

}  // namespace
}  // namespace socklab::viewer
