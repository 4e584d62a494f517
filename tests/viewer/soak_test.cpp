// Soak: socklab-viewer headless under xvfb-run, WITH the tracer, while socklab-churn opens and
// closes loopback connections in its own network namespace. Runs SOCKLAB_SOAK_SECONDS
// (default 60), then closes the window the way a window manager would (WM_DELETE_WINDOW), so
// the viewer leaves its loop normally, writes --dump-state and exits. Asserts: exit 0, peak
// RSS (VmHWM) under kMaxRssMiB, the tracer active and transitions seen, and nothing left
// behind (process groups killed, the tracing instance gone). Needs root.
//
//   SOCKLAB_SOAK_SECONDS=600 build/h-viewer/bin/viewer_soak_test     # the 10-minute run
#include <gtest/gtest.h>
#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "testsupport.hpp"
#include "xvfb.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Peak RSS bound for the viewer (VmHWM). Measured values: docs/performance.md, "## Soak".
// Under the asan and tsan presets the sanitizers' own memory counts in RSS too (ASan's
// redzones and quarantine, TSan's shadow: measured 554 and 457 MiB for 60 s), so the bound
// there is three times as loose; it still catches growth without limit.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr long kMaxRssMiB = 3 * 384;
#else
constexpr long kMaxRssMiB = 384;
#endif
constexpr std::uint16_t kChurnPort = 40999;
constexpr const char* kTracing = "/sys/kernel/tracing";

int soak_seconds() {
    const char* s = std::getenv("SOCKLAB_SOAK_SECONDS");
    if (s == nullptr || *s == '\0') return 60;
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 5 || v > 3600) return -1;
    return static_cast<int>(v);
}

using test::TempDir;

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A child in its own process group (so xvfb-run's Xvfb goes with it), output to files.
// The destructor ends the whole group: SIGTERM, a bounded wait, then SIGKILL.
class Child {
public:
    Child(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
        pid_ = ::fork();
        if (pid_ == 0) {
            ::setpgid(0, 0);
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the test killed (ctest timeout): stop too
            const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            const int n = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (o < 0 || e < 0 || n < 0) ::_exit(126);
            ::dup2(n, 0);
            ::dup2(o, 1);
            ::dup2(e, 2);
            std::vector<char*> args;
            for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            ::execvp(args[0], args.data());
            ::_exit(127);
        }
        if (pid_ > 0) ::setpgid(pid_, pid_);  // also here: no race with the child's own call
    }
    ~Child() { stop(); }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] bool started() const { return pid_ > 0; }

    // Reaped exit status if it has ended by `timeout`; -1 for a signal, nullopt if still running.
    std::optional<int> wait_for(std::chrono::milliseconds timeout) {
        if (status_) return status_;
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            int st = 0;
            const pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
                ::kill(-pid_, SIGKILL);  // anything of its group still around
                return status_;
            }
            if (r < 0) return status_ = -1;
            if (Clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(20ms);
        }
    }

    void stop() {
        if (pid_ <= 0) return;
        if (!status_) {
            ::kill(-pid_, SIGTERM);
            if (!wait_for(10s)) {
                ::kill(-pid_, SIGKILL);
                wait_for(10s);
            }
        }
        ::kill(-pid_, SIGKILL);
        // Until init has reaped the rest of the group (Xvfb): none of it outlives the test.
        test::wait_until([this] { return ::kill(-pid_, 0) != 0 && errno == ESRCH; }, 5s, 10ms);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

long vm_hwm_kb(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

// Tracing instances this pid owns ("socklab-<pid>-<starttime>-<seq>").
std::vector<fs::path> instances_of(pid_t pid) {
    std::vector<fs::path> out;
    const std::string prefix = "socklab-" + std::to_string(pid) + "-";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(kTracing) / "instances", ec))
        if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
    return out;
}

// Events the instance's ring buffers dropped: overrun + commit overrun + dropped events.
std::uint64_t lost_in(const fs::path& inst) {
    std::uint64_t lost = 0;
    std::error_code ec;
    for (const auto& cpu : fs::directory_iterator(inst / "per_cpu", ec)) {
        std::ifstream in(cpu.path() / "stats");
        std::string line;
        while (std::getline(in, line)) {
            for (const char* key : {"overrun:", "commit overrun:", "dropped events:"})
                if (line.rfind(key, 0) == 0)
                    lost += std::strtoull(line.c_str() + std::strlen(key), nullptr, 10);
        }
    }
    return lost;
}

// Ask the viewer's window to close, as a window manager does: WM_PROTOCOLS/WM_DELETE_WINDOW.
// GLFW turns it into glfwWindowShouldClose, the main loop ends, --dump-state is written.
bool close_window(const std::string& display, const std::string& xauth, pid_t pid) {
    if (!xauth.empty()) ::setenv("XAUTHORITY", xauth.c_str(), 1);
    Display* dpy = XOpenDisplay(display.c_str());
    if (dpy == nullptr) return false;
    XSetErrorHandler([](Display*, XErrorEvent*) { return 0; });
    const Atom net_wm_pid = XInternAtom(dpy, "_NET_WM_PID", False);
    const Atom protocols = XInternAtom(dpy, "WM_PROTOCOLS", False);
    const Atom del = XInternAtom(dpy, "WM_DELETE_WINDOW", False);
    Window root = DefaultRootWindow(dpy), parent = 0, *kids = nullptr;
    unsigned n = 0;
    bool sent = false;
    if (XQueryTree(dpy, root, &root, &parent, &kids, &n) != 0) {
        for (unsigned i = 0; i < n; ++i) {
            Atom type = 0;
            int fmt = 0;
            unsigned long items = 0, after = 0;
            unsigned char* data = nullptr;
            if (XGetWindowProperty(dpy, kids[i], net_wm_pid, 0, 1, False, XA_CARDINAL, &type, &fmt,
                                   &items, &after, &data) == Success &&
                data != nullptr && items == 1) {
                const auto owner = static_cast<pid_t>(*reinterpret_cast<unsigned long*>(data));
                if (owner == pid) {
                    XEvent ev{};
                    ev.xclient.type = ClientMessage;
                    ev.xclient.window = kids[i];
                    ev.xclient.message_type = protocols;
                    ev.xclient.format = 32;
                    ev.xclient.data.l[0] = static_cast<long>(del);
                    ev.xclient.data.l[1] = CurrentTime;
                    sent = XSendEvent(dpy, kids[i], False, NoEventMask, &ev) != 0 || sent;
                }
            }
            if (data != nullptr) XFree(data);
        }
        if (kids != nullptr) XFree(kids);
    }
    XSync(dpy, False);
    XCloseDisplay(dpy);
    return sent;
}

TEST(ViewerSoak, TracerOnUnderChurnStaysUpAndBounded) {
    SOCKLAB_REQUIRE_ROOT();
    if (!test::have_program("xvfb-run")) GTEST_SKIP() << "xvfb-run is not installed (apt install xvfb)";
    const std::string churn = test::bin("socklab-churn");
    if (!fs::exists(churn))
        GTEST_SKIP() << "socklab-churn is not built (configure with -DSOCKLAB_BUILD_BENCH=ON): " << churn;
    if (!fs::exists(fs::path(kTracing) / "instances"))
        GTEST_SKIP() << "tracefs is not mounted at " << kTracing;
    const int seconds = soak_seconds();
    ASSERT_GT(seconds, 0) << "SOCKLAB_SOAK_SECONDS must be a whole number of seconds, 5-3600";

    TempDir dir;
    const auto info = dir.path / "viewer.info";
    const auto dump = dir.path / "state.json";
    pid_t viewer_pid = -1;
    // Declared before the children, so it runs after they are gone: a viewer that crashed
    // (no chance to clean up) must not leave its tracing instance behind either.
    struct InstanceSweeper {
        const pid_t& pid;
        ~InstanceSweeper() {
            if (pid > 0)
                for (const auto& p : instances_of(pid)) ::rmdir(p.c_str());
        }
    } sweeper{viewer_pid};
    std::vector<fs::path> insts;
    long hwm_kb = -1;
    std::uint64_t lost = 0;
    std::optional<int> viewer_rc;
    nlohmann::json churn_result;
    double ran_s = 0;
    {
        // Churn first, in its own network namespace (socklab-churn unshares it): loopback only.
        Child churner({churn, "--rate", "1000", "--duration", std::to_string(seconds + 120), "--port",
                       std::to_string(kChurnPort), "--json"},
                      dir.path / "churn.out", dir.path / "churn.err");
        ASSERT_TRUE(churner.started());

        // The viewer, headless with the tracer; the wrapper tells us its pid and display.
        // --frames is only an upper bound: the window is closed after `seconds`.
        const std::string wrapper =
            "printf '%s %s %s\\n' \"$$\" \"$DISPLAY\" \"${XAUTHORITY:-}\" > \"$0.tmp\" && "
            "mv \"$0.tmp\" \"$0\" && exec \"$@\"";
        Child viewer(test::xvfb_run({"sh", "-c", wrapper, info.string(),
                                     test::bin("socklab-viewer"), "--frames", "100000",
                                     "--interval", "250", "--dump-state", dump.string()}),
                     dir.path / "viewer.out", dir.path / "viewer.err");
        ASSERT_TRUE(viewer.started());
        auto diag = [&] {
            return "\nviewer stderr: " + slurp(dir.path / "viewer.err") +
                   "\nchurn stderr: " + slurp(dir.path / "churn.err");
        };

        ASSERT_TRUE(test::wait_until([&] { return fs::exists(info); }, 15s, 50ms))
            << "the viewer did not start under xvfb-run" << diag();
        std::string display, xauth;
        {
            std::istringstream in(slurp(info));
            in >> viewer_pid >> display >> xauth;
        }
        ASSERT_GT(viewer_pid, 0);
        ASSERT_TRUE(test::wait_until([&] { return !instances_of(viewer_pid).empty(); }, 20s, 50ms))
            << "the viewer's tracer did not create its tracing instance" << diag();

        // Soak: sample peak RSS and lost events once a second; fail fast if either dies.
        const auto start = Clock::now();
        const auto end = start + std::chrono::seconds(seconds);
        while (Clock::now() < end) {
            if ((viewer_rc = viewer.wait_for(1s))) break;
            if (churner.wait_for(0ms)) FAIL() << "socklab-churn ended early" << diag();
            if (const long k = vm_hwm_kb(viewer_pid); k > 0) hwm_kb = k;
            for (const auto& p : instances_of(viewer_pid)) lost = std::max(lost, lost_in(p));
        }
        ran_s = std::chrono::duration<double>(Clock::now() - start).count();
        ASSERT_FALSE(viewer_rc) << "the viewer exited after " << ran_s << " s (rc " << *viewer_rc
                                << ") before the soak ended" << diag();
        if (const long k = vm_hwm_kb(viewer_pid); k > 0) hwm_kb = k;
        insts = instances_of(viewer_pid);

        ASSERT_TRUE(close_window(display, xauth, viewer_pid)) << "could not find the viewer's window";
        viewer_rc = viewer.wait_for(30s);
        ASSERT_TRUE(viewer_rc) << "the viewer did not exit within 30 s of closing its window" << diag();
        EXPECT_EQ(*viewer_rc, 0) << diag();

        ::kill(churner.pid(), SIGTERM);  // it stops, prints its summary and exits
        ASSERT_TRUE(churner.wait_for(10s)) << "socklab-churn did not stop on SIGTERM";
        const auto out = slurp(dir.path / "churn.out");
        if (!out.empty()) churn_result = nlohmann::json::parse(out, nullptr, false);
    }

    // Nothing left behind: the viewer's tracing instance is gone with it.
    for (const auto& p : insts) EXPECT_FALSE(fs::exists(p)) << "tracing instance left behind: " << p;
    EXPECT_TRUE(instances_of(viewer_pid).empty());

    ASSERT_TRUE(fs::exists(dump)) << "no --dump-state written";
    std::ifstream in(dump);
    const auto j = nlohmann::json::parse(in);
    const auto& panels = j.at("panels");
    EXPECT_EQ(panels.at("status").at("tracer_active"), true) << panels.at("status").dump();
    std::uint64_t edges = 0;
    for (const auto& e : panels.at("diagram").at("edges_seen")) edges += e.at("seen").get<std::uint64_t>();
    const auto& log = panels.at("events");
    std::size_t traced_recent = 0, churn_recent = 0;
    const std::string churn_port = ":" + std::to_string(kChurnPort);
    for (const auto& e : log.at("recent")) {
        if (e.at("traced") == true) ++traced_recent;
        const auto l = e.at("local").get<std::string>(), r = e.at("remote").get<std::string>();
        if (l.ends_with(churn_port) || r.ends_with(churn_port)) ++churn_recent;
    }
    const long hwm_mib = hwm_kb / 1024;
    std::printf("soak: %.1f s, viewer peak RSS (VmHWM) %ld MiB (bound %ld), diagram edges seen %llu, "
                "event log %llu kept, %zu of the last %zu traced (%zu on the churn port), lost %llu; "
                "churn %s\n",
                ran_s, hwm_mib, kMaxRssMiB, static_cast<unsigned long long>(edges),
                static_cast<unsigned long long>(log.at("count").get<std::uint64_t>()), traced_recent,
                log.at("recent").size(), churn_recent, static_cast<unsigned long long>(lost),
                churn_result.dump().c_str());
    RecordProperty("peak_rss_mib", static_cast<int>(hwm_mib));
    RecordProperty("edges_seen", std::to_string(edges));
    RecordProperty("lost_events", std::to_string(lost));
    ASSERT_GT(hwm_kb, 0) << "never read the viewer's VmHWM";
    EXPECT_LT(hwm_mib, kMaxRssMiB);
    EXPECT_GT(edges, 0u) << "the state diagram saw no transitions";
    EXPECT_GT(traced_recent, 0u) << "the event log holds no traced transition: " << log.dump();
    EXPECT_GT(churn_recent, 0u) << "no transition on the churn port in the event log";
}

}  // namespace
}  // namespace socklab
