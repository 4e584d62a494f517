// The helper's verbs. Each one re-checks what it was asked right before acting, raises only
// its own capability for the act, and answers with ok or an error frame saying why not.
#include "server.hpp"

#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "caps.hpp"
#include "socklab/capture.hpp"
#include "socklab/doctor.hpp"
#include "socklab/error.hpp"
#include "socklab/fd.hpp"
#include "socklab/helper_protocol.hpp"
#include "socklab/owners.hpp"
#include "socklab/source.hpp"
#include "socklab/tracer.hpp"
#include "socklab/i18n.hpp"

namespace socklab::helper_main {
namespace {

namespace h = socklab::helper;

constexpr long kTracefsMagic = 0x74726163;

class Channel {
public:
    explicit Channel(int fd) : fd_(fd) {}

    // False when the front end is gone.
    bool send(const h::Message& m) {
        const auto bytes = h::encode(m);
        std::size_t off = 0;
        while (off < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }
    bool error(h::ErrorCode c, std::string msg) {
        if (msg.size() > h::kMaxString) msg.resize(h::kMaxString);
        return send(h::ErrorReply{c, std::move(msg)});
    }

    enum class Got { frame, closed, bad, unknown, timeout };
    // Next frame, waiting at most `timeout_ms` (-1: for ever).
    Got next(h::Decoded& out, int timeout_ms) {
        for (;;) {
            out = h::decode(buf_);
            switch (out.status) {
                case h::Decoded::Status::complete:
                    buf_.erase(buf_.begin(), buf_.begin() + static_cast<long>(out.consumed));
                    return Got::frame;
                case h::Decoded::Status::unknown_verb:
                    buf_.erase(buf_.begin(), buf_.begin() + static_cast<long>(out.consumed));
                    return Got::unknown;
                case h::Decoded::Status::bad_frame: return Got::bad;
                case h::Decoded::Status::need_more: break;
            }
            pollfd p{fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, timeout_ms);
            if (r < 0 && errno == EINTR) continue;
            if (r == 0) return Got::timeout;
            std::byte chunk[8192];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return Got::closed;
            buf_.insert(buf_.end(), chunk, chunk + n);
            if (buf_.size() > h::kHeaderSize + h::kMaxFrame) {
                // The decoder already refuses such a length; this only bounds the buffer.
                out.status = h::Decoded::Status::bad_frame;
                out.error = _("more than one frame's worth of bytes without a whole frame");
                return Got::bad;
            }
        }
    }

private:
    int fd_;
    std::vector<std::byte> buf_;
};

std::string missing_cap(const char* cap, const char* verb) {
    return std::string(_("socklab-helper does not hold ")) + cap + ", which " + verb +
           _(" needs: as root run 'setcap ") +
           _("cap_dac_override,cap_dac_read_search,cap_sys_ptrace,cap_kill,cap_net_admin,"
           "cap_net_raw=p' on the installed socklab-helper (docs/privileges.md)");
}

// ---- trace ------------------------------------------------------------------------------
// Returns false when the channel is gone or unusable.
// What the caller sent while a trace or capture streams to it. Only 'stop' is served then;
// anything else is answered (busy, unknown verb) or ends the session (closed, a bad frame).
enum class Heard : std::uint8_t { nothing, stop, end };
Heard while_streaming(Channel& ch, const char* busy) {
    h::Decoded d;
    switch (ch.next(d, 0)) {
        case Channel::Got::timeout: return Heard::nothing;
        case Channel::Got::closed: return Heard::end;
        case Channel::Got::bad:
            ch.error(h::ErrorCode::bad_frame, _("bad frame: ") + d.error);
            return Heard::end;
        case Channel::Got::unknown:
            return ch.error(h::ErrorCode::unknown_verb, "refused: " + d.error) ? Heard::nothing : Heard::end;
        case Channel::Got::frame: break;
    }
    if (std::holds_alternative<h::StopRequest>(*d.message)) return Heard::stop;
    return ch.error(h::ErrorCode::busy, busy) ? Heard::nothing : Heard::end;
}

// ---- trace: whose system calls ------------------------------------------------------
// The system calls of every process on the machine pass through the kernel's buffer; the
// caller may see those of its own processes only, as it could with strace. A process is the
// caller's when its real, effective and saved uids (the "Uid:" line of /proc/<pid>/status)
// all are the caller's uid (SO_PEERCRED's, checked against the real uid when the helper
// started): a setuid program the caller runs is not, as the kernel would not let the caller
// ptrace it either.
struct CallFilter {
    uid_t caller = 0;
    pid_t front_end = 0;         // the caller's own calls, left out as the direct tracer does
    std::uint64_t others = 0;    // left out: another user's process
    std::uint64_t exited = 0;    // left out: the process was gone before its uid could be read

    enum class Owner : std::uint8_t { caller, other, gone };
    // Read when the call is read (within ~100 ms of it), not at the instant of the call.
    static Owner owner_of(std::int32_t pid, uid_t caller) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/status");
        for (std::string line; std::getline(in, line);) {
            if (line.rfind("Uid:", 0) != 0) continue;
            unsigned long real = 0, eff = 0, saved = 0;
            if (std::sscanf(line.c_str() + 4, "%lu %lu %lu", &real, &eff, &saved) != 3)
                return Owner::gone;
            return real == caller && eff == caller && saved == caller ? Owner::caller
                                                                      : Owner::other;
        }
        // No such process any more (or no Uid line: never a guess): its calls are dropped, the
        // safe choice; a zombie still has its line, so a child not yet reaped is kept.
        return Owner::gone;
    }

    // Keep only the calls the caller may see; each pid is asked once per batch.
    void apply(std::vector<SyscallEvent>& calls) {
        std::unordered_map<std::int32_t, Owner> seen;
        std::erase_if(calls, [&](const SyscallEvent& c) {
            if (c.pid <= 0 || c.pid == front_end) return true;
            auto it = seen.find(c.pid);
            if (it == seen.end()) it = seen.emplace(c.pid, owner_of(c.pid, caller)).first;
            if (it->second == Owner::other) ++others;
            if (it->second == Owner::gone) ++exited;
            return it->second != Owner::caller;
        });
    }
};

// The system-call fields of a trace request, checked again (the decoder did too): empty
// when they may be acted on, else the error to send.
std::optional<std::pair<h::ErrorCode, std::string>> trace_refusal(const h::TraceRequest& req,
                                                                  uid_t caller) {
    if (req.pids.size() > h::kMaxTracePids || (!req.syscalls && !req.pids.empty()) ||
        (req.data_calls && !req.syscalls) ||
        (req.follow_children && req.pids.empty()) ||
        std::any_of(req.pids.begin(), req.pids.end(),
                    [](std::int32_t p) { return p < 1 || p > h::kMaxPid; }))
        return std::pair{h::ErrorCode::refused,
                         std::string(_("refused to trace: pids must be 1 to 4194304, at most 64, "
                                       "and only with system calls"))};
    // Asking for another user's process would show nothing (its calls are left out): say so
    // instead of tracing in silence.
    for (const auto pid : req.pids) {
        switch (CallFilter::owner_of(pid, caller)) {
            case CallFilter::Owner::caller: break;
            case CallFilter::Owner::gone:
                return std::pair{h::ErrorCode::gone,
                                 i18n::format(_("pid {} has exited: nothing traced"), pid)};
            case CallFilter::Owner::other:
                return std::pair{h::ErrorCode::refused,
                                 i18n::format(_("refused to trace the system calls of pid {}: it "
                                                "is not a process of uid {}"),
                                              pid, caller)};
        }
    }
    return std::nullopt;
}

bool do_trace(Channel& ch, const h::TraceRequest& req, uid_t caller) {
    if (::geteuid() != 0 && !permitted(CAP_DAC_OVERRIDE))
        return ch.error(h::ErrorCode::no_permission, missing_cap("CAP_DAC_OVERRIDE", "trace"));
    if (auto why = trace_refusal(req, caller)) return ch.error(why->first, why->second);
    // tracefs files are root's, mode 0640/0750: only CAP_DAC_OVERRIDE opens them for writing.
    Raised raised{CAP_DAC_OVERRIDE};
    struct statfs fs {};
    if (!(::statfs("/sys/kernel/tracing", &fs) == 0 && static_cast<long>(fs.f_type) == kTracefsMagic) &&
        !(::statfs("/sys/kernel/debug/tracing", &fs) == 0 && static_cast<long>(fs.f_type) == kTracefsMagic))
        return ch.error(h::ErrorCode::failed,
                        _("failed to find tracefs: it is not mounted, and socklab-helper does not "
                        "mount file systems; as root run 'mount -t tracefs nodev "
                        "/sys/kernel/tracing' (most distributions mount it at boot)"));
    TracerOptions opts;
    opts.port = req.port;
    opts.syscalls = req.syscalls;
    opts.pids = req.pids;
    opts.follow_children = req.follow_children;
    // Data calls one by one, so another user's are dropped before they are counted here.
    opts.data_call_events = req.syscalls && req.data_calls;
    opts.without_root = true;
    Tracer tracer(opts);
    if (!tracer.status().active)
        return ch.error(h::ErrorCode::failed, tracer.status().message);
    // count 1: the system calls asked for are traced; 0 with syscalls asked: the message is why not.
    const bool calls_on = req.syscalls && tracer.syscall_status().active;
    if (!ch.send(h::OkReply{req.syscalls && !calls_on ? tracer.syscall_status().message
                                                       : tracer.status().message,
                            calls_on ? 1u : 0u}))
        return false;

    CallFilter filter{caller, ::getppid()};
    std::vector<TransitionEvent> events;
    std::vector<SyscallEvent> calls;
    // The data calls of the caller's own processes, counted per socket inode; those that grew
    // this round are sent whole.
    std::unordered_map<std::uint64_t, DataCallCounts> data;
    std::vector<std::uint64_t> grown;
    // One round: read the tracer, drop what is not the caller's, send the rest. False when
    // the channel is gone (or the tracer failed: said on the channel).
    const auto round = [&](std::chrono::milliseconds wait, bool& any) {
        events.clear();
        calls.clear();
        try {
            any = tracer.poll(events, calls, wait) > 0;
        } catch (const Error& e) {
            ch.error(h::ErrorCode::failed, e.what());
            return false;
        }
        for (const auto& e : events)
            if (!ch.send(h::EventReply{e})) return false;
        filter.apply(calls);  // before anything of a call leaves the helper
        grown.clear();
        for (const auto& c : calls) {
            if (!is_data_call(c.call)) {
                if (!ch.send(h::SyscallReply{c})) return false;
                continue;
            }
            // What a data_calls frame could not carry (the decoder refuses it) is not counted;
            // the count of sockets is bounded.
            if (c.inode == 0 || c.fd < 0 || c.tid < 1 || c.tid > h::kMaxPid || c.pid > h::kMaxPid ||
                (data.size() >= 65536 && !data.count(c.inode)))
                continue;
            auto& counts = data[c.inode];
            if (std::find(grown.begin(), grown.end(), c.inode) == grown.end())
                grown.push_back(c.inode);
            counts.add(c.call, c.result, c.time_ns);
            counts.pid = c.pid;
            counts.tid = c.tid;
            counts.fd = c.fd;
        }
        for (const auto inode : grown) {
            auto counts = data[inode];
            counts.first_reads = {};  // the framing hints' share: not carried (no payload here)
            counts.reads_kept = 0;
            if (!ch.send(h::DataCallsReply{inode, counts})) return false;
        }
        return true;
    };
    for (;;) {
        bool any = false;
        if (!round(std::chrono::milliseconds(100), any)) return false;
        const auto heard = while_streaming(ch, _("refused: a trace is running; only 'stop' is served"));
        if (heard == Heard::end) return false;
        if (heard == Heard::stop) break;
    }
    // What the kernel recorded before the stop was heard (a program's last calls before it
    // ended) is still sent, a bounded number of reads.
    for (int i = 0; i < 64; ++i) {
        bool any = false;
        if (!round(std::chrono::milliseconds(0), any)) return false;
        if (!any) break;
    }
    const auto lost = tracer.lost_events();
    // The tracer prints nothing: what it could not remove is said here.
    if (const auto left = tracer.stop(); !left.empty()) std::fprintf(stderr, "socklab: %s\n", left.c_str());
    std::string said = _("trace stopped");
    if (calls_on)
        said += "; " + i18n::format(_("{} system calls of other users' processes and {} of "
                                      "processes gone before their owner was read left out"),
                                    filter.others, filter.exited);
    return ch.send(h::OkReply{said, lost});
}

// ---- capture ----------------------------------------------------------------------------
// The helper opens the capture and sends the frames as they are, undecoded: the decoder
// (pkt::decode_frame) reads bytes anyone on the network may have shaped, so it runs in the
// unprivileged front end, never here (the reason Wireshark's dumpcap does not dissect).

// A name the kernel could give an interface (dev_valid_name: 1..15 bytes, not "." or "..",
// no '/', ':' or white space), and one that exists in this network namespace — or libpcap's
// "any". Empty when it is fine, else why not.
std::string interface_refusal(const std::string& name) {
    if (name.empty() || name.size() > h::kMaxInterfaceName || name == "." || name == "..")
        return _("not an interface name");
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '/' || c == ':' || u <= 0x20 || u >= 0x7f) return _("not an interface name");
    }
    if (name != "any" && ::if_nametoindex(name.c_str()) == 0)
        return _("no such interface in this network namespace (see 'ip link')");
    return {};
}

bool do_capture(Channel& ch, const h::CaptureRequest& req) {
    if (::geteuid() != 0 && !permitted(CAP_NET_RAW))
        return ch.error(h::ErrorCode::no_permission, missing_cap("CAP_NET_RAW", "capture"));
    // Trust nothing the front end sent: the decoder checked the sizes; check the values.
    if (auto why = interface_refusal(req.interface); !why.empty()) {
        std::string shown;
        for (const char c : req.interface)
            shown += (static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f) ? c : '?';
        return ch.error(h::ErrorCode::refused,
                        i18n::format(_("refused to capture on '{}': {}"), shown, why));
    }
    if (req.ports.size() > h::kMaxCapturePorts ||
        std::any_of(req.ports.begin(), req.ports.end(), [](std::uint16_t p) { return p == 0; }) ||
        req.buffer_kb < h::kMinCaptureBufferKb || req.buffer_kb > h::kMaxCaptureBufferKb)
        return ch.error(h::ErrorCode::refused, _("refused to capture: ports must be 1 to 65535"));
    CaptureOptions opts;
    opts.interface = req.interface;
    opts.ports = req.ports;  // the filter is made of these numbers only, never of a string
    opts.buffer_kb = req.buffer_kb;
    opts.snaplen = static_cast<int>(h::kMaxCaptureBytes);  // headers, never what the front end asks
    std::unique_ptr<FrameCapture> cap;
    try {
        // CAP_NET_RAW only to open the packet socket; reading it later needs nothing.
        Raised raised{CAP_NET_RAW};
        cap = std::make_unique<FrameCapture>(opts);
    } catch (const Error& e) {
        return ch.error(h::ErrorCode::failed, e.what());
    }
    if (!ch.send(h::OkReply{"capturing '" + cap->filter() + "' on " + req.interface,
                            static_cast<std::uint64_t>(cap->datalink())}))
        return false;

    h::PacketBatch batch;
    batch.datalink = static_cast<std::uint32_t>(cap->datalink());
    const auto flush = [&] {
        if (batch.frames.empty()) return true;
        const auto d = cap->drops();
        batch.kernel_dropped = d.kernel_dropped;
        batch.interface_dropped = d.interface_dropped;
        const bool sent = ch.send(batch);
        batch.frames.clear();
        return sent;
    };
    bool alive = true;
    for (;;) {
        try {
            cap->poll(
                [&](const FrameCapture::Frame& f) {
                    if (!alive) return;
                    h::CapturedFrame out;
                    out.time_ns = f.time_ns;
                    out.wire_len = f.wire_len;
                    const auto n = std::min(f.bytes.size(), h::kMaxCaptureBytes);
                    out.bytes.assign(f.bytes.begin(), f.bytes.begin() + static_cast<long>(n));
                    batch.frames.push_back(std::move(out));
                    if (batch.frames.size() == h::kFramesPerBatch) alive = flush();
                },
                std::chrono::milliseconds(100));
        } catch (const Error& e) {
            return ch.error(h::ErrorCode::failed, e.what());
        }
        if (!alive || !flush()) return false;
        const auto heard = while_streaming(ch, _("refused: a capture is running; only 'stop' is served"));
        if (heard == Heard::end) return false;
        if (heard == Heard::stop) break;
    }
    return ch.send(h::OkReply{_("capture stopped"), cap->drops().lost()});
}

// ---- owners -----------------------------------------------------------------------------
bool do_owners(Channel& ch, const h::OwnersRequest& req) {
    std::vector<std::uint64_t> inodes = req.inodes;
    if (inodes.empty()) {
        // Every socket: the table says which inodes there are (no privilege needed).
        try {
            auto src = make_netlink_source();
            for (const auto& r : src->snapshot(Query{}).sockets)
                if (r.inode != 0) inodes.push_back(r.inode);
        } catch (const Error& e) {
            return ch.error(h::ErrorCode::failed, e.what());
        }
    }
    OwnerIndex index;
    index.set_allow_bpf(false);  // the task_file iterator needs CAP_BPF/CAP_SYS_ADMIN: not kept
    {
        // Listing another user's /proc/<pid>/fd needs CAP_DAC_READ_SEARCH, reading its links
        // CAP_SYS_PTRACE (docs/privileges.md): both, or neither helps.
        Raised raised{CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE};
        try {
            index.refresh_for(inodes);
        } catch (const Error& e) {
            return ch.error(h::ErrorCode::failed, e.what());
        }
    }
    std::sort(inodes.begin(), inodes.end());
    inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
    h::OwnersBatch batch;
    std::uint64_t sent = 0;
    for (auto inode : inodes) {
        for (const auto& p : index.owners_of(inode)) {
            h::OwnerEntry e{inode, p.pid, p.fd, p.uid, p.command.substr(0, 64)};
            batch.entries.push_back(std::move(e));
            if (batch.entries.size() == h::kOwnersPerBatch) {
                if (!ch.send(batch)) return false;
                sent += batch.entries.size();
                batch.entries.clear();
            }
        }
    }
    if (!batch.entries.empty()) {
        if (!ch.send(batch)) return false;
        sent += batch.entries.size();
    }
    return ch.send(h::OkReply{_("owners of ") + std::to_string(inodes.size()) + " socket(s), " +
                                  std::to_string(index.stats().unreadable) +
                                  " process(es) unreadable",
                              sent});
}

// ---- destroy ----------------------------------------------------------------------------
bool do_destroy(Channel& ch, const h::DestroyRequest& req) {
    SocketRecord s;
    s.proto = Proto::tcp;
    s.family = req.local_addr.family;
    s.local_addr = req.local_addr;
    s.local_port = req.local_port;
    s.remote_addr = req.remote_addr;
    s.remote_port = req.remote_port;
    s.cookie = req.cookie;
    const std::string what = format_endpoint(s.local_addr, s.local_port) + " -> " +
                             format_endpoint(s.remote_addr, s.remote_port) + " (cookie " +
                             std::to_string(s.cookie) + ")";
    if (s.cookie == 0)
        return ch.error(h::ErrorCode::refused,
                        _("refused to destroy ") + what + _(": no cookie names the socket exactly"));
    try {
        // Re-check right before the act: this 4-tuple with this cookie, or nothing.
        if (!socket_exists(s))
            return ch.error(h::ErrorCode::refused,
                            _("refused to destroy ") + what + _(": no socket with this 4-tuple and "
                            "cookie exists now (it closed, or another socket took its place)"));
    } catch (const Error& e) {
        return ch.error(h::ErrorCode::failed, e.what());
    }
    int err = 0;
    {
        Raised raised{CAP_NET_ADMIN};
        err = destroy_socket(s);
    }
    switch (err) {
        case 0: return ch.send(h::OkReply{"destroyed " + what, 1});
        case ENOENT:
            return ch.error(h::ErrorCode::gone, what + _(" went away just before SOCK_DESTROY"));
        case EPERM:
        case EACCES:
            return ch.error(h::ErrorCode::no_permission,
                            _("failed to destroy ") + what + ": " + std::strerror(err) + "; " +
                                missing_cap("CAP_NET_ADMIN", "destroy"));
        default:
            return ch.error(h::ErrorCode::failed,
                            _("failed to destroy ") + what + ": " + std::strerror(err));
    }
}

// ---- signal -----------------------------------------------------------------------------
bool do_signal(Channel& ch, const h::SignalRequest& req) {
    const std::string who = "pid " + std::to_string(req.pid);
    if (req.signal != SIGTERM && req.signal != SIGKILL)
        return ch.error(h::ErrorCode::refused, _("refused to send signal ") +
                                                   std::to_string(req.signal) + " to " + who +
                                                   _(": only SIGTERM and SIGKILL are served"));
    // The doctor's own refusals: pid 1, this process (the helper), its parent (the front
    // end that started it), kernel threads.
    if (auto why = refusal_reason(req.pid); !why.empty())
        return ch.error(h::ErrorCode::refused, _("refused to signal ") + who + ": " + why);
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, req.pid, 0u)));
    if (!pidfd) {
        const int err = errno;
        return ch.error(err == ESRCH ? h::ErrorCode::gone : h::ErrorCode::failed,
                        _("failed to open a pidfd for ") + who + ": " + std::strerror(err));
    }
    // The pidfd pins one process; its start time (read while pinned) says it is the one asked
    // for, and not another that got the pid since.
    const auto ticks = process_start_ticks(req.pid);
    pollfd p{pidfd.get(), POLLIN, 0};
    if (!ticks || (::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP))))
        return ch.error(h::ErrorCode::gone, who + _(" has exited: nothing signalled"));
    if (*ticks != req.start_ticks)
        return ch.error(h::ErrorCode::refused,
                        _("refused to signal ") + who + _(": it started at tick ") +
                            std::to_string(*ticks) + ", not " + std::to_string(req.start_ticks) +
                            _(" as asked: another process has that pid now"));
    int rc = 0, err = 0;
    {
        Raised raised{CAP_KILL};
        rc = static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd.get(), req.signal, nullptr, 0u));
        err = errno;
    }
    if (rc == 0)
        return ch.send(h::OkReply{"sent " + std::string(sigabbrev_np(req.signal)) + " to " + who, 1});
    if (err == ESRCH) return ch.error(h::ErrorCode::gone, who + _(" has exited: nothing signalled"));
    if (err == EPERM)
        return ch.error(h::ErrorCode::no_permission, _("failed to signal ") + who + ": " +
                                                         std::strerror(err) + "; " +
                                                         missing_cap("CAP_KILL", "signal"));
    return ch.error(h::ErrorCode::failed, _("failed to signal ") + who + ": " + std::strerror(err));
}

}  // namespace

int serve(int fd, uid_t caller) {
    Channel ch(fd);
    for (;;) {
        h::Decoded d;
        switch (ch.next(d, -1)) {
            case Channel::Got::closed: return 0;
            case Channel::Got::timeout: continue;
            case Channel::Got::bad:
                // The stream cannot be trusted any more: say why and stop.
                ch.error(h::ErrorCode::bad_frame, _("bad frame: ") + d.error);
                return 1;
            case Channel::Got::unknown:
                if (!ch.error(h::ErrorCode::unknown_verb, "refused: " + d.error)) return 0;
                continue;
            case Channel::Got::frame: break;
        }
        const auto& m = *d.message;
        bool alive = true;
        if (const auto* t = std::get_if<h::TraceRequest>(&m)) alive = do_trace(ch, *t, caller);
        else if (const auto* o = std::get_if<h::OwnersRequest>(&m)) alive = do_owners(ch, *o);
        else if (const auto* x = std::get_if<h::DestroyRequest>(&m)) alive = do_destroy(ch, *x);
        else if (const auto* s = std::get_if<h::SignalRequest>(&m)) alive = do_signal(ch, *s);
        else if (const auto* c = std::get_if<h::CaptureRequest>(&m)) alive = do_capture(ch, *c);
        else
            alive = ch.error(h::ErrorCode::unknown_verb,
                             "refused: verb " +
                                 std::to_string(static_cast<int>(h::verb_of(m))) +
                                 _(" is not a request this helper serves"));
        if (!alive) return 0;
    }
}

}  // namespace socklab::helper_main
