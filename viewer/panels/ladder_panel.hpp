#pragma once
// Ladder: one connection as a sequence diagram — the client's lifeline on the left, the
// server's on the right, an arrow per segment (flags, relative seq/ack, length), a state badge
// where a side's state changes and a marker for a system call on the caller's side. Quiet
// stretches are compressed and labelled. Live while the connection lives, scrollable after;
// hover an arrow for its whole header.
// A connection is picked in the panel's own list, from the socket table's row menu ("Show
// ladder"), from the table's (or timeline's) selection, or is the lab's; `socklab-viewer
// --ladder PORT` shows the newest connection on PORT (also for headless screenshots).
// The segments come from LadderFeed (model/ladder_feed.hpp) on its own thread; this panel only
// reads its immutable snapshots.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "model/ladder.hpp"
#include "ui/panel.hpp"

namespace socklab::viewer {

class LadderPanel : public Panel {
public:
    LadderPanel();

    // Show this connection / the newest on this port, from anywhere (the table's row menu,
    // main's --ladder). Free of system calls: the panel carries it out on its next frame.
    static void show(const ConnectionId& id);
    static void show_port(std::uint16_t port);

    nlohmann::json dump_state(const UiContext& ctx) const override;
    [[nodiscard]] bool settling() const override;
    [[nodiscard]] bool wants_attention() const override;

protected:
    void draw_content(UiContext& ctx) override;

private:
    void take_request(UiContext& ctx);
    void draw_toolbar(UiContext& ctx);
    void draw_heads(float x_client, float x_server);
    void draw_rows(UiContext& ctx);
    const LadderLayout& layout_for(const UiContext& ctx);
    void fill_processes(const UiContext& ctx);

    bool started_ = false;
    bool follow_ = true;
    float x_client_ = 0, x_server_ = 0;  // the lifelines, from the content's left edge
    std::size_t last_rows_ = 0;
    // Headless: keep drawing until the feed has read every transition of this poller frame.
    std::uint64_t settle_seq_ = 0;
    bool settled_ = true;
    // The layout of the snapshot's selected conversation, redone when it changes.
    std::shared_ptr<const Conversation> laid_out_;
    std::uint64_t laid_out_second_ = 0;
    LadderLayout layout_;

    static std::mutex request_mu_;
    static std::optional<LadderSelection> request_;
};

}  // namespace socklab::viewer
