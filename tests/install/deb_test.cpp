// The .deb, for real on this machine (root): cpack builds it from this tree, dpkg installs it,
// an unprivileged user of our own (a member of group socklab) runs a lab and the viewer
// headless from the installed files, then the package is purged and nothing of it may be left:
// no file it installed, no group. The guard purges, removes the user and the group even when
// a check fails half-way.
#include <grp.h>
#include <signal.h>
#include <pwd.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../viewer/xvfb.hpp"
#include "child.hpp"
#include "install_support.hpp"
#include "testsupport.hpp"

namespace socklab::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool package_installed() {
    const auto r = run_command({"dpkg-query", "-W", "-f=${Status}", "socklab"});
    return r.exit_code == 0 && r.out.find("installed") != std::string::npos &&
           r.out.find("not-installed") == std::string::npos;
}
bool package_known() {  // installed, or removed with its configuration still there
    const auto r = run_command({"dpkg-query", "-W", "-f=${Status}", "socklab"});
    return r.exit_code == 0 && r.out.find("not-installed") == std::string::npos;
}
bool group_exists(const char* name) { return ::getgrnam(name) != nullptr; }

// dpkg refuses to run while another dpkg/apt holds its lock (other sessions on this machine):
// wait for it, a bounded number of times.
CommandResult dpkg(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"dpkg"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r;
    for (int attempt = 0; attempt < 60; ++attempt) {
        r = run_command(argv, {}, 180s);
        if (r.exit_code == 0 || r.err.find("lock") == std::string::npos) break;
        std::this_thread::sleep_for(1s);  // lock held by someone else: nothing to wait on but time
    }
    return r;
}

// userdel refuses while the user has processes (Xvfb, started by xvfb-run as the user, can
// outlive xvfb-run by a moment): wait for them to end, end what is left (processes of the
// test's own user only), then remove the user and its home.
bool remove_user(const std::string& user) {
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) return true;
    const std::string uid = std::to_string(pw->pw_uid);
    auto none_left = [&] { return run_command({"pgrep", "-U", uid}).exit_code == 1; };
    if (!wait_until(none_left, 10s, 50ms)) {
        (void)run_command({"pkill", "-KILL", "-U", uid});
        (void)wait_until(none_left, 10s, 50ms);
    }
    return run_command({"userdel", "--remove", user}).exit_code == 0;
}

// Everything this test changes on the machine, undone in reverse whatever happened.
struct MachineGuard {
    std::string user;
    ~MachineGuard() {
        if (!user.empty()) (void)remove_user(user);
        if (package_known()) (void)dpkg({"--purge", "socklab"});
        // The package's postrm removes it on purge; if purging failed, do it here.
        if (group_exists("socklab")) (void)run_command({"groupdel", "socklab"});
    }
};

// Run argv as `user` (its own uid, gid and groups, a clean environment and its home).
std::vector<std::string> as_user(const std::string& user, std::vector<std::string> argv) {
    const passwd* pw = ::getpwnam(user.c_str());
    std::vector<std::string> out{"setpriv",
                                 "--reuid=" + std::to_string(pw->pw_uid),
                                 "--regid=" + std::to_string(pw->pw_gid),
                                 "--init-groups",
                                 "--reset-env",
                                 "--"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

TEST(Deb, InstallsRunsAsAnUnprivilegedUserAndPurgesCleanly) {
    SOCKLAB_REQUIRE_ROOT();
    if (SOCKLAB_SANITIZED) GTEST_SKIP() << "sanitizer builds are not packaged";
    if (!SOCKLAB_HAVE_DOCS) GTEST_SKIP() << "this tree does not generate the man pages";
    for (const char* tool : {"dpkg", "dpkg-shlibdeps", "setpriv", "useradd"})
        if (!have_program(tool)) GTEST_SKIP() << tool << " is not installed (dpkg-dev, util-linux, passwd)";
    if (package_known())
        GTEST_SKIP() << "a socklab package is already on this machine: this test will not touch it";
    if (group_exists("socklab"))
        GTEST_SKIP() << "group socklab exists already: purging would remove a group this test did not make";

    // ---- build the package from this tree ----
    const std::string version = project_version_from_source();
    const std::string arch = run_command({"dpkg", "--print-architecture"}).out;
    ASSERT_FALSE(arch.empty());
    const std::string deb_name = "socklab_" + version + "_" + arch.substr(0, arch.find('\n')) + ".deb";
    TempDir work("socklab-deb");
    ::chmod(work.path.c_str(), 0755);  // the test user reads the package's files, not this dir
    const auto pack = run_command({SOCKLAB_CPACK, "-G", "DEB", "--config",
                                   std::string(SOCKLAB_BUILD_DIR) + "/CPackConfig.cmake", "-B",
                                   (work.path / "pkg").string()},
                                  {}, 300s);
    ASSERT_EQ(pack.exit_code, 0) << pack.out << pack.err;
    const fs::path deb = work.path / "pkg" / deb_name;
    ASSERT_TRUE(fs::exists(deb)) << "cpack did not write " << deb_name << ":\n" << pack.out;

    // The control file: name, version, the libraries found by dpkg-shlibdeps, the scripts' tools.
    const auto fields = run_command({"dpkg-deb", "--field", deb.string(), "Package", "Version", "Depends"});
    ASSERT_EQ(fields.exit_code, 0) << fields.err;
    EXPECT_NE(fields.out.find("Package: socklab\n"), std::string::npos) << fields.out;
    EXPECT_NE(fields.out.find("Version: " + version + "\n"), std::string::npos) << fields.out;
    for (const char* dep : {"libc6", "libstdc++6", "libmnl0", "libtracefs1", "passwd", "libcap2-bin"}) {
        EXPECT_NE(fields.out.find(dep), std::string::npos) << "Depends lacks " << dep << ":\n" << fields.out;
    }

    // ---- install ----
    MachineGuard guard;
    const auto install = dpkg({"--install", deb.string()});
    ASSERT_EQ(install.exit_code, 0) << install.out << install.err;
    ASSERT_TRUE(package_installed());
    EXPECT_TRUE(group_exists("socklab")) << "the postinst did not create group socklab";

    const auto listed = run_command({"dpkg", "--listfiles", "socklab"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    std::vector<fs::path> files;
    {
        std::istringstream lines(listed.out);
        for (std::string line; std::getline(lines, line);)
            if (!line.empty() && line[0] == '/') files.emplace_back(line);
    }

    const auto v = run_command({"/usr/bin/socklab", "--version"});
    EXPECT_EQ(v.out, "socklab " + version + "\n") << v.err;
    const auto man = run_command({"man", "-w", "socklab"});
    EXPECT_EQ(man.exit_code, 0) << man.err;
    EXPECT_EQ(man.out.rfind("/usr/share/man/man1/socklab.1", 0), 0u) << man.out;
    EXPECT_TRUE(fs::exists("/usr/share/bash-completion/completions/socklab"));
    EXPECT_TRUE(fs::exists("/usr/share/zsh/vendor-completions/_socklab"));
    EXPECT_TRUE(fs::exists("/usr/share/doc/socklab/README.md"));
    EXPECT_FALSE(fs::exists("/usr/bin/socklab-lab-active-close"));
    EXPECT_TRUE(fs::exists("/usr/libexec/socklab/socklab-lab-active-close"));

    // ---- an unprivileged user of our own, in group socklab (what the README tells users) ----
    const std::string user = "socklabt" + std::to_string(::getpid() % 100000);
    const fs::path home = work.path / "home";
    const auto add = run_command({"useradd", "--create-home", "--home-dir", home.string(),
                                  "--shell", "/bin/sh", "--groups", "socklab", user});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    guard.user = user;

    {
        // Lab 5 uses port 9005: in a network namespace of its own, so no other test collides.
        PrivateNetns netns;
        const auto lab = run_command(as_user(user, {"/usr/bin/socklab", "lab", "run", "5", "--auto", "--json"}),
                                     {}, 120s);
        EXPECT_EQ(lab.exit_code, 0) << lab.out << lab.err;
        EXPECT_NE(lab.out.find(R"("event":"done")"), std::string::npos) << lab.out;
        EXPECT_NE(lab.out.find(R"("ok":true)"), std::string::npos) << lab.out;
        EXPECT_EQ(lab.out.find(R"("ok":false)"), std::string::npos) << lab.out;
    }

    {
        // Tracing through the installed helper, as the member: a connection made on a port
        // while `socklab trace --port` runs is shown, the way root would see it.
        PrivateNetns netns;
        auto listener = tcp_listen("127.0.0.1");
        const std::string port = std::to_string(local_port(listener.get()));
        Child trace(as_user(user, {"/usr/bin/socklab", "trace", "--port", port, "--json",
                                   "--duration", "30"}));
        const std::string established = R"("new_state":"ESTABLISHED")";
        const std::string on_port = R"("local_port":)" + port;
        bool seen = false;
        // Connect until the trace shows one (it needs a moment to start the helper); bounded.
        for (int i = 0; i < 100 && !seen; ++i) {
            auto client = tcp_connect("127.0.0.1", local_port(listener.get()));
            auto server = tcp_accept(listener.get());
            seen = trace.read_until([&](const std::string& out) {
                return out.find(established) != std::string::npos && out.find(on_port) != std::string::npos;
            }, 200ms);
        }
        EXPECT_TRUE(seen) << "no transition on port " << port << " traced as a member of group "
                          << "socklab; stdout:\n" << trace.out() << "\nstderr:\n" << trace.err();
        trace.signal(SIGINT);
        EXPECT_EQ(trace.wait(20s), 0) << trace.err();

        // The helper also destroys, for the member, a TIME_WAIT that blocks a port.
        const auto tw_port = make_time_wait(true);
        const auto freed = run_command(
            as_user(user, {"/usr/bin/socklab", "free", std::to_string(tw_port), "--destroy", "--yes"}), {}, 60s);
        EXPECT_EQ(freed.exit_code, 0) << freed.out << freed.err;
        auto src = make_netlink_source();
        EXPECT_TRUE(sockets_on_port(*src, tw_port).empty()) << "the TIME_WAIT on " << tw_port << " is still there";

        // Anyone outside the group is not let in: the helper refuses (mode 0750) and socklab
        // says, in one line, what tracing needs.
        const auto refused = run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                          "--reset-env", "--", "/usr/bin/socklab", "trace", "--duration", "0.2"},
                                         {}, 30s);
        EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
        EXPECT_NE(refused.err.find("needs root"), std::string::npos) << refused.err;
        // From the non-member's own shell (setpriv itself may still exec it with the rights it
        // had before the switch): the execute permission is the group's alone.
        const auto direct = run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                         "--reset-env", "--", "sh", "-c",
                                         "exec /usr/libexec/socklab/socklab-helper --version"});
        EXPECT_EQ(direct.exit_code, 126) << "a non-member ran socklab-helper: " << direct.out << direct.err;
        EXPECT_NE(direct.err.find("Permission denied"), std::string::npos) << direct.err;
    }

    if (SOCKLAB_HAVE_VIEWER && have_program("xvfb-run")) {
        const std::string dump = (home / "state.json").string();
        const std::string png = (home / "viewer.png").string();
        const auto viewer = run_command(
            as_user(user, xvfb_run({"/usr/bin/socklab-viewer", "--frames", "3", "--dump-state", dump,
                                    "--screenshot", png})),
            {}, 120s);
        EXPECT_EQ(viewer.exit_code, 0) << viewer.out << viewer.err;
        std::ifstream in(dump);
        ASSERT_TRUE(in) << "the viewer wrote no " << dump;
        const auto state = nlohmann::json::parse(in, nullptr, false);
        EXPECT_FALSE(state.is_discarded()) << "not JSON: " << dump;
        EXPECT_GT(fs::file_size(png), 1000u);
    }

    // ---- purge: nothing may be left ----
    ASSERT_TRUE(remove_user(user)) << "failed to remove the test user " << user;
    guard.user.clear();
    const auto purge = dpkg({"--purge", "socklab"});
    ASSERT_EQ(purge.exit_code, 0) << purge.out << purge.err;
    EXPECT_FALSE(package_known());
    EXPECT_FALSE(group_exists("socklab")) << "purge left group socklab";
    int checked = 0;
    for (const auto& f : files) {
        // Shared directories (/usr, /usr/bin, ...) stay; what is ours must be gone.
        if (fs::is_directory(f) && f.string().find("socklab") == std::string::npos) continue;
        ++checked;
        EXPECT_FALSE(fs::exists(fs::symlink_status(f))) << "left behind: " << f;
    }
    EXPECT_GT(checked, 30) << "dpkg listed too few files of the package";
}

}  // namespace
}  // namespace socklab::test
