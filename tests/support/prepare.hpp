#pragma once
// Ready-made `prepare` steps for a Confinement (confined.hpp): the situations socklab's
// tracer, labs and viewer meet on other machines — an ordinary user, uid 0 of a container,
// a kernel without tracefs or with a read-only one, too few descriptors. They run in the
// forked child only, so the machine's own users, mounts and limits are never touched. Each
// returns false after saying on stderr what failed. For example:
//
//     run_confined({bin("socklab-lab-bind"), "--auto"}, prepared_by(become_nobody));
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "confined.hpp"

namespace socklab::test {

// A Confinement whose only step is `prepare`.
inline Confinement prepared_by(std::function<bool()> prepare) {
    Confinement c;
    c.prepare = std::move(prepare);
    return c;
}

// uid and gid 65534 (nobody), no supplementary groups, no capabilities. Needs root.
inline bool become_nobody() {
    return confined_detail::change_user(kNobodyUid, {});
}

// uid 0 that is not the host's root, as in a container: `argv` run as nobody, mapped to 0
// in a user namespace of its own, by util-linux's setpriv and unshare. Commands rather than a
// `prepare` step: a child forked from a ThreadSanitizer build is not single-threaded, and
// the kernel refuses a user namespace to a multi-threaded process (EINVAL). Needs root.
inline std::vector<std::string> as_root_of_a_user_namespace(std::vector<std::string> argv) {
    std::vector<std::string> out{"setpriv",  "--reuid=" + std::to_string(kNobodyUid),
                                 "--regid=" + std::to_string(kNobodyUid), "--clear-groups",
                                 "unshare",  "--user", "--map-root-user"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

// What unshare(1) says when the kernel allows no user namespace here: the test skips on it.
inline constexpr const char* kNoUserNamespaces = "unshare failed";

// A mount namespace of the child's own: nothing mounted in it reaches the host. Needs root.
inline bool private_mounts() {
    if (::unshare(CLONE_NEWNS) != 0) return prepare_failed("unshare the mount namespace");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return prepare_failed("make the mounts private");
    return true;
}

// A kernel without tracing, as far as the child can tell: in private mounts, an empty
// read-only tmpfs over /sys/kernel hides both /sys/kernel/tracing and .../debug/tracing.
inline bool hide_tracefs() {
    if (!private_mounts()) return false;
    if (::mount("socklab-test", "/sys/kernel", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                "size=4k,mode=0755") != 0)
        return prepare_failed("mount an empty tmpfs over /sys/kernel");
    return true;
}

// In private mounts, /sys/kernel/tracing bound onto itself read-only: no instance can be made.
inline bool read_only_tracefs() {
    if (!private_mounts()) return false;
    if (::mount("/sys/kernel/tracing", "/sys/kernel/tracing", nullptr, MS_BIND, nullptr) != 0)
        return prepare_failed("bind /sys/kernel/tracing");
    if (::mount(nullptr, "/sys/kernel/tracing", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY,
                nullptr) != 0)
        return prepare_failed("remount /sys/kernel/tracing read-only");
    return true;
}

// RLIMIT_NOFILE of `fds`: stdin, stdout and stderr, and room for fds - 3 more (the child
// starts with no others open).
inline bool limit_descriptors(rlim_t fds) {
    const rlimit lim{fds, fds};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return prepare_failed("set RLIMIT_NOFILE");
    return true;
}

}  // namespace socklab::test
