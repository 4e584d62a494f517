// libFuzzer target: display_width() (frontend/), the terminal columns of UTF-8 text, the UTF-8
// decoder every text hand-off uses (core utf8::), and the viewer's reader of compiled
// catalogues, mo_translations(). What must hold, for any bytes:
//  - display_width never exceeds two columns a byte, and is additive across any split that
//    does not fall inside a character (before a byte that is not a continuation byte);
//  - append_padded reaches the asked width exactly when the text is narrower;
//  - utf8::valid gives text it keeps unchanged, and changes nothing that was valid; a JSON
//    string of the bytes (append_json_string) parses, and back to valid()'s text;
//  - utf8::whole_prefix leaves out at most the last three bytes, and only a cut character;
//  - mo_translations returns views that lie inside the input, or nothing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "model/mo_catalog.hpp"
#include "socklab/json.hpp"
#include "socklab/text_width.hpp"
#include "socklab/utf8.hpp"

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view s(reinterpret_cast<const char*>(data), size);
    const std::size_t w = socklab::text::display_width(s);
    require(w <= 2 * s.size());
    // Every split is checked for inputs up to 512 bytes (quadratic), a few for longer ones.
    const std::size_t step = s.size() <= 512 ? 1 : s.size() / 64;
    for (std::size_t cut = 0; cut <= s.size(); cut += step) {
        if (cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) continue;
        // A split before a non-continuation byte never falls inside a well-formed character
        // and ends any ill-formed part, so the widths add up.
        require(socklab::text::display_width(s.substr(0, cut)) + socklab::text::display_width(s.substr(cut)) == w);
    }
    std::string padded;
    socklab::text::append_padded(padded, s, 40);
    require(socklab::text::display_width(padded) == std::max<std::size_t>(w, 40));

    const std::string v = socklab::utf8::valid(s);
    require(socklab::utf8::valid(v) == v);
    require((v == s) == (v.size() == s.size()));  // a replacement always grows the text
    std::string quoted;
    socklab::append_json_string(quoted, s);
    const auto parsed = nlohmann::json::parse(quoted, nullptr, false);
    require(parsed.is_string() && parsed.get<std::string>() == v);
    const std::size_t whole = socklab::utf8::whole_prefix(s);
    require(whole <= s.size() && s.size() - whole <= 3);
    if (whole < s.size()) {
        // What is left out begins with a lead byte whose character the end cut short.
        require((static_cast<unsigned char>(s[whole]) & 0xC0) == 0xC0);
        require(socklab::utf8::sequence_at(s, whole) == 0);
    }

    if (const auto texts = socklab::viewer::mo_translations(s)) {
        for (const auto t : *texts) {
            require(t.data() >= s.data() && t.data() + t.size() <= s.data() + s.size());
            require(t.data() + t.size() < s.data() + s.size() && t.data()[t.size()] == '\0');
        }
    }
    return 0;
}
