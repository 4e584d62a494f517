// socklab-helper: the one privileged program of socklab (see docs/privileges.md).
//
// Started by a front end as its child, with its end of a socketpair on fd 3. Before reading
// anything it drops every capability it does not need, checks that the real user is root
// or a member of group `socklab`, and that the peer on fd 3 is the parent that started it.
// Then it serves one request at a time (server.cpp); each verb raises its own capability
// only while it acts.
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "caps.hpp"
#include "server.hpp"
#include "socklab/error.hpp"
#include "socklab/helper_protocol.hpp"
#include "socklab/version.hpp"
#include "socklab/i18n.hpp"
#include "socklab/tracer.hpp"

namespace {

constexpr const char* kGroup = "socklab";

// In CLI11's layout, like every other socklab program, so the man page is made the same way.
constexpr const char* kHelp =
    N_("The one privileged program of socklab. socklab, socklab-viewer and the labs start it as\n"
    "their child, with a socketpair on fd 3, when a user who is not root asks for tracing, packet\n"
    "capture, the owners of other users' processes, SOCK_DESTROY or a signal. It runs with file\n"
    "capabilities (no setuid), refuses users not in group socklab, and raises each capability\n"
    "only for the request that needs it (docs/privileges.md).\n"
    "Usage: socklab-helper [OPTIONS]\n"
    "\n"
    "Options:\n"
    "  -h,--help                   Print this help message and exit\n"
    "  --version                   print the version and exit\n"
    "  --capabilities              Print the capabilities this copy may use and exit\n");

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "socklab-helper: %s\n", msg.c_str());
    std::exit(1);
}

// Is the real user root, or in group socklab (as its primary group or in the group file)?
void check_group() {
    const uid_t uid = ::getuid();
    if (uid == 0) return;
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* pwp = nullptr;
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &pwp) != 0 || pwp == nullptr)
        die("refused: uid " + std::to_string(uid) + _(" has no user name, so it cannot be in group ") +
            kGroup);
    std::vector<char> gbuf(16384);
    group gr{};
    group* grp = nullptr;
    if (::getgrnam_r(kGroup, &gr, gbuf.data(), gbuf.size(), &grp) != 0 || grp == nullptr)
        die(std::string(_("refused: there is no group ")) + kGroup +
            _("; the installer creates it (as root: groupadd --system socklab)"));
    int n = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
        groups.resize(static_cast<std::size_t>(n));
        if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0)
            die(_("failed to read the groups of user ") + std::string(pw.pw_name));
    }
    groups.resize(static_cast<std::size_t>(n));
    for (gid_t g : groups)
        if (g == gr.gr_gid) return;
    die("refused: user " + std::string(pw.pw_name) + _(" is not in group ") + kGroup +
        _("; as root run 'usermod -aG socklab ") + pw.pw_name + _("' and log in again"));
}

// fd 3 must be a Unix stream socket whose peer is our parent, running as our real user.
// Returns that user: whose processes' system calls a trace may show.
uid_t check_channel() {
    const int fd = socklab::helper::kChannelFd;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        die(_("refused: fd 3 is not a socket; socklab-helper is started by socklab, "
            "socklab-viewer and the labs, not by hand"));
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        die(_("refused: fd 3 is not a stream socket"));
    ucred cred{};
    len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        die(std::string(_("failed to read the peer of fd 3: ")) + std::strerror(errno));
    if (cred.pid != ::getppid())
        die(_("refused: the peer on fd 3 is pid ") + std::to_string(cred.pid) +
            _(", not the parent pid ") + std::to_string(::getppid()));
    if (cred.uid != ::getuid())
        die(_("refused: the peer on fd 3 runs as uid ") + std::to_string(cred.uid) +
            _(", not as uid ") + std::to_string(::getuid()));
    return cred.uid;
}

}  // namespace

int main(int argc, char** argv) {
    // Privileges go first, before any input is looked at.
    try {
        socklab::helper_main::drop_to_kept();
    } catch (const socklab::Error& e) {
        die(e.what());
    }
    if (argc == 2 && std::string_view(argv[1]) == "--capabilities") {
        // For the installer's check and the tests: what this copy may use.
        std::printf("%s\n", socklab::helper_main::permitted_names().c_str());
        return 0;
    }
    if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
        std::fputs(_(kHelp), stdout);
        return 0;
    }
    if (argc == 2 && std::string_view(argv[1]) == "--version") {
        std::printf("%.*s\n", static_cast<int>(socklab::kVersionLine.size()),
                    socklab::kVersionLine.data());
        return 0;
    }
    if (argc != 1)
        die(_("takes no arguments: it is started by socklab, socklab-viewer and the labs "
            "(--capabilities prints what it holds, --help says more)"));
    check_group();
    const uid_t caller = check_channel();
    // Killed by SIGINT, SIGTERM or SIGHUP (left at their defaults), it removes a trace's instance.
    socklab::Tracer::remove_instances_on_exit();
    return socklab::helper_main::serve(socklab::helper::kChannelFd, caller);
}
