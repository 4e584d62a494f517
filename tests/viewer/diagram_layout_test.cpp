// The state diagram's layout (model/diagram_layout): at the size the diagram gets in a
// 1600x1000 window, and around it, no edge label covers a box, an arrow or another label,
// and every box holds the widest state name — with the English labels and with the Korean
// ones from the catalogue (po/*.po), measured the way the font draws them: a Hangul syllable
// is a full em wide, Latin letters about 0.6 em.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include "model/diagram_layout.hpp"
#include "socklab/state.hpp"

namespace {

using namespace socklab::viewer;

constexpr float kFont = 16.0f;          // the viewer's UI font
constexpr float kSmall = kFont * 0.82f;  // edge labels

// A generous estimate of the drawn size of UTF-8 text at ImGui font size `size` (ImGui
// scales a font so ascent - descent = size: DejaVu Sans' em is size / 1.164). DejaVu
// capitals are ~0.70 em (0.60 size), lower case ~0.55 em (0.47 size), a space 0.32 em;
// taken here with 5% to spare. Hangul from Noto Sans CJK: taken as 0.85 size (measured
// 0.79 in the viewer's --dump-state). A line is `size` tall.
float char_width(unsigned char c, std::size_t bytes, float size) {
    return bytes >= 3 ? size * 0.85f : (c >= 'A' && c <= 'Z') ? size * 0.63f : c == ' ' ? size * 0.3f : size * 0.5f;
}

// Greedy word wrap at `wrap` pixels, as ImGui's AddText/CalcTextSizeA with a wrap width.
Vec2f measure(const std::string& text, float size, float wrap = 1e9f) {
    float widest = 0;
    int lines = 0;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto nl = text.find('\n', start);
        const std::string para = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        float line = 0, word = 0, space = 0;
        ++lines;
        for (std::size_t i = 0; i <= para.size();) {
            if (i == para.size() || para[i] == ' ') {
                if (line > 0 && line + space + word > wrap) {  // the word goes to a new line
                    widest = std::max(widest, line);
                    ++lines;
                    line = word;
                } else {
                    line += space + word;
                }
                word = 0;
                space = i < para.size() ? char_width(' ', 1, size) : 0;
                ++i;
                continue;
            }
            const auto c = static_cast<unsigned char>(para[i]);
            const std::size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            word += char_width(c, n, size);
            i += n;
        }
        widest = std::max(widest, line);
        if (nl == std::string::npos) break;
        start = nl + 1;
    }
    return {widest, static_cast<float>(lines) * size};
}

// What the panel draws: the action under the event.
std::string as_drawn(std::string label) {
    if (const auto slash = label.find(" / "); slash != std::string::npos) label.replace(slash, 3, "\n");
    return label;
}

// msgid -> msgstr of the Korean catalogue files (single-line entries are all we need here).
std::map<std::string, std::string> korean_catalogue() {
    std::map<std::string, std::string> out;
    const std::filesystem::path dir = std::filesystem::path(SOCKLAB_SOURCE_DIR) / "po";
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
        const auto name = f.path().filename().string();
        if (name.rfind("ko", 0) != 0 || f.path().extension() != ".po") continue;
        std::ifstream in(f.path());
        std::string line, id;
        const auto unquote = [](const std::string& l, std::size_t from) {
            const auto a = l.find('"', from), b = l.rfind('"');
            return a == std::string::npos || b <= a ? std::string() : l.substr(a + 1, b - a - 1);
        };
        while (std::getline(in, line)) {
            if (line.rfind("msgid ", 0) == 0) id = unquote(line, 6);
            else if (line.rfind("msgstr ", 0) == 0 && !id.empty()) {
                if (auto s = unquote(line, 7); !s.empty()) out[id] = s;
            }
        }
    }
    return out;
}

struct Labels {
    std::vector<Vec2f> nodes, edges;
    std::vector<std::string> texts;
};

Labels labels(const std::map<std::string, std::string>* translation) {
    Labels l;
    for (const auto& n : diagram_nodes()) l.nodes.push_back(measure(n.label, kFont));  // never translated
    for (const auto& e : diagram_edges()) {
        std::string text = e.label;
        if (translation != nullptr) {
            const auto it = translation->find(e.label);
            text = it == translation->end() ? std::string() : it->second;
        }
        l.texts.push_back(text);
        // With a count seen, wrapped as the panel wraps (diagram_label_wrap).
        l.edges.push_back(measure(as_drawn(text) + "  (99)", kSmall, diagram_label_wrap(kFont)));
    }
    return l;
}

void expect_clear(const Labels& l, RectF canvas, const std::string& what) {
    const DiagramLayout d = layout_diagram(canvas, kFont, l.nodes, l.edges);
    ASSERT_EQ(d.boxes.size(), diagram_nodes().size());
    ASSERT_EQ(d.edges.size(), diagram_edges().size());
    for (std::size_t n = 0; n < d.boxes.size(); ++n) {
        // The state name fits its box (pills and boxes never clip ESTABLISHED).
        EXPECT_GE(d.boxes[n].width(), l.nodes[n].x + 8) << what << ": " << diagram_nodes()[n].label;
        EXPECT_GE(d.boxes[n].height(), l.nodes[n].y * 2) << what << ": " << diagram_nodes()[n].label;
        for (std::size_t m = n + 1; m < d.boxes.size(); ++m)
            EXPECT_FALSE(overlaps(d.boxes[n], d.boxes[m]))
                << what << ": boxes " << diagram_nodes()[n].label << " and " << diagram_nodes()[m].label;
    }
    for (std::size_t i = 0; i < d.edges.size(); ++i) {
        const auto& e = d.edges[i];
        const std::string name = what + ": label '" + l.texts[i] + "'";
        EXPECT_TRUE(e.clear) << name;
        // The label's own text size, where the layout put it.
        EXPECT_NEAR(e.label.width(), l.edges[i].x, 0.01) << name;
        EXPECT_GE(e.label.x0, canvas.x0) << name;
        EXPECT_LE(e.label.x1, canvas.x1) << name;
        EXPECT_GE(e.label.y0, canvas.y0) << name;
        EXPECT_LE(e.label.y1, canvas.y1) << name;
        for (std::size_t n = 0; n < d.boxes.size(); ++n)
            EXPECT_FALSE(overlaps(e.label, d.boxes[n])) << name << " covers " << diagram_nodes()[n].label;
        for (std::size_t j = 0; j < d.edges.size(); ++j) {
            // Its own arrow may run under the label's plate (on_line), no other arrow may.
            if (j != i || !e.on_line) {
                EXPECT_FALSE(segment_hits(d.edges[j].from, d.edges[j].to, e.label))
                    << name << " covers the arrow of '" << l.texts[j] << "'";
            }
            if (j > i) {
                EXPECT_FALSE(overlaps(e.label, d.edges[j].label)) << name << " covers '" << l.texts[j] << "'";
            }
        }
    }
}

// The diagram draws the arrows of core's one table that RFC 9293's figure draws: each once, on
// the boxes of its two states, with the table's label; and no other arrow.
TEST(DiagramLayout, EdgesAreTheFigureArrowsOfTheStateTable) {
    const auto nodes = diagram_nodes();
    const auto name_of = [&](std::uint8_t n) {
        const std::string label = nodes[n].label;
        return label == "CLOSED" ? std::string("CLOSE") : label;
    };
    std::vector<const socklab::StateArrow*> figure;
    for (const auto& a : socklab::state_arrows())
        if (a.source == socklab::ArrowSource::figure) figure.push_back(&a);
    const auto edges = diagram_edges();
    ASSERT_EQ(edges.size(), figure.size());
    for (std::size_t i = 0; i < edges.size(); ++i) {
        ASSERT_LT(edges[i].from_node, nodes.size());
        ASSERT_LT(edges[i].to_node, nodes.size());
        EXPECT_EQ(name_of(edges[i].from_node), figure[i]->from) << i;
        EXPECT_EQ(name_of(edges[i].to_node), figure[i]->to) << i;
        EXPECT_STREQ(edges[i].label, figure[i]->label) << i;
    }
}

// What the tracer reports lights the figure's arrow: every edge is reached by its own
// transition, and the Linux forms land on the RFC's arrows.
TEST(DiagramLayout, TracedTransitionsLightTheFiguresArrows) {
    using S = socklab::TcpState;
    const auto st = [](S s) { return static_cast<std::uint8_t>(s); };
    const auto nodes = diagram_nodes();
    const auto edges = diagram_edges();
    const auto ends = [&](std::optional<std::size_t> e) {
        if (!e) return std::string("none");
        return std::string(nodes[edges[*e].from_node].label) + (edges[*e].from_node == kClosedTop ? "^" : "") +
               "->" + nodes[edges[*e].to_node].label + (edges[*e].to_node == kClosedTop ? "^" : "");
    };
    // Closing a listener, or a connect() refused or given up: the arrows to the top CLOSED.
    EXPECT_EQ(ends(diagram_edge_for(st(S::listen), st(S::close))), "LISTEN->CLOSED^");
    EXPECT_EQ(ends(diagram_edge_for(st(S::syn_sent), st(S::close))), "SYN_SENT->CLOSED^");
    // The passive closer's last ACK arrives: the bottom CLOSED.
    EXPECT_EQ(ends(diagram_edge_for(st(S::last_ack), st(S::close))), "LAST_ACK->CLOSED");
    // Linux's timewait hand-over and request sockets.
    EXPECT_EQ(ends(diagram_edge_for(st(S::fin_wait2), st(S::close))), "FIN_WAIT2->TIME_WAIT");
    EXPECT_EQ(ends(diagram_edge_for(st(S::closing), st(S::close))), "CLOSING->TIME_WAIT");
    EXPECT_EQ(ends(diagram_edge_for(st(S::close), st(S::new_syn_recv))), "LISTEN->SYN_RECV");
    EXPECT_EQ(ends(diagram_edge_for(st(S::close), st(S::syn_sent))), "CLOSED^->SYN_SENT");
    // Not in the figure: no arrow.
    EXPECT_EQ(ends(diagram_edge_for(st(S::established), st(S::close))), "none");
    // Every edge is lit by the transition between its own two states (CLOSED as CLOSE).
    for (std::size_t i = 0; i < edges.size(); ++i) {
        const auto from = nodes[edges[i].from_node].state;
        const auto to = nodes[edges[i].to_node].state;
        EXPECT_EQ(diagram_edge_for(from, to), std::optional<std::size_t>(i)) << edges[i].label;
    }
}

// The geometry helpers the checks rely on.
TEST(DiagramLayout, OverlapAndSegmentTests) {
    const RectF r{10, 10, 20, 20};
    EXPECT_TRUE(overlaps(r, {15, 15, 30, 30}));
    EXPECT_FALSE(overlaps(r, {20, 10, 30, 20}));  // touching edges do not overlap
    EXPECT_TRUE(segment_hits({0, 15}, {30, 15}, r));   // straight through
    EXPECT_TRUE(segment_hits({12, 12}, {14, 14}, r));  // inside
    EXPECT_FALSE(segment_hits({0, 0}, {30, 5}, r));    // passes above
    EXPECT_FALSE(segment_hits({0, 25}, {25, 50}, r));  // passes below
    EXPECT_TRUE(segment_hits({0, 30}, {30, 0}, r));    // diagonal across
}

// The diagram's canvas in a 1600x1000 window (574x484, from --dump-state), and larger ones
// (a window resized, the panel dragged wider).
constexpr std::pair<float, float> kCanvases[] = {{574, 484}, {620, 540}, {700, 540}, {800, 600}};

// The two overlaps the old fixed placement had: the layout must not bring them back.
TEST(DiagramLayout, EnglishLabelsAreClearAt1600x1000) {
    const Labels l = labels(nullptr);
    for (const auto& [w, h] : kCanvases)
        expect_clear(l, {1002, 78, 1002 + w, 78 + h}, "en " + std::to_string(int(w)) + "x" + std::to_string(int(h)));
}

TEST(DiagramLayout, KoreanLabelsAreClearAt1600x1000) {
    const auto ko = korean_catalogue();
    const Labels l = labels(&ko);
    for (std::size_t i = 0; i < l.texts.size(); ++i)
        ASSERT_FALSE(l.texts[i].empty()) << "no Korean for the diagram label '" << diagram_edges()[i].label << "'";
    for (const auto& [w, h] : kCanvases)
        expect_clear(l, {1002, 78, 1002 + w, 78 + h}, "ko " + std::to_string(int(w)) + "x" + std::to_string(int(h)));
}

// A label that cannot fit anywhere is reported, not silently drawn over something.
TEST(DiagramLayout, ReportsALabelWithNoRoom) {
    Labels l = labels(nullptr);
    l.edges[0] = {400, 200};  // "listen()" as a huge block
    const DiagramLayout d = layout_diagram({0, 0, 574, 484}, kFont, l.nodes, l.edges);
    EXPECT_FALSE(d.edges[0].clear);
}

}  // namespace
