#pragma once
// Reading /proc, once for the whole library: the fields of /proc/<pid>/stat, the socket inode
// behind a descriptor link, and a user's name. Parsers are pure functions of their text, so
// tests feed them fixtures (tests/fixtures/procroot-owners) and fuzz_procfs feeds them
// anything; readers take the /proc root so a fake one can stand in.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace socklab::procfs {

// The fields of /proc/<pid>/stat that socklab uses (proc(5); numbered as there).
struct Stat {
    char state = '?';               // field 3: R, S, D, Z, T, ...
    int ppid = 0;                   // field 4
    unsigned long flags = 0;        // field 9: PF_* flags (PF_KTHREAD = kernel thread)
    std::uint64_t num_threads = 0;  // field 20
    std::uint64_t start_time = 0;   // field 22: clock ticks after boot
};

// One /proc/<pid>/stat line. The command (field 2) may hold spaces and ')', so the fields are
// counted from after its last ')'. nullopt when a field up to 22 is missing or not a number.
[[nodiscard]] std::optional<Stat> parse_stat(std::string_view text) noexcept;

// <proc_root>/<pid>/stat, parsed; nullopt when it cannot be read (the process is gone) or
// parsed.
[[nodiscard]] std::optional<Stat> read_stat(int pid,
                                            const std::filesystem::path& proc_root = "/proc");

// A descriptor link's target: "socket:[12345]" -> 12345; anything else -> 0 (socket inodes
// are never 0).
[[nodiscard]] std::uint64_t socket_inode_of_link(std::string_view link) noexcept;

// The socket inode behind descriptor `fd` of process `pid` (<proc_root>/<pid>/fd/<fd>), or 0
// when it is no socket or cannot be read.
[[nodiscard]] std::uint64_t socket_inode_of_fd(int pid, int fd,
                                               const std::filesystem::path& proc_root = "/proc");

// Whether process `pid` holds socket `inode` now: a "socket:[inode]" link in
// <proc_root>/<pid>/fd.
[[nodiscard]] bool holds_socket(int pid, std::uint64_t inode,
                                const std::filesystem::path& proc_root = "/proc");

}  // namespace socklab::procfs
