#pragma once
// A named network namespace (/run/netns/NAME, so `ip netns exec NAME cmd` works) that this
// process creates, enters and deletes again. Creation and deletion go through `ip netns`,
// which also takes care of the mount propagation under /run/netns.
#include <string>
#include <string_view>
#include <vector>

#include "socklab/fd.hpp"

namespace socklab::bench {

// Run argv[0] (searched in PATH) without a shell, wait for it. Returns its exit code, or -1
// when it could not be started or died from a signal.
int run_program(const std::vector<std::string>& argv);

// Is `name` acceptable as a netns name: 1-64 of [A-Za-z0-9_.-], not "." or "..".
[[nodiscard]] bool valid_netns_name(std::string_view name) noexcept;

class NamedNetns {
public:
    // Creates the namespace; throws socklab::Error when it exists already or `ip` fails.
    explicit NamedNetns(std::string name);
    ~NamedNetns();
    NamedNetns(const NamedNetns&) = delete;
    NamedNetns& operator=(const NamedNetns&) = delete;

    // Move the calling (single-threaded) process into the namespace; children forked
    // afterwards are born in it.
    void enter();
    // Back to the namespace the process started in, so deleting ours frees it at once.
    void leave() noexcept;
    // Unmount and remove /run/netns/NAME. Idempotent; also run by the destructor.
    void remove() noexcept;

    [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
    std::string name_;
    UniqueFd original_;
    bool created_ = false;
};

// /proc/sys/<key> of the current network namespace ("net/ipv4/tcp_tw_reuse").
[[nodiscard]] std::string read_sysctl(const std::string& key);
void write_sysctl(const std::string& key, const std::string& value);

}  // namespace socklab::bench
