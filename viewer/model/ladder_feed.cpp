#include "ladder_feed.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "frame_builder.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"

namespace socklab::viewer {
namespace {

constexpr std::uint8_t kTimeWait = 6;
constexpr std::uint8_t kClose = 7;

std::string process_text(std::int32_t pid, const std::string& comm) {
    if (pid <= 0) return {};
    return (comm.empty() ? std::string("?") : comm) + " [" + std::to_string(pid) + "]";
}

}  // namespace

ConversationSummary summarize(const Conversation& c) {
    ConversationSummary s;
    s.id = c.id;
    s.client = endpoint_text(c.client.addr, c.client.port);
    s.server = endpoint_text(c.server.addr, c.server.port);
    s.client_process = process_text(c.client_pid, c.client_comm);
    s.server_process = process_text(c.server_pid, c.server_comm);
    s.items = c.items.size();
    s.first_ns = c.first_ns;
    s.last_ns = c.last_ns;
    bool fin_client = false, fin_server = false, rst = false, closed = false;
    for (const auto& it : c.items) {
        if (const auto* seg = it.segment()) {
            ++s.segments;
            if (seg->has(tcp_flag::RST)) rst = true;
            if (seg->has(tcp_flag::FIN)) (it.side == Side::client ? fin_client : fin_server) = true;
        } else if (const auto* t = it.transition()) {
            if (it.side == Side::client) s.client_state = t->new_state;
            if (it.side == Side::server) s.server_state = t->new_state;
            if (t->new_state == kClose || t->new_state == kTimeWait) closed = true;
        }
    }
    s.ended = rst || closed || (fin_client && fin_server);
    return s;
}

void CallLog::push(const SyscallEvent& e) {
    std::lock_guard lk(mu_);
    calls_.emplace_back(++seq_, e);
    while (calls_.size() > capacity_) calls_.pop_front();
}

std::uint64_t CallLog::since(std::uint64_t after, std::vector<SyscallEvent>& out) const {
    std::lock_guard lk(mu_);
    for (const auto& [n, e] : calls_)
        if (n > after) out.push_back(e);
    return std::max(after, seq_);
}

LadderModel::LadderModel(std::size_t max_conversations, std::size_t recent)
    : set_(max_conversations), recent_(recent) {}

void LadderModel::add(const Segment& s) {
    if (const auto* c = set_.add(s)) changed_at_[c->id] = ++changes_;
}

bool LadderModel::add(const ObservedTransition& o, bool only_known) {
    if (!o.traced || o.key.proto != Proto::tcp) return false;
    if (o.key.remote_port == 0) return false;
    // connect()'s SYN_SENT names no local port yet: the set holds it under the socket's kernel
    // address until a later event of that socket (with both ports) places it.
    const bool unplaced = o.key.local_port == 0;
    if (unplaced && o.skaddr == 0) return false;
    TransitionEvent e;
    e.time_ns = o.time_ns;
    e.pid = o.pid;
    e.comm = o.comm;
    e.family = o.key.family;
    e.protocol = IPPROTO_TCP;
    e.local_addr = o.key.local_addr;
    e.local_port = o.key.local_port;
    e.remote_addr = o.key.remote_addr;
    e.remote_port = o.key.remote_port;
    e.old_state = o.old_state;
    e.new_state = o.new_state;
    e.skaddr = o.skaddr;
    if (unplaced) {
        static_cast<void>(set_.add(e));  // held by the set: taken, though nothing joined yet
        return true;
    }
    if (only_known) {
        const auto id = conversation::id_of(e);
        if (!id || set_.find(*id) == nullptr) {
            set_.forget_held(o.skaddr);
            return false;
        }
    }
    const auto* c = set_.add(e);
    if (c != nullptr) changed_at_[c->id] = ++changes_;
    return c != nullptr;
}

void LadderModel::add(const SyscallEvent& e) {
    if (const auto* c = set_.add(e)) changed_at_[c->id] = ++changes_;
}

const Conversation* LadderModel::pick(const LadderSelection& sel) const {
    switch (sel.mode) {
        case LadderSelection::Mode::none: return nullptr;
        case LadderSelection::Mode::exact: return set_.find(sel.id);
        case LadderSelection::Mode::latest: {
            const Conversation* best = nullptr;
            for (const auto* c : set_.all()) {  // by first_ns: the last match is the newest
                if (!sel.ports.empty() && !sel.ports.contains(c->id.a.port) &&
                    !sel.ports.contains(c->id.b.port))
                    continue;
                best = c;
            }
            return best;
        }
    }
    return nullptr;
}

std::shared_ptr<LadderSnapshot> LadderModel::snapshot(const LadderSelection& sel,
                                                      const LadderSnapshot* previous) const {
    auto snap = std::make_shared<LadderSnapshot>();
    snap->selection = sel;
    snap->conversations = set_.size();
    snap->conversations_dropped = set_.dropped();
    const auto all = set_.all();
    const std::size_t n = std::min(all.size(), recent_);
    snap->recent.reserve(n);
    for (std::size_t i = 0; i < n; ++i) snap->recent.push_back(summarize(*all[all.size() - 1 - i]));
    if (const auto* c = pick(sel)) {
        const auto at = changed_at_.find(c->id);
        snap->selected_version = at == changed_at_.end() ? 0 : at->second;
        if (previous != nullptr && previous->selected && previous->selected->id == c->id &&
            previous->selected_version == snap->selected_version) {
            snap->selected = previous->selected;
            snap->selected_ended = previous->selected_ended;
        } else {
            snap->selected = std::make_shared<const Conversation>(*c);
            snap->selected_ended = summarize(*c).ended;
        }
    }
    return snap;
}

LadderFeed::LadderFeed(LadderFeedOptions opts) : opts_(std::move(opts)) {}

LadderFeed::~LadderFeed() { stop(); }

void LadderFeed::start() {
    std::lock_guard lk(mu_);
    if (thread_.joinable()) return;
    capture_ = std::make_unique<Capture>(opts_.capture);
    stop_ = false;
    started_ = true;
    thread_ = std::thread([this] { run(); });
}

void LadderFeed::stop() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void LadderFeed::select(LadderSelection sel) {
    {
        std::lock_guard lk(mu_);
        sel.version = ++selection_version_;
        selection_ = std::move(sel);
    }
    start();
    cv_.notify_all();
}

LadderSelection LadderFeed::selection() const {
    std::lock_guard lk(mu_);
    return selection_;
}

LadderSnapshotPtr LadderFeed::latest() const {
    std::lock_guard lk(mu_);
    return latest_;
}

bool LadderFeed::wait_for_snapshot(std::uint64_t after_seq, std::chrono::milliseconds timeout) const {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return latest_ && latest_->seq > after_seq; });
}

LadderSnapshotPtr LadderFeed::wait_until(const std::function<bool(const LadderSnapshot&)>& pred,
                                         std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lk(mu_);
    std::uint64_t tried = 0;  // the newest snapshot already given to pred
    for (;;) {
        if (latest_ && latest_->seq > tried) {
            auto snap = latest_;
            tried = snap->seq;
            lk.unlock();  // pred runs without the lock: the worker keeps publishing
            if (pred(*snap)) return snap;
            lk.lock();
            continue;
        }
        if (cv_.wait_until(lk, deadline, [&] { return latest_ && latest_->seq > tried; })) continue;
        return latest_;
    }
}

void LadderFeed::run() {
    LadderModel model(opts_.max_conversations, opts_.recent);
    std::vector<Segment> segments;
    std::vector<ObservedTransition> transitions, pending;
    std::vector<SyscallEvent> calls;
    std::uint64_t transition_seq = 0, call_seq = 0, seq = 0;
    const bool capturing = capture_->status().active;
    LadderSnapshotPtr previous;
    for (;;) {
        LadderSelection sel;
        {
            std::unique_lock lk(mu_);
            if (stop_) break;
            // Without a capture the transitions are the only input: wait for the period (or
            // a new selection) instead of in libpcap.
            if (!capturing && seq != 0)
                cv_.wait_for(lk, opts_.period, [&] { return stop_ || selection_.version != previous->selection.version; });
            if (stop_) break;
            sel = selection_;
        }
        const std::uint64_t poller_seq = opts_.poller_seq ? opts_.poller_seq() : 0;
        segments.clear();
        if (capturing) capture_->poll(segments, seq == 0 ? std::chrono::milliseconds(0) : opts_.period);
        transitions.clear();
        if (opts_.transitions) transition_seq = opts_.transitions(transition_seq, transitions);
        calls.clear();
        if (opts_.calls) call_seq = opts_.calls(call_seq, calls);
        // The inputs are time-ordered; conversation::append keeps each conversation so.
        for (const auto& s : segments) model.add(s);
        for (const auto& c : calls) model.add(c);
        // A transition may be read before the segment that started its connection: it waits
        // (bounded, 2 s) for that segment. With the capture on, only captured connections
        // take transitions (see LadderModel::add).
        pending.insert(pending.end(), transitions.begin(), transitions.end());
        const std::uint64_t now = monotonic_ns();
        std::erase_if(pending, [&](const ObservedTransition& t) {
            return model.add(t, capturing) || t.time_ns + 2'000'000'000ull < now;
        });
        if (pending.size() > 4096) pending.erase(pending.begin(), pending.end() - 4096);
        auto snap = model.snapshot(sel, previous.get());
        snap->seq = ++seq;
        snap->taken_ns = monotonic_ns();
        snap->poller_seq = poller_seq;
        snap->capture_active = capturing;
        snap->capture_message = capture_->status().message;
        snap->capture_stats = capture_->stats();
        LadderSnapshotPtr done = std::move(snap);
        LadderSnapshotPtr drop;
        {
            std::lock_guard lk(mu_);
            drop = std::move(previous);
            latest_ = done;
        }
        previous = std::move(done);
        cv_.notify_all();
    }
}

}  // namespace socklab::viewer
