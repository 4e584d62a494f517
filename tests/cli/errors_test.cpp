// Every message `socklab` prints for a bad command line, for `list` and `who`, and for a
// socket table or an output that cannot be used, made to appear for real and checked word
// for word where it matters (docs/errors.md, sections 1, 2 and 7). Non-root paths run the
// built binary as user nobody; failing system calls come from a seccomp filter set up in
// the child just before exec (tests/support/confined.hpp).
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "confined.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using test::bin;
using test::CommandResult;
using test::Confinement;
using test::run_command;
using test::run_confined;

CommandResult socklab_cmd(std::vector<std::string> args) {
    args.insert(args.begin(), bin("socklab"));
    return run_command(args);
}

CommandResult socklab_confined(std::vector<std::string> args, const Confinement& c) {
    args.insert(args.begin(), bin("socklab"));
    return run_confined(args, c);
}

Confinement as_nobody() {
    Confinement c;
    c.uid = test::kNobodyUid;
    return c;
}

// A TIME_WAIT socket whose local port is `listener`'s port: the server side closes first.
void leave_time_wait_on(int listener) {
    const auto port = test::local_port(listener);
    auto client = test::tcp_connect("127.0.0.1", port);
    auto server = test::tcp_accept(listener);
    auto src = make_default_source();
    server.reset();
    ASSERT_TRUE(
        test::wait_for_state(*src, port, 0, static_cast<std::uint8_t>(TcpState::fin_wait2)));
    client.reset();
    ASSERT_TRUE(
        test::wait_for_state(*src, port, 0, static_cast<std::uint8_t>(TcpState::time_wait)));
}

// ---- 1. bad command lines -------------------------------------------------------------

struct BadLine {
    std::vector<std::string> args;
    std::string message;  // what follows "socklab: "
};

TEST(CliErrors, EveryBadCommandLineIsOneMessageAndAUsageHint) {
    const std::vector<BadLine> cases{
        {{"who", "0"}, "PORT: '0' is not a port: give a whole number from 1 to 65535"},
        {{"why", "http"}, "PORT: 'http' is not a port: give a whole number from 1 to 65535"},
        {{"free", ""}, "PORT: '' is not a port: give a whole number from 1 to 65535"},
        {{"list", "--port", "70000"},
         "--port: '70000' is not a port: give a whole number from 1 to 65535"},
        {{"trace", "--port", "-5"},
         "--port: '-5' is not a port: give a whole number from 1 to 65535"},
        {{"lab", "run", "bind", "--port", "8080x"},
         "--port: '8080x' is not a port: give a whole number from 1 to 65535"},
        {{"list", "--state", "bogus"},
         "--state: 'bogus' is not a socket state: use LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, "
         "FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT, CLOSE or UNCONN"},
        {{"who"}, "PORT is required"},
        {{"free"}, "PORT is required"},
        {{}, "A subcommand is required"},
        {{"lab"}, "A subcommand is required"},
        {{"list", "--no-such-flag"}, "The following argument was not expected: --no-such-flag"},
        {{"who", "80", "81"}, "The following argument was not expected: 81"},
        {{"free", "8080", "--signal", "HUP"}, "--signal: HUP not in {TERM,KILL}"},
        {{"free", "8080", "--signal", "KILL", "--destroy"}, "--signal excludes --destroy"},
        {{"free", "8080", "--destroy", "--signal", "TERM"}, "--signal excludes --destroy"},
        {{"lab", "run", "bind", "--role", "teacher"},
         "--role: teacher not in {both,server,client}"},
        {{"free", "8080", "--grace", "soon"},
         "--grace: 'soon' is not a number of seconds: give one from 0 to 600"},
        {{"free", "8080", "--grace", "700"},
         "--grace: '700' is out of range: give 0 to 600 seconds"},
        {{"trace", "--duration", "soon"},
         "--duration: 'soon' is not a number of seconds: give one from 0.001 to 31536000"},
        {{"trace", "--duration", "-1"},
         "--duration: '-1' is out of range: give 0.001 to 31536000 seconds"},
        {{"trace", "--buffer-kb", "1"}, "--buffer-kb: '1' is out of range: give 64 to 1048576 KiB"},
        {{"trace", "--buffer-kb", "big"},
         "--buffer-kb: 'big' is not a whole number of KiB: give one from 64 to 1048576"},
        {{"lab", "run", "bind", "--delay", "-1"},
         "--delay: '-1' is out of range: give 0 to 600000 milliseconds"},
        {{"lab", "run", "bind", "--delay", "1.5"},
         "--delay: '1.5' is not a whole number of milliseconds: give one from 0 to 600000"},
    };
    for (const auto& c : cases) {
        std::string line;
        for (const auto& a : c.args) line += " '" + a + "'";
        SCOPED_TRACE("socklab" + line);
        const auto res = socklab_cmd(c.args);
        EXPECT_EQ(res.exit_code, 2);
        EXPECT_EQ(res.out, "");
        EXPECT_EQ(res.err, "socklab: " + c.message + "\nRun 'socklab --help' for usage.\n");
    }
}

TEST(CliErrors, AMisspeltCommandIsNamedWithTheCommandsThereAre) {
    const auto res = socklab_cmd({"lsit", "--tcp"});
    EXPECT_EQ(res.exit_code, 2);
    EXPECT_EQ(res.out, "");
    EXPECT_EQ(res.err,
              "socklab: unknown command 'lsit': use one of list, who, why, free, trace, run, check, export, lab\n");
}

// ---- 2. list and who --------------------------------------------------------------------

TEST(ListErrors, NonRootIsToldThatSomeOwnersCouldNotBeRead) {
    SOCKLAB_REQUIRE_ROOT();  // root owns processes that user nobody cannot look into
    const auto res = socklab_confined({"list", "--tcp", "--processes"}, as_nobody());
    EXPECT_EQ(res.exit_code, 0) << res.err;
    EXPECT_NE(res.out.find("Netid"), std::string::npos) << "the table is still printed";
    EXPECT_NE(res.err.find("processes could not be read, so some sockets show no owner: run "
                           "'sudo socklab list --processes' to see them all\n"),
              std::string::npos)
        << res.err;
    EXPECT_EQ(res.err.rfind("socklab: ", 0), 0u) << res.err;
}

TEST(WhoErrors, NonRootIsToldTheHolderIsHiddenAndHowToNameIt) {
    SOCKLAB_REQUIRE_ROOT();  // this (root) process holds the sockets; nobody asks
    const UniqueFd tcp = test::tcp_listen("127.0.0.1", 0);
    const auto port = std::to_string(test::local_port(tcp.get()));
    auto res = socklab_confined({"who", port}, as_nobody());
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    EXPECT_EQ(res.out, "1 socket on port " + port +
                           "/tcp is held by a process this user cannot see: run 'sudo socklab "
                           "who " +
                           port + "' to name it\n");

    const UniqueFd udp = test::udp_bind("127.0.0.1", 0);
    const auto uport = std::to_string(test::local_port(udp.get()));
    res = socklab_confined({"who", uport, "--udp"}, as_nobody());
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    EXPECT_NE(res.out.find("run 'sudo socklab who " + uport + " --udp' to name it"),
              std::string::npos)
        << res.out;
}

TEST(WhoErrors, RootIsToldTheHolderLivesInAnotherPidNamespace) {
    SOCKLAB_REQUIRE_ROOT();  // a pid namespace of its own, as a container has
    const UniqueFd l = test::tcp_listen("127.0.0.1", 0);
    const auto port = std::to_string(test::local_port(l.get()));
    Confinement c;
    c.own_pid_namespace = true;  // same network: the socket is seen, its owner is not
    const auto res = socklab_confined({"who", port}, c);
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    EXPECT_EQ(res.out, "1 socket on port " + port +
                           "/tcp is held by a process this user cannot see (one in another pid "
                           "namespace or container, or one that closed it just now)\n");
}

TEST(WhoErrors, KernelOnlySocketsAreNamedAfterTheProcesses) {
    const UniqueFd l = test::tcp_listen("127.0.0.1", 0, 16, /*reuseaddr=*/true);
    leave_time_wait_on(l.get());
    const auto port = std::to_string(test::local_port(l.get()));
    const auto res = socklab_cmd({"who", port});
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    EXPECT_NE(res.out.find("Port " + port + "/tcp is held by 1 process:"), std::string::npos)
        << res.out;
    EXPECT_NE(res.out.find("Also 1 socket on port " + port +
                           "/tcp belongs to no process (1 in TIME_WAIT): the kernel keeps them "
                           "after close() and ends them by itself (TIME_WAIT lasts 60 s); "
                           "'socklab why " +
                           port + "' tells whether they block bind()\n"),
              std::string::npos)
        << res.out;
}

// A process may call itself anything (prctl PR_SET_NAME takes bytes): --json must not fail
// with "unexpected error" because a name is not UTF-8.
TEST(ListErrors, AProcessNameThatIsNotUtf8DoesNotBreakJson) {
    std::string old_name(16, '\0');
    ASSERT_EQ(::prctl(PR_GET_NAME, old_name.data()), 0);
    ASSERT_EQ(::prctl(PR_SET_NAME, "bad\xff\xfename"), 0);
    const UniqueFd l = test::tcp_listen("127.0.0.1", 0);
    const auto port = std::to_string(test::local_port(l.get()));
    const auto list = socklab_cmd({"list", "--tcp", "--port", port, "--processes", "--json"});
    const auto who = socklab_cmd({"who", port, "--json"});
    const auto why = socklab_cmd({"why", port, "--json"});
    ASSERT_EQ(::prctl(PR_SET_NAME, old_name.c_str()), 0);
    for (const auto* r : {&list, &who, &why}) {
        EXPECT_EQ(r->err.find("unexpected error"), std::string::npos) << r->err;
        EXPECT_TRUE(nlohmann::json::accept(r->out)) << r->out;
        EXPECT_NE(r->out.find("bad\xef\xbf\xbd\xef\xbf\xbdname"), std::string::npos) << r->out;
    }
    EXPECT_EQ(list.exit_code, 0);
    EXPECT_EQ(who.exit_code, 0);
    EXPECT_EQ(why.exit_code, 1);
}

// ---- 7. the socket table and the output -------------------------------------------------

TEST(TableErrors, ASendThatFailsIsReported) {
    Confinement c;
    c.deny.push_back({SYS_sendto, EPERM});
    const auto res = socklab_confined({"list"}, c);
    EXPECT_EQ(res.exit_code, 1) << res.out;
    EXPECT_EQ(res.out, "");
    EXPECT_EQ(res.err,
              "socklab: failed to send the sock_diag dump request: Operation not permitted\n");
}

TEST(TableErrors, AReadThatFailsIsReported) {
    Confinement c;
    c.deny.push_back({SYS_recvmsg, EIO});
    const auto res = socklab_confined({"who", "8080"}, c);
    EXPECT_EQ(res.exit_code, 1) << res.out;
    EXPECT_EQ(res.err, "socklab: failed to read the sock_diag dump: Input/output error\n");
}

TEST(TableErrors, NoNetlinkFallsBackToProcQuietly) {
    const UniqueFd l = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(l.get());
    Confinement c;
    c.deny.push_back(test::deny_netlink_sockets());
    const auto res = socklab_confined({"list", "--json", "--port", std::to_string(port)}, c);
    EXPECT_EQ(res.exit_code, 0) << res.err;
    EXPECT_EQ(res.err, "");
    const auto j = nlohmann::json::parse(res.out);
    ASSERT_EQ(j.size(), 1u) << res.out;
    EXPECT_FALSE(j[0].contains("cookie")) << "the /proc table has no socket cookies";
}

TEST(TableErrors, ListingProcThatFailsIsReported) {
    Confinement c;
    c.env.emplace_back("SOCKLAB_OWNERS_NO_BPF", "1");  // as root the walk is not needed
    c.deny.push_back({SYS_getdents64, EIO});
    const auto res = socklab_confined({"list", "--processes"}, c);
    EXPECT_EQ(res.exit_code, 1) << res.out;
    EXPECT_EQ(res.err, "socklab: failed to read /proc: Input/output error\n");
}

TEST(OutputErrors, AFullDiskIsAnErrorNotSilence) {
    Confinement c;
    c.stdout_path = "/dev/full";
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"list"}, std::vector<std::string>{"who", "8080", "--json"}}) {
        const auto res = socklab_confined(args, c);
        EXPECT_EQ(res.exit_code, 1) << args[0];
        EXPECT_EQ(res.err, "socklab: failed to write the output: No space left on device\n");
    }
}

}  // namespace
}  // namespace socklab
