#pragma once
// Timeline: one lifeline per socket, coloured by state over the last N seconds; both ends of
// a loopback connection on adjacent lanes. Zoom with the mouse wheel (down to microseconds
// when the tracer gave exact times), drag to scroll back.
#include <cstdint>
#include <vector>

#include "ui/panel.hpp"

namespace socklab::viewer {

class TimelinePanel : public Panel {
public:
    TimelinePanel();
    nlohmann::json dump_state(const UiContext& ctx) const override;

protected:
    void draw_content(UiContext& ctx) override;

private:
    struct Lane {
        bool gone = false;     // from Frame::gone rather than Frame::rows
        std::uint32_t index = 0;
        bool pair_start = false;  // first of two ends drawn together
    };
    void rebuild_lanes(const UiContext& ctx);
    const Row& row_of(const Frame& f, const Lane& l) const {
        return l.gone ? f.gone[l.index] : f.rows[l.index];
    }

    std::vector<Lane> lanes_;
    std::vector<char> placed_;  // per row of the frame: already on a lane
    const Frame* lanes_frame_ = nullptr;
    std::uint64_t lanes_generation_ = 0;
    double span_s_ = 30.0;     // width of the window
    double offset_s_ = 0.0;    // how far back from now the right edge is
    bool hide_listen_ = false;
};

}  // namespace socklab::viewer
