#include "panels/diagram_panel.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "ui/style.hpp"

namespace socklab::viewer {
namespace {

using S = TcpState;
constexpr std::uint64_t kAnimNs = 1'500'000'000ull;

// Nodes: the TCP states, CLOSED twice (where sockets start, and where they end) so no edge
// has to cross the whole picture.
struct Node {
    std::uint8_t state;
    const char* label;
    float x, y;  // centre, in fractions of the canvas
};

constexpr std::uint8_t st(S s) { return static_cast<std::uint8_t>(s); }

enum : std::uint8_t {
    kClosedTop, kListen, kSynSent, kSynRecv, kEstablished, kFinWait1, kFinWait2, kClosing,
    kTimeWait, kCloseWait, kLastAck, kClosedBottom, kNodeCount
};

// Laid out like the figure in RFC 9293 §3.3.2: opening at the top, closing below, the
// active closer on the left and the passive one on the right.
constexpr Node kNodes[kNodeCount] = {
    {st(S::close), "CLOSED", 0.50f, 0.00f},
    {st(S::listen), "LISTEN", 0.50f, 0.15f},
    {st(S::syn_sent), "SYN_SENT", 1.00f, 0.32f},
    {st(S::syn_recv), "SYN_RECV", 0.00f, 0.32f},
    {st(S::established), "ESTABLISHED", 0.50f, 0.50f},
    {st(S::fin_wait1), "FIN_WAIT1", 0.00f, 0.66f},
    {st(S::fin_wait2), "FIN_WAIT2", 0.00f, 0.84f},
    {st(S::closing), "CLOSING", 0.45f, 0.75f},
    {st(S::time_wait), "TIME_WAIT", 0.45f, 1.00f},
    {st(S::close_wait), "CLOSE_WAIT", 1.00f, 0.66f},
    {st(S::last_ack), "LAST_ACK", 1.00f, 0.84f},
    {st(S::close), "CLOSED", 1.00f, 1.00f},
};

constexpr DiagramEdge kEdges[] = {
    {kClosedTop, kListen, "listen()", 1},
    {kClosedTop, kSynSent, "connect() / snd SYN", 1},
    {kListen, kSynRecv, "rcv SYN / snd SYN,ACK", 1},
    {kListen, kSynSent, "send / snd SYN", -1},
    {kSynSent, kSynRecv, "rcv SYN / snd ACK", 1},
    {kSynSent, kEstablished, "rcv SYN,ACK / snd ACK", -1},
    {kSynRecv, kEstablished, "rcv ACK of SYN", 1},
    {kSynRecv, kFinWait1, "close / snd FIN", -1},
    {kEstablished, kFinWait1, "close / snd FIN", 1},
    {kEstablished, kCloseWait, "rcv FIN / snd ACK", -1},
    {kFinWait1, kFinWait2, "rcv ACK of FIN", -1},
    {kFinWait1, kClosing, "rcv FIN / snd ACK", -1},
    {kFinWait2, kTimeWait, "rcv FIN / snd ACK", 1},
    {kClosing, kTimeWait, "rcv ACK of FIN", 1},
    {kCloseWait, kLastAck, "close / snd FIN", 1},
    {kLastAck, kClosedBottom, "rcv ACK of FIN", 1},
    {kTimeWait, kClosedBottom, "timeout = 2 MSL (60 s)", -1},
    {kListen, kClosedTop, "close", 1},
    {kSynSent, kClosedTop, "close / timeout", 1},
};
constexpr std::size_t kEdgeCount = sizeof kEdges / sizeof kEdges[0];

std::optional<std::size_t> find_edge(std::uint8_t from, std::uint8_t to) {
    for (std::size_t i = 0; i < kEdgeCount; ++i)
        if (kEdges[i].from_node == from && kEdges[i].to_node == to) return i;
    return std::nullopt;
}

// Where along its edge a label sits: edges meeting at ESTABLISHED keep their labels apart.
float label_at(const DiagramEdge& e) {
    if (e.to_node == kEstablished) return 0.35f;
    if (e.from_node == kEstablished) return 0.65f;
    return 0.5f;
}

std::uint8_t node_of(std::uint8_t state, bool arriving) {
    if (state == st(S::new_syn_recv)) state = st(S::syn_recv);
    if (state == st(S::close)) return arriving ? kClosedBottom : kClosedTop;
    for (std::uint8_t n = 0; n < kNodeCount; ++n)
        if (kNodes[n].state == state) return n;
    return kNodeCount;
}

ImVec2 lerp(ImVec2 a, ImVec2 b, float t) { return {a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t}; }

// Where the segment from the centre of a box towards `to` leaves the box.
ImVec2 box_exit(ImVec2 c, ImVec2 half, ImVec2 to) {
    const float dx = to.x - c.x, dy = to.y - c.y;
    const float tx = dx != 0 ? half.x / std::fabs(dx) : 1e9f;
    const float ty = dy != 0 ? half.y / std::fabs(dy) : 1e9f;
    const float t = std::min({tx, ty, 1.0f});
    return {c.x + dx * t, c.y + dy * t};
}

}  // namespace

std::optional<std::size_t> DiagramPanel::edge_for(std::uint8_t old_state, std::uint8_t new_state) {
    if (old_state == st(S::new_syn_recv)) old_state = st(S::syn_recv);
    if (new_state == st(S::new_syn_recv)) new_state = st(S::syn_recv);
    // Linux hands an active closer to a timewait mini-socket: the tracepoint reports
    // FIN_WAIT2 -> CLOSE (and CLOSING -> CLOSE) where the RFC draws -> TIME_WAIT.
    if (new_state == st(S::close) &&
        (old_state == st(S::fin_wait2) || old_state == st(S::closing)))
        new_state = st(S::time_wait);
    // A request socket is born from the listener: CLOSE -> SYN_RECV is LISTEN -> SYN_RECV.
    if (old_state == st(S::close) && new_state == st(S::syn_recv)) old_state = st(S::listen);
    const std::uint8_t from = node_of(old_state, false);
    const std::uint8_t to = node_of(new_state, true);
    if (from == kNodeCount || to == kNodeCount) return std::nullopt;
    return find_edge(from, to);
}

DiagramPanel::DiagramPanel() : Panel("diagram", "TCP state diagram", {0.62f, 0.0f, 0.38f, 0.56f}) {}

void DiagramPanel::draw_content(UiContext& ctx) {
    // Take in the transitions that arrived since the last UI frame.
    if (ctx.transitions != nullptr) {
        for (const auto& t : *ctx.transitions) {
            if (t.seq <= seen_seq_) continue;
            seen_seq_ = t.seq;
            if (auto e = edge_for(t.old_state, t.new_state)) {
                edge_last_ns_[*e] = std::max(edge_last_ns_[*e], t.time_ns);
                ++edge_total_[*e];
            }
            const std::uint8_t n = node_of(t.new_state, true);
            if (n < kNodeCount) node_pulse_ns_[n] = std::max(node_pulse_ns_[n], t.time_ns);
        }
    }
    const auto& counts = ctx.table->state_counts();
    const Privileges& priv = ctx.frame->privileges;
    if (!priv.tracer_active) {
        ImGui::TextDisabled("Polling only: short states (SYN_SENT, SYN_RECV, LAST_ACK) pass unseen.");
        style::item_tooltip(priv.tracer_message.c_str());
    } else {
        ImGui::TextDisabled("Tracing every transition: edges light up as sockets move.");
    }

    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImVec2 avail = ImGui::GetContentRegionAvail();
    avail.x = std::max(avail.x, 360.0f);
    avail.y = std::max(avail.y, 300.0f);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float font = ImGui::GetFontSize();
    const ImVec2 half(std::clamp(avail.x * 0.08f, font * 3.8f, font * 5.0f), font * 1.15f);
    auto centre = [&](std::uint8_t n) {
        const float mx = half.x + 4, my = half.y + 4;
        return ImVec2(origin.x + mx + kNodes[n].x * (avail.x - 2 * mx),
                      origin.y + my + kNodes[n].y * (avail.y - 2 * my));
    };

    // Edges first, nodes on top.
    for (std::size_t i = 0; i < kEdgeCount; ++i) {
        const auto& e = kEdges[i];
        ImVec2 a = centre(e.from_node), b = centre(e.to_node);
        const bool pair = find_edge(e.to_node, e.from_node).has_value();
        if (pair) {
            // Two edges between one pair of states: draw them side by side.
            const float ddx = b.x - a.x, ddy = b.y - a.y;
            const float l = std::max(1.0f, std::sqrt(ddx * ddx + ddy * ddy));
            const ImVec2 off(-ddy / l * 7.0f, ddx / l * 7.0f);
            a = ImVec2(a.x + off.x, a.y + off.y);
            b = ImVec2(b.x + off.x, b.y + off.y);
        }
        const ImVec2 p0 = box_exit(a, half, b), p1 = box_exit(b, half, a);
        const std::uint64_t last = edge_last_ns_[i];
        const bool active = last != 0 && ctx.now_ns >= last && ctx.now_ns - last < kAnimNs;
        const float age = active ? static_cast<float>(ctx.now_ns - last) / static_cast<float>(kAnimNs) : 1.0f;
        const ImU32 col = active ? style::with_alpha(IM_COL32(255, 230, 90, 255), 1.0f - 0.6f * age)
                                 : IM_COL32(150, 155, 165, 160);
        const float thick = active ? 3.5f - 2.0f * age : 1.4f;
        dl->AddLine(p0, p1, col, thick);
        // Arrow head at the target.
        const float dx = p1.x - p0.x, dy = p1.y - p0.y;
        const float len = std::max(1.0f, std::sqrt(dx * dx + dy * dy));
        const ImVec2 u(dx / len, dy / len);
        // Each label's side is chosen by hand (kEdges) so labels stay clear of each other.
        const ImVec2 nrm(-u.y * e.side, u.x * e.side);
        const float ah = font * 0.6f;
        dl->AddTriangleFilled(p1, ImVec2(p1.x - u.x * ah + nrm.x * ah * 0.5f, p1.y - u.y * ah + nrm.y * ah * 0.5f),
                              ImVec2(p1.x - u.x * ah - nrm.x * ah * 0.5f, p1.y - u.y * ah - nrm.y * ah * 0.5f), col);
        if (active) {  // a packet-like dot travels along the edge
            const ImVec2 dot = lerp(p0, p1, std::fmod(age * 2.0f, 1.0f));
            dl->AddCircleFilled(dot, 5.0f, IM_COL32(255, 245, 160, 255));
        }
        // Label near the middle, on a dark plate so it stays readable over lines.
        const ImVec2 mid = lerp(p0, p1, label_at(e));
        std::string label = e.label;
        if (edge_total_[i] > 0) label += "  (" + std::to_string(edge_total_[i]) + ")";
        const float small = font * 0.82f;
        const ImVec2 ts = ImGui::CalcTextSize(label.c_str());
        const ImVec2 tsz(ts.x * 0.82f, ts.y * 0.82f);
        // Beside the line, not on it: push the label out along the normal by its half extent.
        const float push = std::fabs(nrm.x) * tsz.x * 0.5f + std::fabs(nrm.y) * tsz.y * 0.5f + 3.0f;
        const ImVec2 tp(std::clamp(mid.x - tsz.x * 0.5f + nrm.x * push, origin.x, origin.x + avail.x - tsz.x),
                        std::clamp(mid.y - tsz.y * 0.5f + nrm.y * push, origin.y, origin.y + avail.y - tsz.y));
        dl->AddRectFilled(ImVec2(tp.x - 3, tp.y - 1), ImVec2(tp.x + tsz.x + 3, tp.y + tsz.y + 1),
                          IM_COL32(20, 22, 28, 200), 3.0f);
        dl->AddText(ImGui::GetFont(), small, tp,
                    active ? IM_COL32(255, 235, 120, 255) : IM_COL32(185, 190, 200, 255), label.c_str());
    }

    for (std::uint8_t n = 0; n < kNodeCount; ++n) {
        const Node& node = kNodes[n];
        const ImVec2 c = centre(n);
        const ImVec2 lo(c.x - half.x, c.y - half.y), hi(c.x + half.x, c.y + half.y);
        std::uint32_t count = node.state < counts.size() ? counts[node.state] : 0;
        if (node.state == st(S::syn_recv)) count += counts[st(S::new_syn_recv)];
        if (n == kClosedBottom) count = 0;  // counted once, at the top
        const bool filtered = ctx.table->state_mask() != 0 &&
                              (ctx.table->state_mask() & state_bit(node.state)) != 0;
        const ImU32 fill = style::state_color(node.state);
        const float dim = count > 0 || filtered ? 1.0f : 0.45f;
        dl->AddRectFilled(lo, hi, style::with_alpha(fill, dim), 8.0f);
        const std::uint64_t pulse = node_pulse_ns_[n];
        if (pulse != 0 && ctx.now_ns >= pulse && ctx.now_ns - pulse < kAnimNs) {
            const float a = 1.0f - static_cast<float>(ctx.now_ns - pulse) / static_cast<float>(kAnimNs);
            dl->AddRect(ImVec2(lo.x - 4, lo.y - 4), ImVec2(hi.x + 4, hi.y + 4),
                        style::with_alpha(IM_COL32(255, 240, 140, 255), a), 10.0f, 0, 3.0f);
        }
        if (filtered) dl->AddRect(lo, hi, IM_COL32(255, 255, 255, 255), 8.0f, 0, 3.0f);
        const ImU32 text = style::state_text_color(node.state);
        const ImVec2 ls = ImGui::CalcTextSize(node.label);
        dl->AddText(ImVec2(c.x - ls.x * 0.5f, c.y - ls.y + 1), style::with_alpha(text, dim < 1 ? 0.8f : 1.0f), node.label);
        if (n != kClosedBottom) {
            const std::string num = std::to_string(count);
            const ImVec2 ns = ImGui::CalcTextSize(num.c_str());
            dl->AddText(ImVec2(c.x - ns.x * 0.5f, c.y + 1), text, num.c_str());
        }
        // Click to filter the table; hover to learn the state.
        ImGui::SetCursorScreenPos(lo);
        ImGui::PushID(n);
        ImGui::InvisibleButton("node", ImVec2(hi.x - lo.x, hi.y - lo.y));
        if (ImGui::IsItemClicked()) {
            std::uint32_t bit = state_bit(node.state);
            if (node.state == st(S::syn_recv)) bit |= state_bit(S::new_syn_recv);
            const std::uint32_t mask = ctx.table->state_mask();
            ctx.table->set_state_mask((mask & bit) == bit ? (mask & ~bit) : (mask | bit));
        }
        if (ImGui::IsItemHovered() && !ctx.headless) {
            ImGui::BeginTooltip();
            ImGui::PushTextWrapPos(font * 28.0f);
            ImGui::TextUnformatted(node.label);
            ImGui::Separator();
            const auto expl = state_explanation(node.state);
            ImGui::TextUnformatted(expl.data(), expl.data() + expl.size());
            ImGui::TextDisabled("%u socket(s) here under the current filter. Click to show only "
                                "this state in the table.", count);
            ImGui::PopTextWrapPos();
            ImGui::EndTooltip();
        }
        ImGui::PopID();
    }
    ImGui::SetCursorScreenPos(ImVec2(origin.x, origin.y + avail.y));
    ImGui::Dummy(ImVec2(1, 1));
}

nlohmann::json DiagramPanel::dump_state(const UiContext& ctx) const {
    nlohmann::json counts = nlohmann::json::object();
    const auto& c = ctx.table->state_counts();
    for (std::uint8_t s = 1; s <= kMaxKernelState; ++s) {
        std::uint32_t n = c[s];
        if (s == st(S::new_syn_recv)) continue;
        if (s == st(S::syn_recv)) n += c[st(S::new_syn_recv)];
        counts[std::string(state_name(s))] = n;
    }
    auto edges = nlohmann::json::array();
    for (std::size_t i = 0; i < kEdgeCount; ++i) {
        if (edge_total_[i] == 0) continue;
        edges.push_back({{"from", kNodes[kEdges[i].from_node].label},
                         {"to", kNodes[kEdges[i].to_node].label},
                         {"event", kEdges[i].label},
                         {"seen", edge_total_[i]}});
    }
    return {{"counts", std::move(counts)}, {"edges_seen", std::move(edges)},
            {"state_mask", ctx.table->state_mask()}};
}

}  // namespace socklab::viewer
