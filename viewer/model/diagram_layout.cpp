#include "model/diagram_layout.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <vector>

#include "socklab/i18n.hpp"
#include "socklab/state.hpp"

namespace socklab::viewer {
namespace {

using S = TcpState;
constexpr std::uint8_t st(S s) { return static_cast<std::uint8_t>(s); }

constexpr DiagramNode kNodes[kNodeCount] = {
    {st(S::close), "CLOSED", 0.50f, 0.00f},
    {st(S::listen), "LISTEN", 0.50f, 0.20f},
    {st(S::syn_sent), "SYN_SENT", 1.00f, 0.36f},
    {st(S::syn_recv), "SYN_RECV", 0.00f, 0.36f},
    {st(S::established), "ESTABLISHED", 0.50f, 0.51f},
    {st(S::fin_wait1), "FIN_WAIT1", 0.00f, 0.655f},
    {st(S::fin_wait2), "FIN_WAIT2", 0.00f, 0.82f},
    {st(S::closing), "CLOSING", 0.42f, 0.74f},
    {st(S::time_wait), "TIME_WAIT", 0.42f, 1.00f},
    {st(S::close_wait), "CLOSE_WAIT", 1.00f, 0.655f},
    {st(S::last_ack), "LAST_ACK", 1.00f, 0.82f},
    {st(S::close), "CLOSED", 1.00f, 1.00f},
};

// Where the label of each arrow the diagram draws prefers to go, by the arrow's pair of states
// (the arrows themselves, their labels and which are drawn come from core's state_arrows()).
// An arrow into CLOSED from a socket that never connected goes back up to the top CLOSED box.
struct EdgePlace {
    std::string_view from, to;
    float side;
    bool to_top_closed = false;
};
constexpr EdgePlace kPlaces[] = {
    {"CLOSE", "LISTEN", 1},
    {"CLOSE", "SYN_SENT", 1},
    {"LISTEN", "SYN_RECV", 1},
    {"LISTEN", "SYN_SENT", -1},
    {"SYN_SENT", "SYN_RECV", 1},
    {"SYN_SENT", "ESTABLISHED", -1},
    {"SYN_RECV", "ESTABLISHED", 1},
    {"SYN_RECV", "FIN_WAIT1", -1},
    {"ESTABLISHED", "FIN_WAIT1", 1},
    {"ESTABLISHED", "CLOSE_WAIT", -1},
    {"FIN_WAIT1", "FIN_WAIT2", -1},
    {"FIN_WAIT1", "CLOSING", -1},
    {"FIN_WAIT2", "TIME_WAIT", 1},
    {"CLOSING", "TIME_WAIT", 1},
    {"CLOSE_WAIT", "LAST_ACK", 1},
    {"LAST_ACK", "CLOSE", 1},
    {"TIME_WAIT", "CLOSE", -1},
    {"LISTEN", "CLOSE", 1, true},
    {"SYN_SENT", "CLOSE", 1, true},
};

// The node of a state by its ss name; CLOSE: the top box when leaving it or `top`, else the
// bottom one.
std::uint8_t node_named(std::string_view name, bool leaving, bool top) {
    if (name == "CLOSE") return leaving || top ? kClosedTop : kClosedBottom;
    for (std::uint8_t n = 0; n < kNodeCount; ++n)
        if (kNodes[n].label == name) return n;
    return kNodeCount;
}

// The arrows RFC 9293's figure draws (ArrowSource::figure), in state_arrows() order, placed.
std::vector<DiagramEdge> make_edges() {
    std::vector<DiagramEdge> out;
    for (const auto& a : state_arrows()) {
        if (a.source != ArrowSource::figure) continue;
        const auto* place = std::find_if(std::begin(kPlaces), std::end(kPlaces), [&](const EdgePlace& p) {
            return p.from == a.from && p.to == a.to;
        });
        if (place == std::end(kPlaces)) continue;  // tests: every figure arrow has a place
        out.push_back({node_named(a.from, true, false), node_named(a.to, false, place->to_top_closed),
                       a.label, place->side});
    }
    return out;
}

const std::vector<DiagramEdge>& edges() {
    static const std::vector<DiagramEdge> drawn = make_edges();
    return drawn;
}

bool has_edge(std::uint8_t from, std::uint8_t to) {
    return std::any_of(edges().begin(), edges().end(),
                       [&](const DiagramEdge& e) { return e.from_node == from && e.to_node == to; });
}

// Where the segment from the centre of a box towards `to` leaves the box.
Vec2f box_exit(Vec2f c, Vec2f half, Vec2f to) {
    const float dx = to.x - c.x, dy = to.y - c.y;
    const float tx = dx != 0 ? half.x / std::fabs(dx) : 1e9f;
    const float ty = dy != 0 ? half.y / std::fabs(dy) : 1e9f;
    const float t = std::min({tx, ty, 1.0f});
    return {c.x + dx * t, c.y + dy * t};
}

float overlap_area(const RectF& a, const RectF& b) {
    const float w = std::min(a.x1, b.x1) - std::max(a.x0, b.x0);
    const float h = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
    return w > 0 && h > 0 ? w * h : 0.0f;
}

}  // namespace

std::span<const DiagramNode> diagram_nodes() { return kNodes; }
std::span<const DiagramEdge> diagram_edges() { return edges(); }

std::uint8_t diagram_node_of(std::uint8_t state, bool arriving) {
    if (state == static_cast<std::uint8_t>(TcpState::new_syn_recv))
        state = static_cast<std::uint8_t>(TcpState::syn_recv);
    if (state == static_cast<std::uint8_t>(TcpState::close)) return arriving ? kClosedBottom : kClosedTop;
    const auto nodes = diagram_nodes();
    for (std::uint8_t n = 0; n < kNodeCount; ++n)
        if (nodes[n].state == state) return n;
    return kNodeCount;
}

std::optional<std::size_t> diagram_edge_for(std::uint8_t old_state, std::uint8_t new_state) {
    using S = TcpState;
    const auto st = [](S s) { return static_cast<std::uint8_t>(s); };
    if (old_state == st(S::new_syn_recv)) old_state = st(S::syn_recv);
    if (new_state == st(S::new_syn_recv)) new_state = st(S::syn_recv);
    // Linux hands an active closer to a timewait mini-socket: the tracepoint reports
    // FIN_WAIT2 -> CLOSE (and CLOSING -> CLOSE) where the RFC draws -> TIME_WAIT.
    if (new_state == st(S::close) && (old_state == st(S::fin_wait2) || old_state == st(S::closing)))
        new_state = st(S::time_wait);
    // A request socket is born from the listener: CLOSE -> SYN_RECV is LISTEN -> SYN_RECV.
    if (old_state == st(S::close) && new_state == st(S::syn_recv)) old_state = st(S::listen);
    const std::uint8_t from = diagram_node_of(old_state, false);
    const std::uint8_t to = diagram_node_of(new_state, true);
    if (from == kNodeCount || to == kNodeCount) return std::nullopt;
    const auto all = edges();
    const auto find = [&](std::uint8_t a, std::uint8_t b) -> std::optional<std::size_t> {
        for (std::size_t i = 0; i < all.size(); ++i)
            if (all[i].from_node == a && all[i].to_node == b) return i;
        return std::nullopt;
    };
    if (const auto e = find(from, to)) return e;
    // LISTEN -> CLOSED and SYN_SENT -> CLOSED end in the figure's top CLOSED box.
    if (to == kClosedBottom) return find(from, kClosedTop);
    return std::nullopt;
}

bool overlaps(const RectF& a, const RectF& b) {
    return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

// Liang-Barsky: clip the segment to the rectangle; anything left means they meet.
bool segment_hits(Vec2f p, Vec2f q, const RectF& r) {
    float t0 = 0, t1 = 1;
    const float dx = q.x - p.x, dy = q.y - p.y;
    const float ps[4] = {-dx, dx, -dy, dy};
    const float qs[4] = {p.x - r.x0, r.x1 - p.x, p.y - r.y0, r.y1 - p.y};
    for (int i = 0; i < 4; ++i) {
        if (ps[i] == 0) {
            if (qs[i] < 0) return false;  // parallel and outside
            continue;
        }
        const float t = qs[i] / ps[i];
        if (ps[i] < 0) t0 = std::max(t0, t);
        else t1 = std::min(t1, t);
        if (t0 > t1) return false;
    }
    return true;
}

DiagramLayout layout_diagram(RectF canvas, float font, std::span<const Vec2f> node_text,
                             std::span<const Vec2f> edge_text) {
    DiagramLayout out;
    const auto& drawn = edges();
    const std::size_t edge_count = drawn.size();
    // Boxes wide enough for the widest state name (ESTABLISHED) with room on both sides.
    // Two lines in each: the name and the number of sockets.
    float widest = 0, tallest = 0;
    for (const auto& t : node_text) {
        widest = std::max(widest, t.x);
        tallest = std::max(tallest, t.y);
    }
    const Vec2f half{std::max(std::clamp(canvas.width() * 0.08f, font * 3.8f, font * 5.0f), widest * 0.5f + 8.0f),
                     std::max(font * 1.15f, tallest + 2.0f)};
    const float mx = half.x + 4, my = half.y + 4;
    std::vector<Vec2f> centre(kNodeCount);
    for (std::size_t n = 0; n < kNodeCount; ++n) {
        centre[n] = {canvas.x0 + mx + kNodes[n].x * (canvas.width() - 2 * mx),
                     canvas.y0 + my + kNodes[n].y * (canvas.height() - 2 * my)};
        out.boxes.push_back({centre[n].x - half.x, centre[n].y - half.y, centre[n].x + half.x, centre[n].y + half.y});
    }
    // The arrows first: every label must keep clear of all of them.
    out.edges.resize(edge_count);
    for (std::size_t i = 0; i < edge_count; ++i) {
        const auto& e = drawn[i];
        Vec2f a = centre[e.from_node], b = centre[e.to_node];
        if (has_edge(e.to_node, e.from_node)) {
            // Two edges between one pair of states: side by side.
            const float dx = b.x - a.x, dy = b.y - a.y;
            const float l = std::max(1.0f, std::hypot(dx, dy));
            const Vec2f off{-dy / l * 7.0f, dx / l * 7.0f};
            a = {a.x + off.x, a.y + off.y};
            b = {b.x + off.x, b.y + off.y};
        }
        out.edges[i].from = box_exit(a, half, b);
        out.edges[i].to = box_exit(b, half, a);
    }
    // Then the labels, one edge at a time; each takes the first free place of a search that
    // starts beside the middle of its arrow, slides along it and then moves outwards.
    constexpr float kGap = 2.0f;  // the plate around the text, and the air around boxes
    // The most constrained labels choose first: those of the shortest arrows.
    std::vector<std::size_t> order(edge_count);
    for (std::size_t i = 0; i < edge_count; ++i) order[i] = i;
    const auto length = [&](std::size_t i) {
        return std::hypot(out.edges[i].to.x - out.edges[i].from.x, out.edges[i].to.y - out.edges[i].from.y);
    };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return length(a) < length(b); });
    // A label that found no free place goes first in the next round (a few rounds at most).
    for (int round = 0; round < 4; ++round) {
        std::vector<RectF> placed;
        const float slide[] = {0.5f, 0.42f, 0.58f, 0.34f, 0.66f, 0.26f, 0.74f, 0.18f, 0.82f};
        // The two arrows of a pair of states run side by side: their labels start nearer each
        // arrow's source, so they do not compete for the middle.
        const float slide_pair[] = {0.34f, 0.26f, 0.42f, 0.18f, 0.5f, 0.58f, 0.66f, 0.74f, 0.82f};
        // Outwards from the arrow, in fonts; kOnLine: on the arrow itself, whose line then runs
        // under the label's plate (as in many textbook figures) — tried only when no place
        // beside it and near it is free, before places farther away.
        constexpr float kOnLine = -1.0f;
        const float outward[] = {0.0f, 0.3f, 0.7f, 1.2f, kOnLine, 1.8f, 2.5f};
        // Besides centred on the normal, a label may hang from the line by a corner (the part
        // of it nearest the line), which fits it into the corners a diagonal arrow leaves.
        const float along[] = {0.0f, 0.5f, -0.5f};
        for (const std::size_t i : order) {
            const auto& e = drawn[i];
            const Vec2f sz = i < edge_text.size() ? edge_text[i] : Vec2f{};
            const Vec2f p0 = out.edges[i].from, p1 = out.edges[i].to;
            const float dx = p1.x - p0.x, dy = p1.y - p0.y;
            const float len = std::max(1.0f, std::hypot(dx, dy));
            const Vec2f u{dx / len, dy / len};
            RectF best{};
            float best_cost = std::numeric_limits<float>::max();
            bool found = false;
            for (const float out_by : outward) {
                const bool pair = has_edge(e.to_node, e.from_node);
                for (const float t : pair ? slide_pair : slide) {
                    for (const float side : {e.side, -e.side}) {
                        for (const float shift : along) {
                            const bool on_line = out_by == kOnLine;
                            if (on_line && (side != e.side || shift != 0.0f)) continue;
                            const Vec2f nrm{-u.y * side, u.x * side};
                            const float push = on_line ? 0.0f
                                                       : std::fabs(nrm.x) * sz.x * 0.5f + std::fabs(nrm.y) * sz.y * 0.5f +
                                                             kGap * 2 + out_by * font;
                            const Vec2f c{p0.x + dx * t + nrm.x * push + u.x * shift * sz.x,
                                          p0.y + dy * t + nrm.y * push + u.y * shift * sz.y};
                            const RectF r{c.x - sz.x * 0.5f, c.y - sz.y * 0.5f, c.x + sz.x * 0.5f, c.y + sz.y * 0.5f};
                            const RectF plate = r.grown(kGap);
                            float cost = 0;
                            if (plate.x0 < canvas.x0 || plate.y0 < canvas.y0 || plate.x1 > canvas.x1 ||
                                plate.y1 > canvas.y1)
                                cost += 1e6f;
                            for (const auto& b : out.boxes) cost += overlap_area(plate, b.grown(kGap)) * 4;
                            for (const auto& l : placed) cost += overlap_area(plate, l.grown(kGap)) * 4;
                            for (std::size_t j = 0; j < out.edges.size(); ++j)
                                if ((j != i || !on_line) && segment_hits(out.edges[j].from, out.edges[j].to, plate))
                                    cost += 400;
                            if (cost == 0) {
                                best = r;
                                found = true;
                                break;
                            }
                            if (cost < best_cost) {
                                best_cost = cost;
                                best = r;
                            }
                        }
                        if (found) break;
                    }
                    if (found) break;
                }
                if (found) break;
            }
            out.edges[i].label = best;
            out.edges[i].clear = found;
            out.edges[i].on_line = found && segment_hits(p0, p1, best.grown(kGap));
            placed.push_back(best);
        }

        std::vector<std::size_t> stuck, rest;
        for (const std::size_t i : order) (out.edges[i].clear ? rest : stuck).push_back(i);
        if (stuck.empty()) break;
        order = stuck;
        order.insert(order.end(), rest.begin(), rest.end());
    }
    return out;
}

}  // namespace socklab::viewer
