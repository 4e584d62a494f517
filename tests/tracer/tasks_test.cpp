// The calls of a followed program are named by their process and program even when /proc can
// no longer tell: a thread that has ended before its calls were read, and a task that has just
// exec'd another program. The tracer learns both from task:task_newtask and task:task_rename.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "socklab/program_tree.hpp"
#include "socklab/syscall_event.hpp"
#include "socklab/tracer.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;

const std::string kPython = "/usr/bin/python3";

std::unique_ptr<Tracer> follow(pid_t pid) {
    TracerOptions o;
    o.syscalls = true;
    o.pids = {pid};
    o.follow_children = true;
    return std::make_unique<Tracer>(o);
}

// Poll until a call matching `want` is read, or 5 s pass.
template <typename Want>
std::optional<SyscallEvent> wait_call(Tracer& tracer, Want want) {
    std::optional<SyscallEvent> found;
    std::vector<TransitionEvent> transitions;
    std::vector<SyscallEvent> calls;
    test::wait_until([&] {
        calls.clear();
        tracer.poll(transitions, calls, 50ms);
        for (const auto& c : calls)
            if (want(c)) found = c;
        return found.has_value();
    }, 5s, 1ms);
    return found;
}

TEST(TracerTasks, ACallOfAThreadThatHasEndedIsNamedByItsProcess) {
    SOCKLAB_REQUIRE_ROOT();
    // The thread makes a socket and ends; the program ends; only then are the calls read.
    program::Spawned prog({kPython, "-c",
                           "import socket, threading\n"
                           "t = threading.Thread(target=lambda: socket.socket().close())\n"
                           "t.start(); t.join()\n"});
    auto tracer = follow(prog.pid());
    ASSERT_TRUE(tracer->syscall_status().active) << tracer->syscall_status().message;
    ASSERT_EQ(prog.go(), 0);
    ASSERT_TRUE(prog.wait_exit(10'000));
    ASSERT_EQ(prog.ending().exit_code, 0);
    const auto call = wait_call(*tracer, [](const SyscallEvent& c) {
        return c.call == SyscallKind::socket && c.result >= 0;
    });
    ASSERT_TRUE(call.has_value()) << "the thread's socket() was not read";
    EXPECT_NE(call->tid, prog.pid()) << "made by the main thread, not the one started";
    EXPECT_EQ(call->pid, prog.pid()) << "thread " << call->tid << " named as its own process";
    EXPECT_EQ(call->comm_view(), "python3");
}

TEST(TracerTasks, AnExecRenamesTheCallerAtOnce) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("bash")) GTEST_SKIP() << "needs bash";
    // bash makes a socket (its /dev/tcp), waits for a line on it, then execs python3, which
    // makes another: the same process, renamed within the second a name is remembered.
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = std::to_string(test::local_port(listener.get()));
    program::Spawned prog({"bash", "-c",
                           "exec 3<>/dev/tcp/127.0.0.1/" + port + " && read -r -u 3 line && "
                           "exec " + kPython + " -c 'import socket; socket.socket().close()'"});
    auto tracer = follow(prog.pid());
    ASSERT_TRUE(tracer->syscall_status().active) << tracer->syscall_status().message;
    ASSERT_EQ(prog.go(), 0);
    // Its connect() to the listener, and no other: bash started without SHELL in its
    // environment looks its user up first, and glibc's lookup connect()s to nscd's socket.
    const auto by_bash = wait_call(*tracer, [&](const SyscallEvent& c) {
        return c.call == SyscallKind::connect && c.result == 0 && c.key &&
               std::to_string(c.key->remote_port) == port;
    });
    ASSERT_TRUE(by_bash.has_value()) << "bash's connect() to port " << port << " was not read";
    EXPECT_EQ(by_bash->comm_view(), "bash");
    auto conn = test::tcp_accept(listener.get());
    ASSERT_EQ(::send(conn.get(), "go\n", 3, MSG_NOSIGNAL), 3);
    const auto by_python = wait_call(*tracer, [&](const SyscallEvent& c) {
        return c.call == SyscallKind::socket && c.time_ns > by_bash->time_ns;
    });
    ASSERT_TRUE(by_python.has_value()) << "python's socket() was not read";
    EXPECT_EQ(by_python->pid, prog.pid());
    // What a wrong name would need to be understood: a lost rename, or a call placed before it.
    EXPECT_EQ(by_python->comm_view(), "python3")
        << "socket() entered " << (by_python->enter_ns - by_bash->time_ns) / 1000 << " us and left "
        << (by_python->time_ns - by_bash->time_ns) / 1000 << " us after bash's connect() left, fd "
        << by_python->result << "; events lost " << tracer->lost_events() << ", malformed "
        << tracer->malformed_records();
    EXPECT_LT(by_python->time_ns - by_bash->time_ns, 1'000'000'000u)
        << "more than the second a name is remembered: the check proves nothing";
    ASSERT_TRUE(prog.wait_exit(10'000));
}

}  // namespace
}  // namespace socklab
