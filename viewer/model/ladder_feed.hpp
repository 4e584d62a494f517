#pragma once
// Where the Ladder panel's conversations come from. LadderModel (pure, no threads, no kernel)
// merges captured segments and traced transitions into a ConversationSet and makes immutable
// LadderSnapshots for a selection: the selected conversation in full plus a bounded list of
// the recent ones. LadderFeed is the worker thread around it: it owns core's Capture (libpcap,
// CAP_NET_RAW), pulls the poller's traced transitions, and publishes a snapshot every
// LadderFeedOptions::period. The UI thread only reads the latest snapshot (one short lock) —
// Draw() never touches the kernel.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "socklab/capture.hpp"
#include "socklab/conversation.hpp"
#include "socklab/history.hpp"
#include "socklab/syscall_event.hpp"

namespace socklab::viewer {

// Which conversation the panel shows.
struct LadderSelection {
    enum class Mode : std::uint8_t {
        none,    // nothing chosen: the panel's empty state
        latest,  // the most recently started conversation (on one of `ports`, if any given)
        exact,   // the conversation `id`
    };
    Mode mode = Mode::none;
    std::set<std::uint16_t> ports;  // latest: a port either end uses; empty: any
    ConnectionId id;
    std::uint64_t version = 0;      // set by LadderFeed::select
};

struct ConversationSummary {
    ConnectionId id;
    std::string client, server;   // "127.0.0.1:41000"
    std::string client_process, server_process;  // "python3 [4242]", "" when unknown
    std::size_t segments = 0;
    std::size_t items = 0;
    std::uint64_t first_ns = 0, last_ns = 0;
    std::uint8_t client_state = 0, server_state = 0;  // last traced; 0 when none seen
    bool ended = false;  // an RST, or both sides' FINs acknowledged, or a side reached CLOSE
};

struct LadderSnapshot {
    std::uint64_t seq = 0;
    std::uint64_t taken_ns = 0;     // CLOCK_MONOTONIC when it was made
    std::uint64_t poller_seq = 0;   // every transition of this poller frame (and before) is in
    bool capture_active = false;
    std::string capture_message;    // when not active: what is missing and what still works
    CaptureStats capture_stats;
    std::size_t conversations = 0;  // kept in the set
    std::uint64_t conversations_dropped = 0;
    std::vector<ConversationSummary> recent;  // newest first, at most LadderModel's `recent`
    LadderSelection selection;                // what `selected` answers
    std::shared_ptr<const Conversation> selected;  // null: none matches (yet)
    std::uint64_t selected_version = 0;       // changes whenever `selected` does
    bool selected_ended = false;
};
using LadderSnapshotPtr = std::shared_ptr<const LadderSnapshot>;

// The summary's `ended`: an RST was seen, both FINs were acknowledged, or a side's socket
// reached CLOSE / TIME_WAIT after its FIN.
[[nodiscard]] ConversationSummary summarize(const Conversation& c);

class LadderModel {
public:
    explicit LadderModel(std::size_t max_conversations = 512, std::size_t recent = 64);

    void add(const Segment& s);
    // Traced TCP transitions only (an inferred one carries the poll's time, not the kernel's,
    // and would land between the wrong segments). Returns whether it was taken: it joined a
    // conversation, or (a SYN_SENT without its local port) the set holds it for its socket's
    // next event. False: try again later (or drop it).
    // `only_known`: join only a conversation a captured segment started. The tracer sees
    // every network namespace, the capture only this one; without this, other namespaces'
    // connections would crowd this one's out of the bounded set.
    bool add(const ObservedTransition& t, bool only_known = false);
    void add(const SyscallEvent& e);

    // The snapshot for `sel`. `previous` (may be null) lends its copy of the selected
    // conversation when nothing in it changed, so an idle connection is not copied again.
    [[nodiscard]] std::shared_ptr<LadderSnapshot> snapshot(const LadderSelection& sel,
                                                           const LadderSnapshot* previous) const;

    [[nodiscard]] const conversation::ConversationSet& set() const noexcept { return set_; }

private:
    [[nodiscard]] const Conversation* pick(const LadderSelection& sel) const;
    conversation::ConversationSet set_;
    std::size_t recent_;
    std::uint64_t changes_ = 0;  // bumped by every add that joined a conversation
    std::map<ConnectionId, std::uint64_t> changed_at_;
};

struct LadderFeedOptions {
    CaptureOptions capture;     // ports empty: every TCP segment on lo
    std::chrono::milliseconds period{50};
    std::size_t max_conversations = 512;
    std::size_t recent = 64;
    // The poller's traced transitions with seq > after, appended; returns the newest seq.
    std::function<std::uint64_t(std::uint64_t after, std::vector<ObservedTransition>& out)> transitions;
    // The seq of the poller's latest frame (read before the transitions are pulled).
    std::function<std::uint64_t()> poller_seq;
    // Traced system calls with seq > after, appended; returns the newest seq (CallLog::since).
    std::function<std::uint64_t(std::uint64_t after, std::vector<SyscallEvent>& out)> calls;
};

// System calls handed from the thread that traces them (a watched program's) to the ladder's
// worker: a bounded, numbered log. Thread-safe.
class CallLog {
public:
    explicit CallLog(std::size_t capacity = 4096) : capacity_(capacity) {}
    void push(const SyscallEvent& e);
    // Calls numbered > after, oldest first, appended to `out`; the newest number known.
    std::uint64_t since(std::uint64_t after, std::vector<SyscallEvent>& out) const;

private:
    std::size_t capacity_;
    mutable std::mutex mu_;
    std::deque<std::pair<std::uint64_t, SyscallEvent>> calls_;
    std::uint64_t seq_ = 0;
};

class LadderFeed {
public:
    explicit LadderFeed(LadderFeedOptions opts);
    ~LadderFeed();  // stops and joins
    LadderFeed(const LadderFeed&) = delete;
    LadderFeed& operator=(const LadderFeed&) = delete;

    // Open the capture (in the calling thread, so segments sent after this returns are seen)
    // and start the worker. Idempotent.
    void start();
    void stop();
    [[nodiscard]] bool started() const noexcept { return started_.load(); }

    // Choose what the next snapshots answer; starts the feed if needed.
    void select(LadderSelection sel);
    [[nodiscard]] LadderSelection selection() const;

    // The newest snapshot; null before start().
    [[nodiscard]] LadderSnapshotPtr latest() const;
    // Wait (bounded) for a snapshot with seq > after_seq.
    bool wait_for_snapshot(std::uint64_t after_seq, std::chrono::milliseconds timeout) const;
    // Wait (bounded) for a snapshot for which `pred` holds and return it; when none does in
    // time, the newest (null before start()). For headless runs and tests.
    [[nodiscard]] LadderSnapshotPtr wait_until(const std::function<bool(const LadderSnapshot&)>& pred,
                                               std::chrono::milliseconds timeout) const;

private:
    void run();

    LadderFeedOptions opts_;
    std::unique_ptr<Capture> capture_;
    std::atomic<bool> started_{false};
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    bool stop_ = false;
    LadderSelection selection_;
    std::uint64_t selection_version_ = 0;
    LadderSnapshotPtr latest_;
    std::thread thread_;
};

}  // namespace socklab::viewer
