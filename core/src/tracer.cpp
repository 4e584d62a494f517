// Tracer: sock:inet_sock_set_state from a private tracefs instance of socklab's own.
//
// One instance per Tracer, named so a later socklab can tell whether its owner still lives
// (trace::instance_name). Only this event is enabled, with a kernel-side filter, the "mono"
// trace clock (CLOCK_MONOTONIC, the clock of snapshots) and a per-cpu buffer sized for
// bursts. Records are read raw from per_cpu/cpuN/trace_pipe_raw, split into records by
// libtraceevent's kbuffer and decoded by trace::decode_record. Lost events come from the
// per-cpu stats files. The instance is removed by stop() or the destructor, on every error
// path, and — once the program's main() has called Tracer::remove_instances_on_exit() — by a
// SIGINT/SIGTERM/SIGHUP handler where the program has none of its own, and at exit(). The
// tracer prints nothing: what goes wrong is in status().
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>

// kbuffer.h has no extern "C" of its own.
extern "C" {
#include <traceevent/kbuffer.h>
}

// The libtracefs 1.6 calls socklab uses. Its header cannot be included from C++ (an inline
// helper converts int to an enum, which C++ rejects), so the prototypes are declared here,
// exactly as tracefs.h declares them.
extern "C" {
struct tracefs_instance;
struct tracefs_instance* tracefs_instance_alloc(const char* tracing_dir, const char* name);
void tracefs_instance_free(struct tracefs_instance* instance);
int tracefs_instance_file_write(struct tracefs_instance* instance, const char* file,
                                const char* str);
char* tracefs_instance_file_read(struct tracefs_instance* instance, const char* file, int* psize);
int tracefs_instance_set_buffer_size(struct tracefs_instance* instance, size_t size, int cpu);
bool tracefs_file_exists(struct tracefs_instance* instance, const char* name);
int tracefs_event_enable(struct tracefs_instance* instance, const char* system, const char* event);
int tracefs_event_disable(struct tracefs_instance* instance, const char* system,
                          const char* event);
int tracefs_event_file_write(struct tracefs_instance* instance, const char* system,
                             const char* event, const char* file, const char* str);
}

#include "procfs.hpp"
#include "socklab/error.hpp"
#include "socklab/fd.hpp"
#include "socklab/i18n.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "socklab/syscall_trace.hpp"
#include "socklab/tracer.hpp"

namespace socklab {
namespace {

constexpr const char* kTracingDir = "/sys/kernel/tracing";
constexpr const char* kDebugTracingDir = "/sys/kernel/debug/tracing";
constexpr long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC

// A descriptor of a process as one key: (pid << 32 | fd).
std::uint64_t descriptor_slot(std::int32_t pid, std::int64_t fd) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(pid)) << 32) |
           static_cast<std::uint32_t>(fd);
}

bool is_tracefs(const char* path) {
    struct statfs fs {};
    return ::statfs(path, &fs) == 0 && static_cast<long>(fs.f_type) == kTracefsMagic;
}

// Find tracefs, mounting it at /sys/kernel/tracing when root and nothing is mounted there.
// Returns the directory, or throws Error with what to do.
std::string ensure_tracefs() {
    if (is_tracefs(kTracingDir)) return kTracingDir;
    if (is_tracefs(kDebugTracingDir)) return kDebugTracingDir;
    if (::geteuid() != 0)
        throw Error(_("failed to find tracefs: it is not mounted and only root can mount it; run "
                      "as root (e.g. 'sudo socklab trace'); the table, the labs and the doctor keep "
                      "working on polling alone"));
    if (::mount("nodev", kTracingDir, "tracefs", 0, nullptr) != 0)
        throw Error(std::string("failed to mount tracefs on ") + kTracingDir + ": " +
                    std::strerror(errno) +
                    "; is CONFIG_TRACING enabled? try 'mount -t tracefs nodev " + kTracingDir +
                    "'");
    return kTracingDir;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw sys_error("open " + path, errno);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::uint64_t own_start_time() {
    // Our own start time, read the same way owner_alive() reads it for others.
    const auto stat = procfs::read_stat(static_cast<int>(::getpid()));
    if (!stat) throw Error("failed to read this process's start time from /proc/self/stat");
    return stat->start_time;
}

// --- cleanup on fatal signals --------------------------------------------------------------
// A handler may only use async-signal-safe calls: close() the per-cpu readers (an instance
// with open files cannot be removed) and rmdir() the instance. Slots are fixed arrays so the
// handler never touches the heap.
constexpr int kMaxSlots = 16;
constexpr int kMaxCpuFds = 512;

struct CleanupSlot {
    std::atomic<bool> used{false};
    std::array<char, 512> dir{};
    std::array<std::atomic<int>, kMaxCpuFds> fds{};
};
CleanupSlot g_slots[kMaxSlots];
// libtracefs finds the tracing directory once and keeps it in a global it fills lazily, so
// two tracers set up or torn down on two threads at once (the viewer's poller and the program
// it runs) race on it: their set-ups and tear-downs take turns.
std::mutex g_tracefs_mutex;
std::mutex g_slots_mutex;  // taken by constructors/destructors only, never by the handler

void remove_live_instances() noexcept {
    for (auto& slot : g_slots) {
        if (!slot.used.load()) continue;
        for (auto& fd : slot.fds) {
            const int f = fd.exchange(-1);
            if (f >= 0) ::close(f);
        }
        ::rmdir(slot.dir.data());
    }
}

// exit() without unwinding (std::exit from deep inside a program) skips the destructors.
extern "C" void socklab_tracer_at_exit() { remove_live_instances(); }

extern "C" void socklab_tracer_on_signal(int sig) {
    const int saved = errno;
    remove_live_instances();
    errno = saved;
    // Die the way the signal would have killed us, so the parent sees the real cause.
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

// Install the handler for signals the program leaves at their default (which would kill it
// without running destructors). A program with its own handler (socklab trace) ends its
// loop and lets the destructor clean up.
void install_exit_cleanup() {
    static std::once_flag at_exit_once;
    std::call_once(at_exit_once, [] { std::atexit(socklab_tracer_at_exit); });
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
        struct sigaction old {};
        if (::sigaction(sig, nullptr, &old) != 0) continue;
        if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
        struct sigaction sa {};
        sa.sa_handler = socklab_tracer_on_signal;
        sigemptyset(&sa.sa_mask);
        ::sigaction(sig, &sa, nullptr);
    }
}

int claim_slot(const std::string& dir) {
    std::lock_guard lock(g_slots_mutex);
    for (int i = 0; i < kMaxSlots; ++i) {
        auto& slot = g_slots[i];
        if (slot.used.load()) continue;
        for (auto& fd : slot.fds) fd.store(-1);
        std::snprintf(slot.dir.data(), slot.dir.size(), "%s", dir.c_str());
        slot.used.store(true);
        return i;
    }
    return -1;  // more than kMaxSlots tracers at once: they lose signal cleanup, nothing else
}

void release_slot(int i) {
    if (i < 0) return;
    std::lock_guard lock(g_slots_mutex);
    for (auto& fd : g_slots[i].fds) fd.store(-1);
    g_slots[i].used.store(false);
}

std::atomic<std::uint64_t> g_instance_seq{0};

struct InstanceDeleter {
    void operator()(tracefs_instance* p) const noexcept { tracefs_instance_free(p); }
};
struct KbufferDeleter {
    void operator()(kbuffer* p) const noexcept { kbuffer_free(p); }
};

struct CpuReader {
    std::uint32_t cpu = 0;
    UniqueFd fd;
    std::uint64_t last_ns = 0;  // time of the last event read from it
};

std::uint64_t stat_value(const std::string& stats, std::string_view key) {
    // Lines look like "overrun: 12"; keys are matched at the start of a line.
    std::size_t pos = 0;
    while (pos < stats.size()) {
        auto end = stats.find('\n', pos);
        if (end == std::string::npos) end = stats.size();
        std::string_view line(stats.data() + pos, end - pos);
        pos = end + 1;
        if (line.substr(0, key.size()) != key || line.size() <= key.size() ||
            line[key.size()] != ':')
            continue;
        try {
            return std::stoull(std::string(line.substr(key.size() + 1)));
        } catch (const std::exception&) {
            return 0;
        }
    }
    return 0;
}

}  // namespace

struct Tracer::Impl {
    TracerOptions opts;
    TracerStatus status;
    std::string tracing_dir;
    std::string name;
    std::string instance_dir;  // <tracing_dir>/instances/<name>
    bool created = false;      // we made the directory and must remove it
    std::unique_ptr<tracefs_instance, InstanceDeleter> instance;
    std::unique_ptr<kbuffer, KbufferDeleter> kbuf;
    std::vector<CpuReader> readers;
    std::vector<char> page;
    trace::RecordLayout layout;
    trace::SocketTracker tracker;
    trace::CallSocketHints hints;  // names the sockets of calls whose descriptors are gone
    std::vector<TransitionEvent> hint_feed;  // released transitions, fed to hints in call order
    std::size_t hint_fed = 0;
    void feed_hints(std::uint64_t until_ns);
    bool connect_name_pending(const SyscallEvent& e, std::uint64_t now_ns);
    std::optional<SocketKey> connected_socket(const SyscallEvent& e) const;
    std::vector<TransitionEvent> pending;  // read, not yet safe to hand out in time order
    std::uint64_t malformed = 0;
    std::uint64_t page_missed = 0;  // pages flagged "events missed" by the ring buffer
    int slot = -1;

    struct CommEntry {
        std::array<char, 16> comm{};
        std::uint64_t checked_ns = 0;
    };
    // This process, asked once: getpid() is a system call, and every one of ours passes the
    // kernel's syscall tracepoints (filtered out only after), a cost per traced call.
    const std::int32_t self = static_cast<std::int32_t>(::getpid());
    std::unordered_map<std::int32_t, CommEntry> comms;  // what /proc said
    trace::TaskNames task_names;                        // what the kernel said, by time
    std::unordered_map<std::int32_t, std::array<char, 16>> saved_cmdlines;
    std::uint64_t saved_cmdlines_read_ns = 0;

    // System calls (opts.syscalls): one layout per sys_enter/exit event, by event id.
    TracerStatus sys_status;
    std::unordered_map<std::uint16_t, trace::SyscallLayout> sys_layouts;
    trace::SyscallJoiner joiner;
    std::vector<trace::RawSyscall> pending_raw;  // entries and exits read, not yet joined
    std::vector<SyscallEvent> pending_calls;
    // (pid << 32 | fd) -> when a socket()/accept() still pending made that descriptor.
    std::unordered_map<std::uint64_t, std::uint64_t> born;
    std::unordered_map<std::uint64_t, std::uint64_t> fd_inode;  // (pid << 32 | fd) -> inode, 0: not a socket
    // (pid << 32 | fd) of descriptors a traced socket() or accept() made for something other
    // than TCP (a name lookup's AF_UNIX and UDP sockets): their calls are left out.
    std::unordered_set<std::uint64_t> not_tcp;
    // (pid << 32 | fd) -> the 4-tuple known so far (none yet) of a TCP socket a traced
    // socket() or accept() made: its close() is reported even when the descriptor was gone
    // (and its number maybe reused) before the calls were read, as a short connection's is.
    std::unordered_map<std::uint64_t, std::optional<SocketKey>> made_tcp;
    bool close_made(SyscallEvent& e, std::uint64_t fd_slot);
    std::unordered_map<std::uint64_t, SocketKey> inode_key;
    std::unordered_map<std::uint64_t, DataCallCounts> data_counts;
    std::unordered_map<std::int32_t, std::int32_t> tgids;
    // task:task_newtask and task:task_rename, by event id (none when the kernel lacks them).
    std::unordered_map<std::uint16_t, trace::TaskLayout> task_layouts;
    void learn_task(const trace::RawTask& t);
    std::unique_ptr<Source> diag;
    std::optional<Snapshot> batch_snapshot;  // one socket-table dump per release, on a miss

    void start();
    void start_syscalls();
    // Stops tracing and removes the instance; what could not be removed, or "".
    std::string teardown() noexcept;
    std::int32_t tgid_of(std::int32_t tid);
    std::uint64_t inode_of(std::int32_t pid, std::int32_t fd);
    // The links of the descriptors a release's calls name, (pid << 32 | fd) -> inode, read
    // before the buffers are read once more (release_calls); link_of asks them first.
    std::unordered_map<std::uint64_t, std::uint64_t> links;
    std::uint64_t link_of(std::int32_t pid, std::int32_t fd);
    std::optional<SocketKey> key_of(std::uint64_t inode);
    bool resolve_call(SyscallEvent& e);
    std::size_t release_calls(std::vector<SyscallEvent>& out, std::uint64_t before_ns);
    void write_file(const char* file, const std::string& value);
    bool read_page(CpuReader& r, std::size_t& added);
    // Reads what the buffers hold, within a bound; everything before `drained_until` is in
    // (the end of time when every cpu was caught up).
    std::size_t drain();
    std::uint64_t drained_until = ~std::uint64_t{0};
    void resolve_comm(TransitionEvent& e);
    std::size_t release(std::vector<TransitionEvent>& out, std::uint64_t before_ns);
};

void Tracer::Impl::write_file(const char* file, const std::string& value) {
    if (tracefs_instance_file_write(instance.get(), file, value.c_str()) < 0)
        throw sys_error("write '" + value + "' to " + instance_dir + "/" + file, errno);
}

void Tracer::Impl::start() {
    tracing_dir = ensure_tracefs();
    // Instances survive an unmount, so look for leftovers only once tracefs is visible.
    Tracer::remove_stale_instances();
    const trace::InstanceOwner owner{static_cast<int>(::getpid()), own_start_time(),
                                     g_instance_seq.fetch_add(1)};
    name = trace::instance_name(owner);
    instance_dir = tracing_dir + "/instances/" + name;
    if (::mkdir(instance_dir.c_str(), 0700) != 0) {
        const int err = errno;
        // Only uid 0 gets here. Refused anyway, it is a root without the host's rights over
        // tracefs, as in a container: "run as root" would be advice it cannot follow.
        throw Error("failed to create the tracing instance " + instance_dir + ": " +
                    std::strerror(err) +
                    (err == EACCES || err == EPERM
                         ? "; uid 0 here is not root over tracefs (a container or a user "
                           "namespace?): trace from the host, e.g. 'sudo socklab trace' there; "
                           "the table, the labs and the doctor keep working on polling alone"
                         : std::string()));
    }
    created = true;
    slot = claim_slot(instance_dir);

    instance.reset(tracefs_instance_alloc(tracing_dir.c_str(), name.c_str()));
    if (!instance) throw sys_error("open the tracing instance " + name + " with libtracefs", errno);

    // Nothing is recorded until the event is enabled last, after every setting is in place.
    write_file("tracing_on", "0");
    write_file("trace_clock", "mono");
    if (tracefs_instance_set_buffer_size(instance.get(), opts.buffer_kb_per_cpu, -1) < 0)
        throw sys_error("set the trace buffer to " + std::to_string(opts.buffer_kb_per_cpu) +
                            " KiB per cpu",
                        errno);
    // Wake a waiting reader as soon as anything is in the buffer (the default waits for 50%).
    if (tracefs_file_exists(instance.get(), "buffer_percent")) write_file("buffer_percent", "0");

    const std::string event_dir = instance_dir + "/events/" + std::string(trace::kSystem) + "/" +
                                  std::string(trace::kEvent);
    layout = trace::parse_format(read_file(event_dir + "/format"));

    // TCP only (the tracepoint also reports SCTP and MPTCP); a port matches either end because
    // the SYN_SENT event has sport 0.
    std::string filter = "protocol == 6";
    if (opts.port) {
        const auto p = std::to_string(*opts.port);
        filter += " && (sport == " + p + " || dport == " + p + ")";
    }
    if (tracefs_event_file_write(instance.get(), std::string(trace::kSystem).c_str(),
                                 std::string(trace::kEvent).c_str(), "filter",
                                 filter.c_str()) < 0)
        throw sys_error("set the kernel filter '" + filter + "'", errno);

    std::size_t subbuf = static_cast<std::size_t>(::getpagesize());
    if (tracefs_file_exists(instance.get(), "buffer_subbuf_size_kb")) {
        char* kb = tracefs_instance_file_read(instance.get(), "buffer_subbuf_size_kb", nullptr);
        if (kb) {
            const auto v = std::strtoull(kb, nullptr, 10);
            std::free(kb);
            if (v > 0 && v <= 1024) subbuf = static_cast<std::size_t>(v) * 1024;
        }
    }
    page.resize(subbuf);
    kbuf.reset(kbuffer_alloc(KBUFFER_LSIZE_SAME_AS_HOST, KBUFFER_ENDIAN_SAME_AS_HOST));
    if (!kbuf) throw Error("failed to allocate a kbuffer reader: out of memory");

    const long ncpu = ::sysconf(_SC_NPROCESSORS_CONF);
    for (long cpu = 0; cpu < ncpu && cpu < kMaxCpuFds; ++cpu) {
        const std::string path =
            instance_dir + "/per_cpu/cpu" + std::to_string(cpu) + "/trace_pipe_raw";
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT) continue;  // cpu not possible on this machine
            throw sys_error("open " + path, errno);
        }
        if (slot >= 0) g_slots[slot].fds[static_cast<std::size_t>(cpu)].store(fd.get());
        readers.push_back(CpuReader{static_cast<std::uint32_t>(cpu), std::move(fd)});
    }
    if (readers.empty()) throw Error("failed to open any per-cpu trace buffer in " + instance_dir);

    if (tracefs_event_enable(instance.get(), std::string(trace::kSystem).c_str(),
                             std::string(trace::kEvent).c_str()) < 0)
        throw sys_error("enable sock:inet_sock_set_state in " + name, errno);
    if (opts.syscalls) {
        try {
            start_syscalls();
        } catch (const std::exception& e) {
            tracefs_event_disable(instance.get(), "syscalls", nullptr);
            sys_layouts.clear();
            sys_status = TracerStatus{false, std::string("system calls are not traced: ") +
                                                 e.what() + "; state transitions still are"};
        }
    }
    write_file("tracing_on", "1");
    status = TracerStatus{true, "tracing sock:inet_sock_set_state in instance " + name};
}

std::string Tracer::Impl::teardown() noexcept {
    std::string left;
    if (instance) {
        tracefs_instance_file_write(instance.get(), "tracing_on", "0");
        tracefs_event_disable(instance.get(), nullptr, nullptr);
    }
    // Forget the descriptors in the signal slot before closing them, so a late signal
    // cannot close a number the process has reused.
    if (slot >= 0)
        for (auto& fd : g_slots[slot].fds) fd.store(-1);
    readers.clear();
    instance.reset();
    if (created) {
        if (::rmdir(instance_dir.c_str()) != 0 && errno != ENOENT) {
            const int err = errno;
            try {
                left = "failed to remove the tracing instance " + instance_dir + ": " +
                       std::strerror(err) + "; remove it with 'rmdir " + instance_dir + "'";
            } catch (...) {  // out of memory: the next socklab removes it (stale instances)
            }
        }
        created = false;
    }
    release_slot(slot);
    slot = -1;
    return left;
}

void Tracer::Impl::resolve_comm(TransitionEvent& e) {
    static constexpr std::array<char, 16> kIdle{'<', 'i', 'd', 'l', 'e', '>'};
    if (e.pid == 0) {
        e.comm = kIdle;
        return;
    }
    // A cached name is trusted for a second: long enough to be cheap under churn, short
    // enough that a pid reused by another program is soon named right.
    constexpr std::uint64_t kCommTtlNs = 1'000'000'000;
    // What the kernel said about the task's names comes first: /proc tells only the name now.
    if (const auto told = task_names.name_at(e.pid, e.time_ns, kCommTtlNs)) {
        e.comm = *told;
        return;
    }
    if (comms.size() > 65536) comms.clear();
    auto& entry = comms[e.pid];
    if (entry.checked_ns != 0 && e.time_ns >= entry.checked_ns &&
        e.time_ns - entry.checked_ns < kCommTtlNs) {
        e.comm = entry.comm;
        return;
    }
    std::array<char, 16> comm{};
    bool found = false;
    const std::string path = "/proc/" + std::to_string(e.pid) + "/comm";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) {
        const ssize_t n = ::read(fd.get(), comm.data(), comm.size() - 1);
        if (n > 0) {
            const auto len = static_cast<std::size_t>(n);
            comm[len - (comm[len - 1] == '\n' ? 1 : 0)] = '\0';
            found = true;
        }
    }
    if (!found) {
        // The task is gone: the kernel remembers recent pid -> comm pairs for tracing.
        const std::uint64_t now = monotonic_ns();
        if (now - saved_cmdlines_read_ns > 100'000'000) {
            saved_cmdlines.clear();
            std::ifstream in(tracing_dir + "/saved_cmdlines");
            std::int32_t pid = 0;
            std::string name_read;
            while (in >> pid && std::getline(in >> std::ws, name_read)) {
                std::array<char, 16> c{};
                std::snprintf(c.data(), c.size(), "%s", name_read.c_str());
                saved_cmdlines[pid] = c;
            }
            saved_cmdlines_read_ns = now;
        }
        if (const auto it = saved_cmdlines.find(e.pid); it != saved_cmdlines.end()) {
            comm = it->second;
            found = true;
        }
    }
    if (!found) std::snprintf(comm.data(), comm.size(), "<...>");
    entry.comm = comm;
    entry.checked_ns = e.time_ns;
    e.comm = comm;
}

void Tracer::Impl::start_syscalls() {
    static constexpr SyscallKind kLifecycle[] = {
        SyscallKind::socket,  SyscallKind::bind,     SyscallKind::listen,
        SyscallKind::accept,  SyscallKind::accept4,  SyscallKind::connect,
        SyscallKind::shutdown, SyscallKind::close,   SyscallKind::setsockopt,
        SyscallKind::sendto,  SyscallKind::recvfrom, SyscallKind::sendmsg,
        SyscallKind::recvmsg, SyscallKind::read,     SyscallKind::write,
    };
    // Never our own calls (reading /proc closes files: tracing that would feed itself).
    std::string filter = "common_pid != " + std::to_string(::getpid());
    if (!opts.pids.empty() && opts.follow_children) {
        // The kernel adds each forked task to set_event_pid itself (event-fork), at fork
        // time: a filter on common_pid would be fixed at the tids known now.
        std::string list;
        for (const auto pid : opts.pids) list += std::to_string(pid) + " ";
        write_file("set_event_pid", list);
        write_file("options/event-fork", "1");
    } else if (!opts.pids.empty()) {
        filter += " && (";
        for (std::size_t i = 0; i < opts.pids.size(); ++i)
            filter += (i ? " || common_pid == " : "common_pid == ") + std::to_string(opts.pids[i]);
        filter += ")";
    }
    for (const auto kind : kLifecycle) {
        // read/write are everyone's calls on every file: only for a known set of processes.
        if ((kind == SyscallKind::read || kind == SyscallKind::write) && opts.pids.empty()) continue;
        for (const char* dir : {"sys_enter_", "sys_exit_"}) {
            const std::string event = dir + std::string(syscall_name(kind));
            const auto sys_layout = trace::parse_syscall_format(
                read_file(instance_dir + "/events/syscalls/" + event + "/format"));
            if (tracefs_event_file_write(instance.get(), "syscalls", event.c_str(), "filter",
                                         filter.c_str()) < 0)
                throw sys_error("set the kernel filter '" + filter + "' on " + event, errno);
            if (tracefs_event_enable(instance.get(), "syscalls", event.c_str()) < 0)
                throw sys_error("enable syscalls:" + event + " in " + name, errno);
            sys_layouts[sys_layout.event_id] = sys_layout;
        }
    }
    // Who each thread belongs to and what each task is called, told by the kernel as it
    // happens: a thread that has ended has no /proc entry to ask, and an exec renames.
    for (const char* event : {"task_newtask", "task_rename"}) {
        std::string format;
        try {
            format = read_file(instance_dir + "/events/task/" + event + "/format");
        } catch (const Error&) {
            continue;  // not on this kernel: /proc is asked instead
        }
        const auto task_layout = trace::parse_task_format(format);
        if (tracefs_event_enable(instance.get(), "task", event) < 0)
            throw sys_error(std::string("enable task:") + event + " in " + name, errno);
        task_layouts[task_layout.event_id] = task_layout;
    }
    diag = make_default_source();
    sys_status = TracerStatus{true, "tracing the lifecycle system calls in instance " + name};
}

std::int32_t Tracer::Impl::tgid_of(std::int32_t tid) {
    if (const auto it = tgids.find(tid); it != tgids.end()) return it->second;
    std::int32_t tgid = tid;
    std::ifstream in("/proc/" + std::to_string(tid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("Tgid:", 0) == 0) {
            try {
                tgid = std::stoi(line.substr(5));
            } catch (const std::exception&) {
            }
            break;
        }
    if (tgids.size() > 65536) tgids.clear();
    tgids[tid] = tgid;
    return tgid;
}

void Tracer::Impl::learn_task(const trace::RawTask& t) {
    if (t.pid <= 0) return;
    if (t.kind == trace::TaskLayout::Kind::new_task) {
        if (tgids.size() > 65536) tgids.clear();
        // clone(2): CLONE_THREAD puts the new task in its creator's thread group.
        tgids[t.pid] = (t.clone_flags & CLONE_THREAD) != 0 ? tgid_of(t.by_tid) : t.pid;
    }
    // A new task starts with its creator's name; an exec names it after the new program.
    task_names.learn(t);
}

std::uint64_t Tracer::Impl::link_of(std::int32_t pid, std::int32_t fd) {
    if (const auto it = links.find(descriptor_slot(pid, fd)); it != links.end()) return it->second;
    return inode_of(pid, fd);
}

std::uint64_t Tracer::Impl::inode_of(std::int32_t pid, std::int32_t fd) {
    char link[64];
    const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
    const ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
    if (n <= 0) return 0;
    const std::string_view text(link, static_cast<std::size_t>(n));
    constexpr std::string_view prefix = "socket:[";
    if (text.substr(0, prefix.size()) != prefix || text.back() != ']') return 0;
    std::uint64_t inode = 0;
    for (const char c : text.substr(prefix.size(), text.size() - prefix.size() - 1)) {
        if (c < '0' || c > '9') return 0;
        inode = inode * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return inode;
}

std::optional<SocketKey> Tracer::Impl::key_of(std::uint64_t inode) {
    if (inode == 0) return std::nullopt;
    if (const auto it = inode_key.find(inode); it != inode_key.end()) return it->second;
    if (!diag) return std::nullopt;
    if (!batch_snapshot) {
        Query q;
        q.udp = false;
        // A TIME_WAIT socket has no file (its inode is 0): never the one asked for, and under
        // churn by far the most numerous, so the kernel leaves them out of the dump.
        q.states = kAllStates & ~state_bit(TcpState::time_wait);
        try {
            batch_snapshot = diag->snapshot(q);
        } catch (const Error&) {
            batch_snapshot = Snapshot{};
        }
    }
    for (const auto& r : batch_snapshot->sockets) {
        if (r.inode != inode) continue;
        const auto k = socklab::key_of(r);
        // A connected (or listening) socket keeps its 4-tuple: remember it for close time.
        if (k.remote_port != 0 || r.state == static_cast<std::uint8_t>(TcpState::listen)) {
            if (inode_key.size() > 262144) inode_key.clear();
            inode_key[inode] = k;
        }
        return k;
    }
    return std::nullopt;
}

// Fill pid, comm, inode and key. False: not a socket call worth reporting (a close or data
// call on a descriptor that is not a socket).
bool Tracer::Impl::resolve_call(SyscallEvent& e) {
    e.pid = tgid_of(e.tid);
    if (e.pid == self) return false;
    TransitionEvent named;
    named.pid = e.tid;
    named.time_ns = e.time_ns;
    resolve_comm(named);
    e.comm = named.comm;
    const std::int32_t fd = call_descriptor(e);
    const auto leave_out = [&](std::int32_t made) {
        if (made < 0) return false;
        if (not_tcp.size() > 262144) not_tcp.clear();
        not_tcp.insert(descriptor_slot(e.pid, made));
        return false;
    };
    // Not TCP: its calls are left out until the number is closed or made again.
    if (e.call == SyscallKind::socket && !makes_tcp_socket(e.arg0, e.arg1, e.arg2)) return leave_out(fd);
    if ((e.call == SyscallKind::accept || e.call == SyscallKind::accept4) &&
        not_tcp.count(descriptor_slot(e.pid, e.fd)) != 0)
        return leave_out(e.result >= 0 ? fd : -1);  // a connection of an AF_UNIX listener
    if (fd < 0) return !is_data_call(e.call) && e.call != SyscallKind::close;
    const std::uint64_t fd_slot = descriptor_slot(e.pid, fd);
    if (makes_descriptor(e.call)) {
        not_tcp.erase(fd_slot);  // a TCP socket under a number an earlier socket had
        if (made_tcp.size() > 262144) made_tcp.clear();
        made_tcp[fd_slot] = std::nullopt;
    } else if (const auto other = not_tcp.find(fd_slot); other != not_tcp.end()) {
        if (e.call == SyscallKind::close) not_tcp.erase(other);
        return false;
    }
    if (const auto b = born.find(fd_slot); b != born.end() && e.time_ns < b->second) {
        if (e.call == SyscallKind::close) {
            fd_inode.erase(fd_slot);
            return close_made(e, fd_slot);
        }
        // The number names a newer socket now; a connect() is still named by its transitions.
        if (e.call == SyscallKind::connect) {
            e.key = connected_socket(e);
            if (const auto m = made_tcp.find(fd_slot); m != made_tcp.end() && e.key) m->second = e.key;
        }
        return !is_data_call(e.call);
    }
    if (e.call == SyscallKind::close) {
        // The descriptor is gone: only what was learned before it closed can name it.
        const auto it = fd_inode.find(fd_slot);
        // Not seen before: maybe a socket made before tracing began, whose link is gone now,
        // or no socket at all — unknown, unless a traced socket() made it.
        if (it == fd_inode.end()) return close_made(e, fd_slot);
        e.inode = it->second;
        fd_inode.erase(it);
        if (e.inode == 0) return close_made(e, fd_slot);
        if (const auto k = inode_key.find(e.inode); k != inode_key.end()) {
            e.key = k->second;
            inode_key.erase(k);
        }
        if (const auto m = made_tcp.find(fd_slot); m != made_tcp.end()) {
            if (!e.key) e.key = m->second;
            made_tcp.erase(m);
        }
        return true;
    }
    std::uint64_t inode = 0;
    const auto cached = fd_inode.find(fd_slot);
    if (cached != fd_inode.end() && is_data_call(e.call)) {
        inode = cached->second;
    } else {
        inode = link_of(e.pid, fd);
        // Gone already (the process exited, or closed the descriptor, before this read):
        // what was learned earlier still names it — close comes after this call.
        if (inode == 0 && cached != fd_inode.end()) inode = cached->second;
        if (fd_inode.size() > 262144) fd_inode.clear();
        fd_inode[fd_slot] = inode;
    }
    if (is_data_call(e.call)) {
        if (inode == 0) return false;
        if (data_counts.size() > 262144) data_counts.clear();
        auto& counts = data_counts[inode];
        counts.add(e.call, e.result, e.time_ns);
        counts.pid = e.pid;
        counts.tid = e.tid;
        counts.fd = fd;
        if (!opts.data_call_events) return false;  // counted, not reported one by one
        e.fd = fd;
        e.inode = inode;
        return true;
    }
    e.inode = inode;
    e.key = key_of(inode);
    // The descriptor is read now, after the call: a short-lived connection may have ended and
    // its number been reused by the next one, so the link names another socket, or none. For
    // connect() and accept() the transitions name the connection exactly; they win.
    std::optional<SocketKey> by_transitions;
    if (e.call == SyscallKind::connect) {
        by_transitions = connected_socket(e);
    } else if ((e.call == SyscallKind::accept || e.call == SyscallKind::accept4) && e.result >= 0) {
        // The listener as its listen() call found it (the process may be gone by now).
        const std::uint64_t listen_slot = descriptor_slot(e.pid, e.fd);
        const auto known = fd_inode.find(listen_slot);
        std::uint64_t listen_inode = known != fd_inode.end() ? known->second : 0;
        if (listen_inode == 0) {
            // Listening since before the trace began: ask /proc once, and remember it for
            // the accepts still to come (the listener may be closed by the time they are read).
            listen_inode = link_of(e.pid, e.fd);
            if (listen_inode != 0) fd_inode[listen_slot] = listen_inode;
        }
        const auto listener = key_of(listen_inode);
        if (listener)
            by_transitions = hints.take_accepted(listener->local_port, e.time_ns);
        if (!by_transitions && e.key) hints.accepted(*e.key);
    }
    if (by_transitions && by_transitions != e.key) {
        if (e.key) {
            // The link named another socket (its number was reused): its inode is not this one's.
            e.inode = 0;
            fd_inode.erase(fd_slot);
        } else if (e.inode != 0) {
            // The link was right but the table no longer had the socket (reset, closed): keep
            // the inode and remember its 4-tuple for the calls still to come on it.
            if (inode_key.size() > 262144) inode_key.clear();
            inode_key[e.inode] = *by_transitions;
        }
        e.key = by_transitions;
    }
    if (e.key)
        if (const auto m = made_tcp.find(fd_slot); m != made_tcp.end()) m->second = e.key;
    return true;
}

bool Tracer::Impl::close_made(SyscallEvent& e, std::uint64_t fd_slot) {
    const auto m = made_tcp.find(fd_slot);
    if (m == made_tcp.end()) return false;
    e.inode = 0;
    e.key = m->second;
    made_tcp.erase(m);
    return true;
}

void Tracer::Impl::feed_hints(std::uint64_t until_ns) {
    while (hint_fed < hint_feed.size() && hint_feed[hint_fed].time_ns <= until_ns)
        hints.observe(hint_feed[hint_fed++]);
    if (hint_fed == hint_feed.size()) {
        hint_feed.clear();
        hint_fed = 0;
    }
}

std::size_t Tracer::Impl::release_calls(std::vector<SyscallEvent>& out, std::uint64_t before_ns) {
    if (pending_calls.empty()) {
        feed_hints(before_ns);
        return 0;
    }
    std::stable_sort(pending_calls.begin(), pending_calls.end(),
                     [](const SyscallEvent& a, const SyscallEvent& b) { return a.time_ns < b.time_ns; });
    auto cut = std::partition_point(
        pending_calls.begin(), pending_calls.end(),
        [before_ns](const SyscallEvent& e) { return e.time_ns < before_ns; });
    std::size_t n = 0;
    bool held = false;
    batch_snapshot.reset();
    // The descriptor links are read now, after the calls: a descriptor number reused by a
    // socket()/accept() since names the new socket. A call on that number made before the
    // socket existed was on an older file (a program's start-up read()s and close()s), so
    // it is left unresolved rather than counted on the socket. The links are read first and
    // the buffers once more after, so that every socket()/accept() that had made its
    // descriptor when its link was read is among those noted here.
    links.clear();
    for (auto it = pending_calls.begin(); it != cut; ++it) {
        if (it->call == SyscallKind::close) continue;  // named by what was learned before
        const std::int32_t pid = tgid_of(it->tid);
        const bool accepts = it->call == SyscallKind::accept || it->call == SyscallKind::accept4;
        for (const std::int32_t named : {call_descriptor(*it), accepts ? it->fd : -1}) {
            if (named < 0) continue;
            const std::uint64_t named_slot = descriptor_slot(pid, named);
            // Known already (a data call's socket), or a descriptor whose calls are left out.
            if ((is_data_call(it->call) && fd_inode.count(named_slot) != 0) ||
                (!makes_descriptor(it->call) && not_tcp.count(named_slot) != 0))
                continue;
            if (links.size() < 65536 && links.count(named_slot) == 0) links[named_slot] = inode_of(pid, named);
        }
    }
    if (!links.empty()) drain();
    born.clear();
    const auto note_born = [&](std::int32_t tid, std::int64_t fd, std::uint64_t time_ns) {
        const auto [b, fresh] = born.try_emplace(descriptor_slot(tgid_of(tid), fd), time_ns);
        if (!fresh && time_ns < b->second) b->second = time_ns;  // the earliest making counts
    };
    for (const auto& e : pending_calls)
        if (makes_descriptor(e.call) && e.result >= 0) note_born(e.tid, e.result, e.time_ns);
    // The same for the calls read but not joined yet (after the complete stretch): their exit
    // says the descriptor they made.
    for (const auto& r : pending_raw)
        if (r.exit && makes_descriptor(r.call) && r.ret >= 0) note_born(r.tid, r.ret, r.time_ns);
    for (auto it = pending_calls.begin(); it != cut; ++it) {
        // The hints see what happened before this call and nothing after (a listener that
        // closed later in the same stretch must not empty the queue this accept() took from).
        feed_hints(it->time_ns);
        if (connect_name_pending(*it, before_ns)) {
            // A non-blocking connect() whose socket a coming event will name: it and what
            // follows wait for the next read (in order), a little while at most.
            cut = it;
            held = true;
            break;
        }
        if (!resolve_call(*it)) continue;
        out.push_back(*it);
        ++n;
    }
    pending_calls.erase(pending_calls.begin(), cut);
    // Every call still to come exits at or after before_ns: what came before is theirs to see.
    if (!held) feed_hints(before_ns);
    return n;
}

std::optional<SocketKey> Tracer::Impl::connected_socket(const SyscallEvent& e) const {
    if (auto k = hints.connected_by(e.tid, e.enter_ns, e.time_ns)) return k;
    // Non-blocking: named by a transition after the call, released but not yet fed.
    if (const auto sk = hints.syn_sent_by(e.tid, e.enter_ns, e.time_ns)) {
        for (std::size_t i = hint_fed; i < hint_feed.size(); ++i)
            if (hint_feed[i].skaddr == *sk && hint_feed[i].local_port != 0)
                return trace::key_of(hint_feed[i]);
    }
    return std::nullopt;
}

bool Tracer::Impl::connect_name_pending(const SyscallEvent& e, std::uint64_t now_ns) {
    constexpr std::uint64_t kWaitNs = 200'000'000;  // then it goes out unnamed
    if (e.call != SyscallKind::connect || now_ns - e.time_ns > kWaitNs) return false;
    // Not named yet, though its SYN_SENT was seen: a coming event will name it.
    return !connected_socket(e) && hints.syn_sent_by(e.tid, e.enter_ns, e.time_ns).has_value();
}

bool Tracer::Impl::read_page(CpuReader& r, std::size_t& added) {
    const ssize_t n = ::read(r.fd.get(), page.data(), page.size());
    if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK)
            throw sys_error("read the trace buffer of cpu " + std::to_string(r.cpu),
                            errno);
        return false;
    }
    if (kbuffer_load_subbuffer(kbuf.get(), page.data()) < 0) {
        ++malformed;
        return true;
    }
    if (kbuffer_missed_events(kbuf.get()) != 0) ++page_missed;
    unsigned long long ts = 0;
    for (void* data = kbuffer_read_event(kbuf.get(), &ts); data != nullptr;
         data = kbuffer_next_event(kbuf.get(), &ts)) {
        const int size = kbuffer_event_size(kbuf.get());
        if (size <= 0) {
            ++malformed;
            continue;
        }
        const auto* bytes = static_cast<const std::byte*>(data);
        const std::size_t avail = std::min<std::size_t>(
            static_cast<std::size_t>(size),
            page.size() - static_cast<std::size_t>(bytes - reinterpret_cast<const std::byte*>(page.data())));
        if (!sys_layouts.empty() && avail >= 2) {
            std::uint16_t type = 0;
            std::memcpy(&type, bytes, 2);
            if (const auto l = task_layouts.find(type); l != task_layouts.end()) {
                const auto raw = trace::decode_task_record({bytes, avail}, l->second, ts);
                if (!raw) ++malformed;
                else learn_task(*raw.record);
                r.last_ns = ts;
                continue;
            }
            if (const auto l = sys_layouts.find(type); l != sys_layouts.end()) {
                const auto raw = trace::decode_syscall_record({bytes, avail}, l->second, ts);
                if (!raw) {
                    ++malformed;
                    continue;
                }
                pending_raw.push_back(*raw.record);  // joined in time order, after the drain
                r.last_ns = ts;
                ++added;
                continue;
            }
        }
        auto decoded = trace::decode_record({bytes, avail}, layout, ts, r.cpu);
        if (!decoded) {
            ++malformed;
            continue;
        }
        pending.push_back(*decoded.event);
        r.last_ns = ts;
        ++added;
    }
    return static_cast<std::size_t>(n) == page.size();  // a partial page: caught up
}

std::size_t Tracer::Impl::drain() {
    std::size_t added = 0;
    // Bounded per call, in pages and in time: under a storm (a program calling recv() in a
    // loop fills a buffer as fast as it is read) the caller still gets control back often
    // enough to keep its own deadlines, however slow the build (sanitizers) or the machine.
    // The cpus are read in turns of a few pages, so none is left behind for another.
    constexpr int kMaxPagesPerCpu = 4096;
    constexpr int kPagesPerTurn = 16;
    constexpr std::uint64_t kMaxDrainNs = 100'000'000;
    const std::uint64_t started = monotonic_ns();
    std::vector<bool> caught_up(readers.size(), false);
    for (int turn = 0; turn * kPagesPerTurn < kMaxPagesPerCpu; ++turn) {
        bool more = false;
        for (std::size_t c = 0; c < readers.size(); ++c) {
            for (int i = 0; i < kPagesPerTurn && !caught_up[c]; ++i)
                caught_up[c] = !read_page(readers[c], added);
            more = more || !caught_up[c];
        }
        if (!more || monotonic_ns() - started > kMaxDrainNs) break;
    }
    // A cpu left unfinished may still hold events older than another's newest: only what
    // precedes its last read event is complete.
    drained_until = ~std::uint64_t{0};
    for (std::size_t c = 0; c < readers.size(); ++c)
        if (!caught_up[c]) drained_until = std::min(drained_until, readers[c].last_ns);
    return added;
}

std::size_t Tracer::Impl::release(std::vector<TransitionEvent>& out, std::uint64_t before_ns) {
    if (pending.empty()) return 0;
    // Each cpu's buffer is in time order; the merge of several is not, so sort, and hold back
    // what happened after this read began: another cpu may still hold earlier events.
    std::stable_sort(pending.begin(), pending.end(),
                     [](const TransitionEvent& a, const TransitionEvent& b) {
                         return a.time_ns < b.time_ns;
                     });
    const auto cut = std::partition_point(
        pending.begin(), pending.end(),
        [before_ns](const TransitionEvent& e) { return e.time_ns < before_ns; });
    const auto n = static_cast<std::size_t>(cut - pending.begin());
    out.reserve(out.size() + n);
    for (auto it = pending.begin(); it != cut; ++it) {
        tracker.observe(*it);
        if (opts.syscalls) hint_feed.push_back(*it);
        resolve_comm(*it);
        out.push_back(*it);
    }
    pending.erase(pending.begin(), cut);
    return n;
}

Tracer::Tracer(TracerOptions opts) : impl_(std::make_unique<Impl>()) {
    init(std::move(opts));
    auto& im = *impl_;
    if (!im.opts.syscalls) {
        im.sys_status = TracerStatus{false, "system calls are not traced: not asked for"};
    } else if (!im.status.active) {
        // Both halves share the instance: the reason is the same.
        std::string why = im.status.message;
        const std::string_view lead = "state transitions are not traced: ";
        if (why.rfind(lead, 0) == 0) why.erase(0, lead.size());
        im.sys_status = TracerStatus{false, "system calls are not traced: " + why};
    }
}

void Tracer::init(TracerOptions opts) {
    if (opts.buffer_kb_per_cpu == 0) opts.buffer_kb_per_cpu = TracerOptions{}.buffer_kb_per_cpu;
    impl_->opts = opts;
    // What a learner meets most (no root, tracing switched off, tracefs not mounted without
    // root) is told in the chosen language; the rarer set-up failures below stay in English.
    if (opts.force_unprivileged) {
        impl_->status = tracing_turned_off();
        return;
    }
    if (::geteuid() != 0 && !opts.without_root) {
        impl_->status = TracerStatus{
            false, _("state transitions are not traced: the tracepoint sock:inet_sock_set_state "
                     "needs root; run as root (e.g. 'sudo socklab trace'); the table, the labs "
                     "and the doctor keep working on polling alone")};
        return;
    }
    std::lock_guard tracefs(g_tracefs_mutex);
    try {
        impl_->start();
    } catch (const std::exception& e) {
        const std::string left = impl_->teardown();
        impl_->status = TracerStatus{false, std::string("state transitions are not traced: ") +
                                                e.what() + (left.empty() ? "" : "; " + left)};
    }
}

void Tracer::remove_instances_on_exit() { install_exit_cleanup(); }

std::string Tracer::stop() {
    const bool was_active = impl_->status.active;
    std::string left;
    {
        std::lock_guard tracefs(g_tracefs_mutex);
        left = impl_->teardown();
    }
    if (was_active) {
        impl_->status = TracerStatus{false, left};
        return left;
    }
    if (!left.empty()) impl_->status.message += "; " + left;
    return {};
}

TracerStatus tracing_turned_off() {
    return {false, _("state transitions are not traced: tracing was turned off with --no-trace; "
                     "leave it out to trace them; the table, the labs and the doctor keep working "
                     "on polling alone")};
}

Tracer::~Tracer() {
    std::lock_guard tracefs(g_tracefs_mutex);
    (void)impl_->teardown();
}

const TracerStatus& Tracer::status() const noexcept { return impl_->status; }

const std::string& Tracer::instance_name() const noexcept {
    static const std::string kNone;
    return impl_->status.active ? impl_->name : kNone;
}

std::uint64_t Tracer::malformed_records() const noexcept { return impl_->malformed; }

const std::unordered_map<std::uint64_t, DataCallCounts>& Tracer::data_calls() const noexcept {
    return impl_->data_counts;
}

std::optional<SocketKey> Tracer::key_of_inode(std::uint64_t inode) const {
    const auto it = impl_->inode_key.find(inode);
    if (it == impl_->inode_key.end()) return std::nullopt;
    return it->second;
}

const TracerStatus& Tracer::syscall_status() const noexcept { return impl_->sys_status; }

std::size_t Tracer::poll(std::vector<TransitionEvent>& out, std::chrono::milliseconds timeout) {
    std::vector<SyscallEvent> calls;
    return poll(out, calls, timeout);
}

std::size_t Tracer::poll(std::vector<TransitionEvent>& out, std::vector<SyscallEvent>& calls,
                         std::chrono::milliseconds timeout) {
    auto& im = *impl_;
    if (!im.status.active) return 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const std::uint64_t read_start = monotonic_ns();
        im.drain();
        const std::uint64_t complete_before = std::min(read_start, im.drained_until);
        im.joiner.feed_in_time_order(im.pending_raw, complete_before, im.pending_calls);
        // Transitions first: the calls of the same stretch are named from them (hints).
        std::size_t n = im.release(out, complete_before);
        n += im.release_calls(calls, complete_before);
        if (n > 0) return n;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return 0;
        // Held-back events are released by the next read; otherwise sleep until a buffer
        // has data (buffer_percent is 0) or the time is up.
        std::vector<pollfd> fds;
        fds.reserve(im.readers.size());
        for (const auto& r : im.readers) fds.push_back(pollfd{r.fd.get(), POLLIN, 0});
        const bool held = !im.pending.empty() || !im.pending_calls.empty() || !im.pending_raw.empty();
        const int wait_ms = held ? 1 : static_cast<int>(left.count());
        const int ready = ::poll(fds.data(), fds.size(), wait_ms);
        if (ready < 0) {
            // A signal (Ctrl-C) ends the wait early so the caller can look at its flag.
            if (errno == EINTR) return 0;
            throw sys_error("wait for trace events", errno);
        }
        if (ready > 0 && !held) {
            // Woken by the first event of a burst: let the rest of it arrive, so a churn of
            // thousands of connections a second costs a few reads, not one per event.
            const auto batch = std::min<std::chrono::nanoseconds>(
                std::chrono::milliseconds(2), deadline - std::chrono::steady_clock::now());
            if (batch.count() > 0) {
                const timespec ts{0, static_cast<long>(batch.count())};
                ::nanosleep(&ts, nullptr);
            }
        }
    }
}

std::uint64_t Tracer::lost_events() const {
    const auto& im = *impl_;
    if (!im.status.active) return 0;
    std::uint64_t lost = 0;
    for (const auto& r : im.readers) {
        std::string stats;
        try {
            stats = read_file(im.instance_dir + "/per_cpu/cpu" + std::to_string(r.cpu) + "/stats");
        } catch (const Error&) {
            continue;
        }
        // overrun: overwritten before it was read; dropped events: refused when full (in
        // no-overwrite mode); commit overrun: nested writes that did not fit.
        lost += stat_value(stats, "overrun") + stat_value(stats, "commit overrun") +
                stat_value(stats, "dropped events");
    }
    // The stats are the count; a page flagged "events missed" with no count beside it
    // still means at least one loss per page, never zero.
    return std::max(lost, im.page_missed);
}

std::size_t Tracer::remove_stale_instances() {
    std::string dir;
    if (is_tracefs(kTracingDir)) dir = kTracingDir;
    else if (is_tracefs(kDebugTracingDir)) dir = kDebugTracingDir;
    else return 0;
    const std::string instances = dir + "/instances";
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(instances.c_str()), ::closedir);
    if (!d) return 0;
    std::vector<std::string> stale;
    while (const dirent* ent = ::readdir(d.get())) {
        const auto owner = trace::parse_instance_name(ent->d_name);
        if (!owner || trace::owner_alive(*owner)) continue;  // not ours, or its owner lives
        stale.emplace_back(ent->d_name);
    }
    std::size_t removed = 0;
    for (const auto& n : stale)
        if (::rmdir((instances + "/" + n).c_str()) == 0) ++removed;
    return removed;
}

}  // namespace socklab
