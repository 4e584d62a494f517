// HelperClient: socklab-helper as a child on a socketpair (see helper_client.hpp).
#include "socklab/helper_client.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "socklab/error.hpp"
#include "socklab/i18n.hpp"

extern char** environ;

namespace socklab {
namespace {

namespace h = helper;

bool executable_file(const std::filesystem::path& p) {
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

// Move a descriptor above the ones the child is given (0-3), keeping it close-on-exec, so
// dup2 onto 2 or 3 in the child is never a no-op that would keep FD_CLOEXEC set.
UniqueFd high(UniqueFd fd) {
    UniqueFd moved(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 10));
    if (!moved) throw sys_error("move a descriptor for socklab-helper", errno);
    return moved;
}

struct SpawnActions {
    posix_spawn_file_actions_t fa{};
    posix_spawnattr_t attr{};
    SpawnActions() {
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
    }
    ~SpawnActions() {
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
    }
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
};

}  // namespace

std::optional<std::filesystem::path> find_helper() {
    if (const char* env = std::getenv("SOCKLAB_HELPER"); env != nullptr && *env != '\0') {
        if (executable_file(env)) return std::filesystem::path(env);
        return std::nullopt;
    }
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return std::nullopt;
    const auto dir = self.parent_path();
    for (const auto& p : {dir / "socklab-helper", dir / "../libexec/socklab/socklab-helper",
                          dir / "../lib/socklab/socklab-helper"})
        if (executable_file(p)) return p.lexically_normal();
    return std::nullopt;
}

bool in_group_socklab() {
    const group* g = ::getgrnam("socklab");
    if (g == nullptr) return false;
    const gid_t want = g->gr_gid;
    if (::getegid() == want) return true;
    const int n = ::getgroups(0, nullptr);
    if (n <= 0) return false;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    const int got = ::getgroups(n, groups.data());
    return got > 0 && std::find(groups.begin(), groups.begin() + got, want) != groups.begin() + got;
}

PrivilegePath privilege_path() {
    if (::geteuid() == 0) return PrivilegePath::root;
    // Only a member may run the installed helper (mode 0750, group socklab); anyone else
    // keeps the unprivileged behaviour and its advice.
    return in_group_socklab() && find_helper() ? PrivilegePath::helper
                                               : PrivilegePath::unprivileged;
}

std::string privilege_path_text() {
    switch (privilege_path()) {
        case PrivilegePath::root: return "root";
        case PrivilegePath::helper: return "socklab-helper (" + find_helper()->string() + ")";
        case PrivilegePath::unprivileged: break;
    }
    return "unprivileged (tracing and other users' processes need root, or membership of "
           "group socklab with socklab-helper installed: docs/privileges.md)";
}

// ---- HelperClient -------------------------------------------------------------------------

HelperClient::HelperClient(const std::filesystem::path& helper) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        throw sys_error("create the socketpair for socklab-helper", errno);
    UniqueFd ours(sv[0]);
    UniqueFd theirs = high(UniqueFd(sv[1]));
    int pp[2];
    if (::pipe2(pp, O_CLOEXEC) != 0) throw sys_error("create a pipe for socklab-helper", errno);
    UniqueFd err_read(pp[0]);
    UniqueFd err_write = high(UniqueFd(pp[1]));

    SpawnActions sa;
    posix_spawn_file_actions_addopen(&sa.fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&sa.fa, err_write.get(), 2);
    posix_spawn_file_actions_adddup2(&sa.fa, theirs.get(), h::kChannelFd);
    // Its own process group: Ctrl-C at the terminal stops the front end, which then stops
    // the helper in order (a trace's instance removed), instead of both dying at once.
    short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    posix_spawnattr_setflags(&sa.attr, flags);
    posix_spawnattr_setpgroup(&sa.attr, 0);
    sigset_t none, defaults;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&sa.attr, &none);
    sigemptyset(&defaults);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaddset(&defaults, s);
    posix_spawnattr_setsigdefault(&sa.attr, &defaults);

    const std::string path = helper.string();
    char* argv[] = {const_cast<char*>("socklab-helper"), nullptr};
    const int rc = ::posix_spawn(&pid_, path.c_str(), &sa.fa, &sa.attr, argv, environ);
    if (rc != 0)
        throw Error("failed to start " + path + ": " + std::strerror(rc) +
                    (rc == EACCES ? " (only members of group socklab may run it: as root, "
                                    "'usermod -aG socklab $USER', then log in again)"
                                  : ""));
    channel_ = std::move(ours);
    stderr_ = std::move(err_read);
    pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0u)));
}

HelperClient::~HelperClient() {
    channel_.reset();  // the helper sees the end of its channel and exits
    if (wait_exit(std::chrono::milliseconds(2000)) == -1 && !reaped_) {
        ::kill(pid_, SIGKILL);
        int st = 0;
        while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
        }
    }
}

int HelperClient::wait_exit(std::chrono::milliseconds timeout) {
    if (!reaped_) {
        if (pidfd_) {
            pollfd p{pidfd_.get(), POLLIN, 0};
            while (::poll(&p, 1, static_cast<int>(timeout.count())) < 0 && errno == EINTR) {
            }
        }
        int st = 0;
        pid_t r;
        while ((r = ::waitpid(pid_, &st, pidfd_ ? WNOHANG : 0)) < 0 && errno == EINTR) {
        }
        if (r != pid_) return -1;
        reaped_ = true;
        status_ = st;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

std::string HelperClient::last_words() {
    std::string out;
    if (!stderr_) return out;
    char chunk[1024];
    for (int i = 0; i < 64; ++i) {
        pollfd p{stderr_.get(), POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) break;
        const ssize_t n = ::read(stderr_.get(), chunk, sizeof chunk);
        if (n <= 0) break;
        out.append(chunk, static_cast<std::size_t>(n));
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

void HelperClient::send_bytes(std::span<const std::byte> bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
        const ssize_t n = ::send(channel_.get(), bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw sys_error("send a request to socklab-helper", n < 0 ? errno : EPIPE);
        off += static_cast<std::size_t>(n);
    }
}

void HelperClient::send(const h::Message& m) { send_bytes(h::encode(m)); }

std::optional<h::Message> HelperClient::receive(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto d = h::decode(buf_);
        if (d.status == h::Decoded::Status::complete) {
            buf_.erase(buf_.begin(), buf_.begin() + static_cast<long>(d.consumed));
            return std::move(d.message);
        }
        if (d.status != h::Decoded::Status::need_more)
            throw Error("failed to read socklab-helper's answer: " + d.error);
        // Even with no time left, what is already in the socket is read (a zero timeout
        // means "what is here now", not "nothing").
        const auto left = std::max(std::chrono::milliseconds(0),
                                   std::chrono::duration_cast<std::chrono::milliseconds>(
                                       deadline - std::chrono::steady_clock::now()));
        pollfd p{channel_.get(), POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw sys_error("wait for socklab-helper", errno);
        if (r == 0) {
            if (std::chrono::steady_clock::now() < deadline) continue;
            throw Error("failed to read socklab-helper's answer: nothing within " +
                        std::to_string(timeout.count()) + " ms");
        }
        std::byte chunk[16384];
        const ssize_t n = ::recv(channel_.get(), chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != ECONNRESET) throw sys_error("read from socklab-helper", errno);
        if (n <= 0) return std::nullopt;
        buf_.insert(buf_.end(), chunk, chunk + n);
    }
}

HelperClient::Answer HelperClient::closed_answer() {
    wait_exit(std::chrono::milliseconds(1000));
    std::string why = last_words();
    Answer a;
    a.code = h::ErrorCode::failed;
    a.message = why.empty() ? "socklab-helper stopped without an answer" : why;
    return a;
}

HelperClient::Answer HelperClient::request(const h::Message& m) {
    try {
        send(m);
    } catch (const Error&) {
        return closed_answer();
    }
    auto reply = receive(std::chrono::seconds(30));
    if (!reply) return closed_answer();
    Answer a;
    if (const auto* ok = std::get_if<h::OkReply>(&*reply)) {
        a.ok = true;
        a.message = ok->message;
        a.count = ok->count;
    } else if (const auto* err = std::get_if<h::ErrorReply>(&*reply)) {
        a.code = err->code;
        a.message = err->message;
    } else {
        a.message = "socklab-helper answered with verb " +
                    std::to_string(static_cast<int>(h::verb_of(*reply))) + " out of turn";
    }
    return a;
}

HelperClient::Answer HelperClient::destroy(const SocketRecord& s) {
    return request(h::DestroyRequest{s.local_addr, s.local_port, s.remote_addr, s.remote_port,
                                     s.cookie});
}

HelperClient::Answer HelperClient::signal(int pid, std::uint64_t start_ticks, int sig) {
    return request(h::SignalRequest{pid, start_ticks, sig});
}

std::vector<h::OwnerEntry> HelperClient::owners(std::span<const std::uint64_t> inodes,
                                                Answer& answer) {
    std::vector<h::OwnerEntry> out;
    try {
        send(h::OwnersRequest{{inodes.begin(), inodes.end()}});
    } catch (const Error&) {
        answer = closed_answer();
        return out;
    }
    for (;;) {
        auto reply = receive(std::chrono::seconds(60));
        if (!reply) {
            answer = closed_answer();
            return out;
        }
        if (auto* b = std::get_if<h::OwnersBatch>(&*reply)) {
            for (auto& e : b->entries) out.push_back(std::move(e));
            continue;
        }
        answer = Answer{};
        if (const auto* ok = std::get_if<h::OkReply>(&*reply)) {
            answer.ok = true;
            answer.message = ok->message;
            answer.count = ok->count;
        } else if (const auto* err = std::get_if<h::ErrorReply>(&*reply)) {
            answer.code = err->code;
            answer.message = err->message;
        }
        return out;
    }
}

HelperClient::Answer HelperClient::start_trace(std::optional<std::uint16_t> port) {
    return request(h::TraceRequest{port, false, {}, false});
}

HelperClient::Answer HelperClient::start_trace(const h::TraceRequest& req) { return request(req); }

std::size_t HelperClient::poll_stream(const std::function<bool(h::Message&)>& take,
                                      std::chrono::milliseconds timeout, const char* what) {
    std::size_t n = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        std::optional<h::Message> m;
        try {
            // After the first frame, take only what is already here.
            m = receive(n == 0 ? std::max(left, std::chrono::milliseconds(0))
                               : std::chrono::milliseconds(0));
        } catch (const Error& e) {
            if (std::string_view(e.what()).find("nothing within") != std::string_view::npos)
                return n;
            throw;
        }
        if (!m) throw Error(std::string(what) + " ended: " + closed_answer().message);
        if (take(*m)) {
            ++n;
            continue;
        }
        if (const auto* err = std::get_if<h::ErrorReply>(&*m))
            throw Error(std::string(what) + " ended: " + err->message);
        throw Error(std::string(what) + " ended: socklab-helper sent verb " +
                    std::to_string(static_cast<int>(h::verb_of(*m))));
    }
}

HelperClient::Answer HelperClient::stop_stream(const std::function<bool(h::Message&)>& take) {
    try {
        send(h::StopRequest{});
    } catch (const Error&) {
        return closed_answer();
    }
    for (;;) {
        auto m = receive(std::chrono::seconds(10));
        if (!m) return closed_answer();
        if (take(*m)) continue;
        Answer a;
        if (const auto* ok = std::get_if<h::OkReply>(&*m)) {
            a.ok = true;
            a.message = ok->message;
            a.count = ok->count;
        } else if (const auto* err = std::get_if<h::ErrorReply>(&*m)) {
            a.code = err->code;
            a.message = err->message;
        }
        return a;
    }
}

namespace {

// A frame of a running trace: a transition into `events`, a system call into `calls`, a
// socket's data calls into `data` (the newest frame of an inode replaces the one before).
bool take_trace_frame(h::Message& m, std::vector<TransitionEvent>& events,
                      std::vector<SyscallEvent>* calls,
                      std::unordered_map<std::uint64_t, DataCallCounts>& data) {
    if (auto* d = std::get_if<h::DataCallsReply>(&m)) {
        data[d->inode] = d->counts;
        return true;
    }
    if (auto* ev = std::get_if<h::EventReply>(&m)) {
        events.push_back(ev->event);
        return true;
    }
    if (auto* c = std::get_if<h::SyscallReply>(&m)) {
        if (calls) calls->push_back(c->call);
        return true;
    }
    return false;
}

}  // namespace

std::size_t HelperClient::poll_events(std::vector<TransitionEvent>& out,
                                      std::chrono::milliseconds timeout,
                                      std::vector<SyscallEvent>* calls) {
    return poll_stream([&](h::Message& m) { return take_trace_frame(m, out, calls, data_); }, timeout,
                       "the trace");
}

HelperClient::Answer HelperClient::stop_trace(std::vector<TransitionEvent>& tail,
                                              std::vector<SyscallEvent>* calls_tail) {
    return stop_stream([&](h::Message& m) { return take_trace_frame(m, tail, calls_tail, data_); });
}

HelperClient::Answer HelperClient::start_capture(const h::CaptureRequest& req) {
    return request(req);
}

std::size_t HelperClient::poll_packets(std::vector<h::PacketBatch>& out,
                                       std::chrono::milliseconds timeout) {
    return poll_stream(
        [&](h::Message& m) {
            auto* b = std::get_if<h::PacketBatch>(&m);
            if (b) out.push_back(std::move(*b));
            return b != nullptr;
        },
        timeout, "the capture");
}

HelperClient::Answer HelperClient::stop_capture(std::vector<h::PacketBatch>* tail) {
    return stop_stream([&](h::Message& m) {
        auto* b = std::get_if<h::PacketBatch>(&m);
        if (b && tail) tail->push_back(std::move(*b));
        return b != nullptr;
    });
}

// ---- HelperTracer -------------------------------------------------------------------------

HelperTracer::HelperTracer(const std::filesystem::path& helper, TracerOptions opts) {
    calls_status_ = {false, "system calls are not traced: not asked for"};
    if (opts.force_unprivileged) {
        status_ = tracing_turned_off();
        return;
    }
    try {
        client_ = std::make_unique<HelperClient>(helper);
        h::TraceRequest req{opts.port, false, {}, false, false};
        if (opts.syscalls) {  // pids and follow_children mean nothing without them (as in Tracer)
            req.syscalls = true;
            req.data_calls = opts.data_calls;
            req.pids = opts.pids;
            req.follow_children = opts.follow_children && !opts.pids.empty();
        }
        const auto a = client_->start_trace(req);
        if (a.ok && opts.syscalls && a.count == 0) {
            // Transitions are traced; the message says why the calls are not.
            status_ = {true, "tracing through socklab-helper (" + helper.string() + ")"};
            std::string why = a.message;
            const std::string_view lead = "system calls are not traced: ";
            if (why.rfind(lead, 0) == 0) why.erase(0, lead.size());
            calls_status_ = {false, std::string(lead) + "socklab-helper: " + why};
        } else if (a.ok) {
            status_ = {true, "tracing through socklab-helper (" + helper.string() + "): " +
                                 a.message};
            if (opts.syscalls)
                calls_status_ = {true, "tracing the system calls of your own processes through "
                                       "socklab-helper"};
        } else {
            status_ = {false, "state transitions are not traced: socklab-helper: " + a.message};
            client_.reset();
        }
    } catch (const std::exception& e) {
        status_ = {false, std::string("state transitions are not traced: ") + e.what()};
        client_.reset();
    }
    if (opts.syscalls && !status_.active) {
        // Both halves are one trace in the helper: the reason is the same.
        std::string why = status_.message;
        const std::string_view lead = "state transitions are not traced: ";
        if (why.rfind(lead, 0) == 0) why.erase(0, lead.size());
        calls_status_ = {false, "system calls are not traced: " + why};
    }
}

HelperTracer::~HelperTracer() {
    if (client_ && !finished_) {
        std::vector<TransitionEvent> ignored;
        try {
            finish(ignored);
        } catch (const std::exception&) {
        }
    }
}

std::size_t HelperTracer::poll(std::vector<TransitionEvent>& out, std::chrono::milliseconds timeout) {
    if (!status_.active || finished_) return 0;
    return client_->poll_events(out, timeout);
}

std::size_t HelperTracer::poll(std::vector<TransitionEvent>& out, std::vector<SyscallEvent>& calls,
                               std::chrono::milliseconds timeout) {
    if (!status_.active || finished_) return 0;
    return client_->poll_events(out, timeout, &calls);
}

std::uint64_t HelperTracer::finish(std::vector<TransitionEvent>& tail,
                                   std::vector<SyscallEvent>* calls_tail) {
    if (!status_.active || finished_) return lost_;
    finished_ = true;
    const auto a = client_->stop_trace(tail, calls_tail);
    if (!a.ok) throw Error("failed to stop the trace in socklab-helper: " + a.message);
    lost_ = a.count;
    return lost_;
}

const std::unordered_map<std::uint64_t, DataCallCounts>& HelperTracer::data_calls() const noexcept {
    static const std::unordered_map<std::uint64_t, DataCallCounts> none;
    return client_ ? client_->data_calls() : none;
}

TransitionTracer::TransitionTracer(const TracerOptions& opts) {
    const auto helper = opts.force_unprivileged || privilege_path() != PrivilegePath::helper
                            ? std::nullopt
                            : find_helper();
    if (!helper) {
        direct_ = std::make_unique<Tracer>(opts);
        return;
    }
    helper_path_ = *helper;
    helper_ = std::make_unique<HelperTracer>(*helper, opts);
}

const std::unordered_map<std::uint64_t, DataCallCounts>& TransitionTracer::data_calls() const noexcept {
    return direct_ ? direct_->data_calls() : helper_->data_calls();
}

TransitionTracer::~TransitionTracer() = default;

const TracerStatus& TransitionTracer::status() const noexcept {
    return direct_ ? direct_->status() : helper_->status();
}

const TracerStatus& TransitionTracer::syscall_status() const noexcept {
    return direct_ ? direct_->syscall_status() : helper_->syscall_status();
}

std::size_t TransitionTracer::poll(std::vector<TransitionEvent>& out, std::chrono::milliseconds timeout) {
    return direct_ ? direct_->poll(out, timeout) : helper_->poll(out, timeout);
}

std::size_t TransitionTracer::poll(std::vector<TransitionEvent>& out, std::vector<SyscallEvent>& calls,
                                   std::chrono::milliseconds timeout) {
    return direct_ ? direct_->poll(out, calls, timeout) : helper_->poll(out, calls, timeout);
}

std::uint64_t TransitionTracer::lost_events() const { return direct_ ? direct_->lost_events() : 0; }

std::uint64_t TransitionTracer::finish(std::vector<TransitionEvent>& tail,
                                       std::vector<SyscallEvent>* calls_tail) {
    if (direct_) return direct_->lost_events();
    return status().active ? helper_->finish(tail, calls_tail) : 0;
}

std::string TransitionTracer::stop() {
    if (helper_) {
        std::vector<TransitionEvent> tail;
        (void)helper_->finish(tail);
        return {};
    }
    return direct_->stop();
}

}  // namespace socklab
