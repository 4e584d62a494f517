// Every message `socklab export` prints (docs/errors.md, section "socklab export"), made to
// appear for real and checked word for word.
#include <civetweb.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <fstream>
#include <string>
#include <vector>

#include "confined.hpp"
#include "exporter_fixture.hpp"
#include "prepare.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using test::bin;
using test::run_command;

test::CommandResult socklab_export(std::vector<std::string> args) {
    args.insert(args.begin(), {bin("socklab"), "export"});
    return run_command(args, {}, std::chrono::seconds(20));
}

TEST(ExportErrors, BadListenOrTopIsOneLineAndExitTwo) {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"--listen", "9469"},
         "--listen: '9469' is not ADDR:PORT (no ':PORT' at the end): give e.g. 127.0.0.1:9469 or "
         "[::1]:9469"},
        {{"--listen", "127.0.0.1:70000"},
         "--listen: '127.0.0.1:70000' is not ADDR:PORT (the port is not a number from 0 to "
         "65535): give e.g. 127.0.0.1:9469 or [::1]:9469"},
        {{"--listen", "127.0.0.1:9469,8080"},
         "--listen: '127.0.0.1:9469,8080' is not ADDR:PORT (the port is not a number from 0 to "
         "65535): give e.g. 127.0.0.1:9469 or [::1]:9469"},
        {{"--listen", "localhost:9469"},
         "--listen: 'localhost:9469' is not ADDR:PORT (the address is not a numeric IPv4 address "
         "or a bracketed IPv6 one): give e.g. 127.0.0.1:9469 or [::1]:9469"},
        {{"--listen", "127.0.0.1\n:80"},
         "--listen: '127.0.0.1?:80' is not ADDR:PORT (the address is not a numeric IPv4 address "
         "or a bracketed IPv6 one): give e.g. 127.0.0.1:9469 or [::1]:9469"},
        {{"--top", "0"}, "--top: '0' is out of range: give 1 to 1000 series"},
        {{"--top", "many"}, "--top: 'many' is not a whole number of series: give one from 1 to 1000"},
    };
    for (const auto& [args, message] : cases) {
        const auto r = socklab_export(args);
        EXPECT_EQ(r.exit_code, 2) << args.back();
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(r.err, "socklab: " + message + "\nRun 'socklab --help' for usage.\n");
    }
}

TEST(ExportErrors, APortInUseNamesThePortDoctor) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;
    auto holder = test::tcp_listen("127.0.0.1", 0);
    const auto port = std::to_string(test::local_port(holder.get()));
    const auto r = socklab_export({"--listen", "127.0.0.1:" + port, "--no-trace"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "socklab: failed to listen on 127.0.0.1:" + port +
                         ": Address already in use: 'socklab why " + port +
                         "' tells who holds the port; or choose another with --listen\n");
}

TEST(ExportErrors, AnAddressNotOnThisMachine) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;  // only lo: 10.9.9.9 is nobody's address here
    const auto r = socklab_export({"--listen", "10.9.9.9:9469", "--no-trace"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err,
              "socklab: failed to listen on 10.9.9.9:9469: Cannot assign requested address: the "
              "address is not one of this machine's; use 127.0.0.1, 0.0.0.0 or an address 'ip "
              "addr' shows\n");
}

TEST(ExportErrors, APrivilegedPortAsAnOrdinaryUser) {
    SOCKLAB_REQUIRE_ROOT();
    std::ifstream f("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    int start = 0;
    if (!(f >> start) || start <= 80) GTEST_SKIP() << "port 80 is not privileged here";
    test::PrivateNetns ns;
    const auto r = test::run_confined(
        {bin("socklab"), "export", "--listen", "127.0.0.1:80", "--no-trace", "--no-processes"},
        test::prepared_by(test::become_nobody));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err,
              "socklab: failed to listen on 127.0.0.1:80: Permission denied: ports below "
              "net.ipv4.ip_unprivileged_port_start need root; choose a higher port\n");
}

TEST(ExportErrors, IPv6WithAServerBuiltWithoutIt) {
    if (::mg_check_feature(8) != 0) GTEST_SKIP() << "this civetweb has IPv6: [::1] works";
    const auto r = socklab_export({"--listen", "[::1]:9469", "--no-trace"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err,
              "socklab: failed to listen on [::1]:9469: the HTTP server (civetweb) was built "
              "without IPv6: listen on an IPv4 address, e.g. 127.0.0.1:9469\n");
}

TEST(ExportErrors, WithoutRootTransitionsAreNotExportedAndSaysWhy) {
    SOCKLAB_REQUIRE_ROOT();  // to become nobody
    test::PrivateNetns ns;
    test::RunningExporter exporter({}, test::prepared_by(test::become_nobody));
    ASSERT_NE(exporter.port(), 0) << exporter.first_line();
    const std::string text = exporter.scrape();
    EXPECT_EQ(test::sample(text, "socklab_tracer_active"), 0) << text;
    EXPECT_EQ(text.find("# TYPE socklab_transitions_total"), std::string::npos);
    const auto end = exporter.stop();
    EXPECT_EQ(end.exit_code, 0);  // SIGTERM ends it cleanly
    const std::string prefix = "socklab: socklab_transitions_total is not exported: ";
    ASSERT_EQ(end.err.rfind(prefix, 0), 0u) << end.err;
    // One line, and it says what enables tracing.
    EXPECT_EQ(end.err.find('\n'), end.err.size() - 1) << end.err;
    EXPECT_NE(end.err.find("root"), std::string::npos) << end.err;
}

TEST(ExportErrors, AnyOtherBindFailureGivesTheKernelsReason) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;
    test::Confinement c;
    c.deny = {{SYS_bind, EPERM}};  // the netlink source needs bind() too: /proc is used then
    const auto r = test::run_confined(
        {bin("socklab"), "export", "--listen", "127.0.0.1:9469", "--no-trace"}, c);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "socklab: failed to listen on 127.0.0.1:9469: Operation not permitted\n");
}

TEST(ExportErrors, AServerThatFailsAfterBindSaysSo) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;
    test::Confinement c;
    c.deny = {{SYS_listen, EACCES}};  // bind() works, so only the HTTP server knows
    const auto r = test::run_confined(
        {bin("socklab"), "export", "--listen", "127.0.0.1:9469", "--no-trace"}, c);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err,
              "socklab: failed to listen on 127.0.0.1:9469: the HTTP server did not start\n");
}

TEST(ExportErrors, AScrapeThatCannotReadTheTableSaysSoAndKeepsServing) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;
    // No sock_diag (so the /proc source is used) and, in private mounts, an empty tmpfs over
    // this process's /proc/<pid>/net: no table at all at scrape time.
    test::Confinement c;
    c.deny = {test::deny_netlink_sockets()};
    c.prepare = [] {
        if (!test::private_mounts()) return false;
        if (::mount("socklab-test", "/proc/self/net", "tmpfs", MS_RDONLY, "size=4k") != 0)
            return test::prepare_failed("mount an empty tmpfs over /proc/self/net");
        return true;
    };
    test::RunningExporter exporter({"--no-trace"}, c);
    ASSERT_NE(exporter.port(), 0) << exporter.first_line();
    const std::string text = exporter.scrape();
    EXPECT_EQ(test::sample(text, "socklab_scrape_ok"), 0) << text;
    EXPECT_EQ(text.find("# TYPE socklab_sockets "), std::string::npos);
    // It still answers the next scrape.
    EXPECT_EQ(test::sample(exporter.scrape(), "socklab_scrape_ok"), 0);
    const auto end = exporter.stop();
    EXPECT_EQ(end.exit_code, 0);
    const std::string line =
        "socklab: this scrape has no socket metrics: failed to read /proc/net/{tcp,tcp6,udp,udp6}: "
        "none could be opened (is /proc mounted?)\n";
    EXPECT_EQ(end.err, line + line) << end.err;
}

}  // namespace
}  // namespace socklab
