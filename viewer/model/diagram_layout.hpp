#pragma once
// Where the TCP state diagram's boxes, arrows and edge labels go: a pure function of the
// canvas and of the sizes of the texts, so it is tested without a window or a GPU, with the
// label lengths of every language. The panel (panels/diagram_panel.cpp) measures the texts
// with the font and draws what this returns.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace socklab::viewer {

struct Vec2f {
    float x = 0, y = 0;
};

struct RectF {
    float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    [[nodiscard]] float width() const { return x1 - x0; }
    [[nodiscard]] float height() const { return y1 - y0; }
    [[nodiscard]] RectF grown(float by) const { return {x0 - by, y0 - by, x1 + by, y1 + by}; }
};

// The nodes: the TCP states, CLOSED twice (where sockets start, and where they end) so no
// edge has to cross the whole picture. Laid out like the figure in RFC 9293 §3.3.2: opening
// at the top, closing below, the active closer on the left and the passive one on the right.
struct DiagramNode {
    std::uint8_t state;  // TcpState
    const char* label;   // the state's name: never translated
    float x, y;          // centre, in fractions of the canvas
};

// An edge: one arrow of core's state_arrows() that RFC 9293's figure draws
// (ArrowSource::figure), placed on the nodes. `label` is its English msgid (N_), "event /
// action"; the panel puts the action on a second line.
struct DiagramEdge {
    std::uint8_t from_node;
    std::uint8_t to_node;
    const char* label;
    float side;  // preferred side: +1 left of the arrow's direction, -1 its right
};

enum : std::uint8_t {
    kClosedTop, kListen, kSynSent, kSynRecv, kEstablished, kFinWait1, kFinWait2, kClosing,
    kTimeWait, kCloseWait, kLastAck, kClosedBottom, kNodeCount
};

[[nodiscard]] std::span<const DiagramNode> diagram_nodes();
[[nodiscard]] std::span<const DiagramEdge> diagram_edges();

// The box of a kernel state; CLOSE is two boxes: the top one when leaving it, the bottom one
// when arriving (kNodeCount: a state the diagram has no box for).
[[nodiscard]] std::uint8_t diagram_node_of(std::uint8_t state, bool arriving);
// Which edge (index into diagram_edges()) an observed transition runs along, if any. Knows
// the Linux ways: an active closer is traced going to CLOSE where RFC 9293 says TIME_WAIT; a
// request socket is born CLOSE -> SYN_RECV from its listener; and an arrival in CLOSE takes
// the top CLOSED box when that is where the figure's arrow goes (LISTEN and SYN_SENT closed).
[[nodiscard]] std::optional<std::size_t> diagram_edge_for(std::uint8_t old_state,
                                                          std::uint8_t new_state);

struct EdgeGeometry {
    Vec2f from, to;  // the arrow, from box edge to box edge (the head is at `to`)
    RectF label;     // where the label's text goes (its plate is `label` grown by 2 px)
    bool clear = true;  // false: no place was found free of boxes, arrows and other labels
    bool on_line = false;  // the label sits on its own arrow (no room beside it)
};

struct DiagramLayout {
    std::vector<RectF> boxes;         // per node
    std::vector<EdgeGeometry> edges;  // per edge, in diagram_edges() order
};

// `node_text` and `edge_text`: the size of each node's and edge's text as drawn (per
// diagram_nodes()/diagram_edges()); `font`: the font size. Labels go beside their arrow,
// sliding along it and then outwards until they touch no box, no arrow and no other label.
[[nodiscard]] DiagramLayout layout_diagram(RectF canvas, float font, std::span<const Vec2f> node_text,
                                           std::span<const Vec2f> edge_text);

// Edge labels wrap at this width (pixels) for font size `font`, so a long label takes two
// narrow lines rather than one line that reaches into a box.
[[nodiscard]] constexpr float diagram_label_wrap(float font) { return font * 7.0f; }

// For tests (and the layout itself): do these overlap?
[[nodiscard]] bool overlaps(const RectF& a, const RectF& b);
[[nodiscard]] bool segment_hits(Vec2f p, Vec2f q, const RectF& r);

}  // namespace socklab::viewer
