#pragma once
// Owners: which processes hold a socket, found by walking /proc/<pid>/fd and matching the
// "socket:[inode]" links. TIME_WAIT and orphaned FIN_WAIT2 mini-sockets (inode 0) have no owner.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace socklab {

struct ProcessRef {
    int pid = 0;
    int fd = -1;
    std::uint32_t uid = 0;
    std::string command;  // /proc/<pid>/comm
    std::string user;     // name for uid, or the number when it has none
};

struct OwnerScanStats {
    std::size_t processes = 0;    // processes looked at
    std::size_t descriptors = 0;  // fd links read
    std::size_t unreadable = 0;   // processes skipped: gone, or no permission
    std::chrono::nanoseconds cost{};
    // How the last refresh found them: "bpf" (a task_file iterator, root only: processes and
    // descriptors then count socket holders and socket descriptors) or "proc" (the walk).
    const char* method = "proc";
};

// The name of user `uid` as ps shows it, or the number when the user database has none.
[[nodiscard]] std::string user_name(std::uint32_t uid);

// The sockets one process holds now, by inode: each with its descriptor, the process's
// command, effective uid and user name (what a lab shows for its own descriptors). Empty when
// the process is gone or its descriptors cannot be read.
[[nodiscard]] std::map<std::uint64_t, ProcessRef> sockets_held_by(
    int pid, const std::filesystem::path& proc_root = "/proc");

class OwnerIndex {
public:
    explicit OwnerIndex(std::filesystem::path proc_root = "/proc");
    ~OwnerIndex();
    OwnerIndex(OwnerIndex&&) noexcept;
    OwnerIndex& operator=(OwnerIndex&&) noexcept;

    // Map every socket inode of every readable process. Repeated calls are incremental:
    // processes whose descriptor table did not change are not read again.
    void refresh_all();
    // Only the given inodes are wanted (what `who` needs): everything else is skipped as
    // early as possible and not stored.
    void refresh_for(std::span<const std::uint64_t> inodes);

    // Owners of one socket inode; empty when nobody (or nobody readable) holds it.
    [[nodiscard]] std::span<const ProcessRef> owners_of(std::uint64_t inode) const;
    [[nodiscard]] const OwnerScanStats& stats() const noexcept;

    // With root on Linux >= 5.8 the index asks the kernel for all socket descriptors at once
    // (BPF task_file iterator) instead of reading every /proc/<pid>/fd link; false forces the
    // /proc walk (also: environment SOCKLAB_OWNERS_NO_BPF=1). Only for the real /proc.
    void set_allow_bpf(bool allow) noexcept;
    // Why the iterator could not be used, empty if it was (or was not tried).
    [[nodiscard]] std::string_view bpf_unavailable_reason() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace socklab
