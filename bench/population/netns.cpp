#include "netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "socklab/error.hpp"

extern char** environ;

namespace socklab::bench {

int run_program(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool valid_netns_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '_' || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

NamedNetns::NamedNetns(std::string name) : name_(std::move(name)) {
    const std::string path = "/run/netns/" + name_;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0)
        throw Error("failed to create network namespace " + name_ +
                    ": it exists already; if it is a leftover, remove it with 'ip netns del " +
                    name_ + "'");
    original_.reset(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!original_) throw sys_error("open /proc/self/ns/net", errno);
    if (run_program({"ip", "netns", "add", name_}) != 0)
        throw Error("failed to create network namespace " + name_ +
                    ": 'ip netns add' failed (see its message above); run as root with iproute2 "
                    "installed");
    created_ = true;
}

NamedNetns::~NamedNetns() { remove(); }

void NamedNetns::enter() {
    const std::string path = "/run/netns/" + name_;
    const UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) throw sys_error("open " + path, errno);
    if (::setns(ns.get(), CLONE_NEWNET) != 0) throw sys_error("enter network namespace " + name_, errno);
}

void NamedNetns::leave() noexcept {
    if (original_) (void)::setns(original_.get(), CLONE_NEWNET);
}

void NamedNetns::remove() noexcept {
    if (!created_) return;
    leave();
    created_ = false;
    if (run_program({"ip", "netns", "del", name_}) != 0)
        std::fprintf(stderr,
                     "socklab-population: failed to delete network namespace %s: 'ip netns del' "
                     "failed; remove it by hand with 'ip netns del %s'\n",
                     name_.c_str(), name_.c_str());
}

std::string read_sysctl(const std::string& key) {
    std::ifstream in("/proc/sys/" + key);
    if (!in) throw sys_error("read /proc/sys/" + key, errno);
    std::ostringstream text;
    text << in.rdbuf();
    std::string value = text.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
    return value;
}

void write_sysctl(const std::string& key, const std::string& value) {
    const std::string path = "/proc/sys/" + key;
    const UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw sys_error("open " + path, errno);
    if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
        throw sys_error("write '" + value + "' to " + path, errno);
}

}  // namespace socklab::bench
