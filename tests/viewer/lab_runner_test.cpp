// The lab runner against a fake `socklab` that speaks the step protocol and makes real
// loopback sockets: listing, stepping, advancing, a broken lab, and Stop ending the whole
// process group — even of a lab that ignores "quit" and SIGTERM.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "model/lab_runner.hpp"
#include "socklab/catalog.hpp"
#include "socklab/i18n.hpp"
#include "testsupport.hpp"

namespace socklab::viewer {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> fake() { return {"/usr/bin/python3", SOCKLAB_FAKE_LAB}; }

bool group_gone(int pgid) { return ::kill(-pgid, 0) != 0 && errno == ESRCH; }

// The list comes from the catalogue the viewer is built with, not from running anything: it
// is there at once, even when the program to run labs does not exist.
TEST(LabRunner, ListsTheCatalogueWithoutRunningAnything) {
    LabRunner r({"/nonexistent/socklab"});
    const auto s = r.state();
    ASSERT_EQ(s.labs.size(), lab::kLabs.size());
    for (std::size_t i = 0; i < s.labs.size(); ++i) {
        EXPECT_EQ(s.labs[i].id, lab::kLabs[i].id);
        EXPECT_EQ(s.labs[i].number, lab::kLabs[i].number);
        EXPECT_EQ(s.labs[i].title, lab::kLabs[i].title);
        EXPECT_EQ(s.labs[i].summary, lab::kLabs[i].summary);
        EXPECT_EQ(s.labs[i].default_port, lab::default_port(lab::kLabs[i].number));
    }
    EXPECT_TRUE(s.error.empty()) << s.error;
    EXPECT_FALSE(s.running);
}

TEST(LabRunner, StepsThroughALabAndStopEndsIt) {
    LabRunner r(fake());
    r.start("demo");
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return s.waiting_for == 1; }, 10s));
    auto s = r.state();
    EXPECT_TRUE(s.running);
    EXPECT_EQ(s.title, "demo lab");
    EXPECT_EQ(s.steps, 3);
    ASSERT_NE(s.port, 0);
    EXPECT_TRUE(s.ports.contains(s.port));
    EXPECT_FALSE(s.step.has_value()) << "nothing runs before Next";

    r.next();
    ASSERT_TRUE(r.wait_until([](const LabState& s2) { return s2.observed && s2.observed->step == 1; }, 10s));
    s = r.state();
    ASSERT_TRUE(s.step);
    EXPECT_EQ(s.step->call, "listen(3, 16)");
    ASSERT_EQ(s.observed->checks.size(), 1u);
    EXPECT_TRUE(s.observed->checks[0].ok);

    r.next();
    ASSERT_TRUE(r.wait_until([](const LabState& s2) { return s2.observed && s2.observed->step == 2; }, 10s));
    s = r.state();
    // The connection's client port came in the expectation: it is a lab port now.
    ASSERT_EQ(s.step->expect.size(), 1u);
    EXPECT_TRUE(s.ports.contains(s.step->expect[0].remote_port));

    const int pid = s.pid;
    ASSERT_GT(pid, 0);
    r.stop();
    ASSERT_TRUE(r.wait_until([](const LabState& s2) { return !s2.running; }, 10s));
    s = r.state();
    ASSERT_TRUE(s.exit_code.has_value());
    EXPECT_EQ(*s.exit_code, 0) << "quit ends the lab cleanly";
    EXPECT_TRUE(s.error.empty()) << s.error;
    EXPECT_TRUE(test::wait_until([&] { return group_gone(pid); }, 5s));
}

// A lab started from the viewer speaks the viewer's language: its titles and narration reach
// the panel as the lab wrote them.
TEST(LabRunner, TheLabIsStartedInTheViewersLanguage) {
    struct Restore {
        ~Restore() { i18n::init("en"); }
    } restore;
    i18n::init("ko");
    ASSERT_EQ(i18n::language(), "ko");
    LabRunner r(fake());
    r.start("demo");
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return s.waiting_for == 1; }, 10s));
    EXPECT_EQ(r.state().title, "demo lab [ko]");
}

TEST(LabRunner, AdvanceRunsKStepsUnattended) {
    LabRunner r(fake());
    r.start("demo");
    r.advance(3);
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return s.done_ok.has_value(); }, 15s));
    const auto s = r.state();
    EXPECT_TRUE(*s.done_ok);
    EXPECT_EQ(s.step->step, 3);
    EXPECT_TRUE(s.running) << "the fake keeps its sockets until told to quit";
}

// The headless viewer reads the lab's step count first, so the first prompt is often there
// before advance(k): answering it must count as one of the k. (It did not, and a lab asked
// for 2 steps ran 3 whenever the prompt won the race.)
TEST(LabRunner, AdvanceAfterThePromptRunsExactlyKSteps) {
    LabRunner r(fake());
    r.start("demo");
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return s.waiting_for == 1; }, 10s));
    r.advance(2);
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return s.waiting_for == 3; }, 10s))
        << "the lab did not stop to wait before step 3";
    const auto s = r.state();
    ASSERT_TRUE(s.step);
    EXPECT_EQ(s.step->step, 2);
    EXPECT_FALSE(s.done_ok.has_value());
    // The last prompt, waiting too: one more step ends the lab.
    r.advance(1);
    ASSERT_TRUE(r.wait_until([](const LabState& s2) { return s2.done_ok.has_value(); }, 10s));
    EXPECT_EQ(r.state().step->step, 3);
}

TEST(LabRunner, ABrokenLabIsAnErrorLineNotACrash) {
    LabRunner r(fake());
    r.start("broken");
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return s.exit_code.has_value(); }, 10s));
    const auto s = r.state();
    EXPECT_EQ(*s.exit_code, 3);
    EXPECT_NE(s.error.find("status 3"), std::string::npos) << s.error;
    EXPECT_NE(s.error.find("the broken lab broke"), std::string::npos) << s.error;
    bool unreadable = false;
    for (const auto& l : s.log) unreadable |= l.find("unreadable line") != std::string::npos;
    EXPECT_TRUE(unreadable);
}

TEST(LabRunner, AMissingProgramSaysWhatToDo) {
    LabRunner r({"/nonexistent/socklab"});
    const std::string expected = "failed to run /nonexistent/socklab: No such file or directory "
                                 "(is socklab built next to socklab-viewer?)";
    r.start("demo");
    ASSERT_TRUE(r.wait_until([](const LabState& s2) { return !s2.error.empty(); }, 10s));
    EXPECT_FALSE(r.state().running);
    EXPECT_EQ(r.state().error, expected);
}

// Out of descriptors: each pipe the runner needs says which one failed. In a child process
// (a death test), whose descriptor limit leaves exactly `spare` numbers free.
void limit_to_spare_descriptors(int spare) {
    int free_seen = 0;
    for (int fd = 0; fd < 65536; ++fd) {
        if (::fcntl(fd, F_GETFD) != -1) continue;
        if (free_seen == spare) {
            const rlimit lim{static_cast<rlim_t>(fd), static_cast<rlim_t>(fd)};
            if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) std::_Exit(2);
            return;
        }
        ++free_seen;
    }
    std::_Exit(3);
}

void report_start_error(int spare) {
    LabRunner r(fake());
    // Under UndefinedBehaviorSanitizer each member call on fmt's buffer has its dynamic type
    // checked; a check its small cache misses opens a pipe to test that the vtable is
    // readable, and with no descriptor left it reports the buffer as invalid: a false report
    // that failed this test in every asan run of a clean clone (30 of 30 by hand). Format once
    // with descriptors to spare, so the message below finds its check cached (0 of 30 then).
    (void)i18n::format("{}: {}", "warm", std::strerror(EMFILE));
    limit_to_spare_descriptors(spare);
    r.start("demo");
    r.wait_until([](const LabState& s) { return !s.error.empty() || s.running; }, 10s);
    std::fprintf(stderr, "%s\n", r.state().error.c_str());
    std::_Exit(0);
}

TEST(LabRunnerDeathTest, OutOfDescriptorsEachPipeIsNamed) {
    EXPECT_EXIT(report_start_error(0), testing::ExitedWithCode(0),
                "^failed to create the lab's control socket: Too many open files\n$");
    EXPECT_EXIT(report_start_error(2), testing::ExitedWithCode(0),
                "^failed to create the lab's output pipe: Too many open files\n$");
    EXPECT_EXIT(report_start_error(4), testing::ExitedWithCode(0),
                "^failed to create the lab's error pipe: Too many open files\n$");
}

TEST(LabRunner, StopEndsALabThatIgnoresQuitAndSigterm) {
    LabRunner r(fake());
    r.start("stubborn");
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return !s.title.empty(); }, 10s));
    const int pid = r.state().pid;
    ASSERT_GT(pid, 0);
    const auto t0 = std::chrono::steady_clock::now();
    r.stop();
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return !s.running; }, 10s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 6s);
    EXPECT_EQ(*r.state().exit_code, 128 + SIGKILL);
    // Its `sleep` child was in the same group: gone too.
    EXPECT_TRUE(test::wait_until([&] { return group_gone(pid); }, 5s));
}

TEST(LabRunner, DestroyingTheRunnerStopsTheLab) {
    int pid = 0;
    {
        LabRunner r(fake());
        r.start("demo");
        ASSERT_TRUE(r.wait_until([](const LabState& s) { return s.waiting_for == 1; }, 10s));
        pid = r.state().pid;
    }
    EXPECT_TRUE(test::wait_until([&] { return group_gone(pid); }, 5s));
}

}  // namespace
}  // namespace socklab::viewer
