// program::ending() on real processes: a poll of the program's sockets counts only while the
// program has not begun to exit (its descriptors are then the kernel's to close).
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include "socklab/program_tree.hpp"
#include "testsupport.hpp"

namespace socklab::program {
namespace {

using namespace std::chrono_literals;

char state_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return '?';
    const auto close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
}

// Reaps the child whatever the test's outcome.
struct Child {
    pid_t pid = -1;
    ~Child() {
        if (pid <= 0) return;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
};

TEST(ProgramEnding, ARunningProcessIsNotEnding) {
    EXPECT_FALSE(ending(::getpid()));
}

TEST(ProgramEnding, AZombieAndAReapedProcessAreEnding) {
    Child child;
    child.pid = ::fork();
    ASSERT_GE(child.pid, 0);
    if (child.pid == 0) ::_exit(0);
    ASSERT_TRUE(test::wait_until([&] { return state_of(child.pid) == 'Z'; }, 5s, 1ms));
    EXPECT_TRUE(ending(child.pid)) << "a zombie has closed every descriptor it had";
    ASSERT_EQ(::waitpid(child.pid, nullptr, 0), child.pid);
    const pid_t gone = child.pid;
    child.pid = -1;
    EXPECT_TRUE(ending(gone)) << "no /proc entry: ended";
}

// The main thread ends (exit(2) of the thread alone) while another thread keeps the process (and its
// descriptors) alive: the leader is past the start of exit, the process is not ending.
TEST(ProgramEnding, AProcessWhoseMainThreadLeftButAnotherRunsIsNotEnding) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    Child child;
    child.pid = ::fork();
    ASSERT_GE(child.pid, 0);
    if (child.pid == 0) {
        pthread_t t;
        if (::pthread_create(&t, nullptr, [](void*) -> void* { for (;;) ::pause(); }, nullptr) != 0) ::_exit(1);
        (void)!::write(ready[1], "r", 1);
        ::syscall(SYS_exit, 0);  // this thread only, without unwinding through the test
        ::_exit(1);
    }
    ::close(ready[1]);
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    ASSERT_TRUE(test::wait_until([&] { return state_of(child.pid) == 'Z'; }, 5s, 1ms))
        << "the leader thread did not finish its exit";
    EXPECT_FALSE(ending(child.pid)) << "its second thread still runs";
    ::kill(child.pid, SIGKILL);  // now every thread exits
    EXPECT_TRUE(test::wait_until([&] { return ending(child.pid); }, 5s, 1ms));
}

}  // namespace
}  // namespace socklab::program
