// socklab trace --packets --syscalls without the privileges each source needs: one line per
// missing source saying what is missing and what still works; the rest carries on.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "testsupport.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;

TEST(CausesCli, NothingAvailableIsTwoLinesAndExit1) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("setpriv")) GTEST_SKIP() << "needs setpriv (util-linux)";
    const auto r = test::run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                      test::bin("socklab"), "trace", "--packets", "--syscalls",
                                      "--duration", "0.2"}, {}, 30s);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_TRUE(r.out.empty());
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 2) << r.err;
    EXPECT_NE(r.err.find("socklab: state transitions and system calls are not traced: the "
                         "tracepoint sock:inet_sock_set_state needs root"),
              std::string::npos) << r.err;
    EXPECT_NE(r.err.find("socklab: segments are not captured: capturing on lo needs CAP_NET_RAW"),
              std::string::npos) << r.err;
}

TEST(CausesCli, CaptureAloneCarriesOnWithoutTheTracer) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("setpriv")) GTEST_SKIP() << "needs setpriv (util-linux)";
    const auto r = test::run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                      "--inh-caps", "+net_raw", "--ambient-caps", "+net_raw",
                                      test::bin("socklab"), "trace", "--packets", "--duration",
                                      "0.3"}, {}, 30s);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("socklab: state transitions are not traced"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("segments are not captured"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("segments, 0 transitions, 0 system calls shown"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace socklab
