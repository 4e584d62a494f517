// socklab-viewer itself, headless under xvfb-run: with a listener of ours and a lab running,
// --dump-state must show their sockets and states, and the screenshot must be a real picture.
// Also: no display gives one line and exit 1; bad options give one line and exit 2.
#include <sys/mount.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "prepare.hpp"
#include "screenshot_check.hpp"
#include "testsupport.hpp"
#include "xvfb.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using test::TempDir;

std::vector<std::string> under_xvfb(std::vector<std::string> args) {
    args.insert(args.begin(), test::bin("socklab-viewer"));
    return test::xvfb_run(args);
}

TEST(ViewerHeadless, ShowsOurListenerAndTheLabsSocketsAndWritesAPicture) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    TempDir dir;
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    auto client = test::tcp_connect("127.0.0.1", port);
    auto server = test::tcp_accept(listener.get());
    const auto cport = test::local_port(client.get());

    const auto png = (dir.path / "shot.png").string();
    const auto dump = (dir.path / "state.json").string();
    const auto r = test::run_command(
        under_xvfb({"--socklab", SOCKLAB_FAKE_LAB, "--lab", "demo", "--lab-steps", "2",
                    "--screenshot", png, "--frames", "4", "--dump-state", dump, "--interval", "200"}),
        {}, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;

    std::ifstream in(dump);
    const auto j = nlohmann::json::parse(in);
    const auto& panels = j.at("panels");
    // Table: our three sockets, their states, our pid; the ends paired.
    const auto& rows = panels.at("table").at("rows");
    auto find = [&](std::uint16_t l, std::uint16_t rp) -> const nlohmann::json* {
        for (const auto& row : rows)
            if (row.at("local_port") == l && row.at("remote_port") == rp) return &row;
        return nullptr;
    };
    const auto* lrow = find(port, 0);
    ASSERT_NE(lrow, nullptr) << "our listener is not in the table";
    EXPECT_EQ(lrow->at("state"), "LISTEN");
    EXPECT_EQ(lrow->at("pid"), ::getpid());
    const auto* srow = find(port, cport);
    ASSERT_NE(srow, nullptr);
    EXPECT_EQ(srow->at("state"), "ESTABLISHED");
    EXPECT_EQ(srow->at("peer"), "127.0.0.1:" + std::to_string(cport));

    // The lab ran two steps: its listener and its connection are there, marked as the lab's.
    const auto& lab = panels.at("labs");
    EXPECT_EQ(lab.at("lab"), "demo");
    EXPECT_EQ(lab.at("step").at("step"), 2);
    EXPECT_EQ(lab.at("observed").at("ok"), true);
    const int lab_port = lab.at("port");
    ASSERT_NE(lab_port, 0);
    std::set<std::string> lab_states;
    for (const auto& row : rows)
        if (row.at("lab") == true) lab_states.insert(row.at("state").get<std::string>());
    EXPECT_TRUE(lab_states.contains("LISTEN"));
    EXPECT_TRUE(lab_states.contains("ESTABLISHED"));
    // Diagram counts include ours.
    const auto& counts = panels.at("diagram").at("counts");
    EXPECT_GE(counts.at("LISTEN").get<int>(), 2);
    EXPECT_GE(counts.at("ESTABLISHED").get<int>(), 4);
    // Status bar.
    EXPECT_GE(panels.at("status").at("sockets").get<int>(), 6);
    EXPECT_EQ(panels.at("status").at("root"), test::is_root());

    test::expect_screenshot(png, 1600, 1000);
}

// The Predict switch headless (--lab-predict, --lab-answers): a real lab, two steps answered
// with the picks given, the panel waiting on the third step's question with the second step's
// verdict beside it — what the screenshot in docs/labs shows.
TEST(ViewerHeadless, PredictShowsTheNextQuestionAndTheLastVerdict) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    test::PrivateNetns ns;
    TempDir dir;
    const auto png = (dir.path / "predict.png").string();
    const auto dump = (dir.path / "state.json").string();
    const auto r = test::run_command(
        under_xvfb({"--lab", "active-close", "--lab-predict", "--lab-steps", "2", "--lab-answers", "1,1",
                    "--no-trace", "--screenshot", png, "--dump-state", dump, "--lang", "en"}),
        {}, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
    std::ifstream in(dump);
    const auto lab = nlohmann::json::parse(in).at("panels").at("labs");
    EXPECT_EQ(lab.at("predict"), true);
    EXPECT_EQ(lab.at("asking"), true) << lab.dump(1);
    EXPECT_EQ(lab.at("waiting_for"), 3);
    EXPECT_EQ(lab.at("question").at("step"), 3);
    EXPECT_GE(lab.at("question").at("choices").size(), 2u);
    const auto& verdict = lab.at("answered");
    EXPECT_EQ(verdict.at("step"), 2);
    EXPECT_EQ(verdict.at("picked"), 1) << "the second pick given";
    const int answer = verdict.at("answer");
    EXPECT_EQ(verdict.at("correct"), answer == 1);
    EXPECT_EQ(lab.at("step").at("step"), 2);
    EXPECT_EQ(lab.at("observed").at("ok"), true);
    test::expect_screenshot(png, 1600, 1000);
}

TEST(ViewerHeadless, WithoutADisplayItSaysSoInOneLine) {
    const auto r = test::run_command({"env", "-u", "DISPLAY", "-u", "WAYLAND_DISPLAY",
                                      test::bin("socklab-viewer"), "--screenshot", "/tmp/never.png"},
                                     {}, 30s);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no display"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("xvfb-run"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists("/tmp/never.png"));
}

TEST(ViewerHeadless, BadOptionsNameTheProblem) {
    struct Case {
        std::vector<std::string> args;
        std::string err;
    };
    for (const auto& c : std::vector<Case>{
             {{"--interval", "5"},
              "socklab-viewer: --interval: '5' is out of range: give 100 to 5000 milliseconds "
              "(see socklab-viewer --help)\n"},
             {{"--no-such-option"},
              "socklab-viewer: The following argument was not expected: --no-such-option (see "
              "socklab-viewer --help)\n"},
             {{"--bench-out", "x.json"}, "socklab-viewer: --bench-out needs --bench-frames N\n"},
             {{"--size", "huge"},
              "socklab-viewer: --size must look like 1600x1000 (320x240 to 8192x8192)\n"},
             {{"--size", "100x100"},
              "socklab-viewer: --size must look like 1600x1000 (320x240 to 8192x8192)\n"}}) {
        std::vector<std::string> argv{test::bin("socklab-viewer")};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        const auto r = test::run_command(argv, {}, 30s);
        EXPECT_EQ(r.exit_code, 2) << c.args[0] << ": " << r.err;
        EXPECT_EQ(r.err, c.err) << c.args[0];
    }
}

TEST(ViewerHeadless, BadOptionsAreOneLineAndExitTwo) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--interval", "5"}, {"--size", "huge"}, {"--frames", "-1"}, {"--bench-out", "x.json"},
             {"--no-such-option"}, {"--lab-answers", "1"}, {"--lab-predict", "--lab-answers", "0"},
             {"--lab-predict", "--lab-answers", "1,x"}}) {
        std::vector<std::string> argv{test::bin("socklab-viewer")};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = test::run_command(argv, {}, 30s);
        EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
        EXPECT_FALSE(r.err.empty()) << args[0];
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args[0] << ": " << r.err;
    }
}

// A display number nobody serves: no socket, no lock file. Far above where xvfb-run -a
// starts counting (99), so a parallel test cannot take it in between.
std::string unused_display() {
    for (int n = 4000; n < 4100; ++n) {
        const auto num = std::to_string(n);
        if (!fs::exists("/tmp/.X11-unix/X" + num) && !fs::exists("/tmp/.X" + num + "-lock"))
            return ":" + num;
    }
    return ":4099";
}

TEST(ViewerHeadless, ADisplayThatCannotBeReachedIsNamed) {
    const auto r = test::run_command({"env", "-u", "WAYLAND_DISPLAY", "DISPLAY=" + unused_display(),
                                      test::bin("socklab-viewer"), "--screenshot", "/tmp/never.png"},
                                     {}, 30s);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err,
              "socklab-viewer: no display: failed to open a window (DISPLAY is set but cannot be "
              "reached). Run it on a desktop, or headless: xvfb-run -a socklab-viewer "
              "--screenshot out.png\n");
}

TEST(ViewerHeadless, ADisplayWithoutOpenGl33IsNamed) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    // An X server without GLX, like a plain VNC server: no OpenGL at all.
    const auto r = test::run_command(
        test::xvfb_run({test::bin("socklab-viewer"), "--screenshot", "/tmp/never.png", "--no-trace"},
                       "-screen 0 1600x1000x24 -extension GLX"),
        {}, 60s);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("socklab-viewer: failed to create an OpenGL 3.3 window: the display has no "
                         "OpenGL 3.3 (try xvfb-run -a -s \"-screen 0 1600x1000x24\", Mesa "
                         "llvmpipe)\n"),
              std::string::npos)
        << r.err;
}

TEST(ViewerHeadless, ASocklabGivenWithAWrongPathIsNamed) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    TempDir dir;
    const auto r = test::run_command(
        under_xvfb({"--socklab", "/nonexistent/socklab", "--lab", "bind", "--no-trace",
                    "--dump-state", (dir.path / "state.json").string()}),
        {}, 60s);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("socklab-viewer: failed to start lab bind: --socklab /nonexistent/socklab "
                         "does not exist; give the path of the socklab program\n"),
              std::string::npos)
        << r.err;
}

// socklab-viewer copied alone into a directory: no socklab beside it, and none given.
TEST(ViewerHeadless, ASocklabNotBesideTheViewerIsNamed) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    TempDir dir;
    const auto viewer = dir.path / "socklab-viewer";
    fs::copy_file(test::bin("socklab-viewer"), viewer);
    const auto r = test::run_command(
        test::xvfb_run({viewer.string(), "--lab", "bind", "--no-trace", "--dump-state",
                        (dir.path / "state.json").string()}),
        {}, 60s);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("socklab-viewer: failed to start lab bind: socklab is not next to "
                         "socklab-viewer (" + (dir.path / "socklab").string() +
                         "); build the socklab target\n"),
              std::string::npos)
        << r.err;
}

TEST(ViewerHeadless, ALabThatStopsBeforeItsStepIsNamed) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    TempDir dir;
    const auto r = test::run_command(
        under_xvfb({"--socklab", SOCKLAB_FAKE_LAB, "--lab", "broken", "--lab-steps", "1",
                    "--no-trace", "--dump-state", (dir.path / "state.json").string()}),
        {}, 120s);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("socklab-viewer: failed to run lab broken to step 1: the lab stopped with "
                         "status 3: fake socklab: the broken lab broke\n"),
              std::string::npos)
        << r.err;
}

TEST(ViewerHeadless, MoreStepsThanTheLabHasIsAnError) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    TempDir dir;
    const auto png = dir.path / "shot.png";
    const auto r = test::run_command(
        under_xvfb({"--socklab", SOCKLAB_FAKE_LAB, "--lab", "demo", "--lab-steps", "4",
                    "--no-trace", "--screenshot", png.string()}),
        {}, 120s);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("socklab-viewer: --lab-steps 4: lab demo has 3 steps; give a number from 1 to 3\n"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(std::filesystem::exists(png)) << "a failed run still wrote its picture";
}

TEST(ViewerHeadless, OutputsThatCannotBeWrittenAreNamed) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    TempDir dir;
    const auto missing = (dir.path / "missing").string();
    for (const auto& [args, file] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"--screenshot", missing + "/shot.png"}, missing + "/shot.png"},
             {{"--dump-state", missing + "/state.json"}, missing + "/state.json"},
             {{"--synthetic", "100", "--bench-frames", "2", "--bench-out", missing + "/b.json"},
              missing + "/b.json"}}) {
        auto argv = args;
        argv.push_back("--no-trace");
        const auto r = test::run_command(under_xvfb(argv), {}, 60s);
        EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.err;
        EXPECT_NE(r.err.find("socklab-viewer: failed to write " + file +
                             ": check the directory exists and is writable\n"),
                  std::string::npos)
            << args[0] << ": " << r.err;
    }
}

// --bench-frames: the JSON names each measure the targets are set in (ui_ms, frame_ms,
// poll_ms, publish_ms as {p50,p99,max}, sockets, source), and the polls it reports are those
// published while the frames were measured: at a 100 ms interval over ~2 s of frames, several.
TEST(ViewerHeadless, TheBenchReportsFrameAndPollPercentiles) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    TempDir dir;
    const auto out = (dir.path / "bench.json").string();
    const auto r = test::run_command(under_xvfb({"--synthetic", "2000", "--no-trace", "--interval", "100",
                                                 "--bench-frames", "80", "--bench-out", out}),
                                     {}, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
    std::ifstream in(out);
    const auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j.at("frames"), 80);
    EXPECT_EQ(j.at("source"), "synthetic");
    EXPECT_GT(j.at("sockets").get<int>(), 1000);
    for (const char* k : {"ui_ms", "ui_cpu_ms", "frame_ms", "poll_ms", "publish_ms"}) {
        const auto& v = j.at(k);
        EXPECT_GT(v.at("p50").get<double>(), 0.0) << k;
        EXPECT_LE(v.at("p50").get<double>(), v.at("p99").get<double>()) << k;
        EXPECT_LE(v.at("p99").get<double>(), v.at("max").get<double>()) << k;
    }
    // A frame is published after its poll's work: never sooner than the work took.
    EXPECT_GE(j.at("publish_ms").at("max").get<double>(), j.at("poll_ms").at("max").get<double>());
    const double seconds = j.at("seconds");
    ASSERT_GT(seconds, 0.0);
    // One poll per 100 ms at most, and (even on a loaded machine) at least one per half second.
    const int polls = j.at("polls");
    EXPECT_GE(polls, std::max(1, static_cast<int>(seconds * 2))) << j.dump(2);
    EXPECT_LE(polls, static_cast<int>(seconds * 10) + 2) << j.dump(2);
}

// What the status bar and the event log say, read from --dump-state.
nlohmann::json panels_of(const fs::path& dump) {
    std::ifstream in(dump);
    auto j = nlohmann::json::parse(in, nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j.value("panels", nlohmann::json::object());
}

// As an ordinary user (uid 65534, under an X server of its own): the status bar says what
// works and what does not, and the empty event log says why it is empty.
TEST(ViewerHeadless, AsAnOrdinaryUserTheWindowSaysWhatIsMissing) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    SOCKLAB_REQUIRE_ROOT();  // to become uid 65534
    TempDir dir;
    fs::permissions(dir.path, fs::perms::all);  // the viewer writes its dump here as 65534
    const auto dump = dir.path / "state.json";
    // One snapshot only (the next would be 5 s later): the log has nothing to infer from.
    const auto r = test::run_confined(under_xvfb({"--dump-state", dump.string(), "--interval", "5000"}),
                                      test::prepared_by(test::become_nobody), 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto panels = panels_of(dump);
    const auto& status = panels.at("status");
    EXPECT_EQ(status.at("root"), false);
    EXPECT_EQ(status.at("privileges"),
              "not root: owners of your own processes only, no tracer (short states are missed)");
    EXPECT_EQ(status.at("unlock_command"), "sudo socklab-viewer");
    EXPECT_EQ(status.at("privilege_path"), "unprivileged");  // nobody is not in group socklab
    const std::string tracer = status.at("tracer_message");
    EXPECT_NE(tracer.find("needs root"), std::string::npos) << tracer;
    const auto& events = panels.at("events");
    ASSERT_EQ(events.at("count"), 0) << events.dump();
    EXPECT_EQ(events.at("empty_message"),
              "No transitions yet. Without the tracer only changes between two snapshots are "
              "listed.");
    EXPECT_EQ(events.at("empty_hint"), tracer);
}

// As root on a system without tracefs: the status bar says the tracer is off, and why.
TEST(ViewerHeadless, AsRootWithoutTracefsTheWindowSaysWhyTheTracerIsOff) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    SOCKLAB_REQUIRE_ROOT();
    TempDir dir;
    const auto dump = dir.path / "state.json";
    const auto r = test::run_confined(under_xvfb({"--dump-state", dump.string(), "--interval", "5000"}),
                                      test::prepared_by(test::hide_tracefs), 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto panels = panels_of(dump);
    const auto& status = panels.at("status");
    EXPECT_EQ(status.at("root"), true);
    const std::string why = "state transitions are not traced: failed to mount tracefs on "
                            "/sys/kernel/tracing: No such file or directory; is CONFIG_TRACING "
                            "enabled? try 'mount -t tracefs nodev /sys/kernel/tracing'";
    EXPECT_EQ(status.at("privileges"), "root: every owner; tracer off — " + why);
    EXPECT_EQ(status.at("tracer_message"), why);
    EXPECT_EQ(status.at("unlock_command"), "");
    EXPECT_EQ(status.at("privilege_path"), "root");
    EXPECT_EQ(status.at("privilege_path_text"), "root");
    const auto& events = panels.at("events");
    ASSERT_EQ(events.at("count"), 0) << events.dump();
    EXPECT_EQ(events.at("empty_hint"), why);
}

// --doctor PORT: the Port doctor panel opens on that port, and the headless run waits for its
// diagnosis. A listener of ours holds the port: the probe table shows the kernel's reason for
// the plain bind() on 127.0.0.1, and the finding names the listener.
TEST(ViewerHeadless, TheDoctorPanelShowsWhyABindFails) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    TempDir dir;
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    const auto dump = dir.path / "state.json";
    const auto r = test::run_command(
        under_xvfb({"--doctor", std::to_string(port), "--dump-state", dump.string(), "--no-trace"}),
        {}, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto doctor = panels_of(dump).at("doctor");
    ASSERT_EQ(doctor.at("phase"), "ready") << doctor.dump();
    EXPECT_EQ(doctor.at("port"), port);
    EXPECT_EQ(doctor.at("bindable"), false);
    bool saw_probe = false;
    for (const auto& p : doctor.at("probes"))
        if (p.at("address") == "127.0.0.1" && p.at("reuseaddr") == false) {
            saw_probe = true;
            EXPECT_EQ(p.at("shown"), "Address already in use") << p.dump();
        }
    EXPECT_TRUE(saw_probe) << doctor.dump();
    EXPECT_NE(std::find(doctor.at("findings").begin(), doctor.at("findings").end(), "listener"),
              doctor.at("findings").end())
        << doctor.dump();
}

// The diagnosis cannot read the socket table at all (no sock_diag, no /proc): the panel says
// "The diagnosis failed." with the reason, and the viewer itself keeps running.
TEST(ViewerHeadless, TheDoctorPanelSaysWhenTheDiagnosisFails) {
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    SOCKLAB_REQUIRE_ROOT();  // for the private mount namespace
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer reads its options and, at exit, LeakSanitizer the threads from /proc:
    // with the empty /proc this test needs, the sanitizer itself fails.
    GTEST_SKIP() << "under the asan preset the sanitizer needs the /proc this test hides (the dev "
                    "and tsan builds run it)";
#endif
    TempDir dir;
    const auto dump = dir.path / "state.json";
    test::Confinement c = test::prepared_by([] {
        // An empty /proc, as far as the child and everything it starts can tell.
        return test::private_mounts() &&
               (::mount("socklab-test", "/proc", "tmpfs", MS_RDONLY, nullptr) == 0 ||
                test::prepare_failed("mount an empty tmpfs over /proc"));
    });
    c.deny.push_back(test::deny_netlink_sockets());
    const auto r = test::run_confined(
        under_xvfb({"--doctor", "9", "--dump-state", dump.string(), "--no-trace"}), c, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto panels = panels_of(dump);
    const auto& doctor = panels.at("doctor");
    EXPECT_EQ(doctor.at("phase"), "failed") << doctor.dump();
    EXPECT_EQ(doctor.at("message"), "The diagnosis failed.") << doctor.dump();
    EXPECT_EQ(doctor.at("error"),
              "failed to read /proc/net/{tcp,tcp6,udp,udp6}: none could be opened (is /proc "
              "mounted?)")
        << doctor.dump();
}

}  // namespace
}  // namespace socklab
