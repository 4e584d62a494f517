#include "socklab/program_watch.hpp"

#include <algorithm>
#include <cerrno>

#include "socklab/doctor.hpp"
#include "socklab/error.hpp"
#include "socklab/i18n.hpp"

namespace socklab::program {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<std::string> Tracers::stop() {
    std::vector<std::string> left;
    for (TransitionTracer* t : {calls.get(), transitions.get()}) {
        if (t == nullptr) continue;
        try {
            if (auto text = t->stop(); !text.empty()) left.push_back(std::move(text));
        } catch (const socklab::Error& e) {  // the helper ended before it answered the stop
            left.emplace_back(e.what());
        }
    }
    active = false;
    return left;
}

void Tracers::finish(std::vector<SyscallEvent>& calls_tail,
                     std::vector<TransitionEvent>& transitions_tail) {
    if (helper.empty()) return;
    std::vector<TransitionEvent> unused;
    try {
        if (calls && calls->status().active) (void)calls->finish(unused, &calls_tail);
        if (transitions && transitions->status().active) (void)transitions->finish(transitions_tail);
    } catch (const socklab::Error&) {
        // The helper ended without its tail: what arrived before is what there is.
    }
}

Tracers start_tracers(pid_t pid, std::optional<std::uint16_t> port, bool want_transitions) {
    Tracers t;
    TracerOptions o;
    o.syscalls = true;
    o.pids = {pid};
    o.follow_children = true;
    o.buffer_kb_per_cpu = 4096;
    o.data_calls = true;  // through socklab-helper: the counts the findings read
    try {
        t.calls = std::make_unique<TransitionTracer>(o);
        if (t.calls->through_helper()) t.helper = t.calls->helper_path();
        if (want_transitions) {
            TracerOptions to;
            to.port = port;
            to.buffer_kb_per_cpu = 2048;
            t.transitions = std::make_unique<TransitionTracer>(to);
        }
    } catch (const socklab::Error& e) {
        t.why_not = e.what();
        t.calls.reset();
        t.transitions.reset();
        return t;
    }
    t.active = t.calls->status().active && t.calls->syscall_status().active;
    if (!t.active)
        t.why_not = !t.calls->status().active ? t.calls->status().message
                                              : t.calls->syscall_status().message;
    return t;
}

std::string command_text(const std::vector<std::string>& cmd) {
    std::string out;
    for (const auto& a : cmd) out += (out.empty() ? "" : " ") + a;
    return out;
}

std::string doctor_summary(std::uint16_t port) {
    try {
        const auto d = diagnose(port);
        for (const auto& f : d.findings)
            if (f.blocks) return f.summary;
        if (!d.findings.empty()) return d.findings.front().summary;
        return d.bindable() ? _("the port is free now") : _("nothing on the port explains it");
    } catch (const socklab::Error& e) {
        return e.what();
    }
}

namespace {

constexpr int kFrameSnap = 2048;               // headers and the first bytes of each segment
constexpr std::size_t kFlowBytes = 64 * 1024;  // kept per direction of a connection
constexpr std::size_t kMaxFlows = 4096;

bool same_sockets(const Observation& a, const Observation& b) {
    if (a.sockets.size() != b.sockets.size()) return false;
    for (std::size_t i = 0; i < a.sockets.size(); ++i)
        if (a.sockets[i].record.inode != b.sockets[i].record.inode ||
            a.sockets[i].record.state != b.sockets[i].record.state)
            return false;
    return true;
}

}  // namespace

Watch::Watch(WatchOptions opts, Source& source)
    : opts_(std::move(opts)),
      source_(source),
      prog_(opts_.command, opts_.spawn),
      tracers_(start_tracers(prog_.pid(), opts_.port, true)) {
    in_.root_pid = prog_.pid();
    in_.traced = tracers_.active;
    in_.port_hint = opts_.port;
    in_.start_ns = monotonic_ns();
    tasks_.insert(prog_.pid());
    if (tracers_.active) {
        // The payload's first bytes of each segment on lo: enough for a chat's lines. Without
        // CAP_NET_RAW there is no capture and the report says the framing hints are missing.
        CaptureOptions co;
        co.snaplen = kFrameSnap;
        co.buffer_kb = 2048;
        co.path = CaptureOptions::Path::direct;
        try {
            capture_ = std::make_unique<FrameCapture>(co);
        } catch (const socklab::Error&) {
            capture_.reset();
        }
    }
}

void Watch::read_frames() {
    if (!capture_) return;
    const int dlt = capture_->datalink();
    for (int round = 0; round < 64; ++round) {
        const auto n = capture_->poll(
            [&](const FrameCapture::Frame& f) {
                const auto d = pkt::decode_frame(f.bytes, dlt, f.time_ns, f.wire_len);
                if (!d) return;
                const Segment& seg = *d.segment;
                const auto id = std::make_pair(seg.dst_port, seg.src_port);
                auto it = flows_.find(id);
                if (it == flows_.end()) {
                    if (flows_.size() >= kMaxFlows || !seg.has(tcp_flag::SYN)) return;
                    it = flows_.emplace(id, Flow{}).first;
                }
                Flow& flow = it->second;
                if (seg.has(tcp_flag::SYN)) {
                    flow = Flow{};  // a new connection on the same ports starts afresh
                    flow.isn = seg.seq;
                    return;
                }
                if (!flow.isn || d.payload.empty() || flow.bytes >= kFlowBytes) return;
                StreamChunk c;
                c.offset = static_cast<std::uint32_t>(seg.seq - *flow.isn - 1);
                c.bytes.assign(reinterpret_cast<const char*>(d.payload.data()), d.payload.size());
                flow.bytes += d.payload.size();
                flow.chunks.push_back(std::move(c));
            },
            std::chrono::milliseconds(0));
        if (n == 0) break;
    }
}

int Watch::go() { return prog_.go(); }

void Watch::take_poll() {
    const auto tree = process_tree(prog_.pid());
    auto o = observe(tree, source_);
    // Asked after the poll: if the program had begun to exit, the kernel may have closed its
    // descriptors during the poll, and a socket missing from it was not closed by the program
    // (nor is the poll what it held at the end). The exit is read from the traced calls and
    // the last poll before it.
    if (program::ending(prog_.pid())) return;
    for (const auto& h : o.sockets) ports_.insert(h.record.local_port);
    tasks_.insert(tree.begin(), tree.end());
    if (in_.polls.empty() || !same_sockets(in_.polls.back(), o)) in_.polls.push_back(o);
    latest_ = std::move(o);
}

// Returns whether anything arrived.
bool Watch::drain(std::chrono::milliseconds wait, const WatchSink& sink) {
    if (!tracers_.active) return false;
    auto& calls = in_.calls;
    const auto before = calls.size();
    std::vector<TransitionEvent> unused;
    bool any = tracers_.calls->poll(unused, calls, wait) > 0;
    took_calls(before, sink);
    read_frames();
    batch_.clear();
    if (tracers_.transitions) any = tracers_.transitions->poll(batch_, 0ms) > 0 || any;
    took_transitions(batch_, sink);
    return any;
}

void Watch::took_calls(std::size_t from, const WatchSink& sink) {
    for (auto i = from; i < in_.calls.size(); ++i) {
        const auto& c = in_.calls[i];
        if (c.key && c.key->local_port) ports_.insert(c.key->local_port);
        tasks_.insert(c.tid);
        tasks_.insert(c.pid);
        if (sink.call) sink.call(c);
    }
}

void Watch::took_transitions(const std::vector<TransitionEvent>& batch, const WatchSink& sink) {
    for (const auto& e : batch)
        if (ports_.count(e.local_port) || (e.pid != 0 && tasks_.count(e.pid))) {
            in_.transitions.push_back(e);
            if (sink.transition) sink.transition(e);
        }
}

void Watch::take(std::vector<SyscallEvent>& calls, const std::vector<TransitionEvent>& transitions,
                 const WatchSink& sink) {
    const auto before = in_.calls.size();
    in_.calls.insert(in_.calls.end(), calls.begin(), calls.end());
    took_calls(before, sink);
    took_transitions(transitions, sink);
}

bool Watch::step(std::chrono::milliseconds wait, const WatchSink& sink) {
    if (prog_.poll_exit()) return false;
    drain(tracers_.active ? wait : 0ms, sink);
    if (!tracers_.active) prog_.wait_exit(static_cast<int>(wait.count()));
    if (prog_.poll_exit()) return false;
    take_poll();
    return true;
}

Input Watch::complete(std::uint64_t end_ns) const {
    Input in = in_;
    in.end_ns = end_ns;
    if (latest_ && (in.polls.empty() || in.polls.back().time_ns != latest_->time_ns))
        in.polls.push_back(*latest_);
    in.ending = prog_.ending();
    in.tasks.assign(tasks_.begin(), tasks_.end());
    if (tracers_.active)
        for (const auto& [inode, counts] : tracers_.calls->data_calls())
            in.data.push_back(DataOnSocket{inode, counts.pid, counts.tid, counts.fd, counts});
    in.streams_seen = capture_ != nullptr;
    if (capture_)
        for (const auto& d : in.data) {
            if (d.counts.reads_kept == 0) continue;
            // The connection's 4-tuple: from a poll that saw it, or from its accept()/connect().
            std::optional<SocketKey> key;
            for (const auto& o : in.polls)
                for (const auto& h : o.sockets)
                    if (!key && h.record.inode == d.inode) key = key_of(h.record);
            for (const auto& c : in.calls)
                if (!key && c.inode == d.inode && c.key && c.key->remote_port) key = c.key;
            if (!key) continue;
            const auto f = flows_.find(std::make_pair(key->local_port, key->remote_port));
            if (f == flows_.end() || !f->second.isn) continue;
            ReceivedStream rs;
            rs.pid = d.pid;
            rs.tid = d.tid;
            rs.fd = d.fd;
            rs.key = *key;
            rs.bytes = rebuild_stream(f->second.chunks);
            rs.reads.assign(d.counts.first_reads.begin(),
                            d.counts.first_reads.begin() + d.counts.reads_kept);
            in.streams.push_back(std::move(rs));
        }
    return in;
}

Report Watch::report_so_far() const { return analyse(complete(monotonic_ns())); }

Report Watch::finish(const WatchSink& sink) {
    // The program is gone: read what its last moments left in the buffers (each read is
    // bounded, so a buffer filled by a busy loop takes several), within a limit.
    const auto drain_until = Clock::now() + 5s;
    drain(20ms, sink);
    while (drain(0ms, sink) && Clock::now() < drain_until) {
    }
    if (tracers_.active && !tracers_.helper.empty()) {
        // Through socklab-helper, what it read last is sent when the trace stops.
        std::vector<SyscallEvent> calls;
        std::vector<TransitionEvent> transitions;
        tracers_.finish(calls, transitions);
        take(calls, transitions, sink);
    }
    in_ = complete(monotonic_ns());
    latest_.reset();
    for (const auto& c : in_.calls)
        if (c.call == SyscallKind::bind && c.error == EADDRINUSE && opts_.port) {
            in_.bind_diagnosis = doctor_summary(*opts_.port);
            break;
        }
    return analyse(in_);
}

}  // namespace socklab::program
