#include "panels/timeline_panel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "socklab/i18n.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {
namespace {

constexpr std::size_t kMaxLanes = 3000;
constexpr std::size_t kMaxGoneLanes = 600;

// A tick step of 1, 2 or 5 times a power of ten seconds giving about `target` ticks.
double nice_step(double span, double target) {
    const double raw = span / target;
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * p >= raw) return m * p;
    return 10.0 * p;
}

std::string tick_label(double seconds_ago) {
    char buf[32];
    const double a = std::fabs(seconds_ago);
    if (a < 1e-9) return _("now");
    if (a < 1e-3) std::snprintf(buf, sizeof buf, "-%.0f µs", a * 1e6);
    else if (a < 1.0) std::snprintf(buf, sizeof buf, "-%.3g ms", a * 1e3);
    else std::snprintf(buf, sizeof buf, "-%.3g s", a);
    return buf;
}

}  // namespace

TimelinePanel::TimelinePanel() : Panel("timeline", N_("Timeline"), {0.0f, 0.56f, 0.62f, 0.405f}) {}

void TimelinePanel::rebuild_lanes(const UiContext& ctx) {
    const Frame& f = *ctx.frame;
    lanes_.clear();
    placed_.assign(f.rows.size(), 0);
    auto add_row = [&](std::uint32_t ri) {
        if (placed_[ri] != 0) return;
        const Row& r = f.rows[ri];
        if (hide_listen_ && r.rec.state == static_cast<std::uint8_t>(TcpState::listen)) return;
        placed_[ri] = 1;
        const bool pair = r.peer >= 0 && placed_[static_cast<std::size_t>(r.peer)] == 0;
        lanes_.push_back({false, ri, pair});
        if (pair) {
            placed_[static_cast<std::size_t>(r.peer)] = 1;
            lanes_.push_back({false, static_cast<std::uint32_t>(r.peer), false});
        }
    };
    // The lab's sockets first, then the table's order; lanes beyond kMaxLanes are not drawn.
    const auto& order = ctx.table->order();
    if (ctx.lab != nullptr && !ctx.lab->ports.empty())
        for (const auto ri : order)
            if (lanes_.size() < kMaxLanes && ctx.is_lab_row(f.rows[ri])) add_row(ri);
    for (const auto ri : order) {
        if (lanes_.size() >= kMaxLanes) break;
        add_row(ri);
    }
    // Sockets closed a while ago but still on the clock, newest first.
    std::vector<std::uint32_t> gone;
    for (std::uint32_t i = 0; i < f.gone.size(); ++i)
        if (row_matches(f.gone[i], ctx.table->filter())) gone.push_back(i);
    std::sort(gone.begin(), gone.end(),
              [&](auto a, auto b) { return f.gone[a].closed_ns > f.gone[b].closed_ns; });
    if (gone.size() > kMaxGoneLanes) gone.resize(kMaxGoneLanes);
    for (const auto gi : gone)
        if (lanes_.size() < kMaxLanes + kMaxGoneLanes) lanes_.push_back({true, gi, false});
    lanes_frame_ = &f;
    lanes_generation_ = ctx.table->generation();
}

void TimelinePanel::draw_content(UiContext& ctx) {
    const Frame& f = *ctx.frame;
    if (lanes_frame_ != &f || lanes_generation_ != ctx.table->generation()) rebuild_lanes(ctx);

    // Controls.
    float span = static_cast<float>(span_s_);
    ImGui::SetNextItemWidth(180.0f);
    if (ImGui::SliderFloat(style::label(N_("window"), "window").c_str(), &span, 0.0001f, 600.0f, "%.4g s", ImGuiSliderFlags_Logarithmic))
        span_s_ = std::clamp(static_cast<double>(span), 1e-5, 600.0);
    style::help_marker(_("How much time the lanes show. Mouse wheel over the lanes zooms (down to "
                         "microseconds: the tracer's times are exact); drag to look back."));
    ImGui::SameLine();
    if (offset_s_ > 0) {
        if (ImGui::SmallButton(style::label(N_("back to now"), "now").c_str())) offset_s_ = 0;
        ImGui::SameLine();
    }
    if (ImGui::Checkbox(style::label(N_("hide LISTEN"), "hide-listen").c_str(), &hide_listen_)) lanes_frame_ = nullptr;
    ImGui::SameLine();
    ImGui::TextDisabled("%s", socklab::i18n::format(socklab::i18n::tr_n("{} lane", "{} lanes", lanes_.size()), lanes_.size()).c_str());
    ImGui::SameLine();
    ImGui::TextDisabled("%s", _("| outlined: seen only by the tracer"));

    if (lanes_.empty()) {
        empty_state(_("No sockets to draw."), f.seq == 0 ? _("Reading the socket table...")
                                                        : _("Nothing matches the filter."));
        return;
    }

    const float label_w = std::min(300.0f, ImGui::GetContentRegionAvail().x * 0.35f);
    const float lane_h = ImGui::GetTextLineHeight() + 4.0f;
    ImDrawList* dl = ImGui::GetWindowDrawList();

    // Time axis.
    const ImVec2 axis_pos = ImGui::GetCursorScreenPos();
    const float bar_x0 = axis_pos.x + label_w;
    const float bar_w = std::max(50.0f, ImGui::GetContentRegionAvail().x - label_w - 8.0f);
    const double right_ns = static_cast<double>(ctx.now_ns) - offset_s_ * 1e9;
    const double left_ns = right_ns - span_s_ * 1e9;
    auto x_of = [&](double t_ns) {
        return bar_x0 + static_cast<float>((t_ns - left_ns) / (right_ns - left_ns)) * bar_w;
    };
    const double step = nice_step(span_s_, 6.0);
    const float axis_h = ImGui::GetTextLineHeight() + 4.0f;
    for (double ago = std::ceil(offset_s_ / step) * step; ago <= offset_s_ + span_s_ + 1e-12; ago += step) {
        const float x = x_of(static_cast<double>(ctx.now_ns) - ago * 1e9);
        dl->AddLine(ImVec2(x, axis_pos.y + axis_h - 4), ImVec2(x, axis_pos.y + axis_h), IM_COL32(160, 160, 170, 255));
        const auto label = tick_label(ago);
        const float tw = ImGui::CalcTextSize(label.c_str()).x;
        dl->AddText(ImVec2(std::clamp(x - tw * 0.5f, bar_x0, bar_x0 + bar_w - tw), axis_pos.y), IM_COL32(170, 175, 185, 255), label.c_str());
    }
    ImGui::Dummy(ImVec2(label_w + bar_w, axis_h));

    ImGui::BeginChild("lanes", ImVec2(0, 0), false);
    ImDrawList* cdl = ImGui::GetWindowDrawList();
    // Zoom around the mouse and drag to scroll, over the lanes.
    if (ImGui::IsWindowHovered()) {
        const ImGuiIO& io = ImGui::GetIO();
        if (io.MouseWheel != 0.0f) {
            const double factor = io.MouseWheel > 0 ? 0.8 : 1.25;
            const double frac = std::clamp((io.MousePos.x - bar_x0) / bar_w, 0.0f, 1.0f);
            const double new_span = std::clamp(span_s_ * factor, 1e-5, 600.0);
            // Keep the time under the mouse where it is.
            offset_s_ = std::max(0.0, offset_s_ + (span_s_ - new_span) * (1.0 - frac));
            span_s_ = new_span;
        }
        if (ImGui::IsMouseDragging(ImGuiMouseButton_Left) && io.MousePos.x > bar_x0)
            offset_s_ = std::max(0.0, offset_s_ + io.MouseDelta.x / bar_w * span_s_);
    }
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(lanes_.size()), lane_h);
    while (clipper.Step()) {
        for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
            const Lane& lane = lanes_[static_cast<std::size_t>(i)];
            const Row& r = row_of(f, lane);
            const ImVec2 p = ImGui::GetCursorScreenPos();
            const bool selected = r.entry_id == ctx.selected_id ||
                                  (!lane.gone && static_cast<std::int32_t>(lane.index) == ctx.peer_row);
            if (selected) cdl->AddRectFilled(p, ImVec2(p.x + label_w + bar_w, p.y + lane_h), style::kPeerRow);
            else if (ctx.is_lab_row(r)) cdl->AddRectFilled(p, ImVec2(p.x + label_w, p.y + lane_h), style::kLabRow);
            // Label: "local -> remote", the first of a pair marked with a bracket.
            char label[160];
            std::snprintf(label, sizeof label, "%s%s -> %s", lane.pair_start ? "┌ " : (r.peer >= 0 && !lane.gone ? "└ " : "  "),
                          r.local_text.c_str(), r.remote_text.c_str());
            cdl->PushClipRect(p, ImVec2(p.x + label_w - 6, p.y + lane_h), true);
            cdl->AddText(ImVec2(p.x, p.y + 2), lane.gone ? IM_COL32(150, 150, 155, 255) : IM_COL32(225, 228, 235, 255), label);
            cdl->PopClipRect();
            // Bars.
            const auto line = f.lifeline(r);
            cdl->PushClipRect(ImVec2(bar_x0, p.y), ImVec2(bar_x0 + bar_w, p.y + lane_h), true);
            cdl->AddRectFilled(ImVec2(bar_x0, p.y + lane_h * 0.5f - 0.5f), ImVec2(bar_x0 + bar_w, p.y + lane_h * 0.5f + 0.5f), IM_COL32(70, 72, 80, 255));
            for (const auto& iv : line) {
                double end = iv.end_ns != 0 ? static_cast<double>(iv.end_ns)
                                            : (r.closed_ns != 0 ? static_cast<double>(r.closed_ns) : static_cast<double>(ctx.now_ns));
                const double start = static_cast<double>(iv.start_ns);
                if (end < left_ns || start > right_ns) continue;
                float x0 = x_of(start), x1 = x_of(end);
                x1 = std::max(x1, x0 + 2.0f);  // a 4 µs SYN_RECV still shows
                const ImVec2 a(x0, p.y + 2), b(x1, p.y + lane_h - 2);
                cdl->AddRectFilled(a, b, style::state_color(iv.state, r.rec.proto), 3.0f);
                if (iv.unseen_by_polling()) cdl->AddRect(a, b, IM_COL32(255, 255, 255, 230), 3.0f, 0, 1.5f);
                const auto name = state_name(iv.state, r.rec.proto);
                const ImVec2 ts = ImGui::CalcTextSize(name.data(), name.data() + name.size());
                const float vis0 = std::max(x0, bar_x0), vis1 = std::min(x1, bar_x0 + bar_w);
                if (vis1 - vis0 > ts.x + 6)
                    cdl->AddText(ImVec2(vis0 + 3, p.y + 2), style::state_text_color(iv.state, r.rec.proto), name.data(), name.data() + name.size());
                if (!ctx.headless && ImGui::IsMouseHoveringRect(a, b)) {
                    ImGui::BeginTooltip();
                    ImGui::TextUnformatted(socklab::i18n::format(_("{} for {}"), name,
                                                                 style::duration(static_cast<std::uint64_t>(end - start)))
                                               .c_str());
                    ImGui::TextDisabled("%s", iv.traced ? _("start traced (exact)")
                                                        : _("start seen by polling (within one interval)"));
                    if (iv.unseen_by_polling())
                        ImGui::TextColored(style::kWarnText, "%s", _("Polling never saw this state: it was too short."));
                    ImGui::EndTooltip();
                }
            }
            cdl->PopClipRect();
            ImGui::Dummy(ImVec2(label_w + bar_w, lane_h));
        }
    }
    ImGui::EndChild();
}

nlohmann::json TimelinePanel::dump_state(const UiContext& ctx) const {
    const Frame& f = *ctx.frame;
    auto lanes = nlohmann::json::array();
    for (std::size_t i = 0; i < lanes_.size() && i < 500; ++i) {
        const Row& r = row_of(f, lanes_[i]);
        auto states = nlohmann::json::array();
        for (const auto& iv : f.lifeline(r)) {
            states.push_back({{"state", state_name(iv.state, r.rec.proto)},
                              {"start_ns", iv.start_ns},
                              {"end_ns", iv.end_ns},
                              {"traced", iv.traced},
                              {"unseen_by_polling", iv.unseen_by_polling()}});
        }
        lanes.push_back({{"local", r.local_text}, {"remote", r.remote_text}, {"closed", r.closed_ns != 0},
                         {"paired", lanes_[i].pair_start}, {"states", std::move(states)}});
    }
    return {{"window_s", span_s_}, {"lane_count", lanes_.size()}, {"lanes", std::move(lanes)}};
}

}  // namespace socklab::viewer
