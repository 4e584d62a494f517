// What `socklab lab` and the lab programs say when something goes wrong, word for word as
// docs/errors.md lists it: bad options, a lab program that is missing or cannot start, a
// step whose call or table does not match the lesson, too few descriptors, no tracer without
// root — and, at the labkit level, the guards no command line can reach.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lab_child.hpp"
#include "labkit.hpp"
#include "prepare.hpp"
#include "testsupport.hpp"

namespace socklab::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string lab_bin(std::string_view id) { return bin("socklab-lab-" + std::string(id)); }

using test::TempDir;

// A TCP socket bound to addr:0 and left unlistening; its port is free nowhere else.
UniqueFd bound_tcp(const char* addr, std::uint16_t port = 0) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, addr, &sa.sin_addr);
    if (!fd || ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return {};
    return fd;
}

// A listener on 127.0.0.2 whose port is free on 127.0.0.1 too, for a lab to bind there. The
// port comes from below the kernel's ephemeral range (ip_local_port_range), so no other
// test's connect() or bind(0) takes it on 127.0.0.1 while the lab starts: with the kernel's
// own pick, a parallel test's connection once held it and the lab's bind() failed.
UniqueFd listener_on_a_port_free_on_127_0_0_1() {
    int low = 32768;
    if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> low;
    std::srand(static_cast<unsigned>(::getpid()));
    for (int attempt = 0; attempt < 100 && low > 2048; ++attempt) {
        const auto port = static_cast<std::uint16_t>(1024 + std::rand() % (low - 1024));
        UniqueFd probe = bound_tcp("127.0.0.1", port);
        if (!probe) continue;
        probe.reset();  // bound, never connected: nothing is left behind
        try {
            return tcp_listen("127.0.0.2", port);
        } catch (const std::exception&) {
            continue;
        }
    }
    return tcp_listen("127.0.0.2", 0);
}

TEST(LabCli, BadInputNamesTheProblem) {
    struct Case {
        std::vector<std::string> argv;
        std::string err;
    };
    const std::string last_lab = std::to_string(lab::kLabs.back().number);
    const std::vector<Case> cases{
        {{bin("socklab"), "lab", "run", "no-such-lab"},
         "socklab: no lab 'no-such-lab': give an id or a number from 1 to " + last_lab +
             " (see 'socklab lab list')\n"},
        {{bin("socklab"), "lab", "run", "99"},
         "socklab: no lab '99': give an id or a number from 1 to " + last_lab +
             " (see 'socklab lab list')\n"},
        {{lab_bin("bind"), "--delay", "-1"},
         "socklab-lab-bind: --delay: '-1' is out of range: give 0 to 600000 milliseconds\n"
         "Run 'socklab-lab-bind --help' for usage.\n"},
        {{lab_bin("bind"), "--port", "0"},
         "socklab-lab-bind: --port: '0' is not a port: give a whole number from 1 to 65535\n"
         "Run 'socklab-lab-bind --help' for usage.\n"},
        {{lab_bin("bind"), "--bogus"},
         "socklab-lab-bind: The following argument was not expected: --bogus\n"
         "Run 'socklab-lab-bind --help' for usage.\n"},
        {{lab_bin("bind"), "--role", "server"},
         "socklab-lab-bind: this lab runs both ends in one program so it can show both; --role "
         "server|client applies to the chat lab. Drop --role.\n"},
        {{lab_bin("chat"), "--host", "example.org"},
         "socklab-lab-chat: failed to parse host 'example.org': give a numeric IPv4 or IPv6 "
         "address, e.g. 127.0.0.1 or ::1\n"},
        // Through socklab, the lab's own words (socklab has handed over to it).
        {{bin("socklab"), "lab", "run", "chat", "--host", "localhost"},
         "socklab-lab-chat: failed to parse host 'localhost': give a numeric IPv4 or IPv6 "
         "address, e.g. 127.0.0.1 or ::1\n"},
    };
    for (const auto& c : cases) {
        const auto res = run_command(c.argv, {}, 10s);
        EXPECT_EQ(res.exit_code, 2) << c.argv.back() << ": " << res.err;
        EXPECT_EQ(res.err, c.err) << c.argv.back();
        EXPECT_TRUE(res.out.empty()) << res.out;
    }
}

// socklab copied alone into a directory: the labs are neither beside it nor in ../libexec.
TEST(LabCli, AMissingLabProgramIsNamedWithWhatToBuild) {
    TempDir dir;
    fs::create_directory(dir.path / "bin");
    const auto socklab = dir.path / "bin" / "socklab";
    fs::copy_file(bin("socklab"), socklab);
    const auto res = run_command({socklab.string(), "lab", "run", "bind", "--auto"}, {}, 10s);
    EXPECT_EQ(res.exit_code, 1) << res.err;
    EXPECT_EQ(res.err,
              "socklab: failed to find the lab program socklab-lab-bind: it is neither beside "
              "socklab nor in ../libexec/socklab; build the 'socklab-labs' target or install "
              "socklab\n");
    EXPECT_TRUE(res.out.empty()) << res.out;
}

// Beside it, a "lab program" that is not a program: found, but exec fails.
TEST(LabCli, ALabProgramThatCannotStartIsNamedWithTheReason) {
    TempDir dir;
    const auto socklab = dir.path / "socklab";
    fs::copy_file(bin("socklab"), socklab);
    const auto lab = dir.path / "socklab-lab-bind";
    std::ofstream(lab) << "this is not a program\n";
    fs::permissions(lab, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
    const auto res = run_command({socklab.string(), "lab", "run", "1"}, {}, 10s);
    EXPECT_EQ(res.exit_code, 1) << res.err;
    EXPECT_EQ(res.err, "socklab: failed to run " + lab.string() + ": Exec format error\n");
}

// Something else holds the lab's address: bind() fails where the lesson expects success, the
// lab says which step and why, and stops.
TEST(LabFailures, ATakenPortStopsTheLabAtItsBindStep) {
    const auto taken = bound_tcp("127.0.0.1");
    ASSERT_TRUE(taken);
    const auto port = std::to_string(local_port(taken.get()));
    const auto res = run_command({lab_bin("bind"), "--auto", "--port", port}, {}, 60s);
    EXPECT_EQ(res.exit_code, 1) << res.out << res.err;
    const std::string title = "Bind it to 127.0.0.1:" + port;
    EXPECT_EQ(res.err.rfind("socklab-lab-bind: step 2 (" + title + "): bind(", 0), 0u) << res.err;
    EXPECT_NE(res.err.find(", 127.0.0.1:" + port +
                           "): it returned -1 EADDRINUSE (Address already in use), but the "
                           "lesson expects success\n"),
              std::string::npos)
        << res.err;
    EXPECT_NE(res.out.find("Lab finished: some expectations were NOT met ✗"), std::string::npos)
        << res.out;
    EXPECT_EQ(res.out.find("Step 3/5"), std::string::npos) << "the lab must stop at step 2";
}

// A datagram from someone else reaches the UDP lab's server first: recv() succeeds, but its
// result is not the one the lesson explains, and the lab says what it expected.
TEST(LabFailures, AnUnexpectedResultIsNamedWithWhatTheLessonExpects) {
    std::uint16_t port = 0;
    {
        auto probe = udp_bind("127.0.0.1", 0);
        port = local_port(probe.get());
    }
    Child lab({lab_bin("udp"), "--port", std::to_string(port)});
    ASSERT_TRUE(lab.read_until([](const std::string& o) { return o.find("Step 1/8") != o.npos; }, 20s))
        << lab.out() << lab.err();
    lab.write("\n");
    // Step 2's heading comes once step 1 (the server's bind) is done.
    ASSERT_TRUE(lab.read_until([](const std::string& o) { return o.find("Step 2/8") != o.npos; }, 20s))
        << lab.out() << lab.err();
    {
        auto intruder = udp_bind("127.0.0.1", 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::sendto(intruder.get(), "intruder", 8, 0, reinterpret_cast<const sockaddr*>(&to),
                           sizeof to),
                  8);
    }
    lab.write("a\n");
    EXPECT_EQ(lab.wait(30s), 1) << lab.out() << lab.err();
    EXPECT_EQ(lab.err().rfind("socklab-lab-udp: step 4 (The server reads with a big buffer): recv(", 0),
              0u)
        << lab.err();
    EXPECT_NE(lab.err().find(", buf, 2048, 0): expected exactly \"one\"\n"), std::string::npos)
        << lab.err();
    EXPECT_NE(lab.out().find("\"intruder\"   ✗ expected exactly \"one\""), std::string::npos)
        << lab.out();
    EXPECT_NE(lab.out().find("Lab finished: some expectations were NOT met ✗"), std::string::npos);
}

// A listener of ours on the lab's port (on 127.0.0.2, so the lab's own bind() still works):
// the table shows a LISTEN socket the lesson says is not there. The lab marks those checks
// with ✗, runs to the end, and exits 1.
TEST(LabFailures, ATableThatDisagreesIsMarkedAndTheLabSaysSoAtTheEnd) {
    auto other = listener_on_a_port_free_on_127_0_0_1();
    const auto port = std::to_string(local_port(other.get()));
    const auto res = run_command({lab_bin("bind"), "--auto", "--port", port}, {}, 60s);
    EXPECT_EQ(res.exit_code, 1) << res.out << res.err;
    EXPECT_NE(res.out.find("  ✗ no LISTEN left at :" + port + " (no peer)\n"), std::string::npos)
        << res.out;
    EXPECT_NE(res.out.find("Step 5/5"), std::string::npos) << "the lab runs to the end";
    EXPECT_NE(res.out.find("Lab finished: some expectations were NOT met ✗"), std::string::npos);
    EXPECT_EQ(res.err.find("step"), std::string::npos) << "no step failed its call: " << res.err;
}

// Out of descriptors before the lab starts: its first pipe fails and it says what it needed.
TEST(LabFailures, NoDescriptorsLeftIsNamed) {
#if defined(__SANITIZE_ADDRESS__)
    // UBSan checks a C++ object's type by reading its memory through a pipe of its own; with
    // only one descriptor free that read fails and it reports a false "invalid vptr".
    GTEST_SKIP() << "under the asan preset the sanitizer itself needs the descriptors this "
                    "test takes away (the dev build runs it)";
#endif
    const auto res = run_confined({lab_bin("bind"), "--auto"},
                                  prepared_by([] { return limit_descriptors(4); }), 30s);
    EXPECT_EQ(res.exit_code, 1) << res.err;
    EXPECT_EQ(res.err, "socklab-lab-bind: failed to create the signal pipe: Too many open files\n");
}

// Without root the lab runs on polling alone and says at the start why no transitions show.
TEST(LabTracer, WithoutRootTheLabSaysWhyNoTransitionsAreShown) {
    SOCKLAB_REQUIRE_ROOT();  // to become uid 65534, in a network namespace of its own
    PrivateNetns ns;
    const auto res = run_confined({lab_bin("bind"), "--auto"}, prepared_by(become_nobody), 60s);
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    EXPECT_NE(unwrapped(res.out).find(
                  "(No transitions shown: state transitions are not traced: the tracepoint "
                  "sock:inet_sock_set_state needs root; run as root (e.g. 'sudo socklab trace'); "
                  "the table, the labs and the doctor keep working on polling alone)"),
              std::string::npos)
        << res.out;
}

// ---- labkit guards no command line reaches, checked on the library itself ----

TEST(LabkitDeathTest, AnIdOutsideTheCatalogExitsTwo) {
    char name[] = "socklab-lab-x";
    char* argv[] = {name, nullptr};
    EXPECT_EXIT({ lab::Lab runner("no-such-lab", 1, argv); }, testing::ExitedWithCode(2),
                "^labkit: no lab 'no-such-lab' in the catalog\n$");
}

TEST(LabkitDeathTest, ALessonThatRunsFewerStepsThanPlannedIsAnInternalError) {
    char name[] = "socklab-lab-bind";
    char auto_flag[] = "--auto";
    char* argv[] = {name, auto_flag, nullptr};
    EXPECT_EXIT(
        {
            int code = 0;
            {
                lab::Lab runner("bind", 2, argv);
                code = runner.run(3, [](lab::Lab&) {});
            }
            std::exit(code);
        },
        testing::ExitedWithCode(1),
        "socklab-lab-bind: internal: the lab planned 3 steps but ran 0\n");
}

TEST(Labkit, AnOptionTheKernelRefusesStopsTheLabWithTheHouseMessage) {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    const UniqueFd rd(p[0]), wr(p[1]);
    try {
        lab::set_int_option(rd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
        ADD_FAILURE() << "setsockopt() on a pipe succeeded";
    } catch (const lab::Stop& s) {
        EXPECT_EQ(s.why, lab::Stop::Why::failed);
        EXPECT_EQ(s.message, "failed to set SO_REUSEPORT on fd " + std::to_string(rd.get()) +
                                 ": Socket operation on non-socket");
    }
}

}  // namespace
}  // namespace socklab::test
