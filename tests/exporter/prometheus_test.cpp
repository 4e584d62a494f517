// `socklab export` end to end, in a network namespace of the test's own so every count is exact:
// real sockets held in CLOSE_WAIT, LISTEN with a queued connection and TIME_WAIT; the exporter's
// text checked by promtool; a real Prometheus (Debian's /usr/bin/prometheus) scraping it every
// second, its HTTP API asked for socklab_sockets{state="CLOSE_WAIT"} and the answer compared
// with what `ss -tan state close-wait` counts at that moment.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "confined.hpp"
#include "exporter_fixture.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"

namespace socklab {
namespace {

using test::RunningExporter;
using test::sample;

constexpr auto kCloseWait = static_cast<std::uint8_t>(TcpState::close_wait);

// Connections to `listener` whose client ends are closed: the accepted ends, kept open here,
// sit in CLOSE_WAIT.
std::vector<UniqueFd> make_close_waits(int listener, int n) {
    auto src = make_netlink_source();
    std::vector<UniqueFd> held;
    for (int i = 0; i < n; ++i) {
        auto client = test::tcp_connect("127.0.0.1", test::local_port(listener));
        auto server = test::tcp_accept(listener);
        const auto client_port = test::local_port(client.get());
        client.reset();
        EXPECT_TRUE(test::wait_for_state(*src, test::local_port(listener), client_port, kCloseWait));
        held.push_back(std::move(server));
    }
    return held;
}

// Lines of `ss -tan state close-wait` after its header.
long ss_close_wait_count() {
    const auto r = test::run_command({"ss", "-tan", "state", "close-wait"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    long lines = 0;
    for (const char c : r.out) lines += c == '\n';
    return lines > 0 ? lines - 1 : 0;
}

std::uint16_t free_loopback_port() {
    auto l = test::tcp_listen("127.0.0.1", 0);
    return test::local_port(l.get());  // closed again: nothing else lives in this namespace
}

TEST(ExporterLive, TextMatchesTheKernelAndPassesPromtool) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;
    auto listener = test::tcp_listen("127.0.0.1", 0, 8);
    const auto port = test::local_port(listener.get());
    auto held = make_close_waits(listener.get(), 3);
    // A second listener with one connection nobody accepts: its accept queue holds 1.
    auto queued_listener = test::tcp_listen("127.0.0.1", 0, 4);
    const auto qport = test::local_port(queued_listener.get());
    auto queued = test::tcp_connect("127.0.0.1", qport);
    auto src = make_netlink_source();
    ASSERT_TRUE(test::wait_until([&] {
        for (const auto& r : test::sockets_on_port(*src, qport))
            if (r.state == static_cast<std::uint8_t>(TcpState::listen) && r.recv_q == 1) return true;
        return false;
    }));
    const auto tw_port = test::make_time_wait(false);

    RunningExporter exporter({"--no-trace"});
    ASSERT_NE(exporter.port(), 0) << "first line: " << exporter.first_line();
    const std::string text = exporter.scrape();
    ASSERT_FALSE(text.empty());

    const auto p = std::to_string(port);
    const auto q = std::to_string(qport);
    EXPECT_EQ(sample(text, R"(socklab_sockets{proto="tcp",state="CLOSE_WAIT"})"), 3);
    EXPECT_EQ(sample(text, R"(socklab_sockets{proto="tcp",state="CLOSE_WAIT"})"),
              ss_close_wait_count());
    EXPECT_EQ(sample(text, "socklab_port_sockets{port=\"" + p + R"(",side="local",state="CLOSE_WAIT"})"), 3);
    EXPECT_EQ(sample(text, "socklab_listener_accept_queue{addr=\"127.0.0.1\",port=\"" + q + "\"}"), 1);
    EXPECT_EQ(sample(text, "socklab_listener_backlog{addr=\"127.0.0.1\",port=\"" + q + "\"}"), 4);
    // The TIME_WAIT is the server side of a listener now closed, on an ephemeral port at both
    // ends: it is keyed by its local port. Its age is 60 s minus the timer: a few ms here.
    const auto tw_age = sample(text, "socklab_port_oldest_seconds{port=\"" + std::to_string(tw_port) +
                                         R"(",side="local",state="TIME_WAIT"})");
    ASSERT_TRUE(tw_age) << text;
    EXPECT_GE(*tw_age, 0.0);
    EXPECT_LT(*tw_age, 30.0);
    // CLOSE_WAIT ages are "seen since": 0 at the first scrape, then growing.
    const std::string cw_age_series =
        "socklab_port_oldest_seconds{port=\"" + p + R"(",side="local",state="CLOSE_WAIT"})";
    EXPECT_EQ(sample(text, cw_age_series), 0);
    // Time passes between scrapes; the same sockets' age follows it (bounded wait).
    std::optional<double> later;
    EXPECT_TRUE(test::wait_until(
        [&] {
            later = sample(exporter.scrape(), cw_age_series);
            return later && *later >= 0.3;
        },
        std::chrono::seconds(5), std::chrono::milliseconds(50)));
    ASSERT_TRUE(later);
    EXPECT_LT(*later, 30.0);
    // The exporter holds its own sockets: the per-process family names it.
    EXPECT_NE(text.find("command=\"socklab\",proto=\"tcp\",state=\"LISTEN\"} 1"), std::string::npos) << text;

    if (!test::have_program("promtool")) GTEST_SKIP() << "promtool (package prometheus) is not installed";
    const auto check = test::run_command({"promtool", "check", "metrics"}, text);
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST(ExporterLive, PrometheusScrapesTheCloseWaitCountSsShows) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("prometheus"))
        GTEST_SKIP() << "/usr/bin/prometheus (Debian package prometheus) is not installed";
    test::PrivateNetns ns;
    auto listener = test::tcp_listen("127.0.0.1", 0, 8);
    auto held = make_close_waits(listener.get(), 4);

    test::TempDir dir("socklab-prometheus");
    RunningExporter exporter({"--no-trace"});
    ASSERT_NE(exporter.port(), 0) << "first line: " << exporter.first_line();
    const auto prom_port = free_loopback_port();
    {
        std::ofstream cfg(dir.path / "prometheus.yml");
        cfg << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
               "scrape_configs:\n  - job_name: socklab\n    static_configs:\n"
               "      - targets: ['127.0.0.1:"
            << exporter.port() << "']\n";
    }
    test::ConfinedProcess prometheus(
        {"prometheus", "--config.file=" + (dir.path / "prometheus.yml").string(),
         "--storage.tsdb.path=" + (dir.path / "data").string(),
         "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"},
        {});

    // Ask Prometheus until a scrape has landed (bounded: 60 s covers its start-up under load).
    const std::string api = "http://127.0.0.1:" + std::to_string(prom_port) + "/api/v1/query";
    std::optional<double> scraped;
    std::string last;
    const bool answered = test::wait_until(
        [&] {
            const auto r = test::run_command({"curl", "-sS", "--max-time", "5", "-G", api,
                                              "--data-urlencode",
                                              R"(query=socklab_sockets{state="CLOSE_WAIT"})"});
            last = r.out + r.err;
            if (r.exit_code != 0) return false;
            const auto j = nlohmann::json::parse(r.out, nullptr, false);
            if (j.is_discarded() || j.value("status", "") != "success") return false;
            const auto& result = j["data"]["result"];
            if (!result.is_array() || result.size() != 1) return false;
            EXPECT_EQ(result[0]["metric"].value("proto", ""), "tcp");
            EXPECT_EQ(result[0]["metric"].value("job", ""), "socklab");
            scraped = std::stod(result[0]["value"][1].get<std::string>());
            return true;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(250));
    ASSERT_TRUE(answered) << "Prometheus never answered with a sample; last answer: " << last;
    const long ss_now = ss_close_wait_count();
    EXPECT_EQ(*scraped, static_cast<double>(ss_now));
    EXPECT_EQ(ss_now, 4);
}

TEST(ExporterLive, TransitionsAreCountedWhenTracing) {
    SOCKLAB_REQUIRE_ROOT();
    test::PrivateNetns ns;
    RunningExporter exporter;
    ASSERT_NE(exporter.port(), 0) << "first line: " << exporter.first_line();
    const std::string series = R"(socklab_transitions_total{from="ESTABLISHED",to="CLOSE_WAIT"})";
    const std::string before = exporter.scrape();
    ASSERT_EQ(sample(before, "socklab_tracer_active"), 1) << before;
    const double start = sample(before, series).value_or(0);
    auto listener = test::tcp_listen("127.0.0.1", 0, 8);
    auto held = make_close_waits(listener.get(), 3);
    // The tracepoint reports every namespace of the host, so other programs' connections may
    // add to the count: at least our 3 must be there.
    double now = start;
    EXPECT_TRUE(test::wait_until(
        [&] {
            now = sample(exporter.scrape(), series).value_or(0);
            return now >= start + 3;
        },
        std::chrono::seconds(10), std::chrono::milliseconds(100)))
        << "from " << start << " to " << now;
    const auto end = exporter.stop();
    EXPECT_EQ(end.exit_code, 0) << end.err;
}

}  // namespace
}  // namespace socklab
