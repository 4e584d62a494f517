#pragma once
// Internal to core/: every socket descriptor of every process in one read, through a BPF
// task_file iterator (Linux >= 5.8 with BTF; needs CAP_BPF + CAP_PERFMON, i.e. root here).
// The /proc walk costs one readlink per descriptor (~3-10 us each behind PTI in a VM); the
// iterator visits the same descriptors inside the kernel at a fraction of that.
#include <cstdint>
#include <string>
#include <vector>

#include "socklab/fd.hpp"

namespace socklab::detail {

struct SocketFd {
    std::uint32_t tgid = 0;  // process id as /proc shows it (root pid namespace only)
    std::uint32_t fd = 0;
    std::uint64_t inode = 0;
};

// The loaded iterator. Loading (BTF lookup + verifier) costs a few milliseconds, so a poller
// keeps one and only re-runs it; each run is one BPF_ITER_CREATE and a few reads.
class BpfSocketIter {
public:
    // Load and attach. False, with the reason in `why`, when the iterator cannot be used
    // (not privileged, no BTF, old kernel, not in the root pid namespace); the caller then
    // walks /proc instead.
    bool open(std::string& why);
    // Append one entry per descriptor that refers to a socket, for every process.
    bool read_all(std::vector<SocketFd>& out, std::string& why) const;

private:
    UniqueFd link_;
    std::uint32_t sockfs_dev_ = 0;
};
}  // namespace socklab::detail
