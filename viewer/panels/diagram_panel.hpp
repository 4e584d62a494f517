#pragma once
// The TCP state machine of RFC 9293 §3.3.2, drawn with ImDrawList: each state a node with the
// number of sockets (under the table's filter) in it, each edge labelled with its event. An
// observed transition animates its edge; clicking a state filters the table.
#include <array>
#include <cstdint>
#include <optional>

#include "model/diagram_layout.hpp"
#include "ui/panel.hpp"

namespace socklab::viewer {

class DiagramPanel : public Panel {
public:
    DiagramPanel();
    nlohmann::json dump_state(const UiContext& ctx) const override;

protected:
    void draw_content(UiContext& ctx) override;

private:
    std::uint64_t seen_seq_ = 0;
    std::array<std::uint64_t, 32> edge_last_ns_{};  // last transition time per edge
    std::array<std::uint32_t, 32> edge_total_{};    // transitions seen per edge
    std::array<std::uint64_t, 16> node_pulse_ns_{}; // last time a socket arrived
    DiagramLayout layout_;                           // as last drawn (for --dump-state)
};

}  // namespace socklab::viewer
