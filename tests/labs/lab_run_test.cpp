// Every lab, end to end, inside a private network namespace so parallel tests never share a
// socket table: driven step by step through the --json protocol, with `ss` checking each
// step's expectations independently of the lab's own check, and nothing left behind at the end
// but TIME_WAIT / FIN_WAIT2.
#include <signal.h>

#include <algorithm>
#include <clocale>
#include <cstdlib>
#include <cwchar>
#include <fstream>
#include <map>
#include <sstream>

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lab_child.hpp"
#include "transcript_check.hpp"
#include "socklab/catalog.hpp"
#include "testsupport.hpp"

namespace socklab::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string lab_bin(std::string_view id) { return bin("socklab-lab-" + std::string(id)); }

// Does `ss` agree with one expectation of the lab? BOUND_INACTIVE is left to the lab's own
// check: ss (iproute2 6.1) cannot ask for that state.
bool ss_agrees(const std::vector<SsRow>& rows, const LabExpectation& e, std::string& why) {
    if (e.state == "BOUND_INACTIVE") return true;
    std::uint32_t found = 0;
    for (const auto& r : rows) {
        if (r.proto != e.proto || (e.kernel_only && r.owned) || r.local_port != e.local_port ||
            r.remote_port != e.remote_port || r.state != e.state)
            continue;
        if (e.recv_q && r.recv_q != *e.recv_q) continue;
        if (e.send_q && r.send_q != *e.send_q) continue;
        if (r.recv_q < e.min_recv_q || r.send_q < e.min_send_q) continue;
        ++found;
    }
    const bool ok = e.absent ? found == 0 : e.count ? found == e.count : found > 0;
    if (!ok) {
        why = fmt::format("ss disagrees with {} :{} -> :{}{}; ss shows:\n", e.state, e.local_port,
                          e.remote_port, e.absent ? " (absent)" : "");
        for (const auto& r : rows) why += "  " + r.line + "\n";
    }
    return ok;
}

// Only what the labs explain may outlive them: TIME_WAIT and orphaned FIN_WAIT2.
void expect_only_timewait_left() {
    std::vector<SsRow> rows;
    const bool clean = wait_until(
        [&] {
            rows = ss_rows();
            for (const auto& r : rows)
                if (r.state != "TIME_WAIT" && r.state != "FIN_WAIT2") return false;
            return true;
        },
        3s, 20ms);
    std::string table;
    for (const auto& r : rows) table += "  " + r.line + "\n";
    EXPECT_TRUE(clean) << "left behind:\n" << table;
}

class EveryLab : public ::testing::TestWithParam<lab::LabEntry> {};

// Step mode through the protocol: at every "waiting" the lab holds still, so ss can look.
TEST_P(EveryLab, StepByStepAgreesWithSs) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto& entry = GetParam();
    Child lab({lab_bin(entry.id), "--json"});
    int steps = -1, last_step = 0, waits = 0;
    std::vector<LabExpectation> pending_expect;
    bool done = false;
    while (!done) {
        const auto line = lab.next_line(30s);
        ASSERT_TRUE(line) << "no output from the lab; stderr:\n" << lab.err();
        const auto ev = test::read_lab_line(*line);
        switch (ev.kind) {
            case LabEventKind::lab:
                EXPECT_EQ(ev.lab, entry.id);
                EXPECT_EQ(ev.number, entry.number);
                EXPECT_EQ(ev.port, lab::default_port(entry.number));
                steps = ev.steps;
                break;
            case LabEventKind::step:
                EXPECT_EQ(ev.step, last_step + 1);
                EXPECT_EQ(ev.steps, steps);
                last_step = ev.step;
                pending_expect = ev.expect;
                for (const auto* field : {&ev.title, &ev.call, &ev.result, &ev.explain})
                    EXPECT_FALSE(field->empty()) << *line;
                break;
            case LabEventKind::observed:
                EXPECT_EQ(ev.ok, true) << "step " << last_step << ": " << *line;
                EXPECT_EQ(ev.checks.size(), pending_expect.size());
                break;
            case LabEventKind::waiting: {
                ++waits;
                const auto rows = ss_rows();
                for (const auto& e : pending_expect) {
                    std::string why;
                    EXPECT_TRUE(ss_agrees(rows, e, why)) << "after step " << last_step << ": " << why;
                }
                pending_expect.clear();
                lab.write("next\n");
                break;
            }
            case LabEventKind::done:
                EXPECT_EQ(ev.ok, true) << *line;
                done = true;
                break;
            default: break;
        }
    }
    EXPECT_EQ(last_step, steps);
    EXPECT_EQ(waits, steps + 1);  // one before each step and one before the end
    EXPECT_EQ(lab.wait(20s), 0) << lab.err();
    expect_only_timewait_left();
}

// --auto --json, the way a class or CI runs a lab: every expectation met, exit 0. Returns the
// texts the lab printed (step titles and explanations), so a caller can check their language,
// and the steps it ran (title and call).
struct AutoRun {
    std::string texts;
    std::vector<ShownStep> ran;
};

AutoRun run_auto_json(const lab::LabEntry& entry, const std::vector<std::string>& extra) {
    AutoRun run;
    std::vector<std::string> argv{lab_bin(entry.id), "--auto", "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const auto res = run_command(argv, {}, 60s);
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    if (res.exit_code != 0) return run;
    int steps = 0, observed = 0;
    bool done_ok = false;
    std::istringstream in(res.out);
    std::string line;
    while (std::getline(in, line)) {
        const auto ev = test::read_lab_line(line);
        if (ev.kind == LabEventKind::lab) steps = ev.steps;
        if (ev.kind == LabEventKind::step) {
            run.ran.push_back({ev.title, ev.call});
            run.texts += ev.title + "\n" + ev.explain + "\n";
        }
        if (ev.kind == LabEventKind::waiting) ADD_FAILURE() << "--auto must not wait: " << line;
        if (ev.kind == LabEventKind::observed) {
            ++observed;
            EXPECT_EQ(ev.ok, true) << line;
            for (const auto& c : ev.checks) EXPECT_TRUE(c.ok) << c.expect.state << " :" << c.expect.local_port;
        }
        if (ev.kind == LabEventKind::done) done_ok = ev.ok.value_or(false);
    }
    EXPECT_GT(steps, 0);
    EXPECT_EQ(observed, steps);
    EXPECT_TRUE(done_ok);
    return run;
}

TEST_P(EveryLab, AutoJsonMeetsEveryExpectation) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto& entry = GetParam();
    const auto run = run_auto_json(entry, {});
    expect_only_timewait_left();

    // The page's transcript shows these very steps (docs/labs/transcripts.py rewrites it).
    std::string page_error;
    const auto page = lab_page_path(entry);
    const auto shown = steps_shown_on_page(page, page_error);
    ASSERT_TRUE(page_error.empty()) << page_error;
    ASSERT_EQ(shown.size(), run.ran.size())
        << page << " shows " << shown.size() << " steps in its transcript, the lab runs "
        << run.ran.size() << ": run `sudo docs/labs/transcripts.py --only " << entry.id << "`";
    for (std::size_t i = 0; i < run.ran.size(); ++i) {
        EXPECT_EQ(digits_as_hash(shown[i].title), digits_as_hash(run.ran[i].title))
            << page << ", step " << i + 1 << ": the page's title is not the lab's";
        EXPECT_EQ(digits_as_hash(shown[i].call), digits_as_hash(run.ran[i].call))
            << page << ", step " << i + 1 << ": the page's call is not the lab's";
    }
}

// The same lab in Korean (--lang ko): the same expectations met, the same JSON, and the
// steps told in Hangul (U+AC00..U+D7A3 is EA B0 80 .. ED 9E A3 in UTF-8).
TEST_P(EveryLab, AutoJsonInKoreanMeetsEveryExpectation) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto run = run_auto_json(GetParam(), {"--lang", "ko"});
    const bool hangul = std::any_of(run.texts.begin(), run.texts.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return b >= 0xEA && b <= 0xED;
    });
    EXPECT_TRUE(hangul) << "no Korean in the steps' texts: " << run.texts;
    expect_only_timewait_left();
}

INSTANTIATE_TEST_SUITE_P(Labs, EveryLab, ::testing::ValuesIn(lab::kLabs),
                         [](const ::testing::TestParamInfo<lab::LabEntry>& p) {
                             std::string name(p.param.id);
                             for (auto& c : name)
                                 if (c == '-') c = '_';
                             return name;
                         });

// Lab 7 once failed at random: an orphaned FIN_WAIT2 that reached FIN_WAIT2 on the keepalive-
// timer path sends RST when it expires, ending the server's CLOSE_WAIT before the lab looked.
// The lab now half-closes first, so its orphan always expires silently. Run it back to back
// while two children burn CPU (the race needs the ACK to be processed while close() still
// owns the socket, which load makes likelier). 10 runs by default (~1.5 s each);
// SOCKLAB_LAB7_RUNS=50 runs the full proof (~75 s).
TEST(LabCloseWaitLeak, RunsCleanlyManyTimesUnderLoad) {
    SOCKLAB_REQUIRE_ROOT();
    int runs = 10;
    if (const char* env = std::getenv("SOCKLAB_LAB7_RUNS")) runs = std::clamp(std::atoi(env), 1, 500);
    PrivateNetns ns;
    Child burn1({"sh", "-c", "while :; do :; done"});
    Child burn2({"sh", "-c", "while :; do :; done"});
    int failed = 0;
    std::string first_failure;
    for (int i = 0; i < runs; ++i) {
        const auto res = run_command({lab_bin("close-wait-leak"), "--auto", "--json", "--delay", "0"},
                                     {}, 60s);
        if (res.exit_code != 0) {
            if (failed++ == 0) first_failure = "run " + std::to_string(i + 1) + ":\n" + res.out + res.err;
        }
    }
    EXPECT_EQ(failed, 0) << failed << " of " << runs << " runs failed; the first:\n"
                         << first_failure;
}

// Before Linux 6.9 a bound-only socket is not in the dump at all. SOCKLAB_BOUND_INACTIVE=0
// makes the labs ask and expect exactly as on such a kernel (no bit 13 in the request, which
// this kernel then answers as an older one does): they must pass, expect no BOUND_INACTIVE,
// and say what this kernel shows. (The probe's two answers: NetlinkFixture.BoundInactive*.)
TEST(LabOlderKernel, BoundOnlyLabsPassWithoutBoundInactive) {
    SOCKLAB_REQUIRE_ROOT();
    for (const std::string id : {"bind", "listen", "address-in-use", "syn-recv"}) {
        PrivateNetns ns;
        const auto res = run_command({"env", "SOCKLAB_BOUND_INACTIVE=0", lab_bin(id), "--auto",
                                      "--json"},
                                     {}, 60s);
        EXPECT_EQ(res.exit_code, 0) << id << "\n" << res.out << res.err;
        bool said = false;
        std::istringstream in(res.out);
        std::string line;
        while (std::getline(in, line)) {
            const auto ev = test::read_lab_line(line);
            if (ev.kind == LabEventKind::step) {
                for (const auto& e : ev.expect) EXPECT_NE(e.state, "BOUND_INACTIVE") << id << ": " << line;
                said = said || ev.explain.find("does not list bound-only sockets") != std::string::npos;
            }
            if (ev.kind == LabEventKind::observed) {
                for (const auto& sock : ev.sockets)
                    EXPECT_NE(sock.state, "BOUND_INACTIVE") << id << ": " << line;
            }
        }
        EXPECT_TRUE(said) << id << ": no step says what this kernel shows";
    }
}

// tcp_abort_on_overflow acts when the final ACK of a handshake finds the accept queue full;
// lab 10's third client never gets that far (its SYN is dropped), so the lab runs the same with
// it on. Per network namespace, so only this test's namespace has it set.
TEST(LabBacklog, AbortOnOverflowChangesNothingHere) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    {
        std::ofstream out("/proc/sys/net/ipv4/tcp_abort_on_overflow");
        out << "1\n";
        ASSERT_TRUE(out.good());
    }
    const auto check = run_command({"sysctl", "-n", "net.ipv4.tcp_abort_on_overflow"});
    ASSERT_EQ(check.out, "1\n") << "the lab would not see the setting";
    const auto res = run_command({lab_bin("backlog"), "--auto", "--json"}, {}, 60s);
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    EXPECT_NE(res.out.find("{\"event\":\"done\",\"lab\":\"backlog\",\"ok\":true}"),
              std::string::npos)
        << res.out;
}

// A step's call text is what runs. Lab 4 once showed recv(MSG_WAITALL) while it ran a
// poll()+recv() loop: strace the lab and hold every MSG_WAITALL / poll the program makes
// against the call texts it printed.
TEST(LabCallText, SendRecvShowsTheLoopItRuns) {
    SOCKLAB_REQUIRE_ROOT();
    if (!have_program("strace")) GTEST_SKIP() << "strace is not installed";
    PrivateNetns ns;
    TempDir dir;
    const auto trace = (dir.path / "strace.txt").string();
    // LeakSanitizer cannot stop the world under ptrace (it dies with "LeakSanitizer has
    // encountered a fatal error"): in a sanitizer build the traced lab runs without leak
    // checking; every other run of the lab keeps it.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string asan_options =
        std::string("ASAN_OPTIONS=") + (asan ? std::string(asan) + ":" : "") + "detect_leaks=0";
    const auto res = run_command({"env", asan_options, "strace", "-f", "-qq", "-e",
                                  "trace=recvfrom,poll", "-e", "signal=none", "-o", trace,
                                  lab_bin("send-recv"), "--auto", "--json"},
                                 {}, 60s);
    ASSERT_EQ(res.exit_code, 0) << res.out << res.err;
    std::string calls;
    std::istringstream in(res.out);
    std::string line;
    while (std::getline(in, line)) {
        const auto ev = test::read_lab_line(line);
        if (ev.kind == LabEventKind::step) calls += ev.call + "\n";
    }
    std::ifstream t(trace);
    const std::string traced((std::istreambuf_iterator<char>(t)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(traced.empty());
    if (traced.find("MSG_WAITALL") != std::string::npos)
        EXPECT_NE(calls.find("MSG_WAITALL"), std::string::npos)
            << "the lab calls recv(MSG_WAITALL) but no step shows it";
    else
        EXPECT_EQ(calls.find("MSG_WAITALL"), std::string::npos)
            << "a step shows MSG_WAITALL, which the lab never passes:\n"
            << calls;
    EXPECT_NE(calls.find("poll(fd, POLLIN, 5000)"), std::string::npos) << calls;
    EXPECT_NE(traced.find("events=POLLIN}], 1, 5000)"), std::string::npos)
        << "the poll() the step shows is not in the trace";
}

// Columns a line takes on a terminal, by the C library's own tables (wcswidth in C.UTF-8).
std::size_t columns_of(const std::string& line) {
    std::mbstate_t st{};
    const char* src = line.c_str();
    std::wstring wide(line.size() + 1, L'\0');
    const auto n = std::mbsrtowcs(wide.data(), &src, wide.size(), &st);
    if (n == static_cast<std::size_t>(-1)) return line.size();
    const int w = ::wcswidth(wide.c_str(), n);
    return w < 0 ? n : static_cast<std::size_t>(w);
}

// The terminal table and text fit the terminal's width ($COLUMNS when stdout is no terminal):
// lines are broken between words, never longer than the width, so the terminal never wraps
// one mid-word. A wide terminal keeps each table row on one line.
TEST(LabTerminal, TextFitsTheTerminalWidth) {
    SOCKLAB_REQUIRE_ROOT();
    ASSERT_NE(std::setlocale(LC_CTYPE, "C.UTF-8"), nullptr);
    for (const std::string id : {"active-close", "send-recv"}) {
        for (const std::size_t width : {60u, 200u}) {
            PrivateNetns ns;
            const auto res = run_command(
                {"env", "COLUMNS=" + std::to_string(width), lab_bin(id), "--auto"}, {}, 60s);
            ASSERT_EQ(res.exit_code, 0) << res.out << res.err;
            std::istringstream in(res.out);
            std::string line;
            int table_rows = 0;
            while (std::getline(in, line)) {
                EXPECT_LE(columns_of(line), width) << id << " at " << width << ": " << line;
                if (line.find("(this lab)") != std::string::npos ||
                    line.find("(kernel only)") != std::string::npos)
                    ++table_rows;
                // A table row on one line starts with its protocol and ends with its owner.
                if (width == 200 && line.rfind("    tcp ", 0) == 0) {
                    EXPECT_TRUE(line.find("(this lab)") != std::string::npos ||
                                line.find("(kernel only)") != std::string::npos ||
                                line.back() == '-')
                        << line;
                }
            }
            if (width == 200) {
                EXPECT_GT(table_rows, 0) << res.out;
            }
        }
    }
}

// The tracer hook: when the tracer runs, the connect and close steps list the transitions
// they caused, as socklab::to_json(TransitionEvent) objects.
TEST(LabTransitions, ConnectAndCloseStepsListTheirTransitions) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto connect = transitions_of("accept", 2);
    if (!connect) GTEST_SKIP() << "the tracer is not active here; labs run on polling alone";
    auto has = [](const std::vector<std::string>& v, const std::string& t) {
        return std::find(v.begin(), v.end(), t) != v.end();
    };
    EXPECT_TRUE(has(*connect, "SYN_SENT>ESTABLISHED"));
    EXPECT_TRUE(has(*connect, "SYN_RECV>ESTABLISHED"));
    const auto close_first = transitions_of("active-close", 2).value_or(std::vector<std::string>{});
    EXPECT_TRUE(has(close_first, "ESTABLISHED>FIN_WAIT1"));
    EXPECT_TRUE(has(close_first, "FIN_WAIT1>FIN_WAIT2"));
    const auto close_second = transitions_of("active-close", 4).value_or(std::vector<std::string>{});
    EXPECT_TRUE(has(close_second, "CLOSE_WAIT>LAST_ACK"));
}

// `q`/"quit" and Ctrl-C close everything; Ctrl-C exits 130.
TEST(LabControl, QuitClosesEverythingAndExitsZero) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    Child lab({lab_bin("active-close"), "--json"});
    // Run to just after step 3: the server sits in CLOSE_WAIT, the client in FIN_WAIT2.
    for (int waits = 0; waits < 4;) {
        const auto line = lab.next_line(20s);
        ASSERT_TRUE(line) << lab.err();
        if (test::read_lab_line(*line).kind == LabEventKind::waiting && ++waits < 4) lab.write("next\n");
    }
    EXPECT_TRUE(wait_until([] {
        for (const auto& r : ss_rows())
            if (r.state == "CLOSE_WAIT") return true;
        return false;
    }));
    lab.write("quit\n");
    ASSERT_TRUE(lab.read_until([](const std::string& o) { return o.find("\"done\"") != std::string::npos; }, 10s));
    EXPECT_NE(lab.out().find("\"stopped\":\"quit\""), std::string::npos) << lab.out();
    EXPECT_EQ(lab.wait(10s), 0);
    expect_only_timewait_left();
}

TEST(LabControl, CtrlCClosesEverythingAndExits130) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    Child lab({lab_bin("fin-wait1"), "--json"});
    // After step 3 the client is held in FIN_WAIT1 with full buffers.
    for (int waits = 0; waits < 4;) {
        const auto line = lab.next_line(20s);
        ASSERT_TRUE(line) << lab.err();
        if (test::read_lab_line(*line).kind == LabEventKind::waiting && ++waits < 4) lab.write("next\n");
    }
    lab.signal(SIGINT);
    EXPECT_EQ(lab.wait(10s), 130) << lab.out() << lab.err();
    EXPECT_NE(lab.out().find("\"stopped\":\"interrupted\""), std::string::npos);
    // The server's close() with unread data resets the connection: nothing at all is left.
    expect_only_timewait_left();
}

TEST(LabControl, EndOfInputInStepModeQuits) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto res = run_command({lab_bin("bind"), "--json"}, "next\n", 20s);
    EXPECT_EQ(res.exit_code, 0) << res.err;
    EXPECT_NE(res.out.find("\"stopped\":\"quit\""), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("\"step\":1"), std::string::npos);
    EXPECT_EQ(res.out.find("\"step\":2,\"steps\""), std::string::npos);
}

// `socklab lab`: list, run by number, and one clear line for bad input.
TEST(LabCli, ListJsonHasEveryLabInOrder) {
    const auto res = run_command({bin("socklab"), "lab", "list", "--json"});
    ASSERT_EQ(res.exit_code, 0) << res.err;
    const auto list = json::parse(res.out);
    ASSERT_EQ(list.size(), lab::kLabs.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
        EXPECT_EQ(list[i]["id"], lab::kLabs[i].id);
        // In lesson order: numbers rise (a lab still to be written leaves a gap), and each lab's
        // default port is 9000 + its number.
        EXPECT_EQ(list[i]["number"], lab::kLabs[i].number);
        if (i > 0) {
            EXPECT_GT(list[i]["number"].get<int>(), list[i - 1]["number"].get<int>());
        }
        EXPECT_EQ(list[i]["default_port"], 9000 + list[i]["number"].get<int>());
        EXPECT_FALSE(list[i]["title"].get<std::string>().empty());
        EXPECT_FALSE(list[i]["summary"].get<std::string>().empty());
        EXPECT_TRUE(list[i]["installed"].get<bool>()) << list[i]["id"];
    }
}

TEST(LabCli, RunByNumberExecsTheLab) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto res = run_command({bin("socklab"), "lab", "run", "13", "--auto", "--json"}, {}, 60s);
    EXPECT_EQ(res.exit_code, 0) << res.err;
    // The first line is the lab's own announcement.
    const auto first = test::read_lab_line(res.out.substr(0, res.out.find('\n')));
    EXPECT_EQ(first.kind, LabEventKind::lab) << res.out;
    EXPECT_EQ(first.lab, "udp") << res.out;
    EXPECT_EQ(first.number, 13) << res.out;
    EXPECT_NE(res.out.find("{\"event\":\"done\",\"lab\":\"udp\",\"ok\":true}"), std::string::npos);
}

TEST(LabCli, BadInputIsOneLineAndExit2) {
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {bin("socklab"), "lab", "run", "no-such-lab"},
             {bin("socklab"), "lab", "run", "99"},
             {bin("socklab"), "lab", "run", "bind", "--port", "70000"},
             {bin("socklab"), "lab", "run", "bind", "--role", "teacher"},
             {lab_bin("bind"), "--delay", "soon"},
             {lab_bin("bind"), "--role", "server"},
             {lab_bin("chat"), "--host", "example.org"},
         }) {
        const auto res = run_command(argv, {}, 10s);
        EXPECT_EQ(res.exit_code, 2) << argv.back() << ": " << res.err;
        EXPECT_FALSE(res.err.empty());
        EXPECT_LE(std::count(res.err.begin(), res.err.end(), '\n'), 2) << res.err;
        EXPECT_TRUE(res.out.empty()) << res.out;
    }
}


// The capture hook: each observed event carries the segments its step caused. The abort
// lab's closes send RST and never a FIN; the active-close lab's two closes make the
// four-segment close (FIN, ACK, FIN, ACK: RFC 9293 figure 12's normal close).
TEST(LabSegments, AbortSendsRstAndActiveCloseFourSegments) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    struct Seen {
        bool capturing = false;
        int port = 0;
        std::vector<std::pair<int, Segment>> segments;  // (step, segment)
        std::map<int, std::string> titles;
    };
    auto run_lab = [](const std::string& id) {
        const auto res = run_command({lab_bin(id), "--auto", "--json"}, {}, 60s);
        Seen s;
        std::istringstream in(res.out);
        std::string line;
        while (std::getline(in, line)) {
            const auto ev = test::read_lab_line(line);
            if (ev.kind == LabEventKind::lab) {
                s.capturing = ev.capturing.value_or(false);
                s.port = ev.port;
            }
            if (ev.kind == LabEventKind::step) s.titles[ev.step] = ev.title;
            if (ev.kind == LabEventKind::observed)
                for (const auto& seg : ev.segments) s.segments.emplace_back(ev.step, seg);
        }
        return s;
    };
    const auto has = [](const Segment& seg, std::uint8_t flag) { return seg.has(flag); };
    const auto shown = [](const Segment& seg) {
        return format_endpoint(seg.src_addr, seg.src_port) + " > " +
               format_endpoint(seg.dst_addr, seg.dst_port) + " " + flags_label(seg.flags);
    };

    const auto abort = run_lab("abort");
    if (!abort.capturing) GTEST_SKIP() << "the capture is not active here (needs CAP_NET_RAW)";
    int rst_step = 0;
    for (const auto& [step, seg] : abort.segments) {
        EXPECT_FALSE(has(seg, tcp_flag::FIN)) << "step " << step << ": " << shown(seg);
        if (has(seg, tcp_flag::RST) && rst_step == 0) rst_step = step;
    }
    ASSERT_NE(rst_step, 0) << "no RST in any step";
    EXPECT_NE(abort.titles.at(rst_step).find("RST"), std::string::npos)
        << "the first RST belongs to the step that says it sends one: " << abort.titles.at(rst_step);

    const auto close = run_lab("active-close");
    std::vector<std::string> ending;  // control segments from the first FIN on
    for (const auto& [step, seg] : close.segments) {
        if (ending.empty() && !has(seg, tcp_flag::FIN)) continue;
        if (seg.len != 0) continue;
        const std::string who = seg.src_port == close.port ? "server " : "client ";
        ending.push_back(who + (has(seg, tcp_flag::FIN) ? "FIN" : has(seg, tcp_flag::RST) ? "RST" : "ACK"));
    }
    EXPECT_EQ(ending, (std::vector<std::string>{"client FIN", "server ACK", "server FIN", "client ACK"}));
}

// Lab 19 talks over the veth pair it makes during the run, not over lo: the capture watches
// every interface of the lab's namespace, so its steps show their segments too — both
// handshakes between 10.19.0.1 and the peer at 10.19.0.2, and the data segment sent into the
// dead link. (Captured on lo alone, the lab had no segments at all.) Its keepalive probes are
// not among them: with the link down the kernel drops them before any capture (tshark on the
// lab's end of the cable neither) sees them, so the test asks nothing of them.
TEST(LabSegments, DeadPeerIsCapturedOnItsVeth) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto res = run_command({lab_bin("dead-peer"), "--auto", "--json"}, {}, 90s);
    ASSERT_EQ(res.exit_code, 0) << res.out << res.err;
    bool capturing = false;
    int port = 0;
    std::vector<std::string> seen;  // "src:port>dst:port FLAGS len"
    std::istringstream in(res.out);
    for (std::string line; std::getline(in, line);) {
        const auto ev = test::read_lab_line(line);
        if (ev.kind == LabEventKind::lab) {
            capturing = ev.capturing.value_or(false);
            port = ev.port;
        }
        if (ev.kind == LabEventKind::observed)
            for (const auto& seg : ev.segments) {
                const bool to_peer = seg.dst_port == port;
                const auto& peer = to_peer ? seg.dst_addr : seg.src_addr;
                const auto& client = to_peer ? seg.src_addr : seg.dst_addr;
                EXPECT_EQ(peer.to_string(), "10.19.0.2") << line;
                EXPECT_EQ(client.to_string(), "10.19.0.1") << line;
                seen.push_back(std::string(to_peer ? "client " : "peer ") + flags_label(seg.flags) +
                               " " + std::to_string(seg.len));
            }
    }
    if (!capturing) GTEST_SKIP() << "the capture is not active here (needs CAP_NET_RAW)";
    const auto count = [&](const std::string& s) { return std::count(seen.begin(), seen.end(), s); };
    EXPECT_EQ(count("client SYN 0"), 2) << testing::PrintToString(seen);
    EXPECT_EQ(count("peer SYN-ACK 0"), 2) << testing::PrintToString(seen);
    EXPECT_GE(count("client PSH-ACK 1000"), 1) << "the data sent into the dead link: " << testing::PrintToString(seen);
}

}  // namespace
}  // namespace socklab::test
