// socklab-population: the plan's arithmetic, bad input, and real populations in a real
// network namespace that must be gone afterwards.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child.hpp"
#include "plan.hpp"
#include "socklab/error.hpp"
#include "testsupport.hpp"

namespace socklab::bench {
namespace {

using namespace std::chrono_literals;
using test::run_command;

std::string unique_netns(const char* what) {
    return std::string("socklab-poptest-") + what + "-" + std::to_string(::getpid());
}

bool netns_exists(const std::string& name) {
    struct stat st {};
    return ::stat(("/run/netns/" + name).c_str(), &st) == 0;
}

bool process_alive(int pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

std::size_t count_lines(const std::string& text) {
    std::size_t n = 0;
    for (const char c : text) n += c == '\n';
    return n;
}

TEST(PopulationPlan, AddsUpToTheRequestAndRespectsTheDescriptorBudget) {
    for (const std::size_t n : {10u, 999u, 10'000u, 100'000u, 250'001u}) {
        PlanRequest req;
        req.sockets = n;
        const Plan plan = make_plan(req);
        // Pairs are whole, so the plan may fall one short of an odd remainder.
        EXPECT_LE(plan.sockets(), n) << n;
        EXPECT_GE(plan.sockets() + 1, n) << n;
        EXPECT_GE(plan.workers.size(), 4u);
        EXPECT_EQ(plan.time_wait, n / 5);
        for (const auto& w : plan.workers)
            EXPECT_LE(2 * (w.established_pairs + w.closing_pairs) + kWorkerFdOverhead, req.fds_per_process);
    }
    PlanRequest big;
    big.sockets = 100'000;
    EXPECT_GE(make_plan(big).workers.size(), 5u) << "80,000 descriptors do not fit in 4 x 19,000";
}

TEST(PopulationPlan, SpreadsPairsEvenlyAndGivesEachWorkerItsOwnAddress) {
    PlanRequest req;
    req.sockets = 50'000;
    req.min_workers = 7;
    const Plan plan = make_plan(req);
    ASSERT_EQ(plan.workers.size(), 7u);
    for (std::size_t i = 1; i < plan.workers.size(); ++i) {
        EXPECT_LE(plan.workers[0].established_pairs - plan.workers[i].established_pairs, 1u);
        EXPECT_NE(plan.workers[0].listen.addr, plan.workers[i].listen.addr);
    }
    EXPECT_EQ(plan.time_wait_listeners.size(), (10'000 + kTimeWaitPerListener - 1) / kTimeWaitPerListener);
}

TEST(PopulationPlan, RefusesImpossibleMixes) {
    PlanRequest req;
    req.time_wait_percent = 60;
    req.closing_percent = 40;
    EXPECT_THROW((void)make_plan(req), Error);
    PlanRequest tiny;
    tiny.sockets = 500'000;
    tiny.fds_per_process = 64;
    EXPECT_THROW((void)make_plan(tiny), Error);
}

TEST(PopulationCli, BadInputIsOneLineAndExitTwo) {
    const std::string bin = test::bin("socklab-population");
    for (const auto& args : std::vector<std::vector<std::string>>{
             {bin, "--sockets", "lots", "--netns", "x"},
             {bin, "--sockets", "5", "--netns", "x"},
             {bin, "--sockets", "1000", "--netns", "../etc"},
             {bin, "--sockets", "1000"}}) {
        const auto r = run_command(args);
        EXPECT_EQ(r.exit_code, 2) << args[2] << " " << r.err;
        EXPECT_NE(r.err.find("socklab-population: "), std::string::npos) << r.err;
        EXPECT_EQ(r.out, "");
    }
}

TEST(PopulationNetns, BuildsTheMixReportsItAndLeavesNothingBehind) {
    SOCKLAB_REQUIRE_ROOT();
    const std::string ns = unique_netns("once");
    const auto r = run_command({test::bin("socklab-population"), "--sockets", "3000", "--netns", ns,
                                "--listen-port", "9099"},
                               {}, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto ready = nlohmann::json::parse(r.out);
    EXPECT_TRUE(ready.at("ready").get<bool>());
    EXPECT_EQ(ready.at("netns"), ns);
    EXPECT_EQ(ready.at("listen_port"), 9099);
    const auto& states = ready.at("states");
    // 20% TIME_WAIT, 5% CLOSE_WAIT + 5% FIN_WAIT2, listeners, the rest ESTABLISHED pairs.
    EXPECT_GE(states.at("TIME_WAIT").get<int>(), 600 * 95 / 100);
    EXPECT_EQ(states.at("CLOSE_WAIT").get<int>(), 150);
    EXPECT_EQ(states.at("FIN_WAIT2").get<int>(), 150);
    EXPECT_GT(states.at("ESTABLISHED").get<int>(), 2000);
    EXPECT_EQ(states.at("ESTABLISHED").get<int>() % 2, 0);
    EXPECT_NEAR(ready.at("sockets").get<double>(), 3000.0, 3000.0 * 0.05);
    ASSERT_GE(ready.at("pids").size(), 6u) << "listener, >= 4 workers, timewait";

    EXPECT_FALSE(netns_exists(ns)) << "namespace left behind";
    for (const auto& pid : ready.at("pids")) EXPECT_FALSE(process_alive(pid.get<int>())) << pid;
}

TEST(PopulationNetns, RefusesANamespaceThatExists) {
    SOCKLAB_REQUIRE_ROOT();
    const std::string ns = unique_netns("taken");
    ASSERT_EQ(run_command({"ip", "netns", "add", ns}).exit_code, 0);
    const auto r = run_command({test::bin("socklab-population"), "--sockets", "100", "--netns", ns});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("exists already"), std::string::npos) << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_TRUE(netns_exists(ns)) << "must not delete a namespace it did not create";
    EXPECT_EQ(run_command({"ip", "netns", "del", ns}).exit_code, 0);
}

// The generator as another script uses it: --hold, read the ready line, look inside with
// `ip netns exec`, ask for a status line, then close stdin and see everything go. On a
// failure the child gets SIGTERM and 30 s to remove its namespace itself (test::Child).
constexpr auto kCleanupGrace = 30s;

TEST(PopulationNetns, HoldsUntilStdinClosesAndIsVisibleToIpNetnsExec) {
    SOCKLAB_REQUIRE_ROOT();
    const std::string ns = unique_netns("hold");
    test::Child pop({test::bin("socklab-population"), "--sockets", "2000", "--netns", ns, "--hold",
                        "--listen-port", "9098", "--max-hold", "120"}, kCleanupGrace);
    const std::string ready_line = pop.next_line(120s).value_or("");
    ASSERT_FALSE(ready_line.empty()) << "no ready line";
    const auto ready = nlohmann::json::parse(ready_line);
    const int listen_pid = ready.at("listen_pid").get<int>();

    // Outside the namespace nothing of it shows; inside, ss names the listener's process.
    const auto inside = run_command({"ip", "netns", "exec", ns, "ss", "-Htlnp", "sport = :9098"});
    ASSERT_EQ(inside.exit_code, 0) << inside.err;
    EXPECT_EQ(count_lines(inside.out), 1u) << inside.out;
    EXPECT_NE(inside.out.find("pid=" + std::to_string(listen_pid) + ","), std::string::npos) << inside.out;
    const auto est = run_command({"ip", "netns", "exec", ns, "ss", "-Htan", "state", "established"});
    EXPECT_EQ(count_lines(est.out), ready.at("states").at("ESTABLISHED").get<std::size_t>());

    pop.write("status\n");
    const auto status = nlohmann::json::parse(pop.next_line(30s).value_or(""));
    EXPECT_TRUE(status.at("status").get<bool>());
    EXPECT_EQ(status.at("states").at("CLOSE_WAIT"), ready.at("states").at("CLOSE_WAIT"));

    pop.close_stdin();
    EXPECT_EQ(pop.wait(60s), std::optional<int>(0));
    EXPECT_FALSE(netns_exists(ns));
    for (const auto& pid : ready.at("pids")) EXPECT_FALSE(process_alive(pid.get<int>())) << pid;
}

TEST(PopulationNetns, SigtermDuringHoldTearsDown) {
    SOCKLAB_REQUIRE_ROOT();
    const std::string ns = unique_netns("term");
    test::Child pop({test::bin("socklab-population"), "--sockets", "500", "--netns", ns, "--until-signal",
                        "--max-hold", "120"}, kCleanupGrace);
    const std::string ready_line = pop.next_line(120s).value_or("");
    ASSERT_FALSE(ready_line.empty());
    pop.close_stdin();  // --until-signal: closing stdin must not end it
    const auto ready = nlohmann::json::parse(ready_line);
    EXPECT_EQ(pop.wait(300ms, false), std::nullopt) << "ended on stdin EOF despite --until-signal";
    EXPECT_TRUE(netns_exists(ns));
    for (const auto& pid : ready.at("pids")) EXPECT_TRUE(process_alive(pid.get<int>())) << pid;

    pop.signal(SIGTERM);
    EXPECT_EQ(pop.wait(60s), std::optional<int>(0));
    EXPECT_FALSE(netns_exists(ns));
    for (const auto& pid : ready.at("pids")) EXPECT_FALSE(process_alive(pid.get<int>())) << pid;
}

}  // namespace
}  // namespace socklab::bench
