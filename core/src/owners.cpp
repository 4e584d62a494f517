// OwnerIndex: socket inode -> processes.
//
// Two ways to find them, same answer (tests/core/owners_test.cpp compares them):
//  - Root, real /proc: a BPF task_file iterator hands over every socket descriptor of every
//    process in one read (owners_bpf.cpp). No per-descriptor system call at all; this is what
//    makes `who` and `list --processes` cheap at 100k sockets.
//  - Otherwise: walk /proc/<pid>/fd. The per-process part (open the fd directory, read
//    stat/schedstat) is a handful of syscalls; the per-descriptor readlinkat dominates
//    (~3.5 us each here, mostly syscall entry behind PTI). So: no allocation per descriptor
//    (getdents64 into a fixed buffer, readlinkat relative to the fd directory, fixed link
//    buffer), process details (comm, status, user name) only for processes that hold a
//    socket we keep, and in refresh_all() a per-process cache so an unchanged process is not
//    walked again (see Signature below).
// Either way the result is one flat array of owners grouped by inode plus an open-addressing
// table inode -> slice of that array.
#include "socklab/owners.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "socklab/error.hpp"
#include "socklab/fd.hpp"
#include "owners_bpf.hpp"
#include "procfs.hpp"

namespace socklab {
namespace {

using Clock = std::chrono::steady_clock;

// One getdents64 record, read field by field with memcpy so an odd layout can never be UB.
struct DirEntry {
    std::string_view name;
    unsigned char type = DT_UNKNOWN;
};

// Iterate a directory with getdents64 into a caller-owned buffer: no DIR*, no allocation.
template <typename Fn>
bool for_each_entry(int dir_fd, std::span<std::byte> buf, Fn&& fn) {
    for (;;) {
        const ssize_t n = ::getdents64(dir_fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (n == 0) return true;
        std::size_t off = 0;
        const auto len = static_cast<std::size_t>(n);
        while (off + 19 <= len) {
            std::uint16_t reclen = 0;
            std::memcpy(&reclen, buf.data() + off + 16, sizeof reclen);
            if (reclen < 20 || off + reclen > len) break;
            DirEntry e;
            e.type = static_cast<unsigned char>(buf[off + 18]);
            const char* name = reinterpret_cast<const char*>(buf.data() + off + 19);
            e.name = std::string_view(name, ::strnlen(name, reclen - 19));
            fn(e);
            off += reclen;
        }
    }
}

template <typename T>
bool parse_uint(std::string_view s, T& out) {
    if (s.empty()) return false;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

// Read a small file below dir_fd into buf; returns the bytes read or -1.
ssize_t read_small(int dir_fd, const char* name, char* buf, std::size_t size) {
    const UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return -1;
    std::size_t got = 0;
    while (got < size) {
        const ssize_t n = ::read(fd.get(), buf + got, size - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    return static_cast<ssize_t>(got);
}

// Whether a process's descriptor table may have changed since it was last walked.
//
// No procfs file carries a generation count of the fd table, so nothing short of reading
// every link is exact for every process. What is exact: a table changes only when one of
// the tasks sharing it runs a system call. For a single-threaded process the scheduler's
// run time of that one task (/proc/<pid>/schedstat, nanoseconds, including the slice it is
// running right now) must then move. Start time (from /proc/<pid>/stat) guards against a
// reused pid, the descriptor count (st_size of /proc/<pid>/fd, Linux >= 6.2) is a free
// extra check. Trade-offs, chosen on purpose:
//  - Multi-threaded processes are always walked again: their threads' run times are only
//    per task (walking /proc/<pid>/task costs as much as the fds it would save for most).
//  - Two processes sharing one fd table without being threads (clone(CLONE_FILES) without
//    CLONE_THREAD, which nothing common does) can change each other's table unseen.
//  - A process that runs between two polls is walked again even if its table did not
//    change; busy servers are re-read every time, idle ones (most of /proc) never.
struct Signature {
    std::uint64_t start_time = 0;  // clock ticks after boot, /proc/<pid>/stat field 22
    std::uint64_t run_ns = 0;      // /proc/<pid>/schedstat field 1
    std::uint64_t fd_count = 0;    // st_size of /proc/<pid>/fd (0 on kernels before 6.2)
    bool usable = false;           // single-threaded and all of the above were read

    bool same_as(const Signature& o) const noexcept {
        return usable && o.usable && start_time == o.start_time && run_ns == o.run_ns &&
               fd_count == o.fd_count;
    }
};

Signature read_signature(int pid_fd, char* buf, std::size_t size) {
    Signature sig;
    ssize_t n = read_small(pid_fd, "stat", buf, size);
    if (n <= 0) return sig;
    const auto stat = procfs::parse_stat(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!stat || stat->num_threads != 1) return sig;
    sig.start_time = stat->start_time;
    n = read_small(pid_fd, "schedstat", buf, size);
    if (n <= 0) return sig;
    std::string_view sched(buf, static_cast<std::size_t>(n));
    if (!parse_uint(sched.substr(0, sched.find(' ')), sig.run_ns)) return sig;
    sig.usable = true;
    return sig;
}

struct FdSocket {
    std::uint64_t inode = 0;
    int fd = -1;
};

struct ProcEntry {
    Signature sig;
    std::uint32_t uid = 0;
    std::string command;
    std::vector<FdSocket> sockets;
    std::uint64_t seen = 0;  // refresh generation that last saw this pid
};

// Flat open-addressing hash: inode -> [begin, begin + count) in the owners array. Linear
// probing over a power-of-two table at most half full; inode 0 marks an empty slot (socket
// inodes are never 0).
class InodeTable {
public:
    struct Slot {
        std::uint64_t inode = 0;
        std::uint32_t begin = 0;
        std::uint32_t count = 0;
    };

    void clear() { std::fill(slots_.begin(), slots_.end(), Slot{}); }

    void reserve_for(std::size_t n) {
        std::size_t cap = 16;
        while (cap < 2 * n) cap *= 2;
        slots_.assign(cap, Slot{});
        mask_ = cap - 1;
    }

    Slot& insert(std::uint64_t inode) {
        for (std::size_t i = hash(inode) & mask_;; i = (i + 1) & mask_) {
            if (slots_[i].inode == inode) return slots_[i];
            if (slots_[i].inode == 0) {
                slots_[i].inode = inode;
                return slots_[i];
            }
        }
    }

    [[nodiscard]] const Slot* find(std::uint64_t inode) const noexcept {
        if (slots_.empty() || inode == 0) return nullptr;
        for (std::size_t i = hash(inode) & mask_;; i = (i + 1) & mask_) {
            if (slots_[i].inode == inode) return &slots_[i];
            if (slots_[i].inode == 0) return nullptr;
        }
    }

private:
    static std::size_t hash(std::uint64_t x) noexcept {
        // Socket inodes are dense and sequential: mix them before masking.
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        return static_cast<std::size_t>(x);
    }
    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
};

// Sort (inode, owner) pairs by inode, then by pid and fd so output is stable.
struct Row {
    std::uint64_t inode;
    int pid;
    int fd;
    std::uint32_t uid;
    const std::string* command;
};

void sort_rows(std::vector<Row>& rows) {
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        if (a.inode != b.inode) return a.inode < b.inode;
        if (a.pid != b.pid) return a.pid < b.pid;
        return a.fd < b.fd;
    });
}

}  // namespace

struct OwnerIndex::Impl {
    std::filesystem::path root;
    OwnerScanStats stats;
    std::unordered_map<std::uint32_t, std::string> users;  // uid -> name, cached
    std::unordered_map<int, ProcEntry> procs;               // refresh_all's per-pid cache
    std::uint64_t generation = 0;

    std::vector<ProcessRef> owners;  // grouped by inode; see table
    InodeTable table;

    // Scratch, reused: no allocation per process or descriptor.
    alignas(8) std::array<std::byte, 32768> dents{};
    alignas(8) std::array<std::byte, 4096> pid_dents{};
    std::array<char, 4096> text{};

    UniqueFd open_root() const {
        UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd)
            throw Error("failed to open " + root.string() + ": " + std::strerror(errno) +
                        " (is procfs mounted there?)");
        return fd;
    }

    const std::string& user_name(std::uint32_t uid) {
        auto it = users.find(uid);
        if (it != users.end()) return it->second;
        return users.emplace(uid, socklab::user_name(uid)).first->second;
    }

    // Command and uid of a process that holds a socket we keep. The effective uid, as ps
    // shows it; from status because the /proc/<pid> owner is root for non-dumpable processes.
    bool read_details(int pid_fd, std::string& command, std::uint32_t& uid) {
        ssize_t n = read_small(pid_fd, "comm", text.data(), text.size());
        if (n < 0) return false;
        std::string_view comm(text.data(), static_cast<std::size_t>(n));
        while (!comm.empty() && (comm.back() == '\n' || comm.back() == '\0')) comm.remove_suffix(1);
        command.assign(comm);

        n = read_small(pid_fd, "status", text.data(), text.size());
        bool have_uid = false;
        if (n > 0) {
            std::string_view status(text.data(), static_cast<std::size_t>(n));
            const auto at = status.find("\nUid:");
            if (at != std::string_view::npos) {
                std::string_view rest = status.substr(at + 5);
                rest = rest.substr(0, rest.find('\n'));
                // "Uid:\treal\teffective\tsaved\tfs": take the effective one.
                for (int field = 0; field < 2 && !rest.empty(); ++field) {
                    while (!rest.empty() && (rest.front() == '\t' || rest.front() == ' '))
                        rest.remove_prefix(1);
                    const auto end = std::min(rest.find_first_of("\t "), rest.size());
                    if (field == 1) have_uid = parse_uint(rest.substr(0, end), uid);
                    rest.remove_prefix(end);
                }
            }
        }
        if (!have_uid) {
            struct stat st{};
            if (::fstat(pid_fd, &st) != 0) return false;
            uid = st.st_uid;
        }
        return true;
    }

    // Walk /proc/<pid>/fd. `keep(inode)` decides which sockets are recorded. Returns false
    // when the directory cannot be read (process gone, or no permission).
    template <typename Keep>
    bool walk_fds(int fd_dir, std::vector<FdSocket>& out, Keep&& keep) {
        std::array<char, 64> link{};
        std::size_t links = 0;
        const bool ok = for_each_entry(fd_dir, dents, [&](const DirEntry& e) {
            int fd = 0;
            if (!parse_uint(e.name, fd)) return;  // "." and ".."
            // The name came from getdents64, NUL-terminated in the buffer.
            const ssize_t n = ::readlinkat(fd_dir, e.name.data(), link.data(), link.size());
            ++links;
            if (n <= 0) return;  // closed meanwhile
            const std::uint64_t inode =
                procfs::socket_inode_of_link(std::string_view(link.data(), static_cast<std::size_t>(n)));
            if (inode != 0 && keep(inode)) out.push_back({inode, fd});
        });
        stats.descriptors += links;
        return ok;
    }

    template <typename Visit>
    void for_each_pid(int root_fd, Visit&& visit) {
        std::vector<int> pids;
        pids.reserve(1024);
        if (!for_each_entry(root_fd, pid_dents, [&](const DirEntry& e) {
                int pid = 0;
                if (parse_uint(e.name, pid) && pid > 0) pids.push_back(pid);
            }))
            throw Error("failed to read " + root.string() + ": " + std::strerror(errno));
        std::array<char, 16> name{};
        for (const int pid : pids) {
            ++stats.processes;
            const auto [end, ec] = std::to_chars(name.data(), name.data() + name.size() - 1, pid);
            *end = '\0';
            (void)ec;
            const UniqueFd pid_fd(
                ::openat(root_fd, name.data(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!pid_fd) {
                ++stats.unreadable;
                continue;
            }
            visit(pid, pid_fd.get());
        }
    }

    // Sort, drop duplicates, and index the rows; `rows` point into stable command strings.
    void finish(std::vector<Row>& rows) {
        sort_rows(rows);
        rows.erase(std::unique(rows.begin(), rows.end(),
                               [](const Row& a, const Row& b) {
                                   return a.inode == b.inode && a.pid == b.pid && a.fd == b.fd;
                               }),
                   rows.end());
        owners.clear();
        owners.reserve(rows.size());
        for (const auto& r : rows)
            owners.push_back({r.pid, r.fd, r.uid, *r.command, user_name(r.uid)});
        table.reserve_for(rows.size());
        std::size_t i = 0;
        while (i < rows.size()) {
            std::size_t j = i;
            while (j < rows.size() && rows[j].inode == rows[i].inode) ++j;
            auto& slot = table.insert(rows[i].inode);
            slot.begin = static_cast<std::uint32_t>(i);
            slot.count = static_cast<std::uint32_t>(j - i);
            i = j;
        }
    }

    // The fast path: all socket descriptors from the kernel in one read (owners_bpf.hpp),
    // then comm/status only for the processes that hold a kept socket. False when the
    // iterator is unavailable; remembered, so a poller does not retry every time.
    template <typename Keep>
    bool try_bpf(Keep&& keep, std::vector<Row>& rows, std::deque<std::string>& commands) {
        if (!allow_bpf || bpf_broken || root != "/proc") return false;
        std::string why;
        if (!bpf) {
            auto it = std::make_unique<detail::BpfSocketIter>();
            if (!it->open(why)) {
                bpf_broken = true;
                bpf_why = std::move(why);
                return false;
            }
            bpf = std::move(it);
        }
        std::vector<detail::SocketFd> fds;
        fds.reserve(4096);
        if (!bpf->read_all(fds, why)) {
            bpf_broken = true;
            bpf_why = std::move(why);
            return false;
        }
        stats.method = "bpf";
        stats.descriptors = fds.size();
        std::erase_if(fds, [&](const detail::SocketFd& f) { return !keep(f.inode); });
        std::sort(fds.begin(), fds.end(), [](const auto& a, const auto& b) {
            return a.tgid != b.tgid ? a.tgid < b.tgid : a.fd < b.fd;
        });
        const UniqueFd root_fd = open_root();
        std::array<char, 16> name{};
        for (std::size_t i = 0; i < fds.size();) {
            std::size_t j = i;
            while (j < fds.size() && fds[j].tgid == fds[i].tgid) ++j;
            ++stats.processes;
            const auto [end, ec] =
                std::to_chars(name.data(), name.data() + name.size() - 1, fds[i].tgid);
            *end = '\0';
            (void)ec;
            const UniqueFd pid_fd(
                ::openat(root_fd.get(), name.data(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            std::string command;
            std::uint32_t uid = 0;
            struct stat st {};
            if (!pid_fd) {
                ++stats.unreadable;  // exited since the iterator saw it
            } else {
                if (!read_details(pid_fd.get(), command, uid)) {
                    // The kernel says it holds the socket; naming the pid without its command
                    // beats hiding a holder.
                    ++stats.unreadable;
                    command = "?";
                    uid = ::fstat(pid_fd.get(), &st) == 0 ? st.st_uid : 0;
                }
                const std::string* cmd = &commands.emplace_back(std::move(command));
                for (std::size_t k = i; k < j; ++k)
                    rows.push_back({fds[k].inode, static_cast<int>(fds[k].tgid),
                                    static_cast<int>(fds[k].fd), uid, cmd});
            }
            i = j;
        }
        return true;
    }

    bool allow_bpf = std::getenv("SOCKLAB_OWNERS_NO_BPF") == nullptr;
    bool bpf_broken = false;
    std::string bpf_why;
    std::unique_ptr<detail::BpfSocketIter> bpf;
};

OwnerIndex::OwnerIndex(std::filesystem::path proc_root) : impl_(std::make_unique<Impl>()) {
    impl_->root = std::move(proc_root);
}
OwnerIndex::~OwnerIndex() = default;
OwnerIndex::OwnerIndex(OwnerIndex&&) noexcept = default;
OwnerIndex& OwnerIndex::operator=(OwnerIndex&&) noexcept = default;

void OwnerIndex::refresh_all() {
    auto& im = *impl_;
    const auto started = Clock::now();
    im.stats = {};
    std::vector<Row> rows;
    std::deque<std::string> commands;
    if (im.try_bpf([](std::uint64_t) { return true; }, rows, commands)) {
        im.procs.clear();  // the /proc cache is stale from now on
        im.finish(rows);
        im.stats.cost = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started);
        return;
    }
    const UniqueFd root_fd = im.open_root();
    const std::uint64_t gen = ++im.generation;

    im.for_each_pid(root_fd.get(), [&](int pid, int pid_fd) {
        auto [it, fresh] = im.procs.try_emplace(pid);
        ProcEntry& e = it->second;
        Signature now = read_signature(pid_fd, im.text.data(), im.text.size());
        const UniqueFd fd_dir(::openat(pid_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd_dir) {
            ++im.stats.unreadable;
            im.procs.erase(it);
            return;
        }
        if (now.usable) {
            struct stat st {};
            if (::fstat(fd_dir.get(), &st) == 0)
                now.fd_count = static_cast<std::uint64_t>(st.st_size);
            else
                now.usable = false;
        }
        e.seen = gen;
        if (!fresh && now.same_as(e.sig)) return;  // unchanged since the last walk
        e.sockets.clear();
        if (!im.walk_fds(fd_dir.get(), e.sockets, [](std::uint64_t) { return true; })) {
            ++im.stats.unreadable;
            im.procs.erase(it);
            return;
        }
        e.sig = now;
        if (!e.sockets.empty() && !im.read_details(pid_fd, e.command, e.uid)) {
            ++im.stats.unreadable;  // exited between the walk and the details
            im.procs.erase(it);
            return;
        }
    });

    std::size_t total = 0;
    for (auto it = im.procs.begin(); it != im.procs.end();) {
        if (it->second.seen != gen) {
            it = im.procs.erase(it);
        } else {
            total += it->second.sockets.size();
            ++it;
        }
    }
    rows.reserve(total);
    for (const auto& [pid, e] : im.procs)
        for (const auto& s : e.sockets) rows.push_back({s.inode, pid, s.fd, e.uid, &e.command});
    im.finish(rows);
    im.stats.cost = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started);
}

void OwnerIndex::refresh_for(std::span<const std::uint64_t> inodes) {
    auto& im = *impl_;
    const auto started = Clock::now();
    im.stats = {};
    std::vector<std::uint64_t> wanted(inodes.begin(), inodes.end());
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    if (!wanted.empty() && wanted.front() == 0) wanted.erase(wanted.begin());

    std::vector<Row> rows;
    std::deque<std::string> commands;  // stable addresses for Row::command
    const auto keep = [&wanted](std::uint64_t inode) {
        return std::binary_search(wanted.begin(), wanted.end(), inode);
    };
    // Nothing wanted (a port held only by TIME_WAIT): nothing to walk.
    if (!wanted.empty() && !im.try_bpf(keep, rows, commands)) {
        const UniqueFd root_fd = im.open_root();
        std::vector<FdSocket> found;
        im.for_each_pid(root_fd.get(), [&](int pid, int pid_fd) {
            const UniqueFd fd_dir(::openat(pid_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            found.clear();
            if (!fd_dir || !im.walk_fds(fd_dir.get(), found, keep)) {
                ++im.stats.unreadable;
                return;
            }
            if (found.empty()) return;
            std::string command;
            std::uint32_t uid = 0;
            if (!im.read_details(pid_fd, command, uid)) {
                ++im.stats.unreadable;
                return;
            }
            const std::string* cmd = &commands.emplace_back(std::move(command));
            for (const auto& s : found) rows.push_back({s.inode, pid, s.fd, uid, cmd});
        });
    }
    im.finish(rows);
    im.stats.cost = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started);
}

void OwnerIndex::set_allow_bpf(bool allow) noexcept { impl_->allow_bpf = allow; }

std::string_view OwnerIndex::bpf_unavailable_reason() const noexcept { return impl_->bpf_why; }

std::span<const ProcessRef> OwnerIndex::owners_of(std::uint64_t inode) const {
    const auto* slot = impl_->table.find(inode);
    if (slot == nullptr) return {};
    return {impl_->owners.data() + slot->begin, slot->count};
}

const OwnerScanStats& OwnerIndex::stats() const noexcept { return impl_->stats; }

std::map<std::uint64_t, ProcessRef> sockets_held_by(int pid, const std::filesystem::path& proc_root) {
    std::map<std::uint64_t, ProcessRef> held;
    const auto dir = proc_root / std::to_string(pid);
    std::string command;
    if (std::ifstream in(dir / "comm"); !std::getline(in, command)) return held;
    // The effective uid, the second number of status's "Uid:" line (proc(5)).
    std::uint32_t uid = 0;
    {
        std::ifstream in(dir / "status");
        std::string line;
        while (std::getline(in, line))
            if (line.rfind("Uid:", 0) == 0) {
                std::istringstream fields(line.substr(4));
                std::uint32_t real = 0;
                if (!(fields >> real >> uid)) uid = real;
                break;
            }
    }
    const auto user = user_name(uid);
    std::error_code ec;
    for (const auto& ent : std::filesystem::directory_iterator(dir / "fd", ec)) {
        std::error_code link_ec;
        const auto target = std::filesystem::read_symlink(ent.path(), link_ec);
        if (link_ec) continue;  // closed between the listing and the read
        const auto inode = procfs::socket_inode_of_link(target.native());
        int fd = -1;
        const auto name = ent.path().filename().native();
        if (inode == 0 ||
            std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc{})
            continue;
        held[inode] = ProcessRef{pid, fd, uid, command, user};
    }
    return held;
}

}  // namespace socklab
